#!/usr/bin/env bash
# The main job on the embedded sample: encode examples/user-features (metadata + Parquet input)
# into messages under ${1:-/tmp/onfs-quickstart}, then print the first message decoded.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
out="${1:-/tmp/onfs-quickstart}"
scripts/setup.sh
cargo build --release --locked --bin onfs-push
bin="$CARGO_TARGET_DIR/release/onfs-push"
"$bin" plan --metadata-file examples/user-features/metadata.json
"$bin" encode --metadata-file examples/user-features/metadata.json \
  --input examples/user-features/features.parquet --batch-size 20 --out "$out" --overwrite
"$bin" inspect "$out" --limit 1
