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
# Runs 1, 2b and 3 are repeated in rounds (WARDEN_BENCH_ROUNDS) with the three
# servers up side by side; medians, min-max and the median per-round cost are
# reported, because one 10 s run per server moves by +-5% here.
# Everything runs on this machine, load generator included, on 127.0.0.1.
# warden is $WARDEN or target/release/warden; the unguarded server is built
# here (cargo build --release). wrk comes from Debian (apt-get install wrk).
# Usage: bench/serve.sh [WORKDIR]   (default target/bench-serve)
#   WARDEN_BENCH_SECONDS=10   seconds per wrk run
#   WARDEN_BENCH_ROUNDS=5     rounds of the three peak runs (medians reported)
#   WARDEN_BENCH_CONNS="64 128 256"  connection counts a peak is sought over
#   WARDEN_BENCH_SKIP=fastapi skip the FastAPI server (its figures stay from the last run)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mkdir -p "${1:-$REPO/target/bench-serve}" && cd "${1:-$REPO/target/bench-serve}" && pwd)"
SECS="${WARDEN_BENCH_SECONDS:-10}"
ROUNDS="${WARDEN_BENCH_ROUNDS:-5}"
CONNS="${WARDEN_BENCH_CONNS:-64 128 256}"
VENV="${WARDEN_SERVE_BENCH_VENV:-$HOME/.cache/warden/venv-serve-bench}"
PYTHON="${PYTHON:-python3}"
PINS="fastapi==0.165.0 uvicorn==0.54.0 uvloop==0.23.0 httptools==0.9.0 pydantic==2.14.4"
PINS="$PINS scikit-learn==1.9.1 pandas==3.1.1 numpy==2.4.6 slowapi==0.1.10"

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --bin warden -p warden-cli >&2
cargo build --release -p warden-server --example unguarded >&2
WARDEN="${WARDEN:-${CARGO_TARGET_DIR:-$REPO/target}/release/warden}"
UNGUARDED="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/unguarded"

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
function done(summary, latency, requests)
  io.write(string.format("non200 %d\n", summary.errors.status))
end
LUA
# No `response` function: wrk counts statuses over 399 itself, and a
# `response` function makes wrk build a Lua table of every response's
# headers, a load-generator cost that grows with the server's header count
# and would be charged to the guarded server's security headers.

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

# 1-3. The three servers run side by side (an idle server costs nothing)
# and are measured in rounds, one after another within each round, so a
# slow minute on this machine hits all three alike. A server's peak in a
# round is its best requests/s over the connection counts in
# WARDEN_BENCH_CONNS (each count is run for every server in turn). Each
# figure below is the median over the rounds (min-max beside it); the
# guardrails' cost is the median of the per-round ratios of the peaks.
printf 'addr = "127.0.0.1:18201"\n' > "$WORK/serve.toml"
"$WARDEN" serve --env production --config "$WORK/serve.toml" > "$WORK/serve-access.log" 2> "$WORK/serve.err" &
PIDS+=($!)
printf 'addr = "127.0.0.1:18204"\n[monitor]\nenabled = false\n' > "$WORK/serve-nomon.toml"
"$WARDEN" serve --env production --config "$WORK/serve-nomon.toml" > "$WORK/serve-nomon.log" 2> "$WORK/serve-nomon.err" &
PIDS+=($!)
"$UNGUARDED" "$WORK/ws" production 127.0.0.1:18202 2> "$WORK/unguarded.err" &
PIDS+=($!)
wait_up http://127.0.0.1:18201/v2/health/live
wait_up http://127.0.0.1:18204/v2/health/live
wait_up http://127.0.0.1:18202/v2/health/live
GUARDED=http://127.0.0.1:18201/v1/models/credit:predict
NOMON=http://127.0.0.1:18204/v1/models/credit:predict
BARE=http://127.0.0.1:18202/v1/models/credit:predict
test "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" -d "$BODY" "$GUARDED")" = 200
FIRST_CONNS="${CONNS%% *}"
KEYVAR="$KEY" run_wrk warmup "$GUARDED" "$FIRST_CONNS" 0 > /dev/null
KEYVAR="$KEY" run_wrk warmup "$NOMON" "$FIRST_CONNS" 0 > /dev/null
run_wrk warmup "$BARE" "$FIRST_CONNS" 0 > /dev/null
# sweep.txt: one line per round and connection count, every server's run.
# rounds.txt: one line per round, each server's peak of that round (its
# best requests/s and that run's latencies; non-200 summed over the round),
# then the connection counts the peaks came at.
: > "$WORK/sweep.txt"
for r in $(seq 1 "$ROUNDS"); do
  for n in $CONNS; do
    read -r a a50 a99 aerr < <(KEYVAR="$KEY" run_wrk "warden-peak-$r-c$n" "$GUARDED" "$n" 0)
    read -r b b50 b99 berr < <(KEYVAR="$KEY" run_wrk "warden-nomonitor-peak-$r-c$n" "$NOMON" "$n" 0)
    read -r c c50 c99 cerr < <(run_wrk "unguarded-peak-$r-c$n" "$BARE" "$n" 0)
    echo "$r $n $a $a50 $a99 $aerr $b $b50 $b99 $berr $c $c50 $c99 $cerr" | tee -a "$WORK/sweep.txt" >&2
  done
