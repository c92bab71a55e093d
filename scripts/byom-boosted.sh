#!/usr/bin/env bash
# Bring your own XGBoost and LightGBM model, end to end on UCI Adult (the
# copy in crates/warden/tests/data/adult): scripts/byom/boosted_adult.py
# trains an XGBoost and a LightGBM classifier in the scan-models virtualenv
# (pinned, from PyPI; scripts/scan-models-venv.sh) and saves them in the
# frameworks' own formats (XGBoost JSON and UBJSON, LightGBM text); Warden
# ingests the training and test data, imports each file with --check and
# --dataset, evaluates it on the test version (membership inference against
# the training version, HopSkipJump), predicts 100,000 rows and must give the
# framework's label on every one, and compares the test data with the
# model's reference profile. Prints the CPU seconds of the 100,000-row
# prediction beside the framework's own predict (bench/byom.sh runs it on a
# release build).
# Usage: scripts/byom-boosted.sh [WORKDIR]   ($WARDEN, else the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
W="${WARDEN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/warden}"
VENV="$(scripts/scan-models-venv.sh | tail -1)"
if [ -n "${1:-}" ]; then WORK="$1"; mkdir -p "$WORK"; else WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT; fi
"$VENV/bin/python" scripts/byom/boosted_adult.py crates/warden/tests/data/adult "$WORK"
export WARDEN_ACTOR=ana HOME="$WORK/home"
mkdir -p "$HOME"
rm -rf "$WORK/ws"
"$W" init "$WORK/ws" >/dev/null
cd "$WORK/ws"
"$W" keys generate pipeline >/dev/null
"$W" data ingest ../train.csv --name adult-train --target Y >/dev/null 2>&1
"$W" data ingest ../test.csv --name adult-test --target Y >/dev/null 2>&1
for m in xgb xgb-ubj lgbm; do
  case "$m" in xgb) f=xgb.json ;; xgb-ubj) f=xgb.ubj ;; lgbm) f=lgbm.txt ;; esac
  "$W" model import "../$f" --name "$m" --schema "../$m.toml" --check "../$m.check.csv" \
    --dataset adult-train@1 --json > "../$m.import.json"
  "$W" eval "$m@1" --dataset adult-test@1 --json > "../$m.eval.json" 2>/dev/null
  /usr/bin/time -f "%U %S" -o "../$m.time" "$W" model predict "$m@1" ../batch.csv --json > "../$m.pred.json"
  set +e
  "$W" monitor drift --reference "model:$m@1" --current ../test.csv --json > "../$m.drift.json"
  rc=$?
  set -e
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 7 ]; then echo "byom-boosted: monitor drift for $m exited $rc"; exit 1; fi
done
python3 - "$WORK" <<'PY'
import json, os, sys
w = sys.argv[1]
ref = json.load(open(os.path.join(w, "boosted.json")))
fail = False
print(f"{'model':8} {'engine':14} {'check max diff':>15} {'labels equal':>14} {'warden CPU s':>13} {'framework CPU s':>16}  evaluation")
for m, r in ref["models"].items():
    imp = json.load(open(os.path.join(w, f"{m}.import.json")))
    rep = json.load(open(os.path.join(w, f"{m}.eval.json")))
    rep = rep.get("report", rep)
    pred = json.load(open(os.path.join(w, f"{m}.pred.json")))
    user, sys_ = map(float, open(os.path.join(w, f"{m}.time")).read().split()[-2:])
    labels = [p["label"] for p in pred["predictions"]]
    same = sum(a == b for a, b in zip(labels, r["framework_labels"]))
    acc = rep["performance"]["accuracy"]
    acc = acc["value"] if isinstance(acc, dict) else acc
    mia = rep.get("privacy") or {}
    rob = (rep.get("robustness") or {}).get("attacks", {})
    print(f"{m:8} {imp['engine']:14} {imp['check']['max_abs_diff']:>15.2e} {same:>7}/{len(labels):<6} {user + sys_:>13.2f} {r['framework_cpu_s']:>16.2f}  "
          f"accuracy {acc:.4f} (framework {r['test_accuracy']:.4f}); attacks {sorted(rob)}; membership {'measured' if mia else 'missing'}")
    if same != len(labels) or len(labels) != ref["rows"] or not mia or "hsj" not in rob:
        fail = True
sys.exit(1 if fail else 0)
PY
