#!/usr/bin/env bash
# The main job on the embedded samples: `run` the whole job of examples/job.toml (two sample
# tables: newest partition, join, defaults, encode) into /tmp/onfs-quickstart-run, and `encode`
# examples/user-features (a ready input of realistic rows) into ${1:-/tmp/onfs-quickstart};
# print the first message of each decoded.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
out="${1:-/tmp/onfs-quickstart}"
scripts/setup.sh
cargo build --release --locked --bin onfs-push
bin="$CARGO_TARGET_DIR/release/onfs-push"
"$bin" plan --metadata-file examples/metadata.json
"$bin" run --config examples/job.toml
"$bin" inspect /tmp/onfs-quickstart-run --limit 1
"$bin" encode --metadata-file examples/user-features/metadata.json \
  --input examples/user-features/features.parquet --batch-size 20 --out "$out" --overwrite
"$bin" inspect "$out" --limit 1
