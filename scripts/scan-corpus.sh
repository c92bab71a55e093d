#!/usr/bin/env bash
# Builds the `warden scan` test corpus (scripts/scan-corpus.py) in OUTDIR:
# benign and malicious model files plus OUTDIR/manifest.json. The generator's
# packages come from PyPI at the exact versions pinned below, in a virtualenv
# at ${WARDEN_SCAN_VENV:-$HOME/.cache/warden/venv-scan-corpus}, created on
# first use and reinstalled only when the pins change. Same pins, same bytes.
# Re-running replaces OUTDIR/benign, OUTDIR/malicious and the manifest.
#   scripts/scan-corpus.sh OUTDIR
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${WARDEN_SCAN_VENV:-$HOME/.cache/warden/venv-scan-corpus}"
PYTHON="${PYTHON:-python3}"
# Python 3.11; scipy, threadpoolctl, cloudpickle and narwhals are
# scikit-learn's dependencies, pinned so that the pickles do not drift.
PINS="numpy==2.4.6 scikit-learn==1.9.1 joblib==1.6.0 safetensors==0.8.0 scipy==1.17.1 threadpoolctl==3.8.0 cloudpickle==3.1.3 narwhals==2.29.0"
# shellcheck disable=SC2086
PYTHON="$PYTHON" "$HERE/pinned-venv.sh" "$VENV" $PINS
PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" "$HERE/scan-corpus.py" "$1"
