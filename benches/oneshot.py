#!/usr/bin/env python3
"""Times one-shot `neco encode` / `neco decode` runs (process start, model load and
coding of one image), alternating the given binaries so that they share the
machine's noise; prints the minimum and median wall time of each.

    python3 benches/oneshot.py [--runs N] IMAGE BINARY [BINARY ...]

IMAGE is encoded by each binary and the first binary's stream is decoded to PPM.
Standard library only."""
import argparse
import os
import statistics
import subprocess
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("image")
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        stream = os.path.join(d, "ref.neco")
        subprocess.run([a.binaries[0], "encode", a.image, "-o", stream, "-y"],
                       check=True, capture_output=True)
        cases = {
            "encode": ["encode", a.image, "-o", os.path.join(d, "out.neco"), "-y"],
            "decode": ["decode", stream, "-o", os.path.join(d, "out.ppm"), "-y"],
        }
        times = {(b, c): [] for b in a.binaries for c in cases}
        for _ in range(a.runs):
            for c, args in cases.items():
                for b in a.binaries:
                    t = time.perf_counter()
                    subprocess.run([b] + args, check=True, capture_output=True)
                    times[(b, c)].append((time.perf_counter() - t) * 1000)
    for c in cases:
        for b in a.binaries:
            v = times[(b, c)]
            print(f"{c}  {b}  min {min(v):.1f} ms  median {statistics.median(v):.1f} ms")


if __name__ == "__main__":
    main()
