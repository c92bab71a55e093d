#!/usr/bin/env bash
# examples/titanic end to end, as its README tells a user to run it: the
# trainer's virtualenv from requirements.txt (cached), a fresh workspace,
# `warden pipeline run`. Checks what the scenario promises: the model is
# trained by train.py inside the sandbox, imported with its check batch and
# signed SLSA provenance, scanned, evaluated, Bandit's SAST report recorded,
# promoted to dev; staging's gate denies it for its fairness across `sex`
# (exit 4), naming the reason; a second run reuses every stage; the passport
# and the CycloneDX ML-BOM (validated) cite the provenance and the evidence.
# Usage: scripts/titanic-example.sh [WORKDIR]   ($WARDEN, else the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
W="${WARDEN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/warden}"
VENV="${WARDEN_TITANIC_VENV:-$HOME/.cache/warden/venv-titanic}"
# shellcheck disable=SC2046
scripts/pinned-venv.sh "$VENV" $(grep -v '^#' examples/titanic/requirements.txt)
if [ -n "${1:-}" ]; then WORK="$1"; mkdir -p "$WORK"; else WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT; fi
rm -rf "$WORK/titanic" "$WORK/ws"
cp -r examples/titanic "$WORK/titanic"
ln -s "$VENV" "$WORK/titanic/.venv"
export WARDEN_ACTOR=ana HOME="$WORK/home"
mkdir -p "$HOME"
"$W" init "$WORK/ws" >/dev/null
cd "$WORK/ws"
"$W" keys generate pipeline >/dev/null
set +e
"$W" --progress none --json pipeline run ../titanic/pipeline.toml > ../run1.json
rc=$?
"$W" --progress none --json pipeline run ../titanic/pipeline.toml > ../run2.json
rc2=$?
set -e
if [ "$rc" -ne 4 ] || [ "$rc2" -ne 4 ]; then
  echo "titanic: pipeline run exited $rc then $rc2 (want 4: staging denied)"; cat ../run1.json; exit 1
fi
"$W" model export titanic@1 --out ../exported >/dev/null
"$W" verify ../exported --provenance >/dev/null
# The passport and the ML-BOM cite the provenance and the evidence; the BOM
# still validates against CycloneDX 1.6.
"$W" model passport titanic@1 | grep -q "Build provenance (SLSA v1, signed) | in place"
"$W" model passport titanic@1 | grep -q "bandit (sast)"
"$W" model bom titanic@1 > ../titanic.cdx.json
grep -q '"warden:provenance:slsa"' ../titanic.cdx.json
(cd "$REPO" && scripts/interop-cyclonedx.sh "$WORK/titanic.cdx.json" >/dev/null)
python3 - ../run1.json ../run2.json <<'PY'
import json, sys
one, two = (json.load(open(p)) for p in sys.argv[1:3])
st = {s["name"]: s for s in one["stages"]}
want = {"data": "ok", "train": "ok", "scan": "ok", "evaluate": "ok", "sast": "ok", "dev": "ok", "staging": "denied"}
got = {k: st[k]["status"] for k in want}
assert got == want, got
assert st["train"]["result"]["sandbox"].startswith("bubblewrap"), st["train"]
assert st["scan"]["result"]["max_severity"] == "none", st["scan"]
assert st["sast"]["result"]["findings"] >= 0, st["sast"]
assert any("demographic parity" in r for r in st["staging"]["reasons"]), st["staging"]["reasons"]
two_st = {s["name"]: s["status"] for s in two["stages"]}
for k in ["data", "train", "scan", "evaluate"]:
    assert two_st[k] == "reused", two_st
print(f"titanic: trained in {st['train']['result']['sandbox']}, accuracy {st['evaluate']['result']['accuracy']:.3f}, "
      f"bandit findings {st['sast']['result']['findings']}, staging denied: {st['staging']['reasons'][0]}")
PY
