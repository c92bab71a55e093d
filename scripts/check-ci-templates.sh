#!/usr/bin/env bash
# `warden ci init github|gitlab` writes YAML that parses, with every
# placeholder filled (PyYAML from PyPI in a cached virtualenv).
# Usage: scripts/check-ci-templates.sh   ($WARDEN, else the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
W="${WARDEN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/warden}"
VENV="${WARDEN_YAML_VENV:-$HOME/.cache/warden/venv-yaml}"
scripts/pinned-venv.sh "$VENV" PyYAML==6.0.4
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$W" ci init github --dir "$WORK" --pipeline examples/titanic/pipeline.toml --install "cargo install --locked warden-cli" >/dev/null
"$W" ci init gitlab --dir "$WORK" --pipeline examples/titanic/pipeline.toml --install "cargo install --locked warden-cli" >/dev/null
"$VENV/bin/python" - "$WORK/.github/workflows/warden.yml" "$WORK/.gitlab-ci.yml" <<'PY'
import sys, yaml
gh, gl = (yaml.safe_load(open(p)) for p in sys.argv[1:3])
steps = gh["jobs"]["pipeline"]["steps"]
runs = "\n".join(s.get("run", "") for s in steps)
assert "warden pipeline run \"$GITHUB_WORKSPACE/examples/titanic/pipeline.toml\"" in runs, runs
assert gh["permissions"]["id-token"] == "write"
assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif") for s in steps)
script = "\n".join(gl["warden"]["script"])
assert "warden pipeline run" in script and "{{" not in script
print("ci templates: GitHub and GitLab workflows parse")
PY
