#!/usr/bin/env bash
# `onfs-push run` end to end, on generated tables (not a test; prints figures):
#   1. one 10,000,000-row TABLE source (user_id + 8 features) to --out;
#   2. a full outer join of two 5,000,000-row sources with --memory-limit 2GB;
#   3. one 10,000,000-row TABLE source of the realistic row (8 FP32, 2 String, 4 Int64, 2 Bool,
#      an FP32 vector of 32, a string vector of 3; about 440 bytes a row on the wire) to --out.
# Each RUNS times (default 3); prints median wall time, rows/s and peak RSS.
#
#   scripts/bench-run.sh [ROWS_SINGLE] [ROWS_JOIN] [RUNS] [ROWS_REALISTIC]
set -euo pipefail
cd "$(dirname "$0")/.."
SINGLE="${1:-10000000}"
JOIN="${2:-5000000}"
RUNS="${3:-3}"
REALISTIC="${4:-10000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
scripts/setup.sh
cargo build --release --locked --bin onfs-push -q
cargo build --release --locked -p onfs-file --example make_bench_data -q
bin="$CARGO_TARGET_DIR/release/onfs-push"
gen="$CARGO_TARGET_DIR/release/examples/make_bench_data"
work="${ONFS_BENCH_DIR:-$(mktemp -d /tmp/onfs-bench-run.XXXXXX)}"
trap 'rm -rf "$work"' EXIT

"$gen" "$work/single" single "$SINGLE" 8 f
"$gen" "$work/a" a "$JOIN" 4 a
"$gen" "$work/b" b "$JOIN" 4 b
"$gen" "$work/realistic" realistic "$REALISTIC" 8 realistic
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
a = json.load(open(f"{w}/a.metadata.json"))
b = json.load(open(f"{w}/b.metadata.json"))
a["data"] += b["data"]
json.dump(a, open(f"{w}/join.metadata.json", "w"))
PY

measure() { # name, then the command
  local name="$1"; shift
  python3 - "$name" "$RUNS" "$@" <<'PY'
import resource, statistics, subprocess, sys, time, json, os, shutil
name, runs, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
walls, rss, rows = [], [], None
for i in range(runs):
    out = cmd[cmd.index("--out") + 1]
    shutil.rmtree(out, ignore_errors=True)
    report = out + ".report.json"
    t = time.perf_counter()
    # A fresh interpreter per run, so ru_maxrss is this run's child only.
    code = ("import resource,subprocess,sys;"
            "r=subprocess.run(sys.argv[1:]).returncode;"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);sys.exit(r)")
    p = subprocess.run([sys.executable, "-c", code] + cmd + ["--report", report, "--quiet"],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"{name}: run failed: {p.stderr[-2000:]}")
    walls.append(wall)
    rss.append(int(p.stdout.strip().splitlines()[-1]) / 1024)
    rows = json.load(open(report))["rows"]
    print(f"{name} run {i+1}: {wall:.2f}s, {rows/wall:,.0f} rows/s, peak RSS {rss[-1]:,.0f} MiB")
m = statistics.median(walls)
print(f"{name}: median {m:.2f}s for {rows:,} rows = {rows/m:,.0f} rows/s end to end; median peak RSS {statistics.median(rss):,.0f} MiB")
PY
}

measure "single source" "$bin" run --metadata-file "$work/single.metadata.json" \
  --table "bench.single=$work/single" --out "$work/out-single"
measure "two-source join" "$bin" run --metadata-file "$work/join.metadata.json" \
  --table "bench.a=$work/a" --table "bench.b=$work/b" --memory-limit 2GB --out "$work/out-join"
measure "realistic source" "$bin" run --metadata-file "$work/realistic.metadata.json" \
  --table "bench.realistic=$work/realistic" --out "$work/out-realistic"
