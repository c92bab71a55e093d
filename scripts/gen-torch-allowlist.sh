#!/usr/bin/env bash
# Regenerates crates/warden-scan/src/allow-torch.txt, the exact torch layer
# classes (torch.nn.modules.*) a whole-model torch.save pickle may import,
# from the sources inside pinned PyTorch wheels from PyPI
# (scripts/gen-torch-allowlist.py parses them; nothing is installed or
# imported). The wheels (about 900 MB each) are kept in
# ~/.cache/warden/torch-wheels. Review the diff before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSIONS="${WARDEN_TORCH_VERSIONS:-1.13.1 2.9.1 2.15.0}"
DIR="${WARDEN_TORCH_WHEELS:-$HOME/.cache/warden/torch-wheels}"
mkdir -p "$DIR"
wheels=()
for v in $VERSIONS; do
  w="$(ls "$DIR"/torch-"$v"-cp311-cp311-*.whl 2>/dev/null | head -1 || true)"
  if [ -z "$w" ]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
      "torch==$v" -d "$DIR"
    w="$(ls "$DIR"/torch-"$v"-cp311-cp311-*.whl | head -1)"
  fi
  wheels+=("$w")
done
python3 scripts/gen-torch-allowlist.py "${wheels[@]}" > crates/warden-scan/src/allow-torch.txt.new
mv crates/warden-scan/src/allow-torch.txt.new crates/warden-scan/src/allow-torch.txt
echo "wrote crates/warden-scan/src/allow-torch.txt ($(grep -c '^torch ' crates/warden-scan/src/allow-torch.txt) names)"
