#!/usr/bin/env bash
# The hub under load against MLflow's tracking server (PyPI, SQLite backend,
# its REST API, 2 workers, no auth), the same operations on the same machine:
#   reads    warden: GET  /api/v1/teams/default/models/credit/versions/1
#            mlflow: GET  /api/2.0/mlflow/model-versions/get?name=credit&version=1
#   pointer  warden: POST .../models/credit/versions/1/promote {"env":"dev"}
#            (the dev gate runs, the pointer moves, a gate decision and an
#            event are written and the log checkpoint signed)
#            mlflow: POST /api/2.0/mlflow/registered-models/alias (alias set)
#   write    warden: POST .../roles/grant, a new principal per request
#            (an audited write: the grant, its event, a signed checkpoint)
#            mlflow: POST /api/2.0/mlflow/model-versions/create (registration)
# Every Warden request carries an ES256 OIDC token the hub verifies (a
# test issuer made here: crates/warden-cli/examples/test_issuer.rs). wrk,
# one thread, WARDEN_BENCH_CONNS connections (16), WARDEN_BENCH_SECONDS
# (10) per run; then Warden's reads at about half their peak rate (wrk
# paced by a per-request delay) for p99 there.
# warden is $WARDEN or a release build made here; wrk is Debian's; MLflow is
# installed into ${WARDEN_MLFLOW_VENV:-~/.cache/warden/venv-mlflow}.
# Usage: bench/hub.sh [WORKDIR]   (default target/bench-hub)
#   WARDEN_BENCH_SKIP=mlflow   Warden only
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mkdir -p "${1:-$REPO/target/bench-hub}" && cd "${1:-$REPO/target/bench-hub}" && pwd)"
SECS="${WARDEN_BENCH_SECONDS:-10}"
CONNS="${WARDEN_BENCH_CONNS:-16}"
VENV="${WARDEN_MLFLOW_VENV:-$HOME/.cache/warden/venv-mlflow}"

command -v wrk >/dev/null || apt-get install -y -q wrk >&2 || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --bin warden -p warden-cli >&2
cargo build --release -p warden-cli --example test_issuer >&2
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
WARDEN="${WARDEN:-$TARGET/release/warden}"
ISSUER_BIN="$TARGET/release/examples/test_issuer"
if [ "${WARDEN_BENCH_SKIP:-}" != mlflow ]; then
  "$REPO/scripts/pinned-venv.sh" "$VENV" mlflow==3.17.2
fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_up() { # URL
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.2
  done
  echo "server at $1 did not start" >&2; exit 1
}

cat > "$WORK/req.lua" <<'LUA'
wrk.method = os.getenv("METHOD") or "GET"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local body = os.getenv("BODY")
local counter = 0
local id = tostring(math.random(1, 1000000000))
if body and body ~= "" then
  if string.find(body, "{N}", 1, true) then
    function request()
      counter = counter + 1
      local b = string.gsub(body, "{N}", id .. "-" .. counter)
      return wrk.format(nil, nil, nil, b)
    end
  else
    wrk.body = body
  end
end
local d = tonumber(os.getenv("DELAY_MS") or "0")
if d > 0 then function delay() return d end end
function done(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
end
LUA

run_wrk() { # NAME URL METHOD BODY TOKEN CONNS DELAY -> "rps p50 p99 non2xx"
  local out
  out="$(METHOD="$3" BODY="$4" TOKEN="$5" DELAY_MS="$7" wrk -t1 -c"$6" -d"${SECS}s" --latency -s "$WORK/req.lua" "$2")"
  echo "$out" > "$WORK/wrk-$1.txt"
  awk '/^Requests\/sec:/ {r=$2} $1=="50%" {a=$2} $1=="99%" {b=$2} $1=="non2xx" {e=$2} END {print r, a, b, e}' <<<"$out"
}

# --- Warden Hub -------------------------------------------------------------
rm -rf "$WORK/ws" "$WORK/issuer"
"$WARDEN" demo --keep "$WORK/ws" > "$WORK/demo.log"
"$ISSUER_BIN" "$WORK/issuer" https://issuer.bench/ warden-hub bob@example.com
TOKEN="$(cat "$WORK/issuer/bob@example.com.token")"
cd "$WORK/ws"
WARDEN_ACTOR=ana "$WARDEN" roles grant corp.bob@example.com admin > /dev/null
cat > "$WORK/hub.toml" <<EOF
addr = "127.0.0.1:18301"
max_concurrency = 512
default_rate_limit = { per_second = 1000000.0, burst = 1000000 }
[[issuer]]
name = "corp"
issuer = "https://issuer.bench/"
audience = "warden-hub"
jwks_file = "$WORK/issuer/jwks.json"
algorithms = ["ES256"]
principal_claim = "email"
EOF
WARDEN_ACTOR=omar "$WARDEN" hub serve --config "$WORK/hub.toml" > "$WORK/hub-access.log" 2> "$WORK/hub.err" &
PIDS+=($!)
wait_up http://127.0.0.1:18301/v2/health/live
HUB=http://127.0.0.1:18301/api/v1/teams/default
test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$HUB/models/credit/versions/1")" = 200
run_wrk warmup "$HUB/models/credit/versions/1" GET "" "$TOKEN" "$CONNS" 0 > /dev/null
EVENTS_BEFORE="$(head -2 <(curl -s http://127.0.0.1:18301/checkpoint) | tail -1)"
read -r WR W50 W99 WE < <(run_wrk warden-read "$HUB/models/credit/versions/1" GET "" "$TOKEN" "$CONNS" 0)
read -r WP P50 P99 PE < <(run_wrk warden-promote "$HUB/models/credit/versions/1/promote" POST '{"env":"dev"}' "$TOKEN" "$CONNS" 0)
read -r WG G50 G99 GE < <(run_wrk warden-grant "$HUB/roles/grant" POST '{"principal":"corp.u{N}@example.com","role":"auditor"}' "$TOKEN" "$CONNS" 0)
EVENTS_AFTER="$(head -2 <(curl -s http://127.0.0.1:18301/checkpoint) | tail -1)"
# Reads at half the peak: C connections each waiting DELAY ms between
# requests (wrk paces by delay, not rate). A connection's rate is below
# 1/DELAY by its latency, so C is corrected from the measured rate until a
# run lands within 5% of half the peak (at most five tries; the last is kept).
DELAY=2
HALF_CONNS="$(awk -v r="$WR" -v d="$DELAY" 'BEGIN { c = int(r / 2 * d / 1000 + 0.5); if (c < 1) c = 1; print c }')"
for _ in 1 2 3 4 5; do
  read -r HR H50 H99 HE < <(run_wrk warden-read-half "$HUB/models/credit/versions/1" GET "" "$TOKEN" "$HALF_CONNS" "$DELAY")
  NEXT="$(awk -v r="$HR" -v p="$WR" -v c="$HALF_CONNS" 'BEGIN {
    t = p / 2; if (r > 0.95 * t && r < 1.05 * t) { print "ok"; exit }
    n = int(c * t / r + 0.5); if (n < 1) n = 1; if (n > 1000) n = 1000; print n }')"
  [ "$NEXT" = ok ] && break
  HALF_CONNS="$NEXT"
