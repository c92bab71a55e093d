#!/usr/bin/env bash
# The web console in headless Chromium (Debian's), driven by Playwright
# (npm's playwright-core, which downloads no browser), with axe-core for
# accessibility: scripts/console/browser.cjs says what it checks. Also
# checks the console's in-browser proof checker against the RFC 6962
# vectors (scripts/console/verify.cjs). Installs chromium when missing (as
# root, or with sudo) and the two npm packages, pinned by
# scripts/console/package-lock.json, into
# ${WARDEN_CONSOLE_NODE:-$HOME/.cache/warden/console-node}.
# Screenshots go to $WARDEN_SCREENSHOTS (default
# $CARGO_TARGET_DIR/ci-artifacts/console).
#   scripts/console-browser.sh [DEMO_WORKSPACE]   (default: a fresh `warden demo --keep`)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
W="${WARDEN:-$TARGET/debug/warden}"
if ! command -v chromium >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null; }
fi
NODE_DIR="${WARDEN_CONSOLE_NODE:-$HOME/.cache/warden/console-node}"
mkdir -p "$NODE_DIR"
if ! cmp -s scripts/console/package-lock.json "$NODE_DIR/package-lock.json" || [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
  cp scripts/console/package.json scripts/console/package-lock.json "$NODE_DIR/"
  (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
node scripts/console/verify.cjs

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
if [ -n "${1:-}" ]; then
  cp -r "$1" "$TMP/ws"
else
  WARDEN_ACTOR=ci "$W" demo --keep "$TMP/ws" > /dev/null
fi
# Its own user directory: the checkpoint a hub remembers belongs to this run.
export WARDEN_CONFIG_DIR="$TMP/user"
export WARDEN_SCREENSHOTS="${WARDEN_SCREENSHOTS:-$TARGET/ci-artifacts/console}"
timeout 300 node scripts/console/browser.cjs "$W" "$TMP/ws" "$NODE_DIR/node_modules"
