#!/usr/bin/env bash
# Regenerates the labelled PII fixture of warden-data
# (crates/warden-data/tests/fixtures/pii/: table.csv, labels.csv) with
# scripts/pii-fixture.py. A maintenance script: the fixture is committed and
# `cargo test` never runs Python. Faker comes from PyPI at the exact version
# pinned below, in a virtualenv at
# ${WARDEN_FAKER_VENV:-$HOME/.cache/warden/venv-faker}, created on first use
# and rebuilt only when the pin changes. The output depends only on the seed
# and the Faker version.
#   scripts/pii-fixture.sh [--seed N] [--rows N] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WARDEN_FAKER_VENV:-$HOME/.cache/warden/venv-faker}"
PYTHON="${PYTHON:-python3}" scripts/pinned-venv.sh "$VENV" faker==40.63.0
PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" scripts/pii-fixture.py "$@"
