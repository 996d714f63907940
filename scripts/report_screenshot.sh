#!/usr/bin/env bash
# Opens an HTML report of `neco rd --report X.html` in headless Chromium (Debian:
# apt-get install chromium), checks that it decoded every picture of its gallery with
# no script error, and takes a screenshot.
#
#   scripts/report_screenshot.sh REPORT.html SHOT.png [WIDTHxHEIGHT]
set -euo pipefail
html=$(realpath "$1")
shot=$2
size=${3:-1200x2400}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[[ -n $browser ]] || { echo "no Chromium found (Debian/Ubuntu: apt-get install chromium)" >&2; exit 2; }
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=10000)
dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$html" 2>/dev/null)
expected=$(grep -o 'data:image/png;base64,' "$html" | wc -l)
loaded=$(grep -o 'data-loaded="[0-9]*"' <<<"$dom" | grep -o '[0-9]*' || echo 0)
if grep -q 'data-errors=\|data-failed=' <<<"$dom"; then
    echo "script errors or undecodable pictures: $(grep -o 'data-\(errors\|failed\)="[0-9]*"' <<<"$dom" | tr '\n' ' ')" >&2
    exit 1
fi
if [[ $loaded != "$expected" ]]; then
    echo "decoded $loaded of the $expected pictures" >&2
    exit 1
fi
timeout 120 "$browser" "${flags[@]}" --window-size="${size/x/,}" --screenshot="$(realpath -m "$shot")" "file://$html" 2>/dev/null
echo "$html: $loaded of $expected pictures decoded, no script error; screenshot $shot"
