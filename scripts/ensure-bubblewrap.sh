#!/usr/bin/env bash
# Makes sure bubblewrap (Debian's `bwrap`) is installed and can make a
# sandbox here: `warden pipeline run` trains in it, and the pipeline tests
# play a training command that tries to escape it. Installs the Debian
# package when missing (as root, or with sudo).
set -euo pipefail
if ! command -v bwrap >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null \
    || { $SUDO apt-get update -q >/dev/null && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null; }
fi
if ! bwrap --ro-bind / / --unshare-all --die-with-parent -- true; then
  echo "bubblewrap is installed but cannot make a sandbox here (are unprivileged user namespaces off?)" >&2
  exit 1
fi
