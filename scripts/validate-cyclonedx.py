#!/usr/bin/env python3
"""Validate CycloneDX 1.6 JSON documents against the official CycloneDX 1.6 JSON schema.

Usage: validate-cyclonedx.py FILE...

For each FILE prints `FILE: valid` or `FILE: INVALID: <error>`; exits 0 only if
every file is valid, 1 otherwise (2 on bad usage).

A file is valid when:
  * it parses as JSON and its `specVersion` is "1.6" (the schema itself types
    `specVersion` as any string, so without this a 1.5 document would pass);
  * it passes `cyclonedx.validation.json.JsonStrictValidator(SchemaVersion.V1_6)`
    from cyclonedx-python-lib: JSON Schema draft-07 validation, format checks
    included (`date-time`, `iri-reference`, `idn-email`), against the schema
    files the library bundles (schema/_res/bom-1.6.SNAPSHOT.schema.json,
    spdx.SNAPSHOT.schema.json, jsf-0.82.SNAPSHOT.schema.json,
    cryptography-defs.SNAPSHOT.schema.json). Those are copies of the official
    files from github.com/CycloneDX/specification with their `$ref`s renamed to
    the local copies; no network access is needed. For 1.6 the strict and
    non-strict validators use the same file: the official schema already sets
    `additionalProperties: false` throughout.
Not checked (JSON Schema cannot express it): that every `bom-ref` is unique and
that every `ref` / `dependsOn` entry names an existing `bom-ref`.

The virtualenv (what scripts/interop-cyclonedx.sh makes, if missing):
  python3 -m venv ~/.cache/warden/venv-cyclonedx
  ~/.cache/warden/venv-cyclonedx/bin/pip install "cyclonedx-python-lib[json-validation]==11.12.0"
and run this script with ~/.cache/warden/venv-cyclonedx/bin/python.

Written against: Python 3.11.7, cyclonedx-python-lib 11.12.0 (schemas from
CycloneDX/specification commit b29bae660048e0ad2fbc5f2972927b442ce951c4),
jsonschema 4.26.0, referencing 0.37.0.
"""
import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def _where(error) -> str:
    """`at /components/0/modelCard: ` from a jsonschema ValidationError, or ''."""
    path = getattr(error, "absolute_path", None)
    if not path:
        return ""
    return "at /" + "/".join(str(p) for p in path) + ": "


def check(validator: JsonStrictValidator, text: str):
    """None if `text` is a valid CycloneDX 1.6 JSON document, else the error message."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        return f"not JSON: {e}"
    if isinstance(doc, dict) and doc.get("specVersion") != "1.6":
        return f"specVersion is {doc.get('specVersion')!r}, not '1.6'"
    error = validator.validate_str(text)
    if error is None:
        return None
    inner = error.data  # the jsonschema.exceptions.ValidationError
    message = getattr(inner, "message", None) or str(inner)
    return _where(inner) + message


def main(argv) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    all_valid = True
    for name in argv:
        try:
            with open(name, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            problem = f"cannot read: {e}"
        else:
            problem = check(validator, text)
        if problem is None:
            print(f"{name}: valid")
        else:
            all_valid = False
            print(f"{name}: INVALID: {' '.join(problem.split())}")
    return 0 if all_valid else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
