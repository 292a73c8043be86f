"""Writes testdata/delta/user_scores: a Delta table partitioned by `ts`, for the Delta source tests.

    python3 testdata/tools/make_delta.py testdata/delta/user_scores   (needs: pip install deltalake pyarrow)

Two partitions, ts=1 (older) and ts=2 (newest); user_id user_000..user_029 in each; `score` (float64)
and `tier` (string) differ between them, and some are null so defaults get filled.
"""
import sys

import pyarrow as pa
from deltalake import write_deltalake

out = sys.argv[1]
for ts in (1, 2):
    rows = [{"user_id": f"user_{i:03d}", "ts": ts,
             "score": None if i % 7 == 0 else i * 0.5 + ts * 100,
             "tier": None if i % 5 == 0 else ["gold", "silver", "bronze"][(i + ts) % 3]}
            for i in range(30)]
    table = pa.Table.from_pylist(rows, schema=pa.schema([("user_id", pa.string()), ("ts", pa.int64()),
                                                         ("score", pa.float64()), ("tier", pa.string())]))
    write_deltalake(out, table, partition_by=["ts"], mode="append")
