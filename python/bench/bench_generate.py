"""`generate_df_with_protobuf_messages` on realistic rows in local[2]: onfs_push.spark against the
original package (`spark_feature_push_client`), in one run, on the same DataFrame.

    python bench_generate.py DATA_DIR [--runs 3] [--original-runs 1] [--batch 20]

DATA_DIR holds `features.parquet` and `metadata.json` (see scripts/bench-spark.sh, which writes
the encoder benchmark's row). Each run forces the whole message DataFrame with Spark's `noop`
sink; one warm-up run of each is not counted. Prints each run, the medians, rows/s and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(body: bytes) -> str:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/api/v1/orion/get-source-mapping"


def serve_metadata(data_dir: Path) -> str:
    """Serves DATA_DIR/metadata.json as the metadata service, its sources named as gs:// URLs
    (the original renames URL sources only for gs://; same table part: `features`)."""
    meta = json.loads((data_dir / "metadata.json").read_text())
    for entry in meta["data"]:
        entry["storage-provider"] = "PARQUET_GCS"
        for base in entry["base-path"]:
            base["source-base-path"] = "gs://bucket/features/"
    return serve(json.dumps(meta).encode())


def timed(df) -> float:
    start = time.perf_counter()
    df.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--original-runs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=20)
    args = ap.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from spark_feature_push_client import OnlineFeatureStorePyClient as Original

    from onfs_push.spark import OnlineFeatureStorePyClient as Ours

    url = serve_metadata(args.data_dir)

    spark = (SparkSession.builder.master("local[2]").appName("onfs-push-bench")
             .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.read.parquet(str(args.data_dir / "features.parquet")).repartition(2).cache()
    rows = df.count()
    print(f"{rows} rows in {df.rdd.getNumPartitions()} partitions, local[2], intra_batch_size={args.batch}")

    impls = {"onfs_push": Ours(url, "bench", "token"), "original": Original(url, "bench", "token")}
    results = {}
    for name, runs in (("onfs_push", args.runs), ("original", args.original_runs)):
        client = impls[name]
        msgs = client.generate_df_with_protobuf_messages(df, intra_batch_size=args.batch)
        warm = timed(msgs)
        print(f"{name}: warm-up {warm:.2f}s (not counted)", flush=True)
        times = []
        for i in range(runs):
            t = timed(msgs)
            times.append(t)
            print(f"{name}: run {i + 1}: {t:.2f}s = {rows / t:,.0f} rows/s", flush=True)
        results[name] = statistics.median(times)

    ours, orig = results["onfs_push"], results["original"]
    print(f"median onfs_push: {ours:.2f}s = {rows / ours:,.0f} rows/s")
    print(f"median original:  {orig:.2f}s = {rows / orig:,.0f} rows/s")
    print(f"ratio: {orig / ours:.1f}x")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
