#!/usr/bin/env bash
# The web console at registry scale. A demo workspace grown to
# WARDEN_BENCH_MODELS (1,000) models of WARDEN_BENCH_VERSIONS (20) versions,
# every one trained and signed through the engine, and an audit log of
# WARDEN_BENCH_EVENTS (1,000,000) events
# (crates/warden-cli/examples/console_registry.rs; kept in WORKDIR and reused
# unless WARDEN_BENCH_REBUILD=1), served by `warden hub serve` (release).
# A signed-in auditor's session cookie (an ES256 ID token of a test issuer,
# crates/warden-cli/examples/test_issuer.rs) opens the pages; wrk, one
# thread, one connection, WARDEN_BENCH_SECONDS (10) per page, so latency is
# the server's time per page on 127.0.0.1: the model-version page and the
# audit log's newest page (the issue's targets), plus a model's page and the
# models index. Page weight is the HTML plus its stylesheet and script, as
# served (no compression).
# Against MLflow's UI (PyPI, SQLite backend, 2 workers), unless
# WARDEN_BENCH_SKIP=mlflow: the same number of registered models and
# versions created through its REST API, the weight of what a browser loads
# for the UI (index.html and the script and style bundles it names) and the
# server time of the calls its model-version page makes (model-versions/get
# and registered-models/get).
# Usage: bench/console.sh [WORKDIR]   (default target/bench-console)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mkdir -p "${1:-$REPO/target/bench-console}" && cd "${1:-$REPO/target/bench-console}" && pwd)"
SECS="${WARDEN_BENCH_SECONDS:-10}"
MODELS="${WARDEN_BENCH_MODELS:-1000}"
VERSIONS="${WARDEN_BENCH_VERSIONS:-20}"
EVENTS="${WARDEN_BENCH_EVENTS:-1000000}"
# The same virtualenv as bench/scale.sh.
VENV="${WARDEN_MLFLOW_PG_VENV:-$HOME/.cache/warden/venv-mlflow-pg}"

command -v wrk >/dev/null || apt-get install -y -q wrk >&2 || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p warden-cli --bin warden --example console_registry --example test_issuer >&2
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
WARDEN="${WARDEN:-$TARGET/release/warden}"
EX="$TARGET/release/examples"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_up() { # URL
  for _ in $(seq 1 600); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.2
  done
  echo "server at $1 did not start" >&2; exit 1
}

if [ ! -f "$WORK/ws/warden.toml" ] || [ "${WARDEN_BENCH_REBUILD:-}" = 1 ]; then
  rm -rf "$WORK/ws"
  WARDEN_ACTOR=ci "$WARDEN" demo --keep "$WORK/ws" > "$WORK/demo.log"
  echo "growing the registry: $MODELS models x $VERSIONS versions, $EVENTS events" >&2
  start=$(date +%s)
  "$EX/console_registry" "$WORK/ws" "$MODELS" "$VERSIONS" "$EVENTS"
  echo "registry grown in $(( $(date +%s) - start )) s" >&2
fi
export WARDEN_CONFIG_DIR="$WORK/user"
rm -rf "$WORK/issuer"
"$EX/test_issuer" "$WORK/issuer" https://issuer.bench.invalid/ warden-hub bench@example.com
TOKEN="$(cat "$WORK/issuer/bench@example.com.token")"
cat > "$WORK/hub.toml" <<EOF
addr = "127.0.0.1:18311"
default_rate_limit = { per_second = 1000000.0, burst = 1000000 }
[[issuer]]
name = "corp"
issuer = "https://issuer.bench.invalid/"
audience = "warden-hub"
jwks_file = "$WORK/issuer/jwks.json"
algorithms = ["ES256"]
principal_claim = "email"
EOF
(cd "$WORK/ws" && WARDEN_ACTOR=omar exec "$WARDEN" hub serve --config "$WORK/hub.toml" > "$WORK/hub-access.log" 2> "$WORK/hub.err") &
PIDS+=($!)
wait_up http://127.0.0.1:18311/v2/health/live
BASE=http://127.0.0.1:18311
COOKIE="Cookie: __Host-warden-session=$TOKEN"
SIZE="$(sed -n 2p <(curl -s "$BASE/checkpoint"))"
MID="m$(printf '%04d' $(( MODELS / 2 )))"