done
awk '{
  r = $1
  for (s = 0; s < 3; s++) {
    i = 3 + 4 * s
    if (!((r, s) in best) || $i > best[r, s]) { best[r, s] = $i; l50[r, s] = $(i + 1); l99[r, s] = $(i + 2); at[r, s] = $2 }
    err[r, s] += $(i + 3)
  }
  if (!(r in seen)) { seen[r] = 1; order[++nr] = r }
}
END {
  for (k = 1; k <= nr; k++) {
    r = order[k]; line = r
    for (s = 0; s < 3; s++) line = line " " best[r, s] " " l50[r, s] " " l99[r, s] " " err[r, s]
    print line, at[r, 0], at[r, 1], at[r, 2]
  }
}' "$WORK/sweep.txt" > "$WORK/rounds.txt"
# median COLUMN: the median over the rounds of one column of rounds.txt
median() { awk -v c="$1" '{print $c}' "$WORK/rounds.txt" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
spread() { awk -v c="$1" 'NR==1 {lo=$c; hi=$c} {if ($c<lo) lo=$c; if ($c>hi) hi=$c} END {printf "%s-%s", lo, hi}' "$WORK/rounds.txt"; }
# The per-round cost 1 - A/B of columns A and B, median over the rounds.
cost() { awk -v a="$1" -v b="$2" '{print (1 - $a / $b) * 100}' "$WORK/rounds.txt" | sort -g | awk '{v[NR]=$1} END {printf "%.1f", (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
W_RPS="$(median 2)"; N_RPS="$(median 6)"; U_RPS="$(median 10)"
W_ERR="$(awk '{s+=$5} END {print s}' "$WORK/rounds.txt")"
N_ERR="$(awk '{s+=$9} END {print s}' "$WORK/rounds.txt")"
U_ERR="$(awk '{s+=$13} END {print s}' "$WORK/rounds.txt")"
# Latencies and connection count of the median round of each server.
lat() { # RPS_COLUMN P50_COLUMN CONNS_COLUMN
  awk -v c="$1" -v m="$(median "$1")" -v l="$2" -v n="$3" 'BEGIN {best=-1} {d=$c-m; if (d<0) d=-d; if (best<0 || d<best) {best=d; a=$l; b=$(l+1); k=$n}} END {print a, b, k}' "$WORK/rounds.txt"; }
read -r W_P50 W_P99 W_C < <(lat 2 3 14)
read -r N_P50 N_P99 N_C < <(lat 6 7 15)
read -r U_P50 U_P99 U_C < <(lat 10 11 16)
# The sweep: each server's median requests/s at each connection count.
sweep_row() { # CONNS -> "a b c" medians over the rounds
  for col in 3 7 11; do
    awk -v n="$1" -v c="$col" '$2 == n {print $c}' "$WORK/sweep.txt" | sort -g | awk '{v[NR]=$1} END {printf "%s ", (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'
  done
  echo
}
kill "${PIDS[-2]}" "${PIDS[-1]}"; wait "${PIDS[-2]}" "${PIDS[-1]}" 2>/dev/null || true

# Warden at half its (median) peak rate: C connections each waiting DELAY
# ms between requests (wrk paces by delay, not by rate). Each connection's
# rate is below 1/DELAY by its latency, so C is corrected from the measured
# rate until the run lands within 5% of half the peak (at most four tries;
# the last is kept).
DELAY=2
HALF_CONNS="$(awk -v r="$W_RPS" -v d="$DELAY" 'BEGIN { c = int(r / 2 * d / 1000 + 0.5); if (c < 1) c = 1; print c }')"
for _ in 1 2 3 4; do
  read -r H_RPS H_P50 H_P99 H_ERR < <(KEYVAR="$KEY" run_wrk warden-half "$GUARDED" "$HALF_CONNS" "$DELAY")
  NEXT="$(awk -v r="$H_RPS" -v p="$W_RPS" -v c="$HALF_CONNS" 'BEGIN {
    t = p / 2; if (r > 0.95 * t && r < 1.05 * t) { print "ok"; exit }
    n = int(c * t / r + 0.5); if (n < 1) n = 1; if (n > 1000) n = 1000; print n }')"
  [ "$NEXT" = ok ] && break
  HALF_CONNS="$NEXT"
done
kill "${PIDS[-3]}"; wait "${PIDS[-3]}" 2>/dev/null || true

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
KEYVAR="$KEY" run_wrk warmup "$URL" "$FIRST_CONNS" 0 > /dev/null
read -r F_RPS F_P50 F_P99 F_ERR < <(KEYVAR="$KEY" run_wrk fastapi-peak "$URL" "$FIRST_CONNS" 0)
fi

{
  echo "Peak figures: a server's best over $CONNS connections in each of $ROUNDS rounds of ${SECS} s, median over the rounds (min-max); latencies and connections from the median round; non-200 summed over every run."
  echo
  echo "| server | connections | requests/s | min-max | p50 | p99 | non-200 |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  echo "| warden serve, peak | $W_C | $W_RPS | $(spread 2) | $W_P50 | $W_P99 | $W_ERR |"
  echo "| warden serve at half its peak (${DELAY} ms pacing) | $HALF_CONNS | $H_RPS | | $H_P50 | $H_P99 | $H_ERR |"
  echo "| warden serve, monitor off | $N_C | $N_RPS | $(spread 6) | $N_P50 | $N_P99 | $N_ERR |"
  echo "| same routes, guardrails off | $U_C | $U_RPS | $(spread 10) | $U_P50 | $U_P99 | $U_ERR |"
  echo "| FastAPI + uvicorn (2 workers) | $FIRST_CONNS | $F_RPS | | $F_P50 | $F_P99 | $F_ERR |"
  echo
  echo "Median requests/s at each connection count:"
  echo
  echo "| connections | every guardrail | monitor off | guardrails off | cost |"
  echo "| --- | --- | --- | --- | --- |"
  for n in $CONNS; do
    read -r sa sb sc < <(sweep_row "$n")
    awk -v n="$n" -v a="$sa" -v b="$sb" -v c="$sc" 'BEGIN { printf "| %s | %s | %s | %s | %.1f%% |\n", n, a, b, c, (1 - a / c) * 100 }'
  done
  echo
  awk -v w="$W_RPS" -v f="$F_RPS" 'BEGIN { printf "warden / FastAPI: %.1fx requests/s\n", w / f }'
  echo "guardrails cost $(cost 2 10)% of the unguarded throughput ($(cost 6 10)% with the monitor off); online monitoring costs $(cost 2 6)% (medians of the per-round ratios)"
} | tee "$WORK/results.md"
