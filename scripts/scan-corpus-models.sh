#!/usr/bin/env bash
# Builds the benign model corpus (scripts/scan-corpus-models.py) in OUTDIR:
# every scikit-learn estimator that fits with its default arguments, common
# pipelines, pandas/XGBoost/LightGBM models, saved with pickle and joblib,
# plus OUTDIR/manifest.json. The packages are pinned in
# scripts/scan-models-venv.sh. Every file must scan clean.
#   scripts/scan-corpus-models.sh OUTDIR
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
HERE="$(cd "$(dirname "$0")" && pwd)"
VENV="$("$HERE/scan-models-venv.sh")"
rm -rf "$1"
PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 OMP_NUM_THREADS=1 "$VENV/bin/python" "$HERE/scan-corpus-models.py" "$1"
