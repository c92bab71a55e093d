#!/usr/bin/env bash
# `warden serve` under load, against the FastAPI server a user would write
# instead (bench/serve_fastapi.py), and against the same routes with every
# guardrail off (crates/warden-server/examples/unguarded.rs):
#   1. peak: wrk, single-row predictions of the demo's logistic regression
#      (credit@1, production) on POST /v1/models/credit:predict with an API
#      key: requests/s, p50, p99;
#   2. warden at half its peak rate (wrk paced by a per-request delay):
#      p50, p99;
#   2b. every guardrail on, the monitor off ([monitor] enabled = false): what
#      online monitoring costs;
#   3. the same route with the guardrails off (no key, policy, rate limit,
#      size/concurrency limit, validation, headers, metrics, access log);
#   4. FastAPI 0.165 + uvicorn (2 workers, uvloop, httptools) + pydantic +
#      scikit-learn with API-key auth, slowapi's rate limiter, a body limit
#      and pydantic validation of the same rules.
# Everything runs on this machine, load generator included, on 127.0.0.1.
# warden is $WARDEN or target/release/warden; the unguarded server is built
# here (cargo build --release). wrk comes from Debian (apt-get install wrk).
# Usage: bench/serve.sh [WORKDIR]   (default target/bench-serve)
#   WARDEN_BENCH_SECONDS=10   seconds per wrk run
#   WARDEN_BENCH_CONNS=64     connections for the peak runs
#   WARDEN_BENCH_SKIP=fastapi skip the FastAPI server (its figures stay from the last run)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mkdir -p "${1:-$REPO/target/bench-serve}" && cd "${1:-$REPO/target/bench-serve}" && pwd)"
SECS="${WARDEN_BENCH_SECONDS:-10}"
CONNS="${WARDEN_BENCH_CONNS:-64}"
VENV="${WARDEN_SERVE_BENCH_VENV:-$HOME/.cache/warden/venv-serve-bench}"
PYTHON="${PYTHON:-python3}"
PINS="fastapi==0.165.0 uvicorn==0.54.0 uvloop==0.23.0 httptools==0.9.0 pydantic==2.14.4"
PINS="$PINS scikit-learn==1.9.1 pandas==3.1.1 numpy==2.4.6 slowapi==0.1.10"

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --bin warden -p warden-cli >&2
cargo build --release -p warden-server --example unguarded >&2
WARDEN="${WARDEN:-$REPO/target/release/warden}"
UNGUARDED="$REPO/target/release/examples/unguarded"

"$REPO/scripts/pinned-venv.sh" "$VENV" $PINS

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

rm -rf "$WORK/ws"
"$WARDEN" demo --keep "$WORK/ws" > "$WORK/demo.log"
cd "$WORK/ws"
export WARDEN_ACTOR=omar
KEY="$("$WARDEN" apikey create "bench-$$" --role predictor --rate-limit 1000000 2>/dev/null)"
BODY='{"instances": [{"age": 41, "income": 52000, "loan_amount": 15000, "credit_score": 700, "employment": "employed", "housing": "rent", "num_accounts": 3, "debt_ratio": 0.3, "notes": "no remarks"}]}'

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY")
local key = os.getenv("KEY")
if key and key ~= "" then wrk.headers["X-API-Key"] = key end
local d = tonumber(os.getenv("DELAY_MS") or "0")
if d > 0 then function delay() return d end end
local errors = 0
function response(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("non200 %d\n", summary.errors.status))
end
LUA

wait_up() { # URL
  for _ in $(seq 1 150); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "server at $1 did not start" >&2; exit 1
}

run_wrk() { # NAME URL CONNS DELAY_MS -> prints "rps p50 p99 non200"
  local out
  out="$(BODY="$BODY" KEY="${KEYVAR:-}" DELAY_MS="$4" wrk -t1 -c"$3" -d"${SECS}s" --latency -s "$WORK/post.lua" "$2")"
  echo "$out" > "$WORK/wrk-$1.txt"
  local rps p50 p99 non200
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  non200="$(awk '$1=="non200" {print $2}' <<<"$out")"
  echo "$rps $p50 $p99 $non200"
}

