#!/usr/bin/env python3
"""Times CompressAI's mean-scale hyperprior (mbt2018-mean, Minnen et al. 2018 without
the context model: neco's default architecture) on PyTorch CPU, on the images a
`neco rd` run measured, and prints neco's time / the peer's time.

The peer is built with neco's channel counts (N, M read from the run's model name,
default 64/96; g_a, g_s and h_s as wide as neco's when the run's `analysis_width`,
`synthesis_width` and `hyper_width` say so) and
random weights: speed does not depend on the weight values, and its
entropy coder still codes real latents. Use benches/peer/run.sh, which sets everything up.
"""
import argparse
import json
import os
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from PIL import Image

import compressai
from compressai.models import MeanScaleHyperprior
from compressai.layers import GDN
from compressai.models.utils import conv, deconv


def load(path):
    img = Image.open(path).convert("RGB")
    x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return x.view(img.height, img.width, 3).permute(2, 0, 1).float().div(255).unsqueeze(0)


def pad64(x):
    h, w = x.shape[2:]
    ph, pw = (64 - h % 64) % 64, (64 - w % 64) % 64
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--neco-rd", required=True, help="rd.json of a `neco rd --against none` run")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=1, help="timed passes over the images")
    args = ap.parse_args()

    rd = json.load(open(args.neco_rd))
    folder, names = rd["dataset"], rd["images"]
    # hp-n64m192-vr, or with wider transforms hp-n64w128m192-vr / hp-n64a128m192-vr
    m = re.search(r"n(\d+)(?:[wa]\d+)?m(\d+)", rd["model"])
    n_ch, m_ch = (int(m.group(1)), int(m.group(2))) if m else (64, 96)
    # g_a's and g_s's hidden widths (rd.json since 2026-12-08; N before).
    a_ch = rd.get("analysis_width") or n_ch
    s_ch = rd.get("synthesis_width") or n_ch
    neco = [p for c in rd["curves"] if c["name"] == "neco" for p in c["points"]][0]

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = MeanScaleHyperprior(N=n_ch, M=m_ch)
    k_ch = rd.get("hyper_width") or m_ch
    if k_ch != m_ch:
        # neco's h_s keeps a narrower width than M (a model whose y was widened).
        net.h_s = torch.nn.Sequential(
            deconv(n_ch, k_ch),
            torch.nn.LeakyReLU(inplace=True),
            deconv(k_ch, k_ch * 3 // 2),
            torch.nn.LeakyReLU(inplace=True),
            conv(k_ch * 3 // 2, m_ch * 2, stride=1, kernel_size=3),
        )
    if a_ch != n_ch:
        net.g_a = torch.nn.Sequential(
            conv(3, a_ch), GDN(a_ch), conv(a_ch, a_ch), GDN(a_ch),
            conv(a_ch, a_ch), GDN(a_ch), conv(a_ch, m_ch),
        )
    if s_ch != n_ch:
        net.g_s = torch.nn.Sequential(
            deconv(m_ch, s_ch), GDN(s_ch, inverse=True), deconv(s_ch, s_ch),
            GDN(s_ch, inverse=True), deconv(s_ch, s_ch), GDN(s_ch, inverse=True),
            deconv(s_ch, 3),
        )
    net = net.eval()
    net.update(force=True)
    images = [load(os.path.join(folder, name)) for name in names]

    enc, dec, bpp = [], [], []
    with torch.no_grad():
        # Warm-up (allocator, oneDNN kernel selection), not timed.
        out = net.compress(pad64(images[0]))
        net.decompress(out["strings"], out["shape"])
        for _ in range(args.repeats):
            for x in images:
                h, w = x.shape[2:]
                t0 = time.perf_counter()
                out = net.compress(pad64(x))
                t1 = time.perf_counter()
                rec = net.decompress(out["strings"], out["shape"])["x_hat"]
                rec = rec[:, :, :h, :w].clamp(0, 1).mul(255).round().to(torch.uint8)
                t2 = time.perf_counter()
                enc.append((t1 - t0) * 1e3)
                dec.append((t2 - t1) * 1e3)
                bpp.append(sum(len(s[0]) for s in out["strings"]) * 8 / (h * w))

    peer = {
        "peer": f"CompressAI {compressai.__version__} MeanScaleHyperprior(N={n_ch}, M={m_ch}, g_a width {a_ch}, g_s width {s_ch}, h_s width {k_ch}), random weights",
        "torch": torch.__version__,
        "threads": args.threads,
        "images": len(names),
        "encode_ms": statistics.mean(enc),
        "decode_ms": statistics.mean(dec),
    }
    print(json.dumps(peer, indent=2))
    print()
    print(f"{len(names)} images from {folder}, {args.threads} threads, mean per image")
    print(f"{'':10} {'neco ms':>10} {'peer ms':>10} {'neco/peer':>10}")
    for what in ["encode", "decode"]:
        a, b = neco[f"{what}_ms"], peer[f"{what}_ms"]
        print(f"{what:10} {a:10.1f} {b:10.1f} {a / b:10.2f}")


if __name__ == "__main__":
    sys.exit(main())
