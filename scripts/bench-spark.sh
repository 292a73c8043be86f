#!/usr/bin/env bash
# `generate_df_with_protobuf_messages` in PySpark local[2] on ROWS realistic rows (the encoder
# benchmark's row): onfs_push against the original package, in one run (not a test; prints
# figures: each run, medians, rows/s, ratio).
#
#   scripts/bench-spark.sh [ROWS] [RUNS] [ORIGINAL_RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
RUNS="${2:-3}"
ORIGINAL_RUNS="${3:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
scripts/setup.sh
py="$(scripts/python-env.sh | tail -n 1)"
"$py" -m pip install -q ./python
cargo build --locked -p onfs-file --example make_sample -q
work="${ONFS_BENCH_DIR:-$(mktemp -d /tmp/onfs-bench-spark.XXXXXX)}"
trap 'rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/debug/examples/make_sample" "$work" "$ROWS"
"$py" python/bench/bench_generate.py "$work" --runs "$RUNS" --original-runs "$ORIGINAL_RUNS"