# 1-2. warden serve, every guardrail on.
cat > "$WORK/serve.toml" <<EOF
addr = "127.0.0.1:18201"
EOF
"$WARDEN" serve --env production --config "$WORK/serve.toml" > "$WORK/serve-access.log" 2> "$WORK/serve.err" &
PIDS+=($!)
wait_up http://127.0.0.1:18201/v2/health/live
URL=http://127.0.0.1:18201/v1/models/credit:predict
test "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" -d "$BODY" "$URL")" = 200
KEYVAR="$KEY" run_wrk warmup "$URL" "$CONNS" 0 > /dev/null
read -r W_RPS W_P50 W_P99 W_ERR < <(KEYVAR="$KEY" run_wrk warden-peak "$URL" "$CONNS" 0)
# Half the peak rate: C connections each waiting DELAY ms between requests
# (wrk paces by delay, not by rate). Each connection's rate is below 1/DELAY
# by its latency, so C is corrected from the measured rate until the run
# lands within 5% of half the peak (at most four tries; the last is kept).
DELAY=2
HALF_CONNS="$(awk -v r="$W_RPS" -v d="$DELAY" 'BEGIN { c = int(r / 2 * d / 1000 + 0.5); if (c < 1) c = 1; print c }')"
for _ in 1 2 3 4; do
  read -r H_RPS H_P50 H_P99 H_ERR < <(KEYVAR="$KEY" run_wrk warden-half "$URL" "$HALF_CONNS" "$DELAY")
  NEXT="$(awk -v r="$H_RPS" -v p="$W_RPS" -v c="$HALF_CONNS" 'BEGIN {
    t = p / 2; if (r > 0.95 * t && r < 1.05 * t) { print "ok"; exit }
    n = int(c * t / r + 0.5); if (n < 1) n = 1; if (n > 1000) n = 1000; print n }')"
  [ "$NEXT" = ok ] && break
  HALF_CONNS="$NEXT"
done
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 2b. Every guardrail on, the monitor off: what online monitoring costs.
printf 'addr = "127.0.0.1:18204"\n[monitor]\nenabled = false\n' > "$WORK/serve-nomon.toml"
"$WARDEN" serve --env production --config "$WORK/serve-nomon.toml" > "$WORK/serve-nomon.log" 2> "$WORK/serve-nomon.err" &
PIDS+=($!)
wait_up http://127.0.0.1:18204/v2/health/live
URL=http://127.0.0.1:18204/v1/models/credit:predict
KEYVAR="$KEY" run_wrk warmup "$URL" "$CONNS" 0 > /dev/null
read -r N_RPS N_P50 N_P99 N_ERR < <(KEYVAR="$KEY" run_wrk warden-nomonitor-peak "$URL" "$CONNS" 0)
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 3. The same routes, guardrails off.
"$UNGUARDED" "$WORK/ws" production 127.0.0.1:18202 2> "$WORK/unguarded.err" &
PIDS+=($!)
wait_up http://127.0.0.1:18202/v2/health/live
URL=http://127.0.0.1:18202/v1/models/credit:predict
run_wrk warmup "$URL" "$CONNS" 0 > /dev/null
read -r U_RPS U_P50 U_P99 U_ERR < <(run_wrk unguarded-peak "$URL" "$CONNS" 0)
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 4. FastAPI.
if [ "${WARDEN_BENCH_SKIP:-}" = fastapi ]; then
  read -r F_RPS F_P50 F_P99 F_ERR < <(awk '/^Requests\/sec:/ {r=$2} $1=="50%" {a=$2} $1=="99%" {b=$2} $1=="non200" {e=$2} END {print r, a, b, e}' "$WORK/wrk-fastapi-peak.txt")
else
(cd "$REPO/bench" && BENCH_CSV="$WORK/ws/credit.csv" BENCH_KEY="$KEY" \
  "$VENV/bin/uvicorn" serve_fastapi:app --host 127.0.0.1 --port 18203 --workers 2 \
  --loop uvloop --http httptools --no-access-log --log-level warning) 2> "$WORK/fastapi.err" &
PIDS+=($!)
for _ in $(seq 1 600); do curl -s -o /dev/null http://127.0.0.1:18203/health && break; sleep 0.1; done
URL=http://127.0.0.1:18203/v1/models/credit:predict
test "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" -H 'Content-Type: application/json' -d "$BODY" "$URL")" = 200
KEYVAR="$KEY" run_wrk warmup "$URL" "$CONNS" 0 > /dev/null
read -r F_RPS F_P50 F_P99 F_ERR < <(KEYVAR="$KEY" run_wrk fastapi-peak "$URL" "$CONNS" 0)
fi

{
  echo "| server | connections | requests/s | p50 | p99 | non-200 |"
  echo "| --- | --- | --- | --- | --- | --- |"
  echo "| warden serve, peak | $CONNS | $W_RPS | $W_P50 | $W_P99 | $W_ERR |"
  echo "| warden serve at half its peak (${DELAY} ms pacing) | $HALF_CONNS | $H_RPS | $H_P50 | $H_P99 | $H_ERR |"
  echo "| warden serve, monitor off | $CONNS | $N_RPS | $N_P50 | $N_P99 | $N_ERR |"
  echo "| same routes, guardrails off | $CONNS | $U_RPS | $U_P50 | $U_P99 | $U_ERR |"
  echo "| FastAPI + uvicorn (2 workers) | $CONNS | $F_RPS | $F_P50 | $F_P99 | $F_ERR |"
  awk -v w="$W_RPS" -v f="$F_RPS" -v u="$U_RPS" -v n="$N_RPS" 'BEGIN {
    printf "\nwarden / FastAPI: %.1fx requests/s; guardrails cost %.1f%% of the unguarded throughput", w / f, (1 - w / u) * 100
    printf " (%.1f%% with the monitor off); online monitoring costs %.1f%% of the throughput\n", (1 - n / u) * 100, (1 - w / n) * 100 }'
} | tee "$WORK/results.md"
