"""Parquet -> Kafka end to end on the same rows, in one run: the original client in PySpark
local[2] with Spark's Kafka connector, onfs_push's drop-in API (default engine, and
engine="spark"), onfs_push's `push`, and the binary (`onfs-push encode --kafka-brokers`).

    python bench_kafka.py DATA_DIR BOOTSTRAP --binary PATH --jars JARS [--runs 3] [--original-runs 1]
                          [--only TEXT ...]

DATA_DIR holds `features.parquet` and `metadata.json` (scripts/bench-spark-kafka.sh writes them and
starts the broker). A first row times Spark's floor for any path through Python workers: the file
read and its rows handed to the workers, nothing encoded or sent. Each run reads the Parquet file, encodes with batch 20 and produces with
acks=all to a new topic of 2 partitions; the rows on the topic are counted after each run. One
warm-up run of each Spark path is not counted. Prints each run, medians, rows/s and ratios.
`--only TEXT` (repeatable) runs the paths whose names hold one of the texts, plus the original and
the binary, the two every ratio is against.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_generate import serve_metadata  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def new_topic(name: str) -> str:
    subprocess.run([str(ROOT / "scripts/kafka-test-broker.sh"), "topic", name, "2"], check=True,
                   capture_output=True)
    return name


def rows_on(binary: str, bootstrap: str, topic: str) -> int:
    """Rows on the topic, every message decoded by `onfs-push inspect` (its summary line)."""
    out = subprocess.run([binary, "inspect", f"kafka://{bootstrap}/{topic}", "--format", "table"], check=True,
                         capture_output=True, text=True).stdout
    found = re.search(r"^(\d+) messages, (\d+) rows", out, re.M)
    assert found, f"no summary in onfs-push inspect's output:\n{out}"
    return int(found.group(2))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("bootstrap")
    ap.add_argument("--binary", required=True)
    ap.add_argument("--jars", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--original-runs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from spark_feature_push_client import OnlineFeatureStorePyClient as Original

    from onfs_push.spark import OnlineFeatureStorePyClient as Ours

    data = args.data_dir / "features.parquet"
    url = serve_metadata(args.data_dir)

    spark = (SparkSession.builder.master("local[2]").appName("onfs-push-bench-kafka")
             .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g")
             .config("spark.jars", args.jars).getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    rows = spark.read.parquet(str(data)).count()
    acks = {"kafka.acks": "all"}
    ours, original = Ours(url, "bench", "token"), Original(url, "bench", "token")
    print(f"{rows} rows, local[2], intra_batch_size={args.batch}, acks=all, topics of 2 partitions")

    def drop_in(client, **kw):
        def run(topic):
            df = spark.read.parquet(str(data))
            msgs = client.generate_df_with_protobuf_messages(df, intra_batch_size=args.batch)
            client.write_protobuf_df_to_kafka(msgs, args.bootstrap, topic, dict(acks), **kw)
        return run

    def push(**kw):
        def run(topic):
            ours.push(spark.read.parquet(str(data)), args.bootstrap, topic, dict(acks), intra_batch_size=args.batch,
                      **kw)
        return run

    def binary(topic):
        subprocess.run([args.binary, "encode", "--quiet", "--metadata-file", str(args.data_dir / "metadata.json"),
                        "--input", str(data), "--batch-size", str(args.batch), "--kafka-brokers", args.bootstrap,
                        "--topic", topic, "--kafka-option", "kafka.acks=all"], check=True)

    def floor(topic):
        # What any path through Python workers pays before encoding: the Parquet file read and its
        # rows handed to the workers as Arrow batches (counted there), nothing encoded or sent.
        import pyarrow as pa

        def count(batches):
            yield pa.RecordBatch.from_pylist([{"n": sum(b.num_rows for b in batches)}])

        got = spark.read.parquet(str(data)).mapInArrow(count, "n long").collect()
        assert sum(r.n for r in got) == rows

    paths = [
        ("Spark floor: read + rows to Python, no Kafka", floor, args.runs),
        ("original (Spark's Kafka sink)", drop_in(original), args.original_runs),
        ("onfs_push drop-in, default engine", drop_in(ours), args.runs),
        ("onfs_push drop-in, engine=\"spark\"", drop_in(ours, engine="spark"), args.runs),
        ("onfs_push push(...)", push(), args.runs),
        ("onfs_push push(..., spool=False)", push(spool=False), args.runs),
        ("onfs_push push(..., check_first=False)", push(check_first=False), args.runs),
        ("onfs-push encode --kafka-brokers", binary, args.runs),
    ]
    if args.only:
        paths = [p for i, p in enumerate(paths)
                 if i in (1, len(paths) - 1) or any(text in p[0] for text in args.only)]
    medians = {}
    n = 0
    for name, run, runs in paths:
        times = []
        for i in range(runs + 1):
            n += 1
            topic = new_topic(f"bench-{n}")
            start = time.perf_counter()
            run(topic)
            t = time.perf_counter() - start
            if run is not floor:
                landed = rows_on(args.binary, args.bootstrap, topic)
                assert landed == rows, f"{name}: {landed} of {rows} rows on the topic"
            if i == 0:
                print(f"{name}: warm-up {t:.2f}s (not counted)", flush=True)
                continue
            times.append(t)
            print(f"{name}: run {i}: {t:.2f}s = {rows / t:,.0f} rows/s", flush=True)
        medians[name] = statistics.median(times)

    base = medians[paths[1][0]]
    binary_t = medians[paths[-1][0]]
    print(f"{'path':<46} {'median s':>9} {'rows/s':>10} {'vs original':>12} {'vs binary':>10}")
    for name, t in medians.items():
        print(f"{name:<46} {t:>9.2f} {rows / t:>10,.0f} {base / t:>11.1f}x {t / binary_t:>9.2f}x")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
