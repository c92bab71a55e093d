#!/usr/bin/env bash
# Lints the Kubernetes manifests under deploy/: YAML style (yamllint) and
# each object against the Kubernetes API schema (kubernetes-validate, which
# bundles the schemas: no cluster, no network beyond PyPI at install time).
# The tools come from PyPI into ${WARDEN_DEPLOY_VENV:-$HOME/.cache/warden/venv-deploy}.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WARDEN_DEPLOY_VENV:-$HOME/.cache/warden/venv-deploy}"
PINS="yamllint==1.38.0 kubernetes-validate==1.37.0"
"$(dirname "$0")/pinned-venv.sh" "$VENV" $PINS
"$VENV/bin/yamllint" -d '{extends: default, rules: {line-length: {max: 100}, document-start: disable}}' deploy/
"$VENV/bin/kubernetes-validate" --strict --kubernetes-version 1.33 deploy/kubernetes/*.yaml
echo "deploy/: manifests valid"
