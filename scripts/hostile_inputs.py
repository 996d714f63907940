#!/usr/bin/env python3
"""Feed `neco decode` a series of hostile inputs and print a Markdown table of what
each gets (exit status, first line of the message, whether an output appeared).

Usage: scripts/hostile_inputs.py [path/to/neco]   (default target/release/neco)

The inputs are built from tests/golden/odd-17x33-q50.neco by mutating it the way a
damaged disk, a truncated download or an attacker would; "CRC fixed" means the chunk
CRC was recomputed so the mutation reaches the code behind the CRC check.
docs/robustness.md holds the table this prints.
"""
import os
import random
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NECO = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/neco")
BASE = open(os.path.join(ROOT, "tests/golden/odd-17x33-q50.neco"), "rb").read()
PNG = open(os.path.join(ROOT, "assets/odd-17x33.png"), "rb").read()


def chunks(data):
    """[(tag, start, payload_len)] of a well-formed stream."""
    out, at = [], 10
    while at + 8 <= len(data):
        n = struct.unpack("<I", data[at + 4 : at + 8])[0]
        out.append((data[at : at + 4], at, n))
        at += 12 + n
    return out


def build(parts, preamble=BASE[:10]):
    """A stream from (tag, payload) parts, CRCs computed."""
    out = bytearray(preamble)
    for tag, payload in parts:
        out += tag + struct.pack("<I", len(payload)) + payload
        out += struct.pack("<I", zlib.crc32(tag + payload))
    return bytes(out)


PARTS = [(t, BASE[s + 8 : s + 8 + n]) for t, s, n in chunks(BASE)]
HEAD = PARTS[0][1]
ID_LEN = HEAD[13]
SHA_AT = 14 + ID_LEN


def with_head(f):
    head = bytearray(HEAD)
    f(head)
    return build([(b"HEAD", bytes(head))] + PARTS[1:])


def with_payload(tag, f):
    return build([(t, f(p) if t == tag else p) for t, p in PARTS])


def flip(data, at):
    b = bytearray(data)
    b[at] ^= 0x10
    return bytes(b)


def setu32(off, v):
    def f(h):
        h[off : off + 4] = struct.pack("<I", v)

    return f


ZBIT_AT = chunks(BASE)[1][1]
CASES = [
    ("empty file", b""),
    ("text file", b"hello, world\n"),
    ("a PNG image", PNG),
    ("magic only", BASE[:8]),
    ("container version 3", BASE[:8] + b"\x03\x00" + BASE[10:]),
    ("truncated to half", BASE[: len(BASE) // 2]),
    ("last byte missing", BASE[:-1]),
    ("one bit flipped in ẑ bits (CRC not fixed)", flip(BASE, ZBIT_AT + 12)),
    ("ẑ bits all 0xFF (CRC fixed)", with_payload(b"ZBIT", lambda p: b"\xff" * len(p))),
    ("ŷ bits truncated to 3 bytes (CRC fixed)", with_payload(b"YBIT", lambda p: p[:3])),
    ("ŷ bits random (CRC fixed)", with_payload(b"YBIT", lambda p: random.Random(1).randbytes(len(p)))),
    ("header claims 100000×100000 (CRC fixed)", with_head(lambda h: (setu32(1, 100000)(h), setu32(5, 100000)(h)))),
    ("header claims 60000×60000 (under max side, over max pixels)", with_head(lambda h: (setu32(1, 60000)(h), setu32(5, 60000)(h)))),
    ("header claims 0×33 (CRC fixed)", with_head(setu32(1, 0))),
    ("header claims 16 bits per sample", with_head(lambda h: h.__setitem__(10, 16))),
    ("header claims 4096 substreams, has 1", with_head(lambda h: h.__setitem__(slice(SHA_AT + 36, SHA_AT + 38), struct.pack("<H", 4096)))),
    ("header names other weights (sha256 changed)", with_head(lambda h: h.__setitem__(SHA_AT, h[SHA_AT] ^ 1))),
    ("header claims 200 y channels", with_head(lambda h: h.__setitem__(slice(SHA_AT + 32, SHA_AT + 34), struct.pack("<H", 200)))),
    ("chunk length 0xFFFFFFFF", BASE[:ZBIT_AT + 4] + b"\xff\xff\xff\xff" + BASE[ZBIT_AT + 8 :]),
    ("ẑ and ŷ chunks swapped", build([PARTS[0], PARTS[2], PARTS[1], PARTS[3]])),
    ("ŷ chunk duplicated", build([PARTS[0], PARTS[1], PARTS[2], PARTS[2], PARTS[3]])),
    ("IEND missing", build(PARTS[:3])),
    ("bytes after IEND", BASE + b"\x00"),
    ("unknown chunk type", build(PARTS[:3] + [(b"EXIF", b"x")] + PARTS[3:])),
    ("alpha chunk in an RGB stream", build(PARTS[:3] + [(b"ALPH", PNG)] + PARTS[3:])),
]


def run(data, extra=()):
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "in.neco"), os.path.join(d, "out.png")
        open(src, "wb").write(data)
        p = subprocess.run([NECO, "decode", src, "-o", out, *extra], capture_output=True, text=True, timeout=120)
        msg = (p.stderr.strip().splitlines() or [""])[0]
        msg = msg.replace(d, "…").replace("|", "\\|")
        return p.returncode, msg, os.path.exists(out)


def main():
    print("| input | exit | message (first line) | output written |")
    print("|---|---:|---|---|")
    rows = CASES + [("the golden stream itself", BASE)]
    for name, data in rows:
        code, msg, wrote = run(data)
        print(f"| {name} | {code} | {msg or '(none)'} | {'yes' if wrote else 'no'} |")
    code, msg, wrote = run(BASE, ["--max-input-bytes", "100"])
    print(f"| the golden stream with `--max-input-bytes 100` | {code} | {msg} | {'yes' if wrote else 'no'} |")
    code, msg, wrote = run(BASE, ["--max-pixels", "500"])
    print(f"| the golden stream (17×33) with `--max-pixels 500` | {code} | {msg} | {'yes' if wrote else 'no'} |")


if __name__ == "__main__":
    main()
