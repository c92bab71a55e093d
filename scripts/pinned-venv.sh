#!/usr/bin/env bash
# Makes sure the virtualenv DIR holds exactly the pinned packages given:
# reused when its stamp (DIR/.warden-pins) lists the same pins, rebuilt from
# scratch otherwise. Python is $PYTHON or python3.
# Usage: scripts/pinned-venv.sh DIR PIN...
set -euo pipefail
VENV="$1"
shift
PINS="$*"
STAMP="$VENV/.warden-pins"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$PINS" ]; then
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input "$@" >&2
  echo "$PINS" > "$STAMP"
fi
