#!/usr/bin/env bash
# Scale-out on PostgreSQL, on this machine (all servers on 127.0.0.1):
#   1. the hub with its metadata in SQLite, then in PostgreSQL (a throwaway
#      server from scripts/postgres-temp.sh): authenticated reads (get a
#      model version), gated pointer moves and audited writes (a role grant
#      per request), req/s and p50/p99 with wrk;
#   2. two hub replicas on one PostgreSQL database (same warden.toml and
#      keys, shared blob directory): audited writes sent to both at once,
#      then `audit verify` from each replica;
#   3. how long a pointer move takes to reach two inference replicas
#      (`warden serve --env dev`) on the same database, which hear of
#      writes through LISTEN/NOTIFY (reload_interval_seconds = 30 is only the
#      backstop): `warden promote` to 200 from both;
#   4. MLflow's tracking server (PyPI, 2 workers, no auth) on the same
#      PostgreSQL server: model-version registrations/s, alias moves/s and
#      reads/s, the same wrk settings;
#   5. one WARDEN_BENCH_BLOB_MB (256) MB blob up to and down from an
#      S3-protocol server (moto's, scripts/s3-temp.sh) through Warden's
#      blob store (examples/s3_transfer.rs) and through boto3, MB/s.
# The hub bench's request script and test OIDC issuer are reused.
# Usage: bench/scale.sh [WORKDIR]   (default target/bench-scale)
#   WARDEN_BENCH_SECONDS (10), WARDEN_BENCH_CONNS (16),
#   WARDEN_BENCH_SKIP=mlflow   Warden only
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mkdir -p "${1:-$REPO/target/bench-scale}" && cd "${1:-$REPO/target/bench-scale}" && pwd)"
SECS="${WARDEN_BENCH_SECONDS:-10}"
CONNS="${WARDEN_BENCH_CONNS:-16}"
VENV="${WARDEN_MLFLOW_PG_VENV:-$HOME/.cache/warden/venv-mlflow-pg}"

command -v wrk >/dev/null || apt-get install -y -q wrk >&2 || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --bin warden -p warden-cli >&2
cargo build --release -p warden-cli --example test_issuer >&2
cargo build --release -p warden-store --example s3_transfer >&2
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
WARDEN="${WARDEN:-$TARGET/release/warden}"
ISSUER_BIN="$TARGET/release/examples/test_issuer"
if [ "${WARDEN_BENCH_SKIP:-}" != mlflow ]; then
  "$REPO/scripts/pinned-venv.sh" "$VENV" mlflow==3.17.2 psycopg2-binary==2.9.13
fi

