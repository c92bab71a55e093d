#!/usr/bin/env bash
# Bring your own scikit-learn model, end to end on UCI Adult (the copy in
# crates/warden/tests/data/adult): scripts/byom/sklearn_adult.py trains a
# scaled logistic regression pipeline and a 100-tree random forest in a
# pinned virtualenv (scikit-learn, skl2onnx, onnxruntime from PyPI), exports
# them to ONNX and writes check batches; then Warden ingests the training and
# test data, imports each model with --check and --dataset, evaluates it on
# the test version (membership inference against the training version,
# HopSkipJump), predicts 100,000 rows and must give scikit-learn's label on
# every one, and compares the test data with the model's reference profile.
# Prints the CPU seconds of the 100,000-row prediction beside scikit-learn's
# and onnxruntime's (bench/byom.sh runs it on a release build).
# Usage: scripts/byom-sklearn.sh [WORKDIR]   ($WARDEN, else the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
W="${WARDEN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/warden}"
VENV="${WARDEN_ONNX_VENV:-$HOME/.cache/warden/venv-onnx}"
scripts/pinned-venv.sh "$VENV" scikit-learn==1.9.1 skl2onnx==1.20.0 onnx==1.23.2 \
  onnxruntime==1.32.0 numpy==2.4.6 pandas==3.1.1 scipy==1.17.1 protobuf==7.36.2
if [ -n "${1:-}" ]; then WORK="$1"; mkdir -p "$WORK"; else WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT; fi
"$VENV/bin/python" scripts/byom/sklearn_adult.py crates/warden/tests/data/adult "$WORK"
export WARDEN_ACTOR=ana HOME="$WORK/home"
mkdir -p "$HOME"
rm -rf "$WORK/ws"
"$W" init "$WORK/ws" >/dev/null
cd "$WORK/ws"
"$W" keys generate pipeline >/dev/null
# Adult writes "?" for an unknown category; the models saw it as a value.
"$W" data ingest ../train.csv --name adult-train --target Y --missing '' >/dev/null 2>&1
"$W" data ingest ../test.csv --name adult-test --target Y --missing '' >/dev/null 2>&1
for m in lr rf ct ctrf; do
  "$W" model import "../$m.onnx" --name "$m" --schema "../$m.toml" --check "../$m.check.csv" \
    --dataset adult-train@1 --json > "../$m.import.json"
  "$W" eval "$m@1" --dataset adult-test@1 --json > "../$m.eval.json" 2>/dev/null
  /usr/bin/time -f "%U %S" -o "../$m.time" "$W" model predict "$m@1" ../batch.csv --missing '' --json > "../$m.pred.json"
  set +e
  "$W" monitor drift --reference "model:$m@1" --current ../test.csv --missing '' --json > "../$m.drift.json"
  rc=$?
  set -e
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 7 ]; then echo "byom-sklearn: monitor drift for $m exited $rc"; exit 1; fi
done
python3 - "$WORK" <<'PY'
import json, os, sys
w = sys.argv[1]
sk = json.load(open(os.path.join(w, "sklearn.json")))
fail = False
print(f"{'model':6} {'check max diff':>15} {'labels equal':>14} {'warden CPU s':>13} {'sklearn CPU s':>14} {'onnxruntime CPU s':>18}  evaluation")
for m, ref in sk["models"].items():
    imp = json.load(open(os.path.join(w, f"{m}.import.json")))
    ev = json.load(open(os.path.join(w, f"{m}.eval.json")))
    pred = json.load(open(os.path.join(w, f"{m}.pred.json")))
    user, sys_ = map(float, open(os.path.join(w, f"{m}.time")).read().split()[-2:])
    labels = [r["label"] for r in pred["predictions"]]
    same = sum(a == b for a, b in zip(labels, ref["sklearn_labels"]))
    rep = ev.get("report", ev)
    acc = rep["performance"]["accuracy"]["value"] if isinstance(rep["performance"]["accuracy"], dict) else rep["performance"]["accuracy"]
    mia = rep.get("privacy") or {}
    rob = (rep.get("robustness") or {}).get("attacks", {})
    print(f"{m:6} {imp['check']['max_abs_diff']:>15.2e} {same:>7}/{len(labels):<6} {user + sys_:>13.2f} {ref['sklearn_cpu_s']:>14.2f} {ref['onnxruntime_cpu_s']:>18.2f}  "
          f"accuracy {acc} (sklearn {ref['test_accuracy']:.4f}); attacks {sorted(rob)}; membership {'measured' if mia else 'missing'}")
    if same != len(labels) or len(labels) != sk["rows"] or not mia or "hsj" not in rob:
        fail = True
sys.exit(1 if fail else 0)
PY
