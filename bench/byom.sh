#!/usr/bin/env bash
# Bring-your-own-model benchmark: scripts/byom-sklearn.sh on a release build.
# A scaled logistic regression pipeline and a 100-tree depth-10 random forest
# on Adult's six numeric columns, and two ColumnTransformer pipelines on all
# 14 columns (one input per column, text one-hot encoded) before a logistic
# regression and a 50-tree forest, trained on UCI Adult by scikit-learn and
# exported with skl2onnx; an XGBoost and a LightGBM classifier (200 trees)
# in the frameworks' own files; for each,
# the import check, and the CPU seconds of predicting 100,000 rows:
# `warden model predict` (CSV in, JSON out, verification included) against
# scikit-learn's predict and onnxruntime's run on the same rows in memory.
# Usage: bench/byom.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p warden-cli
export WARDEN="${CARGO_TARGET_DIR:-$PWD/target}/release/warden"
scripts/byom-sklearn.sh ${1:+"$1/sklearn"}
# XGBoost and LightGBM in their own formats, against their own predict.
scripts/byom-boosted.sh ${1:+"$1/boosted"}
