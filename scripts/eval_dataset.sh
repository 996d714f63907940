#!/usr/bin/env bash
# Average bpp and PSNR of neco over a folder of images, measured with the CLI.
# Usage: scripts/eval_dataset.sh DIR [QUALITY] [extra neco args, e.g. --weights FILE]
# Prints one line per image and the averages (PSNR averaged per image, as CompressAI reports).
set -euo pipefail
dir=${1:?usage: scripts/eval_dataset.sh DIR [QUALITY] [neco args]}
q=${2:-50}
shift $(( $# >= 2 ? 2 : 1 ))
neco=${NECO:-target/release/neco}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0; sum_bpp=0; sum_psnr=0
for img in "$dir"/*.png "$dir"/*.jpg; do
  [ -e "$img" ] || continue
  name=$(basename "$img")
  "$neco" encode "$img" -o "$tmp/x.neco" -q "$q" -y "$@" 2>/dev/null
  out=$("$neco" decode "$tmp/x.neco" -o "$tmp/x.png" -y --compare "$img" --json "$@")
  bpp=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["bpp"])')
  psnr=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["psnr"])')
  printf '%s\t%.4f bpp\t%.2f dB\n' "$name" "$bpp" "$psnr"
  n=$((n + 1))
  sum_bpp=$(python3 -c "print($sum_bpp + $bpp)")
  sum_psnr=$(python3 -c "print($sum_psnr + $psnr)")
done
python3 -c "print(f'average over $n images: {$sum_bpp / $n:.4f} bpp, {$sum_psnr / $n:.2f} dB PSNR (q=$q)')"
