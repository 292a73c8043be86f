#!/usr/bin/env bash
# Kafka producer benchmark: the same messages (count and size) sent to the test broker by
# `onfs-push send` and by Kafka's own org.apache.kafka.tools.ProducerPerformance, with the same
# acks, compression and linger, alternating, RUNS times each. Prints medians and the ratio.
#
#   scripts/bench-kafka.sh [ROWS] [RUNS]     (default 500000 realistic rows = 25000 messages, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-500000}"
RUNS="${2:-3}"
ACKS=all COMPRESSION=lz4 LINGER=5 BATCH=1048576
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
scripts/setup.sh
cargo build --release --locked --bin onfs-push -q
cargo build --release --locked -p onfs-file --example make_sample -q
bin="$CARGO_TARGET_DIR/release/onfs-push"
work="$(mktemp -d /tmp/onfs-bench-kafka.XXXXXX)"
export ONFS_KAFKA_DIR="$work/broker"
cleanup() { scripts/kafka-test-broker.sh stop --clean >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
scripts/kafka-test-broker.sh start >/dev/null
# shellcheck disable=SC1091
source "$ONFS_KAFKA_DIR/env"

"$CARGO_TARGET_DIR/release/examples/make_sample" "$work/data" "$ROWS" 2>/dev/null
"$bin" encode --metadata-file "$work/data/metadata.json" --input "$work/data/features.parquet" \
  --batch-size 20 --out "$work/messages" 2>/dev/null
messages=$(python3 -c "import json;print(json.load(open('$work/messages/manifest.json'))['messages'])")
bytes=$(python3 -c "import json;print(json.load(open('$work/messages/manifest.json'))['bytes'])")
size=$((bytes / messages))
echo "messages: $messages of $size bytes on average ($ROWS rows); acks=$ACKS compression=$COMPRESSION linger.ms=$LINGER batch.size=$BATCH"

ours=() theirs=()
# Run 0 warms the broker (and the JVM) up and is not counted.
for i in $(seq 0 "$RUNS"); do
  scripts/kafka-test-broker.sh topic "onfs-$i" 1 >/dev/null
  scripts/kafka-test-broker.sh topic "perf-$i" 1 >/dev/null
  line=$("$bin" send "$work/messages" --kafka-brokers "$ONFS_KAFKA_BOOTSTRAP" --topic "onfs-$i" \
    --kafka-option "kafka.acks=$ACKS" --kafka-option "kafka.compression.type=$COMPRESSION" \
    --kafka-option "kafka.linger.ms=$LINGER" --kafka-option "kafka.batch.size=$BATCH" 2>&1 | grep '^sent:')
  ours+=("$(echo "$line" | sed -E 's/.* ([0-9.]+) msgs\/s.*/\1/')")
  line=$(scripts/kafka-test-broker.sh perf --topic "perf-$i" --num-records "$messages" --record-size "$size" \
    --throughput -1 --producer-props bootstrap.servers="$ONFS_KAFKA_BOOTSTRAP" acks=$ACKS \
    compression.type=$COMPRESSION linger.ms=$LINGER batch.size=$BATCH 2>/dev/null | tail -n 1)
  theirs+=("$(echo "$line" | sed -E 's/^[0-9]+ records sent, ([0-9.]+) records\/sec.*/\1/')")
  echo "run $i: onfs-push ${ours[-1]} msgs/s, ProducerPerformance ${theirs[-1]} msgs/s"
  if [ "$i" -eq 0 ]; then ours=() theirs=(); fi
done
python3 - "$size" "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
size = int(sys.argv[1])
ours = [float(x) for x in sys.argv[2].split()]
theirs = [float(x) for x in sys.argv[3].split()]
mo, mt = statistics.median(ours), statistics.median(theirs)
print(f"median onfs-push:           {mo:,.0f} msgs/s  {mo*size/1e6:,.1f} MB/s")
print(f"median ProducerPerformance: {mt:,.0f} msgs/s  {mt*size/1e6:,.1f} MB/s")
print(f"ratio onfs-push / ProducerPerformance: {mo/mt:.2f}x")
PY
