#!/usr/bin/env bash
# Data-stage benchmark.
#   1. `warden data ingest --no-screen` (parse, validate, PII detection and
#      actions, minimisation, canonical write) of a ~1 GB generated credit CSV:
#      throughput and peak memory.
#   2. The same job with pandas + a Presidio-style regex pass (bench/pandas_ingest.py),
#      in a throwaway virtualenv from PyPI.
#   3. The poisoning screen on 1,000,000 rows.
# Usage: bench/ingest.sh [ROWS]   (default 5,000,000 rows, about 1 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
ROWS="${1:-5000000}"
WORK="${WARDEN_BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
cargo build --release --quiet
W="${WARDEN:-${CARGO_TARGET_DIR:-$PWD/target}/release/warden}"
export WARDEN_ACTOR=bench

echo "== generating $ROWS rows"
"$W" example credit --rows "$ROWS" --seed 1 --out "$WORK/big.csv" >/dev/null
head -n 1000001 "$WORK/big.csv" > "$WORK/1m.csv"
BYTES=$(stat -c %s "$WORK/big.csv")

# Each run ingests into a fresh workspace, so the table is written and
# synced every time; this machine's speed drifts, so several runs are
# reported (RUNS, default 3) with their mean and best.
RUNS="${RUNS:-3}"
echo "== warden data ingest --no-screen ($BYTES bytes, $RUNS runs)"
: > "$WORK/times.txt"
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/ws"
  "$W" init "$WORK/ws" >/dev/null
  (cd "$WORK/ws" && /usr/bin/time -f "%e %M" -a -o "$WORK/times.txt" "$W" data ingest ../big.csv \
    --name big --target approved --id customer_id --sensitive sex --sensitive age_band \
    --no-screen >/dev/null)
done
OUT=$(ls -S "$WORK"/ws/.warden/blobs/sha256/*/*/* | head -1 | xargs stat -c %s)
python3 - "$BYTES" "$OUT" "$WORK/times.txt" <<'PY'
import statistics, sys
b, out = int(sys.argv[1]), int(sys.argv[2])
runs = [tuple(map(float, l.split())) for l in open(sys.argv[3]) if l.strip()]
secs = [s for s, _ in runs]
kb = max(k for _, k in runs)
for s, _ in runs:
    print(f"  run: {s:.2f} s, {b / s / 1e6:.0f} MB/s")
mean = statistics.mean(secs)
print(f"warden: mean {mean:.2f} s ({b / mean / 1e6:.0f} MB/s), best {min(secs):.2f} s ({b / min(secs) / 1e6:.0f} MB/s), peak RSS {kb / 1024:.0f} MiB, output table {out / 2**20:.0f} MiB, peak/output {kb * 1024 / out:.2f}x")
PY
cd "$WORK/ws"

echo "== warden data ingest with the screen, 1,000,000 rows"
/usr/bin/time -f "%e s, peak RSS %M KB" "$W" data ingest ../1m.csv --name screened \
  --target approved --id customer_id --sensitive sex --sensitive age_band | grep -E "Screen|label noise" || true

echo "== pandas + regex PII pass on the same file"
cd "$WORK"
python3 -m venv venv >/dev/null
./venv/bin/pip install --quiet pandas
/usr/bin/time -f "pandas: %e s wall, peak RSS %M KB" ./venv/bin/python "$REPO/bench/pandas_ingest.py" big.csv pandas-out.csv
echo "(work files in $WORK)"
