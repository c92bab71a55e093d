#!/usr/bin/env bash
# Regenerates the Evidently reference fixtures of `--compat evidently`
# (crates/warden-monitor/tests/fixtures/evidently/: the CSV pairs and
# expected.json) with scripts/evidently-fixtures.py. A maintenance script:
# the fixtures are committed and the test suite never runs Evidently.
# Evidently and the libraries whose numerics it relies on come from PyPI at
# the exact versions pinned below, in a virtualenv at
# ${WARDEN_EVIDENTLY_VENV:-target/evidently-venv}, created on first use and
# reinstalled only when the pins change (bench/drift_evidently.py uses the
# same one). Python 3.11.
#   scripts/evidently-fixtures.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WARDEN_EVIDENTLY_VENV:-target/evidently-venv}"
PYTHON="${PYTHON:-python3}"
# evidently, numpy, pandas and scipy decide the figures; pydantic,
# scikit-learn, statsmodels and plotly are the heavy dependencies evidently
# imports, pinned so that a new release of one cannot break the import.
PINS="evidently==0.7.23 numpy==2.4.6 pandas==2.3.3 scipy==1.17.1 pydantic==2.14.4 scikit-learn==1.9.1 statsmodels==0.15.0 plotly==5.24.1"
# shellcheck disable=SC2086
PYTHON="$PYTHON" scripts/pinned-venv.sh "$VENV" $PINS
# Evidently iterates over Python sets of category values when it sums
# Jensen-Shannon terms; a fixed hash seed keeps the last bits of those
# values identical from run to run.
PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" scripts/evidently-fixtures.py "$@"