cat > "$WORK/page.lua" <<'LUA'
wrk.headers["Cookie"] = "__Host-warden-session=" .. os.getenv("TOKEN")
function done(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
end
LUA
# NAME PATH -> "rps p50 p99 non2xx bytes"
page() {
  local status bytes assets out
  status="$(curl -s -o "$WORK/page-$1.html" -w '%{http_code}' -H "$COOKIE" "$BASE$2")"
  [ "$status" = 200 ] || { echo "$2 answered $status" >&2; head -c 400 "$WORK/page-$1.html" >&2; exit 1; }
  bytes="$(wc -c < "$WORK/page-$1.html")"
  assets=0
  for a in $(grep -o '/console/assets/[^"]*' "$WORK/page-$1.html" | sort -u); do
    assets=$(( assets + $(curl -s "$BASE$a" | wc -c) ))
  done
  TOKEN="$TOKEN" wrk -t1 -c1 -d1s -s "$WORK/page.lua" "$BASE$2" > /dev/null
  out="$(TOKEN="$TOKEN" wrk -t1 -c1 -d"${SECS}s" --latency -s "$WORK/page.lua" "$BASE$2")"
  echo "$out" > "$WORK/wrk-$1.txt"
  awk -v b="$bytes" -v a="$assets" '/^Requests\/sec:/ {r=$2} $1=="50%" {x=$2} $1=="99%" {y=$2} $1=="non2xx" {e=$2} END {print r, x, y, e, b, a}' <<<"$out"
}
read -r VR V50 V99 VE VB VA < <(page version "/console/models/$MID/versions/$(( VERSIONS / 2 ))")
read -r AR A50 A99 AE AB AA < <(page audit "/console/audit")
read -r MR M50 M99 ME MB MA < <(page model "/console/models/$MID")
read -r IR I50 I99 IE IB IA < <(page index "/console/")

echo
echo "Warden console: $MODELS models x $VERSIONS versions, $SIZE audit events; one connection, ${SECS} s per page"
printf '%-28s %9s %9s %9s %7s %12s %12s\n' page req/s p50 p99 non2xx "HTML bytes" "CSS+JS"
printf '%-28s %9s %9s %9s %7s %12s %12s\n' "model version ($MID@$(( VERSIONS / 2 )))" "$VR" "$V50" "$V99" "$VE" "$VB" "$VA"
printf '%-28s %9s %9s %9s %7s %12s %12s\n' "audit log (newest 50)" "$AR" "$A50" "$A99" "$AE" "$AB" "$AA"
printf '%-28s %9s %9s %9s %7s %12s %12s\n' "model ($VERSIONS versions)" "$MR" "$M50" "$M99" "$ME" "$MB" "$MA"
printf '%-28s %9s %9s %9s %7s %12s %12s\n' "models index ($MODELS models)" "$IR" "$I50" "$I99" "$IE" "$IB" "$IA"

# --- MLflow's UI ---------------------------------------------------------------
if [ "${WARDEN_BENCH_SKIP:-}" != mlflow ]; then
  "$REPO/scripts/pinned-venv.sh" "$VENV" mlflow==3.17.2 psycopg2-binary==2.9.13 >&2
  if [ ! -f "$WORK/mlflow/filled" ] || [ "${WARDEN_BENCH_REBUILD:-}" = 1 ]; then
    rm -rf "$WORK/mlflow"
  fi
  mkdir -p "$WORK/mlflow"
  (cd "$WORK/mlflow" && exec "$VENV/bin/mlflow" server --backend-store-uri "sqlite:///$WORK/mlflow/mlflow.db" \
     --default-artifact-root "$WORK/mlflow/artifacts" --host 127.0.0.1 --port 18312 --workers 2) \
     > "$WORK/mlflow.log" 2>&1 &
  PIDS+=($!)
  wait_up http://127.0.0.1:18312/health
  ML=http://127.0.0.1:18312
  if [ ! -f "$WORK/mlflow/filled" ]; then
    "$VENV/bin/python" - "$ML" "$MODELS" "$VERSIONS" <<'PY'
import concurrent.futures, json, sys, urllib.request
base, models, versions = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"{}")
# MLflow registers versions whose source is a run's artifact.
run = post("/api/2.0/mlflow/runs/create", {"experiment_id": "0"})["run"]["info"]
source, run_id = run["artifact_uri"] + "/model", run["run_id"]
def fill(m):
    name = f"m{m:04d}"
    post("/api/2.0/mlflow/registered-models/create", {"name": name})
    for v in range(versions):
        post("/api/2.0/mlflow/model-versions/create", {"name": name, "source": source, "run_id": run_id})
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    list(ex.map(fill, range(models)))
PY
    touch "$WORK/mlflow/filled"
  fi
  # What a browser loads for any UI page: index.html and the bundles it names.
  curl -s "$ML/" > "$WORK/mlflow-index.html"
  UIB="$(wc -c < "$WORK/mlflow-index.html")"
  for a in $(grep -oE '(src|href)="[^"]+\.(js|css)"' "$WORK/mlflow-index.html" | sed -E 's/^(src|href)="//; s/"$//' | sort -u); do
    case "$a" in http*) continue ;; /*) u="$ML$a" ;; *) u="$ML/$a" ;; esac
    UIB=$(( UIB + $(curl -s "$u" | wc -c) ))
  done
  cat > "$WORK/ml.lua" <<'LUA'
function done(summary, latency, requests)
  io.write(string.format("non2xx %d\n", summary.errors.status))
end
LUA
  ml() { # NAME URL -> "rps p50 p99 non2xx"
    local out
    wrk -t1 -c1 -d1s "$2" > /dev/null
    out="$(wrk -t1 -c1 -d"${SECS}s" --latency -s "$WORK/ml.lua" "$2")"
    echo "$out" > "$WORK/wrk-mlflow-$1.txt"
    awk '/^Requests\/sec:/ {r=$2} $1=="50%" {x=$2} $1=="99%" {y=$2} $1=="non2xx" {e=$2} END {print r, x, y, e}' <<<"$out"
  }
  read -r GR G50 G99 GE < <(ml mv "$ML/ajax-api/2.0/mlflow/model-versions/get?name=$MID&version=$(( VERSIONS / 2 ))")
  read -r RR R50 R99 RE < <(ml rm "$ML/ajax-api/2.0/mlflow/registered-models/get?name=$MID")
  echo
  echo "MLflow $("$VENV/bin/mlflow" --version 2>/dev/null | awk '{print $NF}') UI: $MODELS models x $VERSIONS versions; one connection, ${SECS} s per call"
  printf '%-40s %9s %9s %9s %7s\n' call req/s p50 p99 non2xx
  printf '%-40s %9s %9s %9s %7s\n' "model-versions/get" "$GR" "$G50" "$G99" "$GE"
  printf '%-40s %9s %9s %9s %7s\n' "registered-models/get" "$RR" "$R50" "$R99" "$RE"
  echo "UI weight (index.html and its script and style bundles): $UIB bytes"
fi
