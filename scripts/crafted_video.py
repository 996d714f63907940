#!/usr/bin/env python3
"""A crafted video stream of empty frames, for memory measurements (docs/robustness.md,
"Video memory"): SIDE×SIDE pixels, FRAMES frames in groups of GOP (the first frame of
a group intra, the others temporal), every payload empty. The header is taken from an
image stream made with the weights to measure (`neco encode IMG -o img.neco`).

    python3 scripts/crafted_video.py img.neco SIDE FRAMES GOP OUT.neco
"""
import struct
import sys
import zlib

src_path, side, frames, gop, out = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
src = open(src_path, 'rb').read()
preamble = src[:10]
tag, n = src[10:14], struct.unpack('<I', src[14:18])[0]
assert tag == b'HEAD', 'not a .neco stream'
head = bytearray(src[18:18 + n])
head[0] = 1  # kind: video
head[1:5] = struct.pack('<I', side)
head[5:9] = struct.pack('<I', side)
substreams = struct.unpack('<H', head[-2:])[0]
head += struct.pack('<IIH', 30, 1, gop)


def chunk(t, p):
    return t + struct.pack('<I', len(p)) + p + struct.pack('<I', zlib.crc32(t + p))


body = bytearray(preamble) + chunk(b'HEAD', bytes(head))
entries = []
for first in range(0, frames, gop):
    count = min(gop, frames - first)
    offset = len(body)
    body += chunk(b'GRUP', struct.pack('<IIH', first // gop, first, count))
    for k in range(count):
        mode = bytes([0 if k == 0 else 1])
        body += chunk(b'FRME', mode + struct.pack('<I', 0) * (1 + substreams))
    entries.append(struct.pack('<QIH', offset, first, count))
index = len(body)
body += chunk(b'INDX', struct.pack('<I', len(entries)) + b''.join(entries))
body += chunk(b'IEND', struct.pack('<Q', index))
open(out, 'wb').write(body)
print(out, len(body), 'bytes')
