#!/usr/bin/env bash
# Changed-only pushes against a full push (not a test; prints figures), to a local broker:
# a ROWS-row table has two daily partitions; the second changes one group (Int64) of every
# 20th user (5%). SHAPE `narrow` (default): 8 features in 4 groups, about 84 bytes a row
# encoded; `realistic`: the realistic row of the other benchmarks (6 groups: 8 FP32, 2 String,
# 4 Int64, 2 Bool, an FP32 vector of 32, a string vector), about 420 bytes a row. Each run
# pushes the second day to Kafka:
#   full:          `run` (every row, every group)
#   changed-only:  `run --state S --changed-only`, S holding the first day's ledger
# RUNS times each, alternating, each after a sync and a 5 s pause (the previous run's writes
# settle); prints medians of wall time, peak RSS, messages and bytes sent, the ratios, and the ledger's
# bytes per key (written whole, and with the change file a changed-only run adds).
#
#   scripts/bench-changed.sh [ROWS] [RUNS] [SHAPE]    (default 10000000 rows, 3 runs, narrow)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-10000000}"
RUNS="${2:-3}"
SHAPE="${3:-narrow}"
case "$SHAPE" in
  narrow) PREFIX=f ;;
  realistic) PREFIX=realistic ;;
  *) echo "bench-changed: SHAPE is narrow or realistic, not $SHAPE" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
scripts/setup.sh
cargo build --release --locked --bin onfs-push -q
cargo build --release --locked -p onfs-file --example make_bench_data -q
bin="$CARGO_TARGET_DIR/release/onfs-push"
gen="$CARGO_TARGET_DIR/release/examples/make_bench_data"
work="$(mktemp -d /tmp/onfs-bench-changed.XXXXXX)"
export ONFS_KAFKA_DIR="$work/broker"
cleanup() { scripts/kafka-test-broker.sh stop --clean >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
scripts/kafka-test-broker.sh start >/dev/null
# shellcheck disable=SC1091
source "$ONFS_KAFKA_DIR/env"

"$gen" "$work/t" t "$ROWS" 8 "$PREFIX" 2026-01-01 2>/dev/null
"$gen" "$work/t" t "$ROWS" 8 "$PREFIX" 2026-01-02 20 2>/dev/null
common=(--metadata-file "$work/t.metadata.json" --table "bench.t=$work/t" --quiet
        --kafka-brokers "$ONFS_KAFKA_BOOTSTRAP" --kafka-option kafka.acks=all
        --kafka-option kafka.linger.ms=5 --kafka-option kafka.compression.type=lz4)
# The first day's ledger, made once and copied for every changed-only run.
scripts/kafka-test-broker.sh topic bench-seed 1 >/dev/null
"$bin" run "${common[@]}" --topic bench-seed --partition 2026-01-01 \
  --state "$work/seed-state" --changed-only

python3 - "$work" "$RUNS" "$bin" "${common[@]}" <<'PY'
import json, os, resource, shutil, statistics, subprocess, sys, time
work, runs, binary, common = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
settle = 5
env = dict(os.environ)

def run(name, i, extra):
    topic = f"{name}-{i}"
    subprocess.run(["scripts/kafka-test-broker.sh", "topic", topic, "1"], check=True, capture_output=True)
    report = f"{work}/{topic}.json"
    code = ("import resource,subprocess,sys;"
            "r=subprocess.run(sys.argv[1:]).returncode;"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);sys.exit(r)")
    cmd = [binary, "run", *common, "--topic", topic, "--partition", "2026-01-02", "--report", report, *extra]
    # Each run starts once the last one's writes settled (the broker and the page cache
    # flush gigabytes after a full push), so that neither run pays for the other: dirty pages
    # written out, then a pause for the broker.
    os.sync()
    time.sleep(settle)
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code] + cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{name}: run failed: {p.stderr[-2000:]}")
    r = json.load(open(report))
    rss = int(p.stdout.strip().splitlines()[-1]) / 1024
    print(f"{name} run {i}: {wall:.2f}s, {r['messages']:,} messages, {r['bytes']/1e6:,.1f} MB, "
          f"{r['delivered']:,} delivered, peak RSS {rss:,.0f} MiB")
    return wall, rss, r

res = {"full": [], "changed-only": []}
for i in range(1, runs + 1):
    res["full"].append(run("full", i, []))
    state = f"{work}/state-{i}"
    shutil.copytree(f"{work}/seed-state", state)
    res["changed-only"].append(run("changed-only", i, ["--state", state, "--changed-only"]))

med = {}
for name, rs in res.items():
    med[name] = (statistics.median(w for w, _, _ in rs), statistics.median(m for _, m, _ in rs),
                 rs[0][2]["messages"], rs[0][2]["bytes"])
    w, m, msgs, b = med[name]
    print(f"{name}: median {w:.2f}s wall, median peak RSS {m:,.0f} MiB, {msgs:,} messages, {b/1e6:,.1f} MB sent")
f, c = med["full"], med["changed-only"]
print(f"changed-only vs full: {f[0]/c[0]:.1f}x less wall time, {f[2]/max(c[2],1):.1f}x fewer messages, "
      f"{f[3]/max(c[3],1):.1f}x fewer bytes")
groups = len(res["changed-only"][0][2]["jobs"][0].get("changed_only") or {})
for d in os.listdir(f"{work}/seed-state"):
    head = json.load(open(f"{work}/seed-state/{d}/HEAD.json"))
    print(f"ledger: {head['keys']:,} keys in {head['ledger_bytes']:,} bytes = "
          f"{head['ledger_bytes']/max(head['keys'],1):.1f} bytes per key ({groups} groups), written whole")
state = res["changed-only"][0][2].get("state", {})
for j in state.get("jobs", []):
    print(f"after a changed-only run: {j['ledger_bytes']:,} bytes with its change file "
          f"({j['ledger_bytes']/max(j['keys'],1):.1f} bytes per key)")
PY
