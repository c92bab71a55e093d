#!/usr/bin/env bash
# Floats written by Python (repr: the shortest text, the even one on a tie)
# go through `warden data ingest` and come out in the canonical table as the
# same doubles, in texts Python reads back to the same repr: 100,000 rows of
# float32 values (where ties between two shortest texts are common), uniform
# values across 16 decades, and arbitrary doubles. Every column must be
# typed float (a text that is not kept exactly would make it text).
# Usage: scripts/float-roundtrip.sh   ($WARDEN, else the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
W="${WARDEN:-${CARGO_TARGET_DIR:-$PWD/target}/debug/warden}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
python3 - "$WORK/floats.csv" <<'PY'
import random, struct, sys
random.seed(20261207)
def finite(draw):
    while True:
        v = draw()
        if v == v and abs(v) != float("inf"):
            return v
f32 = lambda: struct.unpack("<f", struct.pack("<I", random.getrandbits(32)))[0]
f64 = lambda: struct.unpack("<d", struct.pack("<Q", random.getrandbits(64)))[0]
dec = lambda: random.random() * 10.0 ** random.randint(-8, 8)
with open(sys.argv[1], "w") as out:
    out.write("f32,decades,f64\n")
    for _ in range(100_000):
        out.write(f"{finite(f32)!r},{dec()!r},{finite(f64)!r}\n")
PY
export WARDEN_ACTOR=ana
"$W" init "$WORK/ws" >/dev/null
cd "$WORK/ws"
"$W" data ingest ../floats.csv --name floats --json > ../ingest.json 2>/dev/null
python3 - "$WORK" <<'PY'
import csv, json, os, sys
w = sys.argv[1]
d = json.load(open(os.path.join(w, "ingest.json")))["dataset"]
types = {c["name"]: c["type"] for c in d["manifest"]["output"]["schema"]}
if set(types.values()) != {"float"}:
    print(f"float-roundtrip: columns typed {types}, not all float")
    sys.exit(1)
digest = d["output_digest"].split(":")[1]
blob = os.path.join(w, "ws", ".warden", "blobs", "sha256", digest[:2], digest[2:4], digest)
src = list(csv.reader(open(os.path.join(w, "floats.csv"))))
out = list(csv.reader(open(blob)))
assert src[0] == out[0], (src[0], out[0])
assert len(src) == len(out), (len(src), len(out))
bad = [(r, j, a[j], b[j]) for r, (a, b) in enumerate(zip(src[1:], out[1:]), 1)
       for j in range(3) if repr(float(b[j])) != a[j]]
if bad:
    print(f"float-roundtrip: {len(bad)} values changed, first: {bad[:3]}")
    sys.exit(1)
print(f"float-roundtrip: {3 * (len(src) - 1)} floats kept exactly")
PY
