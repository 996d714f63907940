#!/usr/bin/env python3
"""BD-rate (PSNR) of a training run's validation through the codec against a baseline.

`neco train` of a variable-rate model writes valid_coded.csv (the validation crops
coded at every rung: step, elapsed_s, rung, quality, bpp, psnr). This prints, for each
step of RUN.csv (or the steps named), the Bjøntegaard delta rate against the rows of
BASE.csv at BASESTEP (cubic fit of log-rate over PSNR, over the PSNR range both cover)
and the top rung. Plain Python, no packages.

    scripts/valid_bd.py checkpoints/hp-n64m96-vr-valid_coded.csv 1 runs/grow3/valid_coded.csv
"""
import csv
import math
import sys


def rows(path):
    by_step = {}
    for r in csv.DictReader(open(path)):
        by_step.setdefault(int(r["step"]), []).append(
            (int(r["rung"]), float(r["bpp"]), float(r["psnr"]))
        )
    return by_step


def polyfit3(x, y):
    """Least-squares cubic through (x, y): coefficients, constant first."""
    n = 4
    a = [[sum(xi ** (i + j) for xi in x) for j in range(n)] for i in range(n)]
    b = [sum(yi * xi**i for xi, yi in zip(x, y)) for i in range(n)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(a[r][c]))
        a[c], a[p], b[c], b[p] = a[p], a[c], b[p], b[c]
        for r in range(n):
            if r != c:
                f = a[r][c] / a[c][c]
                a[r] = [v - f * vc for v, vc in zip(a[r], a[c])]
                b[r] -= f * b[c]
    return [b[i] / a[i][i] for i in range(n)]


def integral(c, lo, hi):
    prim = lambda t: sum(c[i] * t ** (i + 1) / (i + 1) for i in range(4))
    return prim(hi) - prim(lo)


def bd_rate(base, test):
    """Mean rate difference of `test` against `base` in percent (negative: fewer bits)."""
    pa, ra = [p for _, _, p in base], [math.log(b) for _, b, _ in base]
    pb, rb = [p for _, _, p in test], [math.log(b) for _, b, _ in test]
    ca, cb = polyfit3(pa, ra), polyfit3(pb, rb)
    lo, hi = max(min(pa), min(pb)), min(max(pa), max(pb))
    return (math.exp((integral(cb, lo, hi) - integral(ca, lo, hi)) / (hi - lo)) - 1) * 100


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    base = sorted(rows(sys.argv[1])[int(sys.argv[2])])
    run = rows(sys.argv[3])
    for step in [int(s) for s in sys.argv[4:]] or sorted(run):
        test = sorted(run[step])
        top = test[-1]
        print(f"{step}: {bd_rate(base, test):+.2f} %  top rung {top[1]:.3f} bpp {top[2]:.2f} dB")


if __name__ == "__main__":
    main()
