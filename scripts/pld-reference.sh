#!/usr/bin/env bash
# Regenerates crates/warden-ml/tests/reference/pld_reference.json, the figures
# that tests/pld_reference.rs holds Warden's PLD accountant to, from Google's
# dp-accounting and Opacus's PRV accountant (make_pld_reference.py says what
# is computed). A maintenance script: the JSON is committed and the test
# suite never runs Python. dp-accounting and the numerics it relies on come
# from PyPI at the versions pinned below, in a virtualenv at
# ${WARDEN_DP_VENV:-$HOME/.cache/warden/dp-venv}, created on first use and
# reinstalled only when the pins change; the Opacus wheel is downloaded
# without its dependencies (torch is not needed by the accountant modules).
# The same virtualenv serves scripts/ks-reference.sh. Takes about 15 minutes.
#   scripts/pld-reference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WARDEN_DP_VENV:-$HOME/.cache/warden/dp-venv}"
PINS="dp-accounting==0.6.0 numpy==2.4.6 scipy==1.17.1"
# shellcheck disable=SC2086
scripts/pinned-venv.sh "$VENV" $PINS
WHEELS="$VENV/wheels"
if ! ls "$WHEELS"/opacus-1.5.2-*.whl >/dev/null 2>&1; then
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$WHEELS" opacus==1.5.2 >&2
fi
WHEEL="$(ls "$WHEELS"/opacus-1.5.2-*.whl | head -n 1)"
OUT=crates/warden-ml/tests/reference/pld_reference.json
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" crates/warden-ml/tests/reference/make_pld_reference.py "$WHEEL" > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "wrote $OUT" >&2
