#!/usr/bin/env bash
# Evaluation benchmark: a logistic regression on 100,000 generated credit rows,
# evaluated in full (metrics with 200 bootstrap resamples, fairness on sex and
# age_band and their intersection, FGSM and PGD (20 steps) at three eps,
# membership inference), against IBM ART's ProjectedGradientDescent and
# fairlearn's MetricFrame on the same model and data (bench/eval_reference.py,
# virtualenv from PyPI in ~/.cache/warden/venv-eval).
# Usage: bench/eval.sh [ROWS] [RUNS]   (defaults 100000 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
ROWS="${1:-100000}"
RUNS="${2:-3}"
WORK="${WARDEN_BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
VENV="$HOME/.cache/warden/venv-eval"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet adversarial-robustness-toolbox packaging scikit-learn fairlearn pandas numpy
fi
cargo build --release --quiet
W="${WARDEN:-${CARGO_TARGET_DIR:-$PWD/target}/release/warden}"
export WARDEN_ACTOR=bench
rm -rf "$WORK/ws" "$WORK/pkg" "$WORK/pkg.sig"
"$W" example credit --rows "$ROWS" --seed 3 --out "$WORK/credit.csv" --bias 0.3 >/dev/null
"$W" init "$WORK/ws" >/dev/null
cd "$WORK/ws"
"$W" keys generate pipeline >/dev/null
"$W" data ingest ../credit.csv --name credit --target approved --id customer_id \
  --sensitive sex --sensitive age_band --no-screen >/dev/null
"$W" train --dataset credit@1 --name credit >/dev/null
"$W" model export credit@1 --out ../pkg >/dev/null
for i in $(seq "$RUNS"); do
  echo "== run $i: warden eval"
  /usr/bin/time -f "wall %e s, peak %M KB" "$W" eval credit@1 --dataset credit@1 \
    --attack fgsm,pgd --eps 0.05,0.1,0.3 --steps 20 --json \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); r=d["report"]; print(json.dumps({"seconds": d["seconds"], "accuracy": r["performance"]["accuracy"], "robustness": r["robustness"]["attacks"]}))'
done
echo "== ART and fairlearn"
"$VENV/bin/python" "$REPO/bench/eval_reference.py" --csv ../credit.csv --package ../pkg \
  --sensitive sex --sensitive age_band --eps 0.05,0.1,0.3 --steps 20
