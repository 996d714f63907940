#!/usr/bin/env python3
"""The recovery table of docs/robustness.md: a video stream damaged in several ways,
decoded with `neco decode` to a PNG sequence; frames written, frames lost, exit code.

    python3 scripts/recovery_table.py NECO STREAM.neco WORKDIR
"""
import os, re, shutil, struct, subprocess, sys

neco, stream, work = sys.argv[1:4]
data = open(stream, 'rb').read()


def chunks(b):
    at, out = 10, []
    while at + 12 <= len(b):
        n = struct.unpack('<I', b[at + 4:at + 8])[0]
        out.append((b[at:at + 4], at))
        at += 12 + n
    return out


cs = chunks(data)
grup = [at for t, at in cs if t == b'GRUP']
indx = [at for t, at in cs if t == b'INDX'][0]
frme = [at for t, at in cs if t == b'FRME']


def zero_from(at):
    return data[:at] + bytes(len(data) - at)


def flip(b, at):
    b = bytearray(b)
    b[at] ^= 0x40
    return bytes(b)


cases = [
    ('intact', data),
    ('last 200 bytes cut', data[:-200]),
    ('cut at 75 %', data[:len(data) * 3 // 4]),
    ('cut at 50 %', data[:len(data) // 2]),
    ('cut at 25 %', data[:len(data) // 4]),
    ('cut 100 bytes into the first group', data[:grup[0] + 100]),
    ('index and IEND zeroed', zero_from(indx)),
    ('index zeroed, group 2\'s GRUP chunk damaged', flip(zero_from(indx), grup[2] + 9)),
    ('a frame of group 1 damaged (index intact)', flip(data, frme[20] + 40)),
    ('IEND cut, a frame of group 1 damaged', flip(data[:-7], frme[20] + 40)),
]
print('| damage | bytes | exit | frames written | frames lost | what neco said |')
print('|---|---:|---:|---:|---|---|')
for name, b in cases:
    path = os.path.join(work, 'case.neco')
    open(path, 'wb').write(b)
    out = os.path.join(work, 'out')
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    p = subprocess.run([neco, 'decode', path, '-o', os.path.join(out, '%04d.png')],
                       capture_output=True, text=True)
    written = len(os.listdir(out))
    lost = ', '.join(re.findall(r'frames (\d+\.\.\d+) lost', p.stderr)) or '—'
    scan = re.search(r'a scan found (\d+ groups?) holding frames (\d+\.\.\d+)( \(\d+ of them missing\))?',
                     p.stderr)
    error = re.search(r'neco: error: (.*)', p.stderr)
    said = []
    if scan:
        said.append(f'index unusable; a scan found {scan[1]} (frames {scan[2]}){scan[3] or ""}')
    if error:
        said.append('error: ' + re.sub(r'\S*case\.neco: ', '', error[1])[:90])
    said = '; '.join(said) or '—'
    print(f'| {name} | {len(b)} | {p.returncode} | {written} | {lost} | {said} |')
