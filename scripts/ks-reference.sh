#!/usr/bin/env bash
# Regenerates crates/warden-monitor/tests/reference/ks_reference.json, the
# SciPy figures the KS p-value is held to (make_ks_reference.py says what is
# computed). A maintenance script: the JSON is committed and the test suite
# never runs Python. Uses the virtualenv of scripts/pld-reference.sh (same
# pins, SciPy 1.17.1 as in the Evidently fixtures).
#   scripts/ks-reference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WARDEN_DP_VENV:-$HOME/.cache/warden/dp-venv}"
PINS="dp-accounting==0.6.0 numpy==2.4.6 scipy==1.17.1"
# shellcheck disable=SC2086
scripts/pinned-venv.sh "$VENV" $PINS
OUT=crates/warden-monitor/tests/reference/ks_reference.json
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" crates/warden-monitor/tests/reference/make_ks_reference.py > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT" >&2
