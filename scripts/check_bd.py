#!/usr/bin/env python3
"""Independent check of `neco rd`'s BD numbers with the `bjontegaard` package (SciPy PCHIP).

    python3 -m venv /tmp/bdenv && /tmp/bdenv/bin/pip install bjontegaard==1.3.0
    /tmp/bdenv/bin/python scripts/check_bd.py results/kodak      # reads rd.json and bd.json

Recomputes every BD-rate / BD-quality pair in bd.json from the curves in rd.json and
exits non-zero if any differs by more than 0.5 percentage points (0.05 dB).
With `--fixture` it prints the values the unit test `matches_scipy_on_curved_data` pins.
"""
import json
import math
import sys

import bjontegaard as bd
import numpy as np


def fixture():
    anchor = [(0.221, 23.78), (0.423, 28.04), (0.729, 30.90), (1.127, 33.23), (2.35, 37.91)]
    test = [(0.124, 27.70), (0.198, 29.36), (0.307, 31.13), (0.461, 32.95), (0.662, 34.97), (0.914, 36.91)]
    ra, da = map(np.array, zip(*anchor))
    rt, dt = map(np.array, zip(*test))
    print("bd_rate", repr(bd.bd_rate(ra, da, rt, dt, method="pchip", min_overlap=0, require_matching_points=False)))
    print("bd_psnr", repr(bd.bd_psnr(ra, da, rt, dt, method="pchip", min_overlap=0, require_matching_points=False)))


def curve(rd, codec, metric):
    by_name = {c["name"]: c for c in rd["curves"]}
    pts = [(p["bpp"], p[metric]) for p in by_name[codec]["points"]
           if p.get(metric) is not None and math.isfinite(p[metric])]
    pts.sort(key=lambda p: p[1])
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def main(folder):
    rd = json.load(open(f"{folder}/rd.json"))
    bdj = json.load(open(f"{folder}/bd.json"))
    worst = 0.0
    for row in bdj["comparisons"]:
        if row.get("bd_rate_percent") is None:
            print(f"{row['test']} vs {row['anchor']} ({row['metric']}): not computed ({row.get('error')})")
            continue
        ra, da = curve(rd, row["anchor"], row["metric"])
        rt, dt = curve(rd, row["test"], row["metric"])
        rate = bd.bd_rate(ra, da, rt, dt, method="pchip", min_overlap=0, require_matching_points=False)
        # bd_psnr sorts by distortion too; it integrates over log-rate.
        qual = bd.bd_psnr(ra, da, rt, dt, method="pchip", min_overlap=0, require_matching_points=False)
        d_rate = abs(rate - row["bd_rate_percent"])
        d_qual = abs(qual - row["bd_quality_db"])
        worst = max(worst, d_rate)
        print(f"{row['test']} vs {row['anchor']} ({row['metric']}): neco {row['bd_rate_percent']:.3f} % "
              f"/ {row['bd_quality_db']:.4f} dB, bjontegaard {rate:.3f} % / {qual:.4f} dB")
        if d_rate > 0.5 or d_qual > 0.05:
            print("  MISMATCH")
            sys.exit(1)
    print(f"all BD numbers agree (largest BD-rate difference {worst:.4f} percentage points)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--fixture"]:
        fixture()
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
