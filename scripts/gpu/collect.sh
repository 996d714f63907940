#!/usr/bin/env bash
# Back from the GPU device machine (docs/gpu.md): turns the files scripts/gpu/session.sh
# left in $OUT (the run tool's files_at folder) into a run folder `neco train` resumes,
# puts back what prepare.sh removed from the working tree, and validates the checkpoint
# on the CPU (the device had no validation set) against the seventh default weights.
#
#   scripts/gpu/collect.sh FILES_AT RUN_DIR [NECO]
#
# NECO is the CPU build to validate with (default target/release/neco).
set -euo pipefail
cd "$(dirname "$0")/../.."
from=${1:?usage: collect.sh FILES_AT RUN_DIR [NECO]}
run=${2:?usage: collect.sh FILES_AT RUN_DIR [NECO]}
neco=${3:-target/release/neco}

[ -f "$from/model.bpk" ] && [ -f "$from/progress.json" ] ||
    { echo "$from holds no checkpoint (see its session.log)" >&2; exit 1; }
[ -e "$run" ] && { echo "$run exists: name a new run folder" >&2; exit 1; }
for w in $(git ls-files 'weights/*.nwt' 'checkpoints/*/checkpoint/model.bpk'); do
    [ -f "$w" ] || git checkout -- "$w"
done

# The run as carried (validation history), then what the device wrote.
mkdir -p "$run/checkpoint"
cp "$(cat .gpu/run_path)"/*.csv "$run"/ 2>/dev/null || true
cp "$from/train.csv" "$from/config.toml" "$run"/
cp "$from/model.bpk" "$from/progress.json" "$run/checkpoint/"
if compgen -G "$from/optim.bin.part*" >/dev/null; then
    cat "$from"/optim.bin.part* >"$run/checkpoint/optim.bin"
fi
[ -f "$from/session.log" ] && cp "$from/session.log" "$run/gpu-session.log"
step=$(grep -o '"step": [0-9]*' "$run/checkpoint/progress.json" | grep -o '[0-9]*$')
echo "$run: step $step"

# Validation through the codec, as `neco train` does every validate_every steps: a
# one-step run at a learning rate too small to move anything, from the exported
# checkpoint (docs/grow.md, "probe").
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
"$neco" export --run "$run" -o "$probe/model.nwt"
sed -e 's/^lr = .*/lr = 1e-12/' -e '/^lr_drops/d' -e '/^rate_ramp/d' \
    -e 's/^validate_every = .*/validate_every = 1/' "$run/config.toml" >"$probe/probe.toml"
"$neco" train --config "$probe/probe.toml" --init "$probe/model.nwt" --run "$probe/run" --steps 1 \
    >"$probe/log" 2>&1 || { cat "$probe/log" >&2; exit 1; }
sed "s/^1,/$step,/" "$probe/run/valid_coded.csv" | tail -n +2 >>"$run/valid_coded.csv"
sed "s/^1,/$step,/" "$probe/run/valid.csv" | tail -n +2 >>"$run/valid.csv"
echo "BD-rate on the validation crops against the seventh default weights, then the 2026-12-03 default:"
"$neco" bd checkpoints/hp-n64m96-vr-valid_coded.csv "$run/valid_coded.csv" --steps "$step"
"$neco" bd checkpoints/hp-n64m192-vr-default-valid_coded.csv "$run/valid_coded.csv" --steps "$step"
