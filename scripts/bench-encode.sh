#!/usr/bin/env bash
# `onfs-push encode --out` end to end, whole process (not a test; prints figures): ROWS
# realistic rows (8 FP32, 2 String, 4 Int64, 2 Bool, an FP32 vector of 32, a string vector of
# 3; about 440 bytes a row on the wire) in one Parquet file, batch size 20, encoded by one
# thread (--threads 1) and by every core (the default), alternating, RUNS times each. Prints
# each run, the medians of wall time, rows/s, CPU seconds (user + system) and peak RSS, the
# ratio, and checks that both wrote the same message files. The message files are written and
# synced to disk: ONFS_BENCH_DIR=/dev/shm/... leaves the disk out.
#
#   scripts/bench-encode.sh [ROWS] [RUNS]       (default 1000000 rows, 5 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${1:-1000000}"
RUNS="${2:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/onfs-push/target}"
scripts/setup.sh
cargo build --release --locked --bin onfs-push -q
cargo build --release --locked -p onfs-file --example make_sample -q
bin="$CARGO_TARGET_DIR/release/onfs-push"
work="${ONFS_BENCH_DIR:-$(mktemp -d /tmp/onfs-bench-encode.XXXXXX)}"
trap 'rm -rf "$work"' EXIT

"$CARGO_TARGET_DIR/release/examples/make_sample" "$work/data" "$ROWS" 2>/dev/null

python3 - "$work" "$RUNS" "$bin" <<'PY'
import filecmp, json, os, resource, shutil, statistics, subprocess, sys, time
work, runs, binary = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cores = os.cpu_count()
base = [binary, "encode", "--metadata-file", f"{work}/data/metadata.json",
        "--input", f"{work}/data/features.parquet", "--batch-size", "20", "--quiet"]
ways = {"one thread": ["--threads", "1"], f"every core ({cores})": []}
walls = {name: [] for name in ways}
cpus = {name: [] for name in ways}
rss = {name: [] for name in ways}
rows = None
for i in range(runs):
    for name, extra in ways.items():
        out = f"{work}/out-{len(extra)}"
        shutil.rmtree(out, ignore_errors=True)
        os.sync()  # no run pays for the writes of the one before
        # A fresh interpreter per run, so ru_maxrss is this run's child only.
        code = ("import resource,subprocess,sys;"
                "r=subprocess.run(sys.argv[1:]).returncode;"
                "u=resource.getrusage(resource.RUSAGE_CHILDREN);"
                "print(u.ru_utime+u.ru_stime,u.ru_maxrss);sys.exit(r)")
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", code] + base + extra + ["--out", out],
                           capture_output=True, text=True)
        wall = time.perf_counter() - t
        if p.returncode != 0:
            sys.exit(f"{name}: encode failed: {p.stderr[-2000:]}")
        rows = json.load(open(f"{out}/manifest.json"))["rows"]
        cpu, maxrss = p.stdout.strip().splitlines()[-1].split()
        walls[name].append(wall)
        cpus[name].append(float(cpu))
        rss[name].append(int(maxrss) / 1024)
        print(f"{name} run {i+1}: {wall:.2f}s, {rows/wall:,.0f} rows/s, {cpus[name][-1]:.2f} CPU-s, "
              f"peak RSS {rss[name][-1]:,.0f} MiB")
one, every = f"{work}/out-2", f"{work}/out-0"
files = sorted(f for f in os.listdir(one) if f != "manifest.json")
same = files == sorted(f for f in os.listdir(every) if f != "manifest.json") and \
    all(filecmp.cmp(f"{one}/{f}", f"{every}/{f}", shallow=False) for f in files)
print()
medians = {}
for name in ways:
    m = statistics.median(walls[name])
    medians[name] = m
    print(f"{name}: median {m:.2f}s for {rows:,} rows = {rows/m:,.0f} rows/s; "
          f"median {statistics.median(cpus[name]):.2f} CPU-s; "
          f"median peak RSS {statistics.median(rss[name]):,.0f} MiB")
a, b = medians.values()
print(f"every core / one thread: {a/b:.2f}x the rows/s; message files identical: {same}")
if not same:
    sys.exit("the message files differ")
PY
