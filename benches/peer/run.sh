#!/usr/bin/env bash
# neco vs CompressAI's mbt2018-mean (same architecture and channel counts) on PyTorch
# CPU: same images, same thread count, measured in the same run; prints neco/peer.
#
#     benches/peer/run.sh [DATASET] [THREADS]    # defaults: kodak (else assets), nproc
#
# The first run creates a Python venv (PEER_VENV, default target/peer-venv) and installs
# torch, compressai and pillow into it from PyPI: a download of a few GB.
set -euo pipefail
cd "$(dirname "$0")/../.."
dataset=${1:-kodak}
threads=${2:-$(nproc)}
if [ "$dataset" = kodak ] && [ ! -d ../shared/datasets/kodak ]; then
    echo "Kodak is not in ../shared/datasets: using assets/ (datasets.toml: samples)" >&2
    dataset=samples
fi
venv=${PEER_VENV:-target/peer-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import compressai, torch, PIL" 2>/dev/null; then
    echo "peer: creating $venv and installing torch, compressai, pillow from PyPI" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch compressai pillow
fi
cargo build --release -q
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "neco: coding $dataset at q=50 with $threads threads" >&2
RAYON_NUM_THREADS=$threads ./target/release/neco rd --dataset "$dataset" --against none \
    --qualities 50 -o "$out" -y > /dev/null
echo "peer: coding the same images" >&2
"$venv/bin/python" benches/peer/compressai_peer.py --neco-rd "$out/rd.json" --threads "$threads"
