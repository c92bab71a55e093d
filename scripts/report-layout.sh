#!/usr/bin/env bash
# The HTML reports at a desktop (1280 px) and a phone (375 px) width, laid
# out by headless Chromium: nothing may stick out of the page (tables
# scroll inside themselves, charts shrink), and every chart has its key
# under it. Installs Debian's chromium when missing (as root, or with
# sudo). Screenshots of each page at each width go to $WARDEN_SCREENSHOTS
# when set, for a person to look at.
# Usage: scripts/report-layout.sh   (uses $WARDEN, else the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
W="${WARDEN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/warden}"
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export WARDEN_ACTOR=ana HOME="$WORK/home"
mkdir -p "$HOME"
cd "$WORK"
"$W" init ws >/dev/null
cd ws
"$W" keys generate pipeline >/dev/null
"$W" example credit --rows 3000 --seed 3 --out c.csv --bias 0.6 >/dev/null
"$W" example credit --rows 3000 --seed 4 --out s.csv --shift >/dev/null
"$W" data ingest c.csv --name c --target approved --id customer_id --sensitive sex --sensitive age_band >/dev/null 2>&1
"$W" train --dataset c@1 --name c >/dev/null
"$W" eval c@1 --dataset c@1 --report "$WORK/eval" --sensitive sex --sensitive age_band >/dev/null 2>&1
# A drift report with a many-level categorical (full names) and skewed numbers.
set +e
"$W" monitor drift --reference c.csv --current s.csv --report "$WORK/drift" >/dev/null 2>&1
set -e
# Headless Chromium, with its shared memory in /tmp (a container's /dev/shm
# is often 64 MB, too small for it), tried up to three times: a browser that
# dies of a signal is the machine's fault, not the page's.
chrome() {
  local try rc
  for try in 1 2 3; do
    rc=0
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "$@" 2>/dev/null || rc=$?
    if [ "$rc" -lt 128 ] || [ "$rc" -eq 124 ]; then return "$rc"; fi
    echo "report-layout: chromium died of signal $((rc - 128)) (try $try of 3)" >&2
  done
  return "$rc"
}
fail=0
for page in eval drift; do
  cp "$REPO/scripts/layout/check.html" "$WORK/$page/"
  for w in 1280 375; do
    dom="$(chrome --allow-file-access-from-files --virtual-time-budget=10000 \
      --dump-dom "file://$WORK/$page/check.html?w=$w")" || { echo "report-layout: $page at $w px: chromium failed"; fail=1; continue; }
    out="$(printf '%s' "$dom" | sed -n 's/.*<pre id="out">\([^<]*\)<.*/\1/p')"
    [ -n "$out" ] || { echo "report-layout: $page at $w px: no measurement from chromium"; fail=1; continue; }
    out="$(printf '%s' "$out" | sed 's/&quot;/"/g')"
    if ! python3 - "$page" "$out" <<'PY'
import json, sys
page, m = sys.argv[1], json.loads(sys.argv[2])
problems = []
if m["scrollWidth"] > m["clientWidth"]:
    problems.append(f"the page scrolls sideways ({m['scrollWidth']} px in {m['clientWidth']})")
if m["right"] > m["clientWidth"]:
    problems.append(f"{m['widest']} ends at {m['right']} px, past {m['clientWidth']}")
if m["tableRight"] > m["clientWidth"]:
    problems.append(f"a table ends at {m['tableRight']} px, past {m['clientWidth']}")
if m["charts"] == 0 or m["keys"] != m["charts"]:
    problems.append(f"{m['charts']} charts, {m['keys']} with a key under them")
status = "ok" if not problems else "; ".join(problems)
print(f"report-layout: {page} at {m['width']} px: {m['charts']} charts: {status}")
sys.exit(1 if problems else 0)
PY
    then fail=1; fi
    if [ -n "${WARDEN_SCREENSHOTS:-}" ]; then
      mkdir -p "$WARDEN_SCREENSHOTS"
      chrome --hide-scrollbars --window-size="$w,2400" --screenshot="$WARDEN_SCREENSHOTS/$page-$w.png" \
        "file://$WORK/$page/report.html" >/dev/null || true
    fi
  done
done
exit "$fail"
