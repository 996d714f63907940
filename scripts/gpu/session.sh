#!/usr/bin/env bash
# Runs on the GPU device machine, over the .gpu/ that scripts/gpu/prepare.sh filled
# (docs/gpu.md): measures encode/decode frame rates on wgpu and on the CPU (issue 8,
# at most ~4 minutes), then trains the carried run on wgpu with the time left and
# leaves the run's checkpoint, logs and optimizer state (split under the 16 MB
# per-file limit) in $OUT, all within SECONDS (give the run tool a timeout_s above it).
#
#   bash scripts/gpu/session.sh SECONDS [FPS=1|0]
set -uo pipefail
budget=${1:?usage: session.sh SECONDS [FPS=1|0]}
measure_fps=${2:-1}
out=${OUT:?set OUT to the output folder (the device tool sets it)}
log=$out/session.log
say() { echo "$*" | tee -a "$log"; }
elapsed() { echo $SECONDS; }

# Vulkan: the NVIDIA driver's ICD is there (/usr/share/vulkan/icd.d), the loader and
# glvnd's libGLdispatch, which the ICD needs, are not.
for f in .gpu/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
{ xz -dc .gpu/neco.xz 2>/dev/null ||
    python3 -c 'import lzma, sys; sys.stdout.buffer.write(lzma.open(".gpu/neco.xz").read())'; } >/tmp/neco
chmod +x /tmp/neco
say "$(nvidia-smi -L 2>&1 | head -1); $(nproc) CPU cores; $(/tmp/neco --version)"
# Without a usable adapter nothing below can work: stop before spending the minutes.
/tmp/neco encode assets/sample-768x512.png -o /tmp/probe.neco --backend wgpu -y >>"$log" 2>&1 ||
    { say "wgpu is unusable here (above); stopping"; exit 1; }

if [ "$measure_fps" = 1 ]; then
    # Frames: the sample photo resized (Lanczos) to 1080p and 4K UHD; every frame intra.
    python3 - <<'EOF' 2>&1 | tee -a "$log"
from PIL import Image
import os
src = Image.open("assets/sample-768x512.png").convert("RGB")
for name, size, count in [("1080p", (1920, 1080), 40), ("2160p", (3840, 2160), 12)]:
    os.makedirs(f"/tmp/{name}", exist_ok=True)
    frame = src.resize(size, Image.LANCZOS)
    for i in range(count):
        frame.save(f"/tmp/{name}/{i + 1:04d}.ppm")
EOF
    # Each size is coded as a short and a long sequence, one process each: whole runs
    # include start-up, kernel compilation and autotuning; the difference of the two
    # runs' times over the difference of their frame counts is the steady-state rate
    # a long video sees.
    timed() { # timed FRAMES SIZE BACKEND [OPTION...] -> "encode_s decode_s"
        local n=$1 size=$2 backend=$3 t0 t1 t2
        shift 3
        rm -rf /tmp/seq /tmp/dec && mkdir -p /tmp/seq /tmp/dec
        for f in $(ls /tmp/"$size" | head -n "$n"); do ln -s /tmp/"$size"/"$f" /tmp/seq/"$f"; done
        t0=$(date +%s.%N)
        timeout 90 /tmp/neco encode "/tmp/seq/%04d.ppm" -o /tmp/v.neco --temporal off \
            --backend "$backend" "$@" --timings --json -y </dev/null >>"$log" 2>&1
        t1=$(date +%s.%N)
        timeout 90 /tmp/neco decode /tmp/v.neco -o /tmp/dec/%04d.ppm --backend "$backend" \
            "$@" --timings --json -y </dev/null >>"$log" 2>&1
        t2=$(date +%s.%N)
        echo "$t1 - $t0" "$t2 - $t1" | awk '{printf "%.3f %.3f", $1 - $3, $4 - $6}'
    }
    rate() { awk -v n="$1" -v s="$2" 'BEGIN {printf "%.2f", n / s}'; }
    # size, short and long run, backend, options: wgpu with the default tiles (1024
    # pixels) and with one tile per frame (--tile 256: no per-tile transfers).
    while read -r size short long backend opts; do
        [ "$(elapsed)" -lt 200 ] || { say "fps $size $backend $opts: skipped (time)"; continue; }
        # One frame first, so the timed runs find the driver's shader cache warm.
        # shellcheck disable=SC2086 # opts is a list of options
        timed 1 "$size" "$backend" $opts >/dev/null
        # shellcheck disable=SC2086
        read -r es ds <<<"$(timed "$short" "$size" "$backend" $opts)"
        # shellcheck disable=SC2086
        read -r el dl <<<"$(timed "$long" "$size" "$backend" $opts)"
        sd=$(awk -v a="$el" -v b="$es" 'BEGIN {print a - b}')
        dd=$(awk -v a="$dl" -v b="$ds" 'BEGIN {print a - b}')
        say "fps $size $backend $opts: $short frames encode $(rate "$short" "$es") decode" \
            "$(rate "$short" "$ds"); $long frames encode $(rate "$long" "$el") decode" \
            "$(rate "$long" "$dl"); steady encode $(rate $((long - short)) "$sd") decode" \
            "$(rate $((long - short)) "$dd") fps (wall, one process a run, PPM I/O" \
            "included; stages in the JSON above)"
    done <<'RUNS'
1080p 10 40 wgpu
1080p 10 40 wgpu --tile 256
1080p 10 40 cpu
2160p 4 12 wgpu
2160p 4 12 wgpu --tile 256
2160p 4 12 cpu
RUNS
fi

# Training: the carried run, on wgpu, with the carried config (no validation here:
# the validation set does not fit the trip; collect.sh validates back home).
# Image loading, the last checkpoint and the copies take the last 60 s; `timeout`
# stops a run that overshoots with SIGTERM, on which `neco train` saves its checkpoint
# (a binary built before 2026-11-27 night loses the steps since the last one).
cp -r "$(cat .gpu/run_path)" /tmp/run
left=$((budget - $(elapsed) - 60))
minutes=$(awk "BEGIN {printf \"%.2f\", $left / 60}")
say "training $minutes min from step $(grep -o '"step": [0-9]*' /tmp/run/checkpoint/progress.json | grep -o '[0-9]*$')"
timeout $((left + 40)) /tmp/neco train --config .gpu/config.toml --run /tmp/run \
    --dataset .gpu/train --valid none --backend wgpu --minutes "$minutes" >>"$log" 2>&1
say "train exit $?; $(tail -1 /tmp/run/train.csv)"

cp /tmp/run/checkpoint/model.bpk /tmp/run/checkpoint/progress.json /tmp/run/train.csv \
    /tmp/run/config.toml "$out"/ 2>>"$log"
[ -f /tmp/run/checkpoint/optim.bin ] &&
    split -b 15000000 -d /tmp/run/checkpoint/optim.bin "$out/optim.bin.part"
ls -la "$out"
