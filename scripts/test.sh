#!/usr/bin/env bash
# Runs every test: unit tests beside the code, property tests, the RFC 6962
# and signed-note vectors, and the end-to-end tests that drive the built
# `warden` binary. Needs only a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo test --workspace --locked "$@"
