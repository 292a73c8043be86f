#!/usr/bin/env bash
# The main job on the embedded samples: `run` the whole job of examples/job.toml (two sample
# tables: newest partition, join, defaults, encode) into /tmp/onfs-quickstart-run, and `encode`
# examples/user-features (a ready input of realistic rows) into ${1:-/tmp/onfs-quickstart};
# show the messages of each as a table, then a short summary of what was done.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
out="${1:-/tmp/onfs-quickstart}"
run_out=/tmp/onfs-quickstart-run
scripts/setup.sh
cargo build --release --locked --bin onfs-push
bin="$CARGO_TARGET_DIR/release/onfs-push"
# The table is sized to the terminal (COLUMNS when stdout is not one).
if [ -t 1 ]; then COLUMNS="${COLUMNS:-$(tput cols 2>/dev/null || echo 100)}"; fi
export COLUMNS="${COLUMNS:-100}"

echo
echo "== run examples/job.toml (metadata: examples/metadata.json)"
"$bin" run --config examples/job.toml --log-level warn
"$bin" inspect "$run_out" --format table

echo
echo "== encode examples/user-features"
"$bin" encode --metadata-file examples/user-features/metadata.json \
  --input examples/user-features/features.parquet --batch-size 20 --out "$out" --overwrite \
  --log-level warn
"$bin" inspect "$out" --format table

echo
echo "== done"
echo "run:    examples/job.toml -> $run_out"
echo "        (the summary as JSON: $run_out.report.json)"
echo "encode: examples/user-features -> $out"
echo "binary: $bin"
echo "next:   onfs-push plan --metadata-file examples/metadata.json"
echo "        onfs-push check --config examples/job.toml"
echo "        onfs-push inspect $run_out --format json"
