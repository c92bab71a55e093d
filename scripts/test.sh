#!/usr/bin/env bash
# Runs every test: unit tests beside the code, property tests, the RFC 6962,
# signed-note and Opacus reference vectors, the end-to-end tests that drive
# the built `warden` binary, and the interop check against the OpenSSF
# `model_signing` CLI (installed from PyPI into a cached virtualenv).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
./scripts/interop-model-signing.sh