PIDS=()
PG="$WORK/pg"
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$REPO/scripts/postgres-temp.sh" stop "$PG" || true
  "$REPO/scripts/s3-temp.sh" stop "$WORK/s3" || true
}
trap cleanup EXIT
"$REPO/scripts/postgres-temp.sh" stop "$PG"
ADMIN_URL="$("$REPO/scripts/postgres-temp.sh" start "$PG")"
export PGPASSWORD="$(cat "$PG/pw")"
PGPORT="$(cat "$PG/port")"
for db in hub mlflow; do psql -q "$ADMIN_URL" -c "CREATE DATABASE $db"; done
STORE="postgres://warden@127.0.0.1:$PGPORT/hub?sslmode=disable"

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
function done(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
end
LUA

run_wrk() { # NAME URL METHOD BODY TOKEN CONNS -> "rps p50 p99 non2xx"
  local out
  out="$(METHOD="$3" BODY="$4" TOKEN="$5" wrk -t1 -c"$6" -d"${SECS}s" --latency -s "$WORK/req.lua" "$2")"
  echo "$out" > "$WORK/wrk-$1.txt"
  awk '/^Requests\/sec:/ {r=$2} $1=="50%" {a=$2} $1=="99%" {b=$2} $1=="non2xx" {e=$2} END {print r, a, b, e}' <<<"$out"
}

"$ISSUER_BIN" "$WORK/issuer" https://issuer.bench/ warden-hub bob@example.com > /dev/null
TOKEN="$(cat "$WORK/issuer/bob@example.com.token")"
hub_toml() { # PORT FILE
  cat > "$2" <<EOF
addr = "127.0.0.1:$1"
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
}

declare -A R
hub_round() { # LABEL WS PORT
  local label="$1" ws="$2" port="$3"
  hub_toml "$port" "$WORK/hub-$label.toml"
  (cd "$ws" && WARDEN_ACTOR=omar exec "$WARDEN" hub serve --config "$WORK/hub-$label.toml") \
    > "$WORK/hub-$label.log" 2> "$WORK/hub-$label.err" &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$port/v2/health/live"
  local hub="http://127.0.0.1:$port/api/v1/teams/default"
  test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$hub/models/credit/versions/1")" = 200
  run_wrk "warmup-$label" "$hub/models/credit/versions/1" GET "" "$TOKEN" "$CONNS" > /dev/null
  R[$label-read]="$(run_wrk "$label-read" "$hub/models/credit/versions/1" GET "" "$TOKEN" "$CONNS")"
  R[$label-promote]="$(run_wrk "$label-promote" "$hub/models/credit/versions/1/promote" POST '{"env":"dev"}' "$TOKEN" "$CONNS")"
  R[$label-grant]="$(run_wrk "$label-grant" "$hub/roles/grant" POST '{"principal":"corp.u{N}@example.com","role":"auditor"}' "$TOKEN" "$CONNS")"
}

# --- 1. SQLite, then PostgreSQL ----------------------------------------------
rm -rf "$WORK/ws-sqlite" "$WORK/ws-pg" "$WORK/ws-pg-b"
WARDEN_ACTOR=ana "$WARDEN" demo --keep "$WORK/ws-sqlite" > "$WORK/demo-sqlite.log"
WARDEN_ACTOR=ana "$WARDEN" demo --keep "$WORK/ws-pg" --store "$STORE" > "$WORK/demo-pg.log"
for ws in "$WORK/ws-sqlite" "$WORK/ws-pg"; do
  (cd "$ws" && WARDEN_ACTOR=ana "$WARDEN" roles grant corp.bob@example.com admin > /dev/null)
done
hub_round sqlite "$WORK/ws-sqlite" 18311
hub_round pg "$WORK/ws-pg" 18312

# --- 2. Two hub replicas on one database --------------------------------------
mkdir -p "$WORK/ws-pg-b/.warden"
cp "$WORK/ws-pg/warden.toml" "$WORK/ws-pg-b/"
cp -r "$WORK/ws-pg/.warden/keys" "$WORK/ws-pg-b/.warden/"
mkdir -p "$WORK/ws-pg-b/.warden/log"
cp "$WORK/ws-pg/.warden/log/vkey" "$WORK/ws-pg-b/.warden/log/"
ln -s "$WORK/ws-pg/.warden/blobs" "$WORK/ws-pg-b/.warden/blobs"
hub_toml 18313 "$WORK/hub-pg-b.toml"
(cd "$WORK/ws-pg-b" && WARDEN_ACTOR=omar exec "$WARDEN" hub serve --config "$WORK/hub-pg-b.toml") \
  > "$WORK/hub-pg-b.log" 2> "$WORK/hub-pg-b.err" &
PIDS+=($!)
wait_up http://127.0.0.1:18313/v2/health/live
HALF=$(( CONNS / 2 > 0 ? CONNS / 2 : 1 ))
# Each wrk process names its own principals (both draw the same "random"
# numbers: wrk does not seed Lua's generator).
GRANT_A='{"principal":"corp.ra{N}@example.com","role":"auditor"}'
GRANT_B='{"principal":"corp.rb{N}@example.com","role":"auditor"}'
run_wrk two-a "http://127.0.0.1:18312/api/v1/teams/default/roles/grant" POST "$GRANT_A" "$TOKEN" "$HALF" > "$WORK/two-a.txt" &
WA=$!
run_wrk two-b "http://127.0.0.1:18313/api/v1/teams/default/roles/grant" POST "$GRANT_B" "$TOKEN" "$HALF" > "$WORK/two-b.txt" &
WB=$!
wait "$WA" "$WB"
read -r TA _ TA99 TAE < "$WORK/two-a.txt"
read -r TB _ TB99 TBE < "$WORK/two-b.txt"
(cd "$WORK/ws-pg" && WARDEN_ACTOR=ana "$WARDEN" audit verify --json) > "$WORK/verify-a.json" && VA=ok || VA=FAILED
(cd "$WORK/ws-pg-b" && WARDEN_ACTOR=ana "$WARDEN" audit verify --json) > "$WORK/verify-b.json" && VB=ok || VB=FAILED
ROOTS_EQUAL="$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); print("equal" if a["root_hash"]==b["root_hash"] and a["events"]==b["events"] else "DIFFER")' "$WORK/verify-a.json" "$WORK/verify-b.json")"
EVENTS="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"])' "$WORK/verify-a.json")"

