#!/usr/bin/env bash
# Makes the virtualenv that the scanner's allow-list generator
# (scripts/gen-scan-allowlist.sh) and the benign model corpus
# (scripts/scan-corpus-models.sh) run in, with the packages whose pickles
# the scanner must accept, from PyPI at the exact versions pinned here, at
# ${WARDEN_SCAN_MODELS_VENV:-$HOME/.cache/warden/venv-scan-models}; prints
# its path. Python 3.11 (pandas 3 needs 3.11 or later).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="${WARDEN_SCAN_MODELS_VENV:-$HOME/.cache/warden/venv-scan-models}"
# scikit-learn, NumPy, SciPy, pandas, joblib, XGBoost (the CPU build),
# LightGBM, and their dependencies, pinned so that generated names and
# pickles do not drift.
PINS="numpy==2.4.6 scikit-learn==1.9.1 joblib==1.6.0 scipy==1.17.1 threadpoolctl==3.8.0 cloudpickle==3.1.3 narwhals==2.29.0"
PINS="$PINS pandas==3.1.1 python-dateutil==4.0.0 six==1.17.0 tzdata==2026.6 xgboost-cpu==3.2.0 lightgbm==4.7.0"
# shellcheck disable=SC2086
PYTHON="${PYTHON:-python3}" "$HERE/pinned-venv.sh" "$VENV" $PINS
echo "$VENV"
