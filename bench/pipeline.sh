#!/usr/bin/env bash
# The cost of running training through `warden pipeline run`, on this machine:
#   1. Fixed overhead: a pipeline whose one stage trains with a command that
#      only copies a pre-built ONNX model and schema (so the command costs
#      next to nothing), against running that command directly: the
#      difference is Warden's (sandbox, scan, import, signing, provenance,
#      recording). Then the real trainer (examples/titanic/train.py) both ways:
#      overhead as a share of the command's time.
#   2. Sandbox start: `bwrap … true` against `true`.
#   3. The Titanic scenario both ways: `warden pipeline run --force` of
#      examples/titanic (ingest, sandboxed training, import with check batch
#      and provenance, scan, evaluation with bootstrap, fairness,
#      HopSkipJump and membership inference, Bandit evidence, promotion to
#      dev, the staging gate) against the glue a user would write
#      (bench/pipeline_glue.py: MLflow run + registration, then modelscan,
#      model_signing, a gate script).
# Timings by hyperfine (Debian's), on a release build in
# ${CARGO_TARGET_DIR:-target}/release. Python tools come from the cached
# virtualenvs the tests use (scikit-learn + skl2onnx + Bandit; MLflow;
# modelscan; model-signing).
# Usage: bench/pipeline.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
W="${WARDEN:-${CARGO_TARGET_DIR:-$REPO/target}/release/warden}"
[ -x "$W" ] || { echo "build first: cargo build --release -p warden-cli (or set WARDEN)" >&2; exit 1; }
command -v hyperfine >/dev/null || apt-get install -y -q hyperfine >&2 || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }
./scripts/ensure-bubblewrap.sh
TVENV="${WARDEN_TITANIC_VENV:-$HOME/.cache/warden/venv-titanic}"
# shellcheck disable=SC2046
scripts/pinned-venv.sh "$TVENV" $(grep -v '^#' examples/titanic/requirements.txt)
MVENV="${WARDEN_MLFLOW_VENV:-$HOME/.cache/warden/venv-mlflow}"
[ -x "$MVENV/bin/mlflow" ] || scripts/pinned-venv.sh "$MVENV" mlflow==3.17.2
SVENV="${WARDEN_SCAN_BENCH_VENV:-$HOME/.cache/warden/venv-scan-bench}"
[ -x "$SVENV/bin/modelscan" ] || { echo "modelscan: run bench/scan.sh once (it makes $SVENV)" >&2; exit 1; }
GVENV="${WARDEN_INTEROP_VENV:-$HOME/.cache/warden/venv-model-signing}"
[ -x "$GVENV/bin/model_signing" ] || { echo "model_signing: run scripts/interop-model-signing.sh once (it makes $GVENV)" >&2; exit 1; }

