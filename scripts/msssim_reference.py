#!/usr/bin/env python3
"""Reference MS-SSIM values pinned by the test `eval_metrics::ms_ssim_matches_pytorch_msssim`.

    python3 -m venv /tmp/msenv && /tmp/msenv/bin/pip install torch pytorch_msssim pillow numpy
    /tmp/msenv/bin/python scripts/msssim_reference.py

The distorted image is assets/sample-768x512.png posterized to 16 levels per channel
((v // 16) * 16 + 8), the same distortion the test applies; the odd case crops both to
765x509 first (exercises the zero-padded pooling of odd sides).
"""
import importlib

import numpy as np
import torch
from PIL import Image

msssim_module = importlib.import_module("pytorch_msssim.ssim")

ref = np.asarray(Image.open("assets/sample-768x512.png").convert("RGB"), dtype=np.uint8)
dist = (ref // 16) * 16 + 8


def score(a, b):
    t = lambda x: torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[None]
    return msssim_module.ms_ssim(t(a), t(b), data_range=255.0, size_average=True).item()


def window_f64(size, sigma):
    """pytorch_msssim's window, built in float64 instead of float32."""
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return (g / g.sum()).unsqueeze(0).unsqueeze(0)


for label in ["stock (float32 window)", "float64 window"]:
    print(label)
    print("  full 768x512:", repr(score(ref, dist)))
    print("  odd 765x509:", repr(score(ref[:509, :765], dist[:509, :765])))
    msssim_module._fspecial_gauss_1d = window_f64