done
WARDEN_ACTOR=ana "$WARDEN" audit verify > "$WORK/audit-verify.txt" 2>&1 && VERIFY=ok || VERIFY=FAILED
cd "$REPO"

# --- MLflow -------------------------------------------------------------------
if [ "${WARDEN_BENCH_SKIP:-}" != mlflow ]; then
  rm -rf "$WORK/mlflow"
  mkdir -p "$WORK/mlflow"
  (cd "$WORK/mlflow" && "$VENV/bin/mlflow" server --backend-store-uri "sqlite:///$WORK/mlflow/mlflow.db" \
     --default-artifact-root "$WORK/mlflow/artifacts" --host 127.0.0.1 --port 18302 --workers 2) \
     > "$WORK/mlflow.log" 2>&1 &
  PIDS+=($!)
  wait_up http://127.0.0.1:18302/health
  ML=http://127.0.0.1:18302/api/2.0/mlflow
  curl -s -X POST "$ML/registered-models/create" -H 'Content-Type: application/json' -d '{"name":"credit"}' > /dev/null
  # A local source must sit in a run's artifact directory and name the run.
  RUN="$(curl -s -X POST "$ML/runs/create" -H 'Content-Type: application/json' -d '{"experiment_id":"0"}')"
  RUN_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["info"]["run_id"])' <<<"$RUN")"
  SRC="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["info"]["artifact_uri"])' <<<"$RUN")/model"
  VERSION_BODY="{\"name\":\"credit\",\"source\":\"$SRC\",\"run_id\":\"$RUN_ID\"}"
  curl -s -X POST "$ML/model-versions/create" -H 'Content-Type: application/json' -d "$VERSION_BODY" > /dev/null
  test "$(curl -s -o /dev/null -w '%{http_code}' "$ML/model-versions/get?name=credit&version=1")" = 200
  run_wrk warmup "$ML/model-versions/get?name=credit&version=1" GET "" "" "$CONNS" 0 > /dev/null
  read -r MR M50 M99 ME < <(run_wrk mlflow-read "$ML/model-versions/get?name=credit&version=1" GET "" "" "$CONNS" 0)
  read -r MA A50 A99 AE < <(run_wrk mlflow-alias "$ML/registered-models/alias" POST '{"name":"credit","alias":"dev","version":"1"}' "" "$CONNS" 0)
  read -r MV V50 V99 VE < <(run_wrk mlflow-register "$ML/model-versions/create" POST "$VERSION_BODY" "" "$CONNS" 0)
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
{
  echo "hub bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, wrk -t1 -c$CONNS -d${SECS}s"
  printf '%-34s %10s %9s %9s %7s\n' "" "req/s" "p50" "p99" "non2xx"
  printf '%-34s %10s %9s %9s %7s\n' "warden read (version)" "$WR" "$W50" "$W99" "$WE"
  printf '%-34s %10s %9s %9s %7s\n' "warden read, half peak (c$HALF_CONNS)" "$HR" "$H50" "$H99" "$HE"
  printf '%-34s %10s %9s %9s %7s\n' "warden promote (gated pointer move)" "$WP" "$P50" "$P99" "$PE"
  printf '%-34s %10s %9s %9s %7s\n' "warden audited write (role grant)" "$WG" "$G50" "$G99" "$GE"
  echo "warden log: $EVENTS_BEFORE -> $EVENTS_AFTER events over the write runs; audit verify: $VERIFY"
  if [ "${WARDEN_BENCH_SKIP:-}" != mlflow ]; then
    printf '%-34s %10s %9s %9s %7s\n' "mlflow read (model-versions/get)" "$MR" "$M50" "$M99" "$ME"
    printf '%-34s %10s %9s %9s %7s\n' "mlflow alias set" "$MA" "$A50" "$A99" "$AE"
    printf '%-34s %10s %9s %9s %7s\n' "mlflow version registration" "$MV" "$V50" "$V99" "$VE"
    echo "ratios: reads $(ratio "$WR" "$MR")x, pointer moves $(ratio "$WP" "$MA")x, writes vs registrations $(ratio "$WG" "$MV")x"
  fi
} | tee "$WORK/summary.txt"
