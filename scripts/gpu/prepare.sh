#!/usr/bin/env bash
# Prepares a training run for the GPU device machine (docs/gpu.md): builds neco with
# the wgpu backend, and fills .gpu/ (ignored by git, carried to the device) with the
# stripped, xz-compressed binary, the Vulkan loader packages, the run folder to
# continue (without its optimizer state) and a training shard sized to what the
# device's 64 MiB tree limit leaves.
#
#   scripts/gpu/prepare.sh [RUN_DIR] [CONFIG]
#
# RUN_DIR defaults to checkpoints/hp-n64m192-vr, CONFIG to models/hp-n64m192-vr-gpu.toml.
# To make room, the tracked weights files (28 MB; the binary holds the default) are
# removed from the working tree: scripts/gpu/collect.sh puts them back (or
# `git checkout -- weights`).
set -euo pipefail
cd "$(dirname "$0")/../.."

run_dir=${1:-checkpoints/hp-n64m192-vr}
run_dir=${run_dir%/}
config=${2:-models/hp-n64m192-vr-gpu.toml}
target=${CARGO_TARGET_DIR:-target/wgpu}
limit=$((64 * 1024 * 1024))
margin=$((3 * 1024 * 1024))

[ -f "$run_dir/checkpoint/model.bpk" ] || { echo "no checkpoint in $run_dir" >&2; exit 1; }
[ -f "$config" ] || { echo "no config $config" >&2; exit 1; }
train_dir=$(awk -F'"' '/name = "train"/ {t = 1} t && /^path/ {print $2; exit}' datasets.toml)
[ -d "$train_dir" ] || { echo "training data $train_dir (datasets.toml) is missing" >&2; exit 1; }

grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude

# A previous prepare.sh may have removed the weights (the build embeds the default)
# and the other runs' checkpoints.
for w in $(git ls-files 'weights/*.nwt' 'checkpoints/*/checkpoint/model.bpk'); do
    [ -f "$w" ] || git checkout -- "$w"
done
echo "building neco with the wgpu backend into $target (cold: 14-21 min alone on 2 cores, an hour beside a training run)"
CARGO_TARGET_DIR=$target cargo build --release --no-default-features --features wgpu

rm -rf .gpu
mkdir -p .gpu/debs .gpu/train
# The wgpu build is large (~110 MB stripped, the default weights included): xz -9
# brings it to about a quarter; the device decompresses it with xz or Python's lzma.
strip -o .gpu/neco "$target/release/neco"
xz -9 -T1 .gpu/neco
# The Vulkan loader, and glvnd: the NVIDIA ICD (libGLX_nvidia.so.0) needs
# libGLdispatch.so.0, which the device image lacks (without it wgpu finds no adapter).
debs="libvulkan1 libglvnd0 libegl1 libgl1 libglx0 libopengl0 libgles2"
# shellcheck disable=SC2086
(cd .gpu/debs && apt-get download $debs >/dev/null 2>&1) || { echo "apt-get download $debs failed" >&2; exit 1; }
cp "$config" .gpu/config.toml

# The run travels in place when it is committed as it is (checkpoints/), else as a
# copy without its optimizer state.
if git ls-files --error-unmatch "$run_dir/checkpoint/model.bpk" >/dev/null 2>&1 &&
    git diff --quiet HEAD -- "$run_dir"; then
    echo "$run_dir" >.gpu/run_path
else
    mkdir -p .gpu/run/checkpoint
    cp "$run_dir"/*.csv "$run_dir/config.toml" .gpu/run/ 2>/dev/null || true
    cp "$run_dir/checkpoint/model.bpk" "$run_dir/checkpoint/progress.json" .gpu/run/checkpoint/
    echo .gpu/run >.gpu/run_path
fi

# The weights files (28 MB) are not needed there: the binary holds the default.
for w in $(git ls-files 'weights/*.nwt'); do
    if [ -f "$w" ] && git diff --quiet HEAD -- "$w"; then
        rm "$w"
        echo "removed $w for the trip (collect.sh restores it)"
    fi
done

# Nor are the other committed runs' checkpoints (17 MB for a width-128 model).
for c in $(git ls-files 'checkpoints/*/checkpoint/model.bpk'); do
    case "$c" in "$run_dir"/*) continue ;; esac
    if git diff --quiet HEAD -- "$c"; then
        rm "$c"
        echo "removed $c for the trip (collect.sh restores it)"
    fi
done

# What travels: tracked files still present, untracked files git does not ignore, .gpu/.
travelling() {
    {
        git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null || true
        find .gpu -type f -printf '%s\n'
    } | awk '{s += $1} END {print s + 0}'
}
budget=$((limit - margin - $(travelling)))
[ "$budget" -gt $((8 * 1024 * 1024)) ] || { echo "only $budget bytes left for training data" >&2; exit 1; }

# The shard: training images in a fixed shuffled order (a mix of the set's sources, as
# the CPU runs see it), original bytes, until the budget is spent.
used=0
while IFS= read -r f; do
    size=$(stat -c %s "$f")
    [ $((used + size)) -le "$budget" ] || continue
    cp "$f" .gpu/train/
    used=$((used + size))
done < <(find "$train_dir" -maxdepth 1 -type f \( -name '*.png' -o -name '*.jpg' -o -name '*.jpeg' \) |
    sort | shuf --random-source=<(yes neco))

echo "shard: $(ls .gpu/train | wc -l) of $(ls "$train_dir" | wc -l) training images, $used bytes"
echo "travelling: $(travelling) of $limit bytes"
echo "on the device (run tool): carry [\".gpu\"], command: bash scripts/gpu/session.sh 540, timeout_s 600"
