#!/usr/bin/env bash
# Usage: bash scripts/check_report_renders.sh REPORT.html [SCREENSHOT.png]
# Opens a report of cs224n_nmt_plugin.report in headless Chromium and checks that it renders:
# after the page's scripts ran, its image check must count every <img> of the file as loaded
# (naturalWidth > 0) and none as broken. Also saves a screenshot (default: REPORT.png beside
# the report) to look at. Needs Chromium: /usr/bin/chromium, or the binary named by $CHROMIUM.
set -euo pipefail

die() { echo "[check_report_renders] error: $*" >&2; exit 1; }
say() { echo "[check_report_renders] $*"; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: bash scripts/check_report_renders.sh REPORT.html [SCREENSHOT.png]"
report=$1
screenshot=${2:-${report%.html}.png}
chromium=${CHROMIUM:-/usr/bin/chromium}
[[ -f $report ]] || die "$report: no such file"
[[ -x $chromium ]] || die "$chromium not found: install it (Debian: apt-get install -y chromium) or set CHROMIUM"

expected=$(grep -o '<img ' "$report" | wc -l)
url="file://$(realpath "$report")"
profile=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$profile" "$log"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$profile" --virtual-time-budget=10000)

dom=$("$chromium" "${flags[@]}" --dump-dom "$url" 2>"$log") || die "chromium --dump-dom failed: $(tail -n 3 "$log")"
status=$(grep -o '<p [^>]*id="image-check"[^>]*>' <<<"$dom") || die "$report: no image-check element in the rendered page"
loaded=$(grep -o 'data-loaded="[0-9]*"' <<<"$status" | grep -o '[0-9]\+') \
  || die "$report: the image check did not run (JavaScript disabled or failed?)"
broken=$(grep -o 'data-broken="[0-9]*"' <<<"$status" | grep -o '[0-9]\+')
[[ $broken -eq 0 ]] || die "$report: $broken of $((loaded + broken)) images are broken"
[[ $loaded -eq $expected ]] || die "$report: $loaded images loaded but the file has $expected <img> tags"
say "$report: $loaded of $expected images loaded, 0 broken"

"$chromium" "${flags[@]}" --window-size=1280,2400 --screenshot="$screenshot" "$url" >"$log" 2>&1 \
  || die "chromium --screenshot failed: $(tail -n 3 "$log")"
[[ -s $screenshot ]] || die "$screenshot: chromium wrote no screenshot"
say "screenshot: $screenshot"
