#!/usr/bin/env bash
# Regenerates crates/warden-scan/src/allow-generated.txt, the exact names a
# pickle may import, from the real packages (scripts/gen-scan-allowlist.py)
# in the pinned virtualenv of scripts/scan-models-venv.sh. Review the diff
# before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="$(scripts/scan-models-venv.sh)"
PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" scripts/gen-scan-allowlist.py \
  > crates/warden-scan/src/allow-generated.txt.new
mv crates/warden-scan/src/allow-generated.txt.new crates/warden-scan/src/allow-generated.txt
