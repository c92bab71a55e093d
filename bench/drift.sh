#!/usr/bin/env bash
# Offline drift on 1,000,000 current rows × 15 columns against 1,000,000
# reference rows: `warden monitor drift` (native tests, and --compat
# evidently) against Evidently's DataDriftPreset on the same two CSVs.
#   data:      bench/gen_drift_data.py (15 float columns; the current file's
#              last five shifted by 0.5 standard deviations)
#   warden:    target/release/warden (or $WARDEN), timed with hyperfine,
#              peak memory with /usr/bin/time -v
#   Evidently: 0.7.23 with pandas 2.3.3 and scipy 1.17.1 from PyPI, in the
#              virtualenv scripts/evidently-fixtures.sh pins
#              (bench/drift_evidently.py; CSV reading timed apart)
# Usage: bench/drift.sh [WORKDIR]   (default target/bench-drift)
#   WARDEN_BENCH_ROWS=1000000   rows per file
#   WARDEN_BENCH_RUNS=5         hyperfine runs for warden
#   WARDEN_BENCH_EVIDENTLY_RUNS=2
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mkdir -p "${1:-$REPO/target/bench-drift}" && cd "${1:-$REPO/target/bench-drift}" && pwd)"
ROWS="${WARDEN_BENCH_ROWS:-1000000}"
RUNS="${WARDEN_BENCH_RUNS:-5}"
ERUNS="${WARDEN_BENCH_EVIDENTLY_RUNS:-2}"
VENV="${WARDEN_EVIDENTLY_VENV:-target/evidently-venv}"
PINS="evidently==0.7.23 numpy==2.4.6 pandas==2.3.3 scipy==1.17.1 pydantic==2.14.4 scikit-learn==1.9.1 statsmodels==0.15.0 plotly==5.24.1"
command -v hyperfine >/dev/null || { echo "hyperfine is not installed (apt-get install hyperfine)" >&2; exit 1; }

if [ -z "${WARDEN:-}" ]; then
  cargo build --release -q -p warden-cli
  WARDEN="${CARGO_TARGET_DIR:-$REPO/target}/release/warden"
fi
# shellcheck disable=SC2086
scripts/pinned-venv.sh "$VENV" $PINS

REF="$WORK/ref-$ROWS.csv"
CUR="$WORK/cur-$ROWS.csv"
[ -s "$REF" ] || "$VENV/bin/python" bench/gen_drift_data.py --rows "$ROWS" --seed 1 --shift 0 "$REF"
[ -s "$CUR" ] || "$VENV/bin/python" bench/gen_drift_data.py --rows "$ROWS" --seed 2 --shift 0.5 "$CUR"

hyperfine -N -w 1 -r "$RUNS" --export-json "$WORK/warden.json" \
  "$WARDEN monitor drift --reference $REF --current $CUR --json" \
  "$WARDEN monitor drift --reference $REF --current $CUR --compat evidently --json" > "$WORK/hyperfine.txt"
W_NATIVE="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$WORK/warden.json")"
W_COMPAT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][1]["mean"])' "$WORK/warden.json")"
mem() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}'; }
W_NATIVE_MB="$(mem "$WARDEN" monitor drift --reference "$REF" --current "$CUR" --json)"
W_COMPAT_MB="$(mem "$WARDEN" monitor drift --reference "$REF" --current "$CUR" --compat evidently --json)"
"$WARDEN" monitor drift --reference "$REF" --current "$CUR" --json > "$WORK/warden-native.json"
"$WARDEN" monitor drift --reference "$REF" --current "$CUR" --compat evidently --json > "$WORK/warden-compat.json"
W_DRIFTED="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["drifted_features"])' "$WORK/warden-native.json")"
W_COMPAT_DRIFTED="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["drifted_features"])' "$WORK/warden-compat.json")"

: > "$WORK/evidently.jsonl"
for _ in $(seq "$ERUNS"); do
  /usr/bin/time -v "$VENV/bin/python" bench/drift_evidently.py --reference "$REF" --current "$CUR" \
    > "$WORK/evidently-run.json" 2> "$WORK/evidently-time.txt"
  MB="$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2 / 1024}' "$WORK/evidently-time.txt")"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["max_rss_mb"]=int(sys.argv[2]); print(json.dumps(d))' \
    "$WORK/evidently-run.json" "$MB" >> "$WORK/evidently.jsonl"
done
read -r E_READ E_DRIFT E_TOTAL E_MB E_DRIFTED < <(python3 -c '
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
best = min(runs, key=lambda r: r["total_s"])
print(best["read_s"], best["drift_s"], best["total_s"], best["max_rss_mb"], best["drifted"])' "$WORK/evidently.jsonl")

{
  echo "$ROWS current rows x 15 columns against $ROWS reference rows (CSV in, report out)"
  echo
  echo "| tool | time | peak memory | drifted columns |"
  echo "| --- | --- | --- | --- |"
  printf "| warden monitor drift (native) | %.2f s | %s MiB | %s |\n" "$W_NATIVE" "$W_NATIVE_MB" "$W_DRIFTED"
  printf "| warden monitor drift --compat evidently | %.2f s | %s MiB | %s |\n" "$W_COMPAT" "$W_COMPAT_MB" "$W_COMPAT_DRIFTED"
  printf "| Evidently DataDriftPreset (read %.1f s + drift %.1f s) | %.2f s | %s MiB | %s |\n" "$E_READ" "$E_DRIFT" "$E_TOTAL" "$E_MB" "$E_DRIFTED"
  awk -v w="$W_NATIVE" -v c="$W_COMPAT" -v e="$E_TOTAL" -v d="$E_DRIFT" 'BEGIN {
    printf "\nEvidently / warden: %.1fx (native), %.1fx (--compat evidently); Evidently drift step alone / warden total: %.1fx\n", e / w, e / c, d / c }'
} | tee "$WORK/results.md"