# --- 3. A pointer move reaching two inference replicas ------------------------
cd "$WORK/ws-pg"
KEY="$(WARDEN_ACTOR=omar "$WARDEN" apikey create "scale-$$" --role predictor 2>/dev/null)"
for port in 18321 18322; do
  printf 'addr = "127.0.0.1:%s"\nreload_interval_seconds = 30\n[monitor]\nenabled = false\n' "$port" > "$WORK/serve-$port.toml"
  WARDEN_ACTOR=omar "$WARDEN" serve --env dev --config "$WORK/serve-$port.toml" > "$WORK/serve-$port.log" 2> "$WORK/serve-$port.err" &
  PIDS+=($!)
  wait_up "http://127.0.0.1:$port/v2/health/live"
done
served() { # PORT VERSION -> 0 when served
  test "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KEY" "http://127.0.0.1:$1/v2/models/credit/versions/$2")" = 200
}
PROPAGATION=()
for round in 1 2 3 4 5; do
  # credit@1 and credit@3 may go to dev (the demo quarantines credit@2).
  for v in 3 1; do
    WARDEN_ACTOR=ana "$WARDEN" promote "credit@$v" --to dev > /dev/null
    t0="$(date +%s.%N)"
    for _ in $(seq 1 400); do
      if served 18321 "$v" && served 18322 "$v"; then break; fi
      sleep 0.01
    done
    served 18321 "$v" && served 18322 "$v" || { echo "credit@$v never reached both replicas" >&2; exit 1; }
    PROPAGATION+=("$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')")
  done
done
cd "$REPO"

# --- 4. MLflow on the same PostgreSQL server ----------------------------------
if [ "${WARDEN_BENCH_SKIP:-}" != mlflow ]; then
  rm -rf "$WORK/mlflow"
  mkdir -p "$WORK/mlflow"
  (cd "$WORK/mlflow" && "$VENV/bin/mlflow" server \
     --backend-store-uri "postgresql+psycopg2://warden:$PGPASSWORD@127.0.0.1:$PGPORT/mlflow" \
     --default-artifact-root "$WORK/mlflow/artifacts" --host 127.0.0.1 --port 18330 --workers 2) \
     > "$WORK/mlflow.log" 2>&1 &
  PIDS+=($!)
  wait_up http://127.0.0.1:18330/health
  ML=http://127.0.0.1:18330/api/2.0/mlflow
  curl -s -X POST "$ML/registered-models/create" -H 'Content-Type: application/json' -d '{"name":"credit"}' > /dev/null
  RUN="$(curl -s -X POST "$ML/runs/create" -H 'Content-Type: application/json' -d '{"experiment_id":"0"}')"
  RUN_ID="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["info"]["run_id"])' <<<"$RUN")"
  SRC="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["run"]["info"]["artifact_uri"])' <<<"$RUN")/model"
  VERSION_BODY="{\"name\":\"credit\",\"source\":\"$SRC\",\"run_id\":\"$RUN_ID\"}"
  curl -s -X POST "$ML/model-versions/create" -H 'Content-Type: application/json' -d "$VERSION_BODY" > /dev/null
  test "$(curl -s -o /dev/null -w '%{http_code}' "$ML/model-versions/get?name=credit&version=1")" = 200
  run_wrk mlflow-warmup "$ML/model-versions/get?name=credit&version=1" GET "" "" "$CONNS" > /dev/null
  R[mlflow-read]="$(run_wrk mlflow-read "$ML/model-versions/get?name=credit&version=1" GET "" "" "$CONNS")"
  R[mlflow-alias]="$(run_wrk mlflow-alias "$ML/registered-models/alias" POST '{"name":"credit","alias":"dev","version":"1"}' "" "$CONNS")"
  R[mlflow-register]="$(run_wrk mlflow-register "$ML/model-versions/create" POST "$VERSION_BODY" "" "$CONNS")"
