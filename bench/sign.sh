#!/usr/bin/env bash
# Signing benchmark: warden sign / verify against `model_signing sign key` /
# `verify key` (PyPI model-signing 1.1.1) on the same files:
#   - a directory of 4 files of 1 GB;
#   - a directory holding one 4 GB file (warden also with --shard-size 1 GB,
#     which model_signing's library verifies; its CLI hashes by files only).
# Files are random bytes written once and read from the page cache (each
# tool is run once before timing). Usage: bench/sign.sh [GB_PER_FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
GB="${1:-1}"
WORK="${WARDEN_BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$WORK"
VENV="$HOME/.cache/warden/venv-model-signing"
if [ ! -x "$VENV/bin/model_signing" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "model-signing==1.1.1" pyOpenSSL
fi
cargo build --release --quiet
W="${WARDEN:-${CARGO_TARGET_DIR:-$PWD/target}/release/warden}"
export WARDEN_ACTOR=bench
mkdir -p "$WORK/four" "$WORK/one"
for i in 1 2 3 4; do
  [ -f "$WORK/four/part$i.bin" ] || head -c "$((GB * 1024 * 1024 * 1024))" /dev/urandom > "$WORK/four/part$i.bin"
done
[ -f "$WORK/one/model.bin" ] || cat "$WORK"/four/part*.bin > "$WORK/one/model.bin"
[ -d "$WORK/ws" ] || { "$W" init "$WORK/ws" >/dev/null; (cd "$WORK/ws" && "$W" keys generate pipeline >/dev/null); }
cd "$WORK/ws"
"$W" keys export-public pipeline > "$WORK/pipeline.pub.pem"
umask 077
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/ms.key" 2>/dev/null
openssl ec -in "$WORK/ms.key" -pubout -out "$WORK/ms.pub" 2>/dev/null

t() { /usr/bin/time -f "%e" -o "$WORK/t" "$@" >/dev/null 2>&1; cat "$WORK/t"; }
for d in four one; do
  M="$WORK/$d"
  "$W" sign "$M" --key pipeline --signature "$WORK/warm.sig" >/dev/null  # page cache
  echo "== $d: $(du -sh "$M" | cut -f1)"
  for run in 1 2; do
    echo "run $run"
    echo "  warden sign                   $(t "$W" sign "$M" --key pipeline --signature "$WORK/$d.w.sig") s"
    echo "  warden verify                 $(t "$W" verify "$M" --signature "$WORK/$d.w.sig") s"
    echo "  warden sign --shard-size 1GB  $(t "$W" sign "$M" --key pipeline --shard-size 1000000000 --signature "$WORK/$d.ws.sig") s"
    echo "  warden verify (shards)        $(t "$W" verify "$M" --signature "$WORK/$d.ws.sig") s"
    echo "  model_signing sign key        $(t "$VENV/bin/model_signing" sign key --private_key "$WORK/ms.key" --signature "$WORK/$d.ms.sig" "$M") s"
    echo "  model_signing verify key      $(t "$VENV/bin/model_signing" verify key --public_key "$WORK/ms.pub" --signature "$WORK/$d.ms.sig" "$M") s"
  done
done