WORK="$(mkdir -p "${1:-$REPO/target/bench-pipeline}" && cd "${1:-$REPO/target/bench-pipeline}" && pwd)"
rm -rf "$WORK"/*
export WARDEN_ACTOR=ana HOME="$WORK/home" WARDEN_PROGRESS=none
mkdir -p "$HOME"
cp -r examples/titanic "$WORK/titanic"
ln -s "$TVENV" "$WORK/titanic/.venv"
"$W" init "$WORK/ws" >/dev/null
cd "$WORK/ws"
"$W" keys generate pipeline >/dev/null
"$W" data ingest ../titanic/titanic.csv --name titanic --target survived --sensitive sex >/dev/null 2>&1

# 1. Fixed overhead and the real trainer.
# The copy trainer hands over the Titanic model trained once here.
mkdir -p ../copy ../once
WARDEN_DATASET=../titanic/titanic.csv WARDEN_OUTPUT=../once "$TVENV/bin/python" ../titanic/train.py >/dev/null
cp ../once/model.onnx ../once/schema.toml ../copy/
cat > ../copy/pipeline.toml <<'TOML'
name = "copy"
[[stage]]
name = "train"
train = { dataset = "titanic@1", model = "copy", command = ["sh", "-c", "cp model.onnx schema.toml \"$WARDEN_OUTPUT/\""] }
TOML
cat > ../titanic/train-only.toml <<'TOML'
name = "train-only"
[sandbox]
read_only = [".venv"]
[[stage]]
name = "train"
train = { dataset = "titanic@1", model = "titanic-bench", command = ["python", "train.py"], check = "check.csv" }
TOML
mkdir -p ../direct-out
DIRECT_ENV="WARDEN_DATASET=$WORK/titanic/titanic.csv WARDEN_OUTPUT=$WORK/direct-out"
hyperfine --warmup 2 --runs 15 --export-json ../copy.json \
  -n "direct: cp" "cd $WORK/copy && env $DIRECT_ENV sh -c 'cp model.onnx schema.toml \"\$WARDEN_OUTPUT/\"'" \
  -n "warden pipeline run: cp" "$W pipeline run ../copy/pipeline.toml --force"
# The real trainer: train.py's own time varies by a few hundred ms run to
# run, so runs alternate (direct, pipeline) and each pipeline run's
# overhead is its wall time less the command's own time, as the run
# records it.
python3 - "$W" "$TVENV" "$WORK" <<'PY' > ../train.json
import json, os, statistics, subprocess, sys, time
w, venv, work = sys.argv[1:4]
env = dict(os.environ, WARDEN_DATASET=f"{work}/titanic/titanic.csv", WARDEN_OUTPUT=f"{work}/direct-out")
direct, piped, overhead = [], [], []
for i in range(9):
    t = time.perf_counter()
    subprocess.run([f"{venv}/bin/python", "train.py"], cwd=f"{work}/titanic", env=env, check=True, capture_output=True)
    d = time.perf_counter() - t
    t = time.perf_counter()
    out = subprocess.run([w, "--json", "pipeline", "run", "../titanic/train-only.toml", "--force"],
                         cwd=f"{work}/ws", check=True, capture_output=True).stdout
    p = time.perf_counter() - t
    if i == 0:
        continue  # warm-up
    run = json.loads(out)
    direct.append(d)
    piped.append(p)
    overhead.append(p - run["stages"][0]["result"]["seconds"])
print(json.dumps({"direct": direct, "pipeline": piped, "overhead": overhead}))
PY

# 2. Sandbox start.
hyperfine --warmup 5 --runs 50 -N --export-json ../bwrap.json \
  -n "true" "true" \
  -n "bwrap --unshare-all true" "bwrap --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --unshare-all --die-with-parent -- /usr/bin/true"

# 3. The scenario: Warden against the glue.
openssl ecparam -name prime256v1 -genkey -noout -out ../glue.key 2>/dev/null
openssl ec -in ../glue.key -pubout -out ../glue.pub 2>/dev/null
cat > ../glue.sh <<SH
set -e
rm -rf $WORK/glue && mkdir -p $WORK/glue
$MVENV/bin/python $REPO/bench/pipeline_glue.py $WORK/titanic/titanic.csv $WORK/glue >/dev/null 2>&1
$SVENV/bin/modelscan -p $WORK/glue/model >/dev/null || true
$GVENV/bin/model_signing sign key --private_key $WORK/glue.key --signature $WORK/glue/model.sig $WORK/glue/model >/dev/null 2>&1
read acc ratio < $WORK/glue/metrics.txt
python3 -c "import sys; a, r = map(float, sys.argv[1:]); sys.exit(0 if a >= 0.7 else 4)" \$acc \$ratio
SH
hyperfine --warmup 1 --runs 3 --export-json ../scenario.json \
  -n "warden pipeline run (titanic)" "$W pipeline run ../titanic/pipeline.toml --force || [ \$? -eq 4 ]" \
  -n "glue: MLflow + modelscan + model_signing + gate" "bash ../glue.sh"

python3 - .. <<'PY'
import json, os, statistics as st, sys
w = sys.argv[1]
def means(f):
    return {r["command"]: (r["mean"], r["stddev"]) for r in json.load(open(os.path.join(w, f)))["results"]}
c, b, s = means("copy.json"), means("bwrap.json"), means("scenario.json")
t = json.load(open(os.path.join(w, "train.json")))
fixed = c["warden pipeline run: cp"][0] - c["direct: cp"][0]
d, p, o = st.median(t["direct"]), st.median(t["pipeline"]), st.median(t["overhead"])
print(f"fixed overhead (cp trainer):   {fixed*1000:.0f} ms  (target < 300 ms)")
print(f"train.py direct:               median {d:.2f} s (range {min(t['direct']):.2f}-{max(t['direct']):.2f}, {len(t['direct'])} runs)")
print(f"train.py through the pipeline: median {p:.2f} s (range {min(t['pipeline']):.2f}-{max(t['pipeline']):.2f})")
print(f"  Warden's share (wall less the command's own time): median {o*1000:.0f} ms, "
      f"max {max(t['overhead'])*1000:.0f} ms = {100*o/d:.1f}% of the direct run")
print(f"sandbox start:                 {(b['bwrap --unshare-all true'][0]-b['true'][0])*1000:.1f} ms")
wr, gl = s["warden pipeline run (titanic)"][0], s["glue: MLflow + modelscan + model_signing + gate"][0]
print(f"titanic scenario: warden {wr:.2f} s, glue {gl:.2f} s, ratio glue/warden {gl/wr:.2f}")
PY