fi

# --- 5. Blob transfer to an S3-protocol server --------------------------------
BLOB_MB="${WARDEN_BENCH_BLOB_MB:-256}"
S3DIR="$WORK/s3"
"$REPO/scripts/s3-temp.sh" stop "$S3DIR"
S3_ENDPOINT="$("$REPO/scripts/s3-temp.sh" start "$S3DIR" bench)"
MOTO_PY="${WARDEN_MOTO_VENV:-$HOME/.cache/warden/venv-moto}/bin/python"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
read -r WUP WDOWN < <("$TARGET/release/examples/s3_transfer" "$S3_ENDPOINT" bench "$BLOB_MB")
head -c "$((BLOB_MB * 1024 * 1024))" /dev/urandom > "$WORK/blob.bin"
read -r BUP BDOWN < <("$MOTO_PY" "$REPO/bench/s3_boto3.py" "$S3_ENDPOINT" bench "$WORK/blob.bin")
rm -f "$WORK/blob.bin"
"$REPO/scripts/s3-temp.sh" stop "$S3DIR"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
row() { # LABEL "rps p50 p99 non2xx"
  # shellcheck disable=SC2086
  printf '%-44s %10s %9s %9s %7s\n' "$1" $2
}
{
  echo "scale bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, wrk -t1 -c$CONNS -d${SECS}s, PostgreSQL $(psql -tA "$ADMIN_URL" -c 'SHOW server_version')"
  printf '%-44s %10s %9s %9s %7s\n' "" "req/s" "p50" "p99" "non2xx"
  row "hub on SQLite: read (version)" "${R[sqlite-read]}"
  row "hub on SQLite: promote (gated pointer move)" "${R[sqlite-promote]}"
  row "hub on SQLite: audited write (role grant)" "${R[sqlite-grant]}"
  row "hub on PostgreSQL: read (version)" "${R[pg-read]}"
  row "hub on PostgreSQL: promote" "${R[pg-promote]}"
  row "hub on PostgreSQL: audited write" "${R[pg-grant]}"
  printf '%-44s %10s %9s %9s %7s\n' "2 hubs on PostgreSQL: writes, replica a" "$TA" "" "$TA99" "$TAE"
  printf '%-44s %10s %9s %9s %7s\n' "2 hubs on PostgreSQL: writes, replica b" "$TB" "" "$TB99" "$TBE"
  echo "2 hubs: $(awk -v a="$TA" -v b="$TB" 'BEGIN { printf "%.0f", a + b }') audited writes/s together; audit verify a: $VA, b: $VB, roots $ROOTS_EQUAL ($EVENTS events)"
  echo "pointer move to 2 inference replicas (LISTEN/NOTIFY; reload backstop 30 s), seconds: ${PROPAGATION[*]}"
  echo "blob of $BLOB_MB MiB to/from moto's S3 server, MB/s: warden up $WUP down $WDOWN (hashed and checked); boto3 up $BUP down $BDOWN; ratio up $(ratio "$WUP" "$BUP")x, down $(ratio "$WDOWN" "$BDOWN")x"
  if [ "${WARDEN_BENCH_SKIP:-}" != mlflow ]; then
    row "mlflow on PostgreSQL: read" "${R[mlflow-read]}"
    row "mlflow on PostgreSQL: alias set" "${R[mlflow-alias]}"
    row "mlflow on PostgreSQL: version registration" "${R[mlflow-register]}"
    read -r PW_ _ _ _ <<<"${R[pg-grant]}"
    read -r PR_ _ _ _ <<<"${R[pg-read]}"
    read -r PP_ _ _ _ <<<"${R[pg-promote]}"
    read -r MR_ _ _ _ <<<"${R[mlflow-read]}"
    read -r MA_ _ _ _ <<<"${R[mlflow-alias]}"
    read -r MV_ _ _ _ <<<"${R[mlflow-register]}"
    echo "ratios on PostgreSQL: reads $(ratio "$PR_" "$MR_")x, pointer moves $(ratio "$PP_" "$MA_")x, audited writes vs registrations $(ratio "$PW_" "$MV_")x"
  fi
} | tee "$WORK/summary.txt"
