#!/usr/bin/env bash
# The training campaign: one long `neco train` run carried across sessions.
#
#   scripts/campaign.sh start    resume the campaign's run in the background (nice 19)
#   scripts/campaign.sh status   is it running, its last training and validation lines
#   scripts/campaign.sh stop     save its checkpoint (optimizer state included), copy it
#                                to checkpoints/ and say what to commit
#
# The run lives in runs/campaign/ (not in git). On `start` without that folder it is
# made from the checkpoint the repository keeps, checkpoints/$CAMPAIGN/; on `stop` the
# checkpoint goes back there, overwriting the previous one (one path, so the repository
# grows by one checkpoint a session: model in f32, Adam's moments in bf16).
#
# Environment: CAMPAIGN (default below) names the model config models/$CAMPAIGN.toml
# and the kept checkpoint; NECO, a neco binary to use instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."

CAMPAIGN=${CAMPAIGN:-hp-n64w128m192-vr-b5}
CONFIG=models/$CAMPAIGN.toml
KEPT=checkpoints/$CAMPAIGN
RUN=runs/campaign
PID_FILE=$RUN/campaign.pid
LOG=$RUN/campaign.log

die() {
    echo "campaign: $*" >&2
    exit 1
}

running_pid() {
    [[ -f $PID_FILE ]] || return 1
    local pid
    pid=$(cat "$PID_FILE")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
    [[ -f $CONFIG ]] || die "no config $CONFIG (set CAMPAIGN to a model of models/)"
    if pid=$(running_pid); then
        die "already running (pid $pid); 'scripts/campaign.sh status' shows where it is"
    fi
    if [[ ! -f $RUN/checkpoint/progress.json ]]; then
        [[ -f $KEPT/checkpoint/progress.json ]] || die "no checkpoint in $KEPT to resume from"
        if [[ -d $RUN ]]; then
            die "$RUN exists but holds no checkpoint: move it away to start from $KEPT"
        fi
        mkdir -p runs
        cp -r "$KEPT" "$RUN"
        echo "campaign: $RUN made from $KEPT"
    elif [[ -f $RUN/campaign.name && $(cat "$RUN/campaign.name") != "$CAMPAIGN" ]]; then
        die "$RUN holds the campaign $(cat "$RUN/campaign.name"), not $CAMPAIGN: stop and move it away first"
    fi
    echo "$CAMPAIGN" >"$RUN/campaign.name"
    # A copy of the binary: rebuilding neco during the session leaves the run alone.
    if [[ -z ${NECO:-} ]]; then
        cargo build --release --quiet --bin neco
        NECO=target/release/neco
    fi
    cp "$NECO" "$RUN/neco"
    # nohup keeps it past the terminal; SIGTERM (stop) makes it save and exit.
    nohup nice -n 19 "$RUN/neco" train --config "$CONFIG" --run "$RUN" >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PID_FILE"
    sleep 2
    if ! running_pid >/dev/null; then
        tail -n 5 "$LOG" >&2
        die "neco train exited at once (log above, whole log in $LOG)"
    fi
    echo "campaign: $CAMPAIGN training in the background (pid $(cat "$PID_FILE"), log $LOG)"
}

status() {
    if pid=$(running_pid); then
        echo "campaign $CAMPAIGN: running (pid $pid)"
    else
        echo "campaign $CAMPAIGN: not running"
    fi
    [[ -f $RUN/checkpoint/progress.json ]] &&
        echo "checkpoint: $(tr -d ' \n' <"$RUN/checkpoint/progress.json")"
    if [[ -f $RUN/train.csv ]]; then
        echo "train.csv (step,elapsed_s,loss,bpp,psnr):"
        tail -n 3 "$RUN/train.csv"
    fi
    if [[ -f $RUN/valid_coded.csv ]]; then
        echo "valid_coded.csv, last validation (step,elapsed_s,rung,quality,bpp,psnr):"
        local last
        last=$(tail -n 1 "$RUN/valid_coded.csv" | cut -d, -f1)
        grep "^$last," "$RUN/valid_coded.csv"
        # Against the default the campaign started from (2026-12-03) and the default
        # it makes now (since 2026-12-08: the banded run's step 5000 in f16).
        local base
        for base in checkpoints/hp-n64m192-vr-default-valid_coded.csv \
            checkpoints/hp-n64w128m192-vr-b5-default-valid_coded.csv; do
            [[ -f $base ]] && [[ -x $RUN/neco ]] &&
                "$RUN/neco" bd "$base" "$RUN/valid_coded.csv" --steps "$last" 2>/dev/null |
                tail -n 2 || true
        done
    fi
}

stop() {
    if pid=$(running_pid); then
        echo "campaign: asking pid $pid to save its checkpoint and stop"
        kill -TERM "$pid"
        # A validation pass in progress finishes first (a few minutes at most).
        for _ in $(seq 1 900); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        kill -0 "$pid" 2>/dev/null && die "pid $pid still running after 15 minutes"
        tail -n 2 "$LOG"
    else
        echo "campaign: not running"
    fi
    rm -f "$PID_FILE"
    [[ -f $RUN/checkpoint/progress.json ]] || die "no checkpoint in $RUN"
    local tmp=$KEPT.new
    rm -rf "$tmp"
    mkdir -p "$tmp"
    cp "$RUN"/config.toml "$RUN"/*.csv "$tmp"/
    cp -r "$RUN/checkpoint" "$tmp/checkpoint"
    # Earlier sessions' extra files (logs of GPU runs) stay.
    if [[ -d $KEPT ]]; then
        for f in "$KEPT"/*; do
            [[ -e $tmp/$(basename "$f") ]] || cp -r "$f" "$tmp/"
        done
    fi
    rm -rf "$KEPT"
    mv "$tmp" "$KEPT"
    echo "campaign: checkpoint of step $(sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$KEPT/checkpoint/progress.json") copied to $KEPT ($(du -sh "$KEPT/checkpoint" | cut -f1))"
    echo "commit it:  git add $KEPT && git commit -m 'campaign: $CAMPAIGN checkpoint'"
}

case ${1:-} in
start) start ;;
status) status ;;
stop) stop ;;
*) die "usage: scripts/campaign.sh start|status|stop" ;;
esac
