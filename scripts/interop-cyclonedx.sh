#!/usr/bin/env bash
# Validates CycloneDX 1.6 JSON documents (the files given as arguments) against
# the official CycloneDX 1.6 JSON schema, through scripts/validate-cyclonedx.py
# and the strict JSON validator of cyclonedx-python-lib 11.12.0, which bundles
# the schema files (bom-1.6, spdx, jsf-0.82): no network once installed.
# Installs cyclonedx-python-lib[json-validation] into a virtualenv under
# $HOME/.cache/warden, reused across runs.
# Usage: scripts/interop-cyclonedx.sh FILE...
# Prints one line per file, then `cyclonedx: N valid, M invalid`; exits 1 if
# any file is invalid.
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: $0 FILE..." >&2
  exit 2
fi
files=()
for f in "$@"; do
  files+=("$(realpath -m -- "$f")")
done
cd "$(dirname "$0")/.."
VENV="${WARDEN_CYCLONEDX_VENV:-$HOME/.cache/warden/venv-cyclonedx}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import cyclonedx.validation.json, jsonschema" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "cyclonedx-python-lib[json-validation]==11.12.0"
fi
valid=0
invalid=0
for f in "${files[@]}"; do
  if "$VENV/bin/python" scripts/validate-cyclonedx.py "$f"; then
    valid=$((valid + 1))
  else
    invalid=$((invalid + 1))
  fi
done
echo "cyclonedx: $valid valid, $invalid invalid"
[ "$invalid" -eq 0 ]
