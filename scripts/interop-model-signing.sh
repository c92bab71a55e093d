#!/usr/bin/env bash
# Interop with the OpenSSF `model_signing` CLI (PyPI model-signing 1.1.1):
#   1. `model_signing verify key` accepts a signature `warden sign` made;
#   2. `warden verify` accepts a signature `model_signing sign key` made;
#   3. both refuse a model with one byte changed;
#   4. `model_signing verify key` accepts a P-384 signature `warden sign` made,
#      and the signature of a package `warden train` made and `warden model
#      export` wrote, and (through its library: its CLI re-hashes by files
#      only) a signature by 7-byte shards ("shards" method).
# Installs model-signing (and pyOpenSSL, which it imports without declaring)
# into a virtualenv under $HOME/.cache/warden, reused across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WARDEN_INTEROP_VENV:-$HOME/.cache/warden/venv-model-signing}"
if [ ! -x "$VENV/bin/model_signing" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "model-signing==1.1.1" pyOpenSSL
fi
cargo build --quiet --locked -p warden-cli
W="${CARGO_TARGET_DIR:-$PWD/target}/debug/warden"
FIX="$PWD/crates/warden-artifact/tests/data/model-signing-interop"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$FIX/model" "$WORK/model"
chmod -R u+w "$WORK/model"
export WARDEN_ACTOR=interop
passed=0
failed=0
check() { if "$@" >/dev/null 2>&1; then passed=$((passed + 1)); else echo "FAILED: $*"; failed=$((failed + 1)); fi; }
refuse() { if "$@" >/dev/null 2>&1; then echo "FAILED (accepted): $*"; failed=$((failed + 1)); else passed=$((passed + 1)); fi; }

"$W" init "$WORK/ws" >/dev/null
(cd "$WORK/ws" && "$W" keys generate pipeline >/dev/null \
  && "$W" sign ../model --key pipeline >/dev/null \
  && "$W" keys export-public pipeline > ../pipeline.pub.pem)
check "$VENV/bin/model_signing" verify key --public_key "$WORK/pipeline.pub.pem" --signature "$WORK/model.sig" "$WORK/model"

(cd "$WORK/ws" && "$W" keys generate p384 --type ecdsa-p384 >/dev/null \
  && "$W" sign ../model --key p384 --signature ../model.p384.sig >/dev/null \
  && "$W" keys export-public p384 > ../p384.pub.pem)
check "$VENV/bin/model_signing" verify key --public_key "$WORK/p384.pub.pem" --signature "$WORK/model.p384.sig" "$WORK/model"

(cd "$WORK/ws" && "$W" sign ../model --key pipeline --shard-size 7 --signature ../model.shards.sig >/dev/null)
# model_signing's CLI always re-hashes by files; its library verifies by
# the serialization the signature names, shards included.
ms_api_verify() {
  "$VENV/bin/python" -c 'import sys, model_signing.verifying as v
v.Config().use_elliptic_key_verifier(public_key=sys.argv[1]).verify(sys.argv[3], sys.argv[2])' "$@"
}
check ms_api_verify "$WORK/pipeline.pub.pem" "$WORK/model.shards.sig" "$WORK/model"

(cd "$WORK/ws" && "$W" example credit --rows 500 --seed 1 --out ../credit.csv >/dev/null \
  && "$W" data ingest ../credit.csv --name credit --target approved --no-screen >/dev/null \
  && "$W" train --dataset credit@1 --name credit >/dev/null \
  && "$W" model export credit@1 --out ../package >/dev/null)
check "$VENV/bin/model_signing" verify key --public_key "$WORK/pipeline.pub.pem" --signature "$WORK/package.sig" "$WORK/package"

"$VENV/bin/model_signing" sign key --private_key "$FIX/test_only_ec_p256_private.pem" --signature "$WORK/ms.sig" "$WORK/model" >/dev/null
check "$W" verify "$WORK/model" --signature "$WORK/ms.sig" --key "$FIX/ec_p256_public.pem"

printf 'x' >> "$WORK/model/a.txt"
refuse "$VENV/bin/model_signing" verify key --public_key "$WORK/pipeline.pub.pem" --signature "$WORK/model.sig" "$WORK/model"
refuse "$W" verify "$WORK/model" --signature "$WORK/ms.sig" --key "$FIX/ec_p256_public.pem"
refuse ms_api_verify "$WORK/pipeline.pub.pem" "$WORK/model.shards.sig" "$WORK/model"
refuse "$W" verify "$WORK/model" --signature "$WORK/model.shards.sig" --key "$WORK/pipeline.pub.pem"
refuse "$VENV/bin/model_signing" verify key --public_key "$WORK/p384.pub.pem" --signature "$WORK/model.p384.sig" "$WORK/model"
printf 'x' >> "$WORK/package/manifest.json"
refuse "$VENV/bin/model_signing" verify key --public_key "$WORK/pipeline.pub.pem" --signature "$WORK/package.sig" "$WORK/package"

echo "model-signing interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
