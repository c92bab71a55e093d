#!/usr/bin/env bash
# Property-based API testing of `warden serve` with Schemathesis (PyPI):
# the server's own /openapi.json drives generated requests (valid and
# invalid, with and without credentials) against a demo workspace served on
# 127.0.0.1; every response must be a non-5xx answer that conforms to the
# document (status code, content type, body schema, headers), unauthenticated
# calls must be refused, undocumented methods answered 405.
#   scripts/schemathesis.sh [DEMO_WORKSPACE]   (default: a fresh `warden demo --keep`)
# warden is $WARDEN or $CARGO_TARGET_DIR/debug/warden. Schemathesis is
# installed into ${WARDEN_SCHEMATHESIS_VENV:-$HOME/.cache/warden/venv-schemathesis}.
#   WARDEN_ST_EXAMPLES=25   examples per operation and phase
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
W="${WARDEN:-${CARGO_TARGET_DIR:-$REPO/target}/debug/warden}"
VENV="${WARDEN_SCHEMATHESIS_VENV:-$HOME/.cache/warden/venv-schemathesis}"
PINS="schemathesis==4.32.5"
"$REPO/scripts/pinned-venv.sh" "$VENV" $PINS

TMP="$(mktemp -d)"
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

if [ -n "${1:-}" ]; then
  cp -r "$1" "$TMP/ws"
else
  WARDEN_ACTOR=ci "$W" demo --keep "$TMP/ws" > /dev/null
fi
cd "$TMP/ws"
export WARDEN_ACTOR=omar
KEY="$("$W" apikey create "schemathesis-$$" --role operator --rate-limit 100000 2>/dev/null)"
cat > "$TMP/serve.toml" <<EOF
addr = "127.0.0.1:0"
request_timeout_seconds = 30
EOF
"$W" serve --env production --config "$TMP/serve.toml" > "$TMP/access.log" 2> "$TMP/serve.err" &
SERVER=$!
BASE=""
for _ in $(seq 1 200); do
  BASE="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$TMP/serve.err" | head -1)"
  [ -n "$BASE" ] && break
  sleep 0.1
done
if [ -z "$BASE" ]; then echo "warden serve did not start:"; cat "$TMP/serve.err"; exit 1; fi
curl -sf -H "X-API-Key: $KEY" "$BASE/openapi.json" > "$TMP/openapi.json"

# The coverage phase is left out: Schemathesis 4.32.5 crashes inside it on
# this Python (SystemError from ast.parse in its own code), before any
# request. positive_data_acceptance is left out: a request can match the document's
# schema and still be refused on purpose (a v2 tensor whose name is not a
# feature, a shape that disagrees with its data), which the schema cannot
# express; every other check runs.
"$VENV/bin/schemathesis" --no-color run "$TMP/openapi.json" \
  --url "$BASE" \
  --header "X-API-Key: $KEY" \
  --phases examples,fuzzing,stateful \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --max-examples "${WARDEN_ST_EXAMPLES:-25}" \
  --workers 2 \
  --request-timeout 30 \
  --seed 7 \
  --max-time "${WARDEN_ST_MAX_TIME:-300}"
echo "schemathesis: no server error, every response conforms to /openapi.json"
