#!/usr/bin/env bash
# Differential test of the scanner's pickle VM against CPython's own
# pure-Python unpickler (scripts/pickle-differential.py), run in a throwaway
# virtualenv (standard library only; nothing is installed, imported from
# the streams or executed: the unpickler records instead of calling).
# Builds warden-scan's `pickle_trace` example first.
#   scripts/pickle-differential.sh [--seed N] [--count N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --quiet --locked -p warden-scan --example pickle_trace
VENV="$(mktemp -d)"
trap 'rm -rf "$VENV"' EXIT
"${PYTHON:-python3}" -m venv --without-pip "$VENV"
"$VENV/bin/python" -I scripts/pickle-differential.py "$TARGET/debug/examples/pickle_trace" "$@"
