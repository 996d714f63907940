#!/usr/bin/env python3
"""Generate the small test/demo images in assets/ (procedural, owned by the project).

Pure Python (zlib only), deterministic: rerunning rewrites identical files.
Usage: python3 scripts/make_assets.py
"""
import math
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(__file__), "..", "assets")


def png(path, width, height, rows, color_type, bit_depth=8):
    """Write rows (lists of ints, samples interleaved) as a PNG."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = bytearray()
    for row in rows:
        raw.append(0)
        if bit_depth == 16:
            for v in row:
                raw += struct.pack(">H", v)
        else:
            raw += bytes(row)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    with open(os.path.join(OUT, path), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def rng(seed):
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield (state >> 33) / float(1 << 31)


def scene(width, height, seed=7):
    """A landscape-like picture: sky gradient, sun, layered hills, a textured field and a striped house."""
    noise = rng(seed)
    rows = []
    for y in range(height):
        row = []
        fy = y / height
        for x in range(width):
            fx = x / width
            # Sky.
            r, g, b = 90 + 100 * fy, 140 + 80 * fy, 230 - 40 * fy
            # Sun with a soft edge.
            d = math.hypot(fx - 0.78, fy - 0.2)
            if d < 0.09:
                t = min(1.0, (0.09 - d) / 0.02)
                r, g, b = r + (255 - r) * t, g + (230 - g) * t, b + (150 - b) * t
            # Two hill layers.
            h1 = 0.55 + 0.08 * math.sin(fx * 7.0 + 1.0) + 0.03 * math.sin(fx * 23.0)
            h2 = 0.7 + 0.05 * math.sin(fx * 11.0 + 2.0)
            if fy > h1:
                r, g, b = 60 + 30 * math.sin(fx * 40), 110 + 20 * fy, 60
            if fy > h2:
                n = next(noise)
                r, g, b = 120 + 60 * n, 150 + 50 * n + 10 * math.sin(fy * 300), 50 + 20 * n
            # A house with a striped roof and windows.
            if 0.18 < fx < 0.36 and 0.5 < fy < 0.78:
                r, g, b = 200, 180, 150
                if 0.22 < fx < 0.27 and 0.58 < fy < 0.66:
                    r, g, b = 40, 60, 90
            if 0.16 < fx < 0.38 and 0.4 < fy <= 0.5 and abs(fx - 0.27) < (fy - 0.4) * 1.1:
                stripe = int(fy * height / 4) % 2
                r, g, b = (150, 40, 30) if stripe else (120, 30, 25)
            row += [max(0, min(255, int(v))) for v in (r, g, b)]
        rows.append(row)
    return rows


def main():
    os.makedirs(OUT, exist_ok=True)
    png("sample-768x512.png", 768, 512, scene(768, 512), 2)
    png("odd-17x33.png", 17, 33, scene(17, 33, 3), 2)
    png("tiny-1x1.png", 1, 1, [[200, 100, 50]], 2)
    gray = [[(x * 3 + y * 5) % 256 for x in range(64)] for y in range(48)]
    png("gray-64x48.png", 64, 48, gray, 0)
    base = scene(40, 30, 5)
    rgba = [sum(([row[3 * x], row[3 * x + 1], row[3 * x + 2], (x * 255) // 39] for x in range(40)), []) for row in base]
    png("rgba-40x30.png", 40, 30, rgba, 6)
    deep = [[(x * 2048 + y * 997 + c * 5000) % 65536 for x in range(32) for c in range(3)] for y in range(24)]
    png("deep16-32x24.png", 32, 24, deep, 2, 16)


if __name__ == "__main__":
    main()
