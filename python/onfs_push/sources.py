"""The original's example flow in Spark, with the rules of `onfs-push run`: each source's newest
partition, entity + feature columns, exact duplicates dropped, columns renamed, a full outer join
on the entity key, rows with a null key dropped, nulls filled with the metadata's defaults.
"""

from __future__ import annotations

import logging
from functools import reduce
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote

import pyarrow as pa

from . import Plan
from ._onfs import DefaultFill, newest_partition
from .errors import SourceError, UsageError

log = logging.getLogger("onfs_push")

#: The partition column of each kind of source unless told otherwise (as the original's flow).
DEFAULT_PARTITION_COLUMNS = {"table": "process_date", "parquet": "ts", "delta": "ts"}


__all__ = ["DEFAULT_PARTITION_COLUMNS", "SourceError", "fill_with_defaults", "read_features"]


def _family(kind: str) -> str:
    if kind == "TABLE":
        return "table"
    return "delta" if kind.startswith("DELTA_") else "parquet"


def _newest(values: Sequence[str]) -> Optional[str]:
    """The newest partition value by the command line's own order (numeric when every value is a
    plain number, else text; the same answer whatever the listing order)."""
    return newest_partition(list(values))


def _success_partitions(spark, location: str, column: str) -> Optional[List[str]]:
    """The `<column>=<value>` folders holding `_SUCCESS`, listed through Hadoop's file system;
    None where the session has no JVM to list with (Spark Connect)."""
    jvm = getattr(spark, "_jvm", None)
    jsc = getattr(spark, "_jsc", None)
    if jvm is None or jsc is None:
        return None
    path = jvm.org.apache.hadoop.fs.Path(location)
    fs = path.getFileSystem(jsc.hadoopConfiguration())
    if not fs.exists(path):
        raise SourceError(f"source {location}: the location does not exist")
    out = []
    prefix = column + "="
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if status.isDirectory() and name.startswith(prefix):
            if fs.exists(jvm.org.apache.hadoop.fs.Path(status.getPath(), "_SUCCESS")):
                out.append(unquote(name[len(prefix):]))
    return out


def _read(spark, source: str, kind: str, tables: Mapping[str, Union[str, Tuple[str, str]]]):
    if kind == "TABLE" and source in tables:
        entry = tables[source]
        fmt, location = entry if isinstance(entry, tuple) else ("parquet", entry)
        return (spark.read.format(fmt).load(location) if fmt == "delta" else spark.read.parquet(location)), location
    if kind == "TABLE":
        return spark.table(source), None
    if kind.startswith("DELTA_"):
        return spark.read.format("delta").load(source), source
    return spark.read.parquet(source), source


def read_features(spark, plan_or_client: Any, *, tables: Optional[Mapping[str, Any]] = None,
                  partition_columns: Optional[Mapping[str, str]] = None, partition: Optional[str] = None,
                  fill_defaults: bool = True):
    """Every source of the plan read and joined into one DataFrame of the entity columns and the
    renamed feature columns, ready for `generate_df_with_protobuf_messages` or `push`.

    - `tables`: `{"db.table": location}` (Parquet) or `{"db.table": ("delta", location)}` for
      TABLE sources not in the session's catalog; others are read with `spark.table`.
    - `partition_columns`: `{"table": ..., "parquet": ..., "delta": ...}` over
      `DEFAULT_PARTITION_COLUMNS`.
    - `partition`: None for each source's newest partition (for Parquet locations, the newest
      folder holding `_SUCCESS`), a value to read that partition of every source, or "all".
    """
    plan: Plan = getattr(plan_or_client, "plan", plan_or_client)
    if not isinstance(plan, Plan):
        raise TypeError("read_features needs a Plan or an OnlineFeatureStorePyClient")
    columns = dict(DEFAULT_PARTITION_COLUMNS)
    for key, value in (partition_columns or {}).items():
        if key not in columns:
            raise UsageError(f"partition_columns key {key!r} is not one of table, parquet, delta")
        columns[key] = value
    import json

    import pyspark.sql.functions as F

    entity = plan.entity_columns
    frames = []
    for source, kind, cols in json.loads(plan.to_json())["feature_mapping"]:
        df, location = _read(spark, source, kind, tables or {})
        family = _family(kind)
        column = columns[family]
        if partition != "all":
            if column not in df.columns:
                raise SourceError(
                    f"source {source}: no partition column {column!r} (its columns are: {', '.join(df.columns)}); "
                    f"set partition_columns={{'{family}': COLUMN}}, or partition='all' to read everything")
            if partition is not None:
                value = partition
            else:
                if family == "parquet" and location is not None:
                    available = _success_partitions(spark, location, column)
                    if available is None:
                        log.warning("source %s: cannot list folders on this session; the newest %s is taken "
                                    "without checking for _SUCCESS", source, column)
                else:
                    available = None
                if available is None:
                    available = [str(r[0]) for r in df.select(F.col(column).cast("string")).distinct().collect()
                                 if r[0] is not None]
                value = _newest(available)
                if value is None:
                    raise SourceError(f"source {source}: no complete partition of {column!r}")
                log.info("source %s: reading %s=%s", source, column, value)
            df = df.filter(F.col(column).cast("string") == F.lit(value))
        missing = [c for c in entity + [c for c, _ in cols] if c not in df.columns]
        if missing:
            raise SourceError(f"source {source}: column {missing[0]!r} is missing; its columns are: "
                              f"{', '.join(df.columns)}")
        picked = df.select(*entity, *dict.fromkeys(c for c, _ in cols)).distinct()
        frames.append(picked.select(*entity, *[F.col(c).alias(renamed) for c, renamed in cols]))
    if not frames:
        raise SourceError("the plan has no source to read")
    joined = reduce(lambda a, b: a.join(b, on=entity, how="full_outer"), frames)
    joined = joined.na.drop(subset=entity)
    return fill_with_defaults(joined, plan) if fill_defaults else joined


def fill_with_defaults(df, plan: Plan):
    """Nulls of every feature column replaced by the metadata's default, parsed and cast with
    the rules of `onfs-push run` (in Rust, on the executors).

    The defaults are parsed against the DataFrame's columns on the driver first: a default that
    does not parse as its column's type raises `MetadataError`, a feature column missing from
    `df` `UsageError`, here. (The output is the DataFrame itself, so an error inside an executor
    would reach you as Spark's own exception.)"""
    try:
        from pyspark.sql.pandas.types import to_arrow_schema

        schema = to_arrow_schema(df.schema)
    except Exception:  # a type pyarrow has no name for: the executors check it
        schema = None
    if schema is not None:
        DefaultFill(plan).fill(pa.RecordBatch.from_pylist([], schema=schema))

    def fill(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        filler = DefaultFill(plan)
        for batch in batches:
            yield filler.fill(batch)

    return df.mapInArrow(fill, df.schema)
