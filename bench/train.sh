#!/usr/bin/env bash
# Training benchmark: logistic regression on 1,000,000 x 20 generated rows,
# warden vs scikit-learn's LogisticRegression (lbfgs, C=1) on the same CSV.
#   - bench/gen_logreg_data.py writes the CSV (numpy, seeded);
#   - bench/sklearn_logreg.py reads it with pandas, splits 80/20, standardises
#     and fits (virtualenv from PyPI in ~/.cache/warden/venv-sklearn);
#   - warden ingests it once, then `warden train --json` reports its own
#     load / fit / record seconds (fit = preprocessing, L-BFGS, holdout
#     metrics and the reference profile).
# Usage: bench/train.sh [ROWS] [RUNS]   (defaults 1000000 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
RUNS="${2:-3}"
WORK="${WARDEN_BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
VENV="$HOME/.cache/warden/venv-sklearn"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet scikit-learn pandas numpy threadpoolctl
fi
cargo build --release --quiet
W="${WARDEN:-${CARGO_TARGET_DIR:-$PWD/target}/release/warden}"
export WARDEN_ACTOR=bench

echo "== generating $ROWS rows"
"$VENV/bin/python" bench/gen_logreg_data.py --rows "$ROWS" --seed 7 --out "$WORK/data.csv"
"$W" init "$WORK/ws" >/dev/null
cd "$WORK/ws"
"$W" keys generate pipeline --type ecdsa-p256 >/dev/null
"$W" data ingest ../data.csv --name bench --target y --no-screen >/dev/null

for i in $(seq "$RUNS"); do
  echo "== run $i: scikit-learn"
  "$VENV/bin/python" "$OLDPWD/bench/sklearn_logreg.py" --csv ../data.csv --holdout 0.2 --seed 0
  echo "== run $i: warden train"
  /usr/bin/time -f "wall %e s, peak %M KB" "$W" train --dataset bench@1 --name bench --json \
    | "$VENV/bin/python" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"seconds": d["seconds"], "optimiser": d["optimiser"], "train_accuracy": d["train"]["accuracy"], "holdout_accuracy": d["holdout"]["accuracy"]}))'
done
