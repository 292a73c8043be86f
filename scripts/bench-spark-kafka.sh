#!/usr/bin/env bash
# Parquet -> Kafka end to end, in one run on the same rows (ROWS realistic rows, the encoder
# benchmark's row; batch 20, acks=all, one local broker started here): the original client in
# PySpark local[2] with Spark's Kafka connector, onfs_push's drop-in API with its default engine
# and with engine="spark", onfs_push's `push`, and the binary's `encode --kafka-brokers`. Not a
# test: prints each run, the medians, rows/s and the ratios to the original and to the binary.
#
#   scripts/bench-spark-kafka.sh [ROWS] [RUNS] [ORIGINAL_RUNS] [--only TEXT ...]
#                                                        (default 1000000 3 1; --only: bench_kafka.py's)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
RUNS="${2:-3}"
ORIGINAL_RUNS="${3:-1}"
shift $(( $# < 3 ? $# : 3 ))
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
scripts/setup.sh
py="$(scripts/python-env.sh | tail -n 1)"
"$py" -m pip install -q ./python
jars="$(scripts/spark-jars.sh | tail -n 1)"
cargo build --release --locked --bin onfs-push -q
cargo build --release --locked -p onfs-file --example make_sample -q
work="$(mktemp -d /tmp/onfs-bench-spark-kafka.XXXXXX)"
export ONFS_KAFKA_DIR="$work/broker"
cleanup() { scripts/kafka-test-broker.sh stop --clean >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
ONFS_KAFKA_AUTO_CREATE=false ONFS_KAFKA_KERBEROS=off scripts/kafka-test-broker.sh start >/dev/null
# shellcheck disable=SC1091
source "$ONFS_KAFKA_DIR/env"
"$CARGO_TARGET_DIR/release/examples/make_sample" "$work/data" "$ROWS" 2>/dev/null
"$py" python/bench/bench_kafka.py "$work/data" "$ONFS_KAFKA_BOOTSTRAP" \
  --binary "$CARGO_TARGET_DIR/release/onfs-push" --jars "$jars" \
  --runs "$RUNS" --original-runs "$ORIGINAL_RUNS" "$@"
