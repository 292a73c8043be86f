"""PySpark: a drop-in `OnlineFeatureStorePyClient` with the Rust encoder and producer inside every
executor, and `push`, which encodes and produces in one pass.

Everything runs through `DataFrame.mapInArrow`, so it works on classic sessions and on Spark
Connect alike. A Kafka producer is only ever created inside the Python worker that uses it.

Errors raised in executors: where onfs-push runs the Spark action itself (`push`,
`write_protobuf_df_to_kafka`'s `check_first` pass and its native sending), each executor
function catches an `OnfsError`, stops, and returns its class name and message as columns of its
report row (`error_class`, `error_message`); the driver raises the same class of
`onfs_push.errors` with the executor's message. Where the executor's output is the message
DataFrame itself (`generate_df_with_protobuf_messages`, then an action of yours or Spark's Kafka
sink), there is no report row to carry it: such an error reaches you as Spark's own exception
(`PythonException`, `Py4JJavaError`, `SparkConnectGrpcException` ...) whose text holds the
onfs-push class and message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import pyarrow as pa

from . import (MESSAGE_SCHEMA, Encoder, KafkaSink, Plan, Pusher, PushState, Spooler, check_vector_tallies,
               ledger_hashes, ledger_join_columns, ledger_side, refresh_seconds)
from .errors import DeliveryError, EncodeError, OnfsError, UsageError, error_class
from .errors import KafkaError, MetadataError, PlanError, StoreError  # noqa: F401  (importable from here, as before)
from .sources import read_features  # noqa: F401  (re-exported: the original's example flow)

__all__ = ["OnlineFeatureStorePyClient", "push", "read_features", "DeliveryError"]

_ENGINES = ("auto", "spark", "native")

_log = logging.getLogger("onfs_push")

_REPORT_FIELDS = [
    ("messages", pa.int64()),
    ("rows", pa.int64()),
    ("bytes", pa.int64()),
    ("delivered", pa.int64()),
    ("delivered_rows", pa.int64()),
    ("failed", pa.int64()),
    ("failed_rows", pa.int64()),
    ("unsent", pa.int64()),
    ("unsent_rows", pa.int64()),
    ("encoded_rows", pa.int64()),
    ("dropped_null_key_rows", pa.int64()),
    # Partitions sent from the spool their check pass wrote (the others were encoded again).
    ("partitions_from_spool", pa.int64()),
    ("first_error", pa.string()),
    ("vector_tallies", pa.string()),
    # A check pass that spooled: the partition, the executor's host and its spool file.
    ("partition", pa.int64()),
    ("host", pa.string()),
    ("spool", pa.string()),
    # Changed-only: per group, entities new, changed, unchanged, refreshed (JSON), and the file
    # of what the partition sent, for the driver's commit.
    ("changes", pa.string()),
    ("sends", pa.string()),
    # An `OnfsError` the executor stopped at: its class name and message.
    ("error_class", pa.string()),
    ("error_message", pa.string()),
]
_REPORT_SCHEMA = pa.schema(_REPORT_FIELDS)


def _spark_schema(schema: pa.Schema):
    """A pyarrow schema as Spark's StructType, field by field (names, types, nullability)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _message_struct():
    """The message DataFrame's schema: the extension's `message_schema()` in Spark's terms."""
    return _spark_schema(MESSAGE_SCHEMA)


# --- errors from executors ------------------------------------------------------------------


def _error_batch(e: OnfsError) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([{"error_class": type(e).__name__, "error_message": str(e)}],
                                      schema=_REPORT_SCHEMA)


def _reporting(body: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]):
    """An executor function of report rows that, at an `OnfsError`, stops and yields it as a
    report row instead of failing the task (Spark would retry it, then wrap it in its own
    exception)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        try:
            yield from body(batches)
        except OnfsError as e:
            yield _error_batch(e)

    return run


def _collect_reports(df, fn) -> List[Any]:
    """Runs a `_reporting` executor function over `df` and collects its report rows; an error an
    executor reported is raised here as its class of `onfs_push.errors`, with its message."""
    rows = _collect_report_rows(df, fn)
    _raise_reported(rows)
    return rows


def _collect_report_rows(df, fn) -> List[Any]:
    return df.mapInArrow(fn, _spark_schema(_REPORT_SCHEMA)).collect()


def _raise_reported(rows) -> None:
    for r in rows:
        if r["error_class"] is not None:
            raise error_class(r["error_class"])(r["error_message"])


def _is_missing_kafka_source(e: Exception) -> bool:
    condition = getattr(e, "getCondition", None) or getattr(e, "getErrorClass", None)
    try:
        name = condition() if condition else None
    except Exception:
        name = None
    return name == "DATA_SOURCE_NOT_FOUND" or re.search(r"Failed to find (the )?data source: kafka\b", str(e)) is not None


# --- executor functions -----------------------------------------------------------------------


def _store_kw(vector_lengths: Optional[Mapping[str, int]], vector_fit: str, strict_store: bool) -> Dict[str, Any]:
    """The store-rule keywords of every encoder (see `onfs_push.encode`)."""
    return {"vector_lengths": dict(vector_lengths or {}), "vector_fit": vector_fit, "strict_store": strict_store}


def _encode_partitions(plan: Plan, intra_batch_size: int, allow_out_of_range: bool, max_message_bytes,
                       store: Dict[str, Any]):
    def encode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # Messages leave as they are made (Spark's sink may send them at once): a vector of
        # another length than the partition's first fails before its message is yielded.
        encoder = Encoder(plan, intra_batch_size, allow_out_of_range, max_message_bytes, streaming=True, **store)
        for batch in batches:
            out = encoder.encode(batch)
            if out.num_rows:
                yield out
        tail = encoder.finish()
        if tail.num_rows:
            yield tail

    return encode


def _report_batch(report: Mapping[str, Any]) -> pa.RecordBatch:
    encode = report.get("encode") or {}
    row = dict(report)
    row["encoded_rows"] = encode.get("rows", 0)
    row["dropped_null_key_rows"] = encode.get("dropped_null_key_rows", 0)
    if encode.get("changes") is not None:
        row["changes"] = json.dumps(encode["changes"])
    if encode.get("sends") is not None:
        row["sends"] = encode["sends"]
    return pa.RecordBatch.from_pylist([{k: row.get(k) for k, _ in _REPORT_FIELDS}], schema=_REPORT_SCHEMA)


def _send_partitions(bootstrap: str, topic: str, options: Dict[str, str], connect_timeout: float):
    @_reporting
    def send(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sink = KafkaSink(bootstrap, topic, options, connect_timeout)
        for batch in batches:
            sink.send(batch)
        yield _report_batch(sink.finish())

    return send


def _task_changes(changed: Optional[Dict[str, Any]], step: str, record: bool = True) -> Optional[Dict[str, Any]]:
    """Changed-only: the run's settings with this task's file name for what it sends (none
    unless `record`: a pass whose sends another pass records)."""
    if changed is None:
        return None
    if not record:
        return dict(changed, name=None)
    from pyspark import TaskContext

    ctx = TaskContext.get()
    # taskAttemptId is unique in the application (attemptNumber starts again when a stage is
    # retried): a retried task never overwrites the file its earlier attempt reported.
    return dict(changed, name=f"{step}-{ctx.partitionId():05d}-{ctx.taskAttemptId()}.parquet")


def _push_partitions(plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                     max_message_bytes, connect_timeout, round_index, rounds, store,
                     only: Optional[frozenset] = None, changed: Optional[Dict[str, Any]] = None):
    """Encodes and sends each partition (with `only`, each of those; the others' rows are not
    read). `changed`: changed-only, each row joined with the ledger."""

    @_reporting
    def push(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        if only is not None:
            from pyspark import TaskContext

            if TaskContext.get().partitionId() not in only:
                return
        batches = iter(batches)
        first = next(batches, None)
        if first is None:  # an empty partition: no producer to connect
            yield _report_batch({})
            return
        pusher = Pusher(plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                        max_message_bytes, connect_timeout, None, round_index, rounds, **store,
                        changed_only=_task_changes(changed, f"push{round_index}", record=round_index == 0))
        pusher.push(first)
        for batch in batches:
            pusher.push(batch)
        yield _report_batch(pusher.finish())

    return push


def _count_partitions(plan, intra_batch_size, allow_out_of_range, max_message_bytes, store, streaming=False,
                      changed: Optional[Dict[str, Any]] = None):
    """Encodes and counts, sending nothing: the check run before anything is produced. Each
    partition's vector lengths come back to the driver (`push` checks them across partitions).
    `streaming`: the encoder of `_encode_partitions`, which fails at a vector of another length
    than the partition's first."""

    @_reporting
    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        encoder = Encoder(plan, intra_batch_size, allow_out_of_range, max_message_bytes, streaming=streaming,
                          **store, changed_only=_task_changes(changed, "count", record=False))
        for batch in batches:
            encoder.encode(batch)
        encoder.finish()
        stats = dict(encoder.stats, changes=encoder.changes)
        yield _report_batch({"messages": stats["messages"], "rows": stats["rows"], "bytes": stats["bytes"],
                             "encode": stats, "vector_tallies": encoder.vector_tallies})

    return count


def _send_spools(bootstrap, topic, options, connect_timeout, round_index, rounds, spooled: "_Spooled"):
    """The sending pass after a spooling check: task p of a one-row-per-task DataFrame (not the
    source: its rows are not read again) sends partition p's spool when it is on this host, and
    removes it after the last round. A spool elsewhere is reported missing (`partition`, no
    `partitions_from_spool`), for the driver to encode that partition again."""

    @_reporting
    def send(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        for _ in batches:  # its one row, read so that Spark reuses the worker
            pass
        partition = TaskContext.get().partitionId()
        here = _spool_here(spooled, partition)
        if here is None:
            yield _report_batch({"partition": partition})
            return
        path, encode = here
        if not encode["rows"] and not encode["messages"]:  # nothing spooled: no producer to connect
            if round_index == rounds - 1:
                _remove_quietly(path)
            yield _report_batch({"encode": encode, "partitions_from_spool": 1, "partition": partition})
            return
        sink = KafkaSink(bootstrap, topic, options, connect_timeout)
        sink.send_spool(path, round_index, rounds)
        report = sink.finish()
        report.update(encode=encode, partitions_from_spool=1, partition=partition)
        if round_index == rounds - 1 and not (report["failed"] or report["unsent"]):
            _remove_quietly(path)
        yield _report_batch(report)

    return send


def _spool_partitions(plan, options, intra_batch_size, allow_out_of_range, max_message_bytes, store,
                      streaming, run, spool, changed: Optional[Dict[str, Any]] = None):
    """The check pass that encodes once: each partition's messages are encoded, counted and
    spooled to a file local to its executor, as `Pusher` would make them; nothing is sent. The
    report row names the partition, the host and the file, for `_push_partitions`."""

    @_reporting
    def check(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        partition = ctx.partitionId()
        root = _spool_root(spool)
        _sweep_stale_spools(root, run)
        path = os.path.join(root, run, f"part-{partition:05d}-{ctx.taskAttemptId()}.onfsmsg")
        spooler = Spooler(plan, path, options, intra_batch_size, allow_out_of_range, max_message_bytes,
                          streaming=streaming, **store, changed_only=_task_changes(changed, "spool"))
        for batch in batches:
            spooler.encode(batch)
        stats = spooler.finish()
        yield _report_batch({"messages": stats["messages"], "rows": stats["rows"], "bytes": stats["bytes"],
                             "encode": stats, "vector_tallies": spooler.vector_tallies,
                             "partition": partition, "host": socket.gethostname(), "spool": path})

    return check


# --- executor spools ----------------------------------------------------------------------------

#: Per partition, where its check pass spooled it: (host, file, the encoder's counts).
_Spooled = Dict[int, Tuple[str, str, Dict[str, int]]]

#: A run folder in a spool root older than this was left by a run that could not clean up (a
#: driver killed, a failure on another host); the next check pass on that executor removes it.
_STALE_SPOOL_SECONDS = 24 * 3600

_RUN_PREFIX = "onfs-push-run-"


def _spool_root(spool: Union[bool, str]) -> str:
    """Where an executor spools: the folder `spool` names, else the first of Spark's local folders
    for that executor (`SPARK_LOCAL_DIRS`, YARN's `LOCAL_DIRS`), else the temporary folder."""
    if isinstance(spool, str):
        return spool
    for var in ("SPARK_LOCAL_DIRS", "LOCAL_DIRS"):
        first = os.environ.get(var, "").split(",")[0].strip()
        if first:
            return os.path.join(first, "onfs-push-spool")
    return os.path.join(tempfile.gettempdir(), "onfs-push-spool")


def _sweep_stale_spools(root: str, run: str) -> None:
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    now = time.time()
    for e in entries:
        try:
            stale = now - e.stat(follow_symlinks=False).st_mtime > _STALE_SPOOL_SECONDS
        except OSError:
            continue
        if e.name.startswith(_RUN_PREFIX) and e.name != run and e.is_dir(follow_symlinks=False) and stale:
            shutil.rmtree(e.path, ignore_errors=True)


def _spool_here(spooled: _Spooled, partition: int):
    """The partition's spool, when the check pass wrote it on this host and it is there: (file,
    the encoder's counts); else None (the partition is encoded again)."""
    entry = spooled.get(partition)
    if entry is None:
        return None
    host, path, encode = entry
    if host != socket.gethostname() or not os.path.isfile(path):
        return None
    return path, encode


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
    try:
        os.rmdir(os.path.dirname(path))  # the run's folder, once its last spool is gone
    except OSError:
        pass


def _spooled_from(rows) -> _Spooled:
    return {r["partition"]: (r["host"], r["spool"], {"rows": r["encoded_rows"],
                                                     "dropped_null_key_rows": r["dropped_null_key_rows"],
                                                     "messages": r["messages"]})
            for r in rows if r["spool"] is not None}


def _remove_spools_here(spooled: Optional[_Spooled]) -> None:
    """The driver's share of the clean-up: the run's spool folder on its own host (local mode),
    with what a failed run, a retried or a speculative task attempt left there. Spools on other
    hosts go with the next run's sweep there."""
    host = socket.gethostname()
    for folder in {os.path.dirname(path) for h, path, _ in (spooled or {}).values() if h == host}:
        shutil.rmtree(folder, ignore_errors=True)


def _check_and_push(source, plan: Plan, bootstrap: str, topic: str, options: Dict[str, str], intra_batch_size: int,
                    allow_out_of_range: bool, max_message_bytes, connect_timeout: float, rounds: int,
                    store: Dict[str, Any], check_first: bool, spool: Union[bool, str],
                    streaming_check: bool, changed: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Encodes `source` and produces its messages in `rounds`, with the check pass first when
    `check_first`: bad data fails before anything is sent. With `spool`, the check pass spools
    each partition's messages on its executor and the sending pass sends those files (a
    partition whose spool is not on the host that sends it is encoded again). `streaming_check`:
    the check fails at a vector of another length than its partition's first (the message
    DataFrame's rule); else lengths are compared across partitions. `changed`: changed-only
    (`source` is joined with the ledger); the total then holds `sends` (the files of what was
    sent) and `changes` (per group counts, from the first pass over every partition)."""
    spooled: Optional[_Spooled] = None
    sends: List[str] = []
    # Changed-only with spools: per partition, what its check pass spooled (sent unless the
    # partition is encoded again by the sending pass, whose file then counts instead).
    spool_sends: Dict[int, str] = {}
    changes = None
    try:
        started = time.perf_counter()
        if check_first:
            if spool is False:
                count = _count_partitions(plan, intra_batch_size, allow_out_of_range, max_message_bytes, store,
                                          streaming=streaming_check, changed=changed)
                rows = _collect_report_rows(source, count)
            else:
                run = f"{_RUN_PREFIX}{uuid.uuid4().hex}"
                check = _spool_partitions(plan, options, intra_batch_size, allow_out_of_range, max_message_bytes,
                                          store, streaming_check, run, spool, changed)
                rows = _collect_report_rows(source, check)
                spooled = _spooled_from(rows)
            _raise_reported(rows)
            changes = _sum_changes(rows)
            if spooled:
                spool_sends = {r["partition"]: r["sends"] for r in rows if r["sends"] is not None}
            if not streaming_check:
                check_vector_tallies([r["vector_tallies"] for r in rows if r["vector_tallies"]])
            _log.info("check pass: %d partitions, %d messages encoded%s in %.2fs", len(rows),
                      sum(r["messages"] or 0 for r in rows), "" if spooled is None else " and spooled",
                      time.perf_counter() - started)
            started = time.perf_counter()
        total = None
        for i in range(rounds):
            rows = []
            only = None
            if spooled:
                tasks = source.sparkSession.range(0, max(spooled) + 1, 1, max(spooled) + 1)
                rows = _collect_reports(tasks, _send_spools(bootstrap, topic, options, connect_timeout, i, rounds,
                                                            spooled))
                only = frozenset(r["partition"] for r in rows if not r["partitions_from_spool"])
                if i == 0:
                    sends += [f for p, f in spool_sends.items() if p not in only]
            if only is None or only:
                fn = _push_partitions(plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                                      max_message_bytes, connect_timeout, i, rounds, store, only, changed)
                pushed = _collect_reports(source, fn)
                rows += pushed
                if i == 0:
                    sends += [r["sends"] for r in pushed if r["sends"] is not None]
                    if changes is None:
                        changes = _sum_changes(pushed)
            report = _sum_reports(rows)
            total = report if total is None else _add(total, report)
            if report["failed"] or report["unsent"]:
                raise DeliveryError(total)
        _log.info("sent %d messages in %.2fs (%d of the partitions from their spool)", total["delivered"],
                  time.perf_counter() - started, total["partitions_from_spool"])
        if changed is not None:
            total["sends"] = sorted(set(sends))
            total["changes"] = changes
        return total
    finally:
        _remove_spools_here(spooled)


def _sum_changes(rows) -> Optional[Dict[str, Any]]:
    """Changed-only: the report rows' per group counts summed (with `unchanged_rows`); None
    when no row has any."""
    total: Optional[Dict[str, Any]] = None
    for r in rows:
        if r["changes"] is None:
            continue
        total = total if total is not None else {}
        for group, counts in json.loads(r["changes"]).items():
            if isinstance(counts, dict):
                into = total.setdefault(group, {})
                for k, n in counts.items():
                    into[k] = into.get(k, 0) + n
            else:
                total[group] = total.get(group, 0) + counts
    return total


def _sum_reports(rows) -> Dict[str, Any]:
    total: Dict[str, Any] = {name: 0 for name, t in _REPORT_FIELDS if t != pa.string() and name != "partition"}
    total["first_error"] = None
    for r in rows:
        d = r.asDict()
        for name in total:
            if name == "first_error":
                total[name] = total[name] or d.get(name)
            else:
                total[name] += d.get(name) or 0
    return total


# --- options ----------------------------------------------------------------------------------


def _producer_options(kafka_bootstrap_servers: str, kafka_topic: str, additional_options: Optional[Mapping[str, Any]]):
    """The original merges `additional_options` over `kafka.bootstrap.servers` and `topic`; the
    same here, with the two taken out for the native producer."""
    merged = {"kafka.bootstrap.servers": kafka_bootstrap_servers, "topic": kafka_topic}
    merged.update({str(k): str(v) for k, v in (additional_options or {}).items()})
    bootstrap = merged.pop("kafka.bootstrap.servers")
    topic = merged.pop("topic")
    return bootstrap, topic, merged


#: The attribute of a message DataFrame made by `generate_df_with_protobuf_messages` holding what
#: it encodes and how, for `write_protobuf_df_to_kafka`'s check pass.
_ENCODING = "_onfs_encoding"


def _check_encoding(df) -> bool:
    """The `check_first` pass of a message DataFrame made by `generate_df_with_protobuf_messages`:
    its rows encoded as it encodes them, nothing sent, report rows back (an error as its own
    class). False, doing nothing, for any other DataFrame (one transformed since, or not made
    here): there is no report row to carry its errors."""
    encoding = getattr(df, "__dict__", {}).get(_ENCODING)
    if encoding is None:
        return False
    source, args = encoding
    _collect_reports(source, _count_partitions(*args, streaming=True))
    return True


def _choose_engine(kafka_bootstrap_servers: str, kafka_topic: str, additional_options,
                   connect_timeout: float):
    """`write_protobuf_df_to_kafka`'s `engine="auto"`: the native producer (every message
    acknowledged and counted) when every option translates to it and the brokers answer; Spark's
    sink for an option only it takes. Logs the choice. Returns the engine and, for Spark's sink,
    the native producer's objection."""
    bootstrap, topic, options = _producer_options(kafka_bootstrap_servers, kafka_topic, additional_options)
    try:
        KafkaSink(bootstrap, topic, options, connect_timeout).finish()
    except UsageError as e:
        option = getattr(e, "option", None)
        if option is None:
            raise
        _log.info("write_protobuf_df_to_kafka: engine spark (Spark's Kafka sink): the native producer "
                  "does not take %s: %s", option, e)
        return "spark", str(e)
    _log.info("write_protobuf_df_to_kafka: engine native (each executor's producer, every message "
              "acknowledged and counted): every option translates; engine=\"spark\" chooses Spark's sink")
    return "native", None


def _check_spool_arg(spool) -> None:
    if not (isinstance(spool, bool) or (isinstance(spool, str) and spool)):
        raise UsageError(f"spool must be True, False or a folder that exists or can be made on every executor, "
                         f"not {spool!r}")


def _check_columns(df, plan: Plan):
    missing = [c for c in plan.input_columns() if c not in df.columns]
    if missing:
        raise EncodeError(
            f"column {missing[0]!r} is missing from the DataFrame; its columns are: {', '.join(df.columns)}"
            + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else "")
        )


# --- the client -------------------------------------------------------------------------------


class OnlineFeatureStorePyClient:
    """The original client's class, methods and return values; encoding and producing in Rust.

    `OnlineFeatureStorePyClient(features_metadata_source_url, job_id, job_token, fgs_to_consider=[])`
    asks the metadata service once (the token never appears in an error or a repr).
    """

    def __init__(self, features_metadata_source_url: str, job_id: str, job_token: str,
                 fgs_to_consider: list = [], *, connect_timeout: float = 10.0, timeout: float = 60.0):
        self.features_metadata_source_url = features_metadata_source_url
        self.job_id = job_id
        self.__job_token = job_token
        self.fgs_to_consider = list(fgs_to_consider or [])
        self.plan = Plan.fetch(features_metadata_source_url, job_id, job_token, self.fgs_to_consider,
                               connect_timeout, timeout)
        self._set_details()

    @classmethod
    def from_plan(cls, plan: Plan) -> "OnlineFeatureStorePyClient":
        """A client over a plan already made (e.g. `Plan.from_metadata_json`), without asking the
        metadata service."""
        self = cls.__new__(cls)
        self.features_metadata_source_url = None
        self.job_id = None
        self.__job_token = None
        self.fgs_to_consider = plan.fgs_to_consider
        self.plan = plan
        self._set_details()
        return self

    @property
    def job_token(self) -> str:
        return self.__job_token

    def _set_details(self):
        import json

        view = json.loads(self.plan.to_json())
        metadata = json.loads(self.plan.metadata_json())
        self.offline_src_type_columns = [
            [source, kind, [tuple(pair) for pair in columns]] for source, kind, columns in view["feature_mapping"]
        ]
        self.offline_col_to_default_values_map = dict(view["defaults"])
        self.offline_col_to_datatype_map = dict(view["datatypes"])
        self.onfs_fg_to_onfs_feat_map = {g["label"]: list(g["features"]) for g in view["feature_groups"]}
        self.onfs_fg_to_ofs_feat_map = {g["label"]: list(g["columns"]) for g in view["feature_groups"]}
        # As the original: every group's first data type, including groups filtered out.
        self.fg_to_datatype_map = {}
        for entry in metadata["data"]:
            for base in entry["base-path"]:
                for path in base["data-paths"]:
                    self.fg_to_datatype_map.setdefault(path["feature-group-label"], path["data-type"])
        self.entity_label = view["entity_label"]
        self.entity_column_names = list(view["entity_columns"])

    def __repr__(self):
        return (f"OnlineFeatureStorePyClient(features_metadata_source_url={self.features_metadata_source_url!r}, "
                f"job_id={self.job_id!r}, fgs_to_consider={self.fgs_to_consider!r})")

    def __getstate__(self):
        raise TypeError("OnlineFeatureStorePyClient is not shipped to executors; its plan is")

    # -- the original's methods --

    def get_offline_col_to_datatype_map(self):
        return self.offline_col_to_datatype_map

    def get_features_details(self):
        return (self.offline_src_type_columns, self.offline_col_to_default_values_map, self.entity_column_names)

    def generate_df_with_protobuf_messages(self, df, intra_batch_size: int = 20, *,
                                           allow_out_of_range: bool = False,
                                           max_message_bytes: Optional[int] = None,
                                           vector_lengths: Optional[Mapping[str, int]] = None,
                                           vector_fit: str = "check", strict_store: bool = False):
        """A DataFrame `value binary not null, intra_batch_id long not null`: each Spark partition's
        rows, in order, `intra_batch_size` to a message, ids counting 0, 1, 2 ... per partition.
        Lazy, like the original. Encoding errors (a null feature, a value outside its type:
        `EncodeError`) and rows the online store would drop (a vector feature of more than one
        length in a partition, or of another length than declared in `vector_lengths`:
        `StoreError`) are found in the executors; `write_protobuf_df_to_kafka` (with
        `check_first`, on either engine) raises them as these classes before anything is sent.
        Any other action on this DataFrame (`collect`, your own sink) gets them as Spark's own
        exception, whose text holds the class and message. Lengths that differ between
        partitions are only seen by `push` (or when declared): declare them for a check that
        holds everywhere. Bad arguments raise `UsageError`, a missing column `EncodeError`, on
        the driver."""
        if intra_batch_size < 1:
            raise UsageError(f"intra_batch_size must be at least 1, not {intra_batch_size}")
        _check_columns(df, self.plan)
        store = _store_kw(vector_lengths, vector_fit, strict_store)
        # The store rules against the plan, on the driver, before any executor runs.
        Encoder(self.plan, intra_batch_size, allow_out_of_range, max_message_bytes, **store)
        fn = _encode_partitions(self.plan, intra_batch_size, allow_out_of_range, max_message_bytes, store)
        source = df.select(*self.plan.input_columns())
        messages = source.mapInArrow(fn, _message_struct())
        setattr(messages, _ENCODING,
                (source, (self.plan, intra_batch_size, allow_out_of_range, max_message_bytes, store)))
        return messages

    def write_protobuf_df_to_kafka(self, df, kafka_bootstrap_servers: str, kafka_topic: str,
                                   additional_options: dict = {}, kafka_num_batches: int = 1, *,
                                   engine: str = "auto", check_first: bool = True,
                                   spool: Union[bool, str] = True, connect_timeout: float = 30.0):
        """Writes a message DataFrame to Kafka, in `kafka_num_batches` rounds (round i: the
        messages whose `intra_batch_id % kafka_num_batches == i`).

        `engine="spark"`: Spark's Kafka sink, as the original (needs the connector on the
        classpath; returns None). `engine="native"`: the Rust producer in each executor: every
        message acknowledged and counted; returns the counts and raises `DeliveryError` if any
        message was not delivered. `"auto"` (default): native whenever every option translates
        to it, else Spark's sink (an option only Spark's Kafka producer takes, such as
        `kafka.partitioner.class`); the log (logger `onfs_push`) says which engine runs and why.
        Natively, a DataFrame straight from `generate_df_with_protobuf_messages` is encoded and
        sent from its source (the same messages, not carried through Spark's rows). With
        `check_first`, such a DataFrame is encoded before anything is sent (on either engine),
        so bad data fails before anything is produced, as `EncodeError` / `StoreError` with the
        executor's message; natively, that pass spools the messages on each executor and they
        are sent from there (`spool`, as in `push`). Any other message DataFrame is computed
        once first (native engine only), its errors then Spark's own exception. Errors while sending natively come back as their
        class (`KafkaError` ...); Spark's sink raises its own.
        """
        if engine not in _ENGINES:
            raise UsageError(f"engine must be one of {', '.join(_ENGINES)}, not {engine!r}")
        if kafka_num_batches < 1:
            raise UsageError(f"kafka_num_batches must be at least 1, not {kafka_num_batches}")
        _check_spool_arg(spool)
        spark_only = None
        if engine == "auto":
            engine, spark_only = _choose_engine(kafka_bootstrap_servers, kafka_topic, additional_options,
                                                connect_timeout)
        if engine == "spark":
            if check_first:
                _check_encoding(df)
            try:
                return self._write_with_spark(df, kafka_bootstrap_servers, kafka_topic, additional_options,
                                              kafka_num_batches)
            except Exception as e:
                if spark_only is not None and _is_missing_kafka_source(e):
                    raise UsageError(f"{spark_only}; only Spark's Kafka sink takes it, and its connector "
                                     "(spark-sql-kafka) is not on the classpath: add it, or leave the option "
                                     "out for the native producer") from e
                raise
        return self._write_native(df, kafka_bootstrap_servers, kafka_topic, additional_options,
                                  kafka_num_batches, check_first, spool, connect_timeout)

    def _write_with_spark(self, df, kafka_bootstrap_servers, kafka_topic, additional_options, kafka_num_batches):
        import pyspark.sql.functions as F

        kafka_config = {"kafka.bootstrap.servers": kafka_bootstrap_servers, "topic": kafka_topic}
        kafka_config.update(additional_options or {})
        if kafka_num_batches == 1:
            df.drop("intra_batch_id").write.format("kafka").options(**kafka_config).save()
            return None
        df = df.withColumn("batch_no", F.col("intra_batch_id") % kafka_num_batches).drop("intra_batch_id")
        for i in range(kafka_num_batches):
            batch = df.filter(F.col("batch_no") == i).drop("batch_no")
            batch.write.format("kafka").options(**kafka_config).save()
        return None

    def _write_native(self, df, kafka_bootstrap_servers, kafka_topic, additional_options, kafka_num_batches,
                      check_first, spool, connect_timeout):
        import pyspark.sql.functions as F

        bootstrap, topic, options = _producer_options(kafka_bootstrap_servers, kafka_topic, additional_options)
        # Options and brokers are checked here, before any executor runs.
        KafkaSink(bootstrap, topic, options, connect_timeout).finish()
        # A DataFrame straight from `generate_df_with_protobuf_messages`: its source is encoded
        # and sent (the same messages, not carried through Spark's rows), the check pass's
        # encoding spooled and sent as it is.
        encoding = getattr(df, "__dict__", {}).get(_ENCODING)
        if encoding is not None:
            source, (plan, intra_batch_size, allow_out_of_range, max_message_bytes, store) = encoding
            return _check_and_push(source, plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                                   max_message_bytes, connect_timeout, kafka_num_batches, store, check_first,
                                   spool, streaming_check=True)
        if check_first:
            df.select("value").count()
        total = None
        for i in range(kafka_num_batches):
            part = df if kafka_num_batches == 1 else df.filter(F.col("intra_batch_id") % kafka_num_batches == i)
            send = _send_partitions(bootstrap, topic, options, connect_timeout)
            report = _sum_reports(_collect_reports(part, send))
            total = report if total is None else _add(total, report)
            if report["failed"] or report["unsent"]:
                raise DeliveryError(total)
        return total

    def push(self, df, kafka_bootstrap_servers: str, kafka_topic: str, additional_options: dict = {},
             intra_batch_size: int = 20, kafka_num_batches: int = 1, *, allow_out_of_range: bool = False,
             max_message_bytes: Optional[int] = None, check_first: bool = True,
             spool: Union[bool, str] = True, connect_timeout: float = 30.0, vector_lengths: Optional[Mapping[str, int]] = None,
             vector_fit: str = "check", strict_store: bool = False, state: Optional[str] = None,
             job: Optional[str] = None, changed_only: bool = False, refresh_after: Union[str, int, None] = "7d",
             storage_options: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
        """Encodes and produces on the executors: the message DataFrame is never made. Returns
        the counts; raises `DeliveryError` if any message was not delivered, `EncodeError` /
        `StoreError` for bad data (found before anything is sent, with `check_first`),
        `KafkaError` when Kafka fails, `UsageError` for bad arguments: each as itself, with the
        executor's message when an executor raised it.

        `check_first` (default) encodes every partition before anything is sent. With `spool`
        (default True) that pass writes each partition's messages to a file on its executor
        (in Spark's local folder, `SPARK_LOCAL_DIRS`, else the temporary folder; a folder name
        puts them there) and the sending pass sends the files: each row is encoded once, at
        the cost of disk as large as the messages. The sending pass is one small task per
        partition, not a read of the source; a partition whose file is not on the host where
        its task runs (on a cluster, another executor may take it) is then encoded again from
        its rows, in a pass over those partitions only.
        `spool=False` encodes twice and writes nothing. Without `check_first`, one pass that
        encodes and sends.

        `changed_only=True` with `state=LOCATION` (a folder or object store URL: the push ledger
        the command line keeps with `--state`, the same layout, so a job moves between the two
        without a full push): each row sends only the feature groups whose values differ from
        what the last changed-only run of `job` (default: this client's job id; the command
        line's job name) sent, or that were last sent `refresh_after` ago or more (`7d`, `12h`,
        `30m`, seconds, `never`); rows with the same changed groups share messages. The diff is
        a Spark join on the key hash with the ledger's file, which the executors read
        themselves, a row group per task, through `storage_options` (this session's file
        systems need no access to the location). The job's lock is taken first (`StateError` naming the run that
        holds it); the ledger is committed by the driver only after every message was
        delivered, and left as it was otherwise. The report adds `changed_only` (per group:
        `new`, `changed`, `unchanged`, `refreshed`) and `unchanged_rows`. `storage_options`:
        object_store keys for the ledger's location (as the command line's `--storage-option`).
        """
        return push(df, self.plan, kafka_bootstrap_servers, kafka_topic, additional_options,
                    intra_batch_size, kafka_num_batches, allow_out_of_range=allow_out_of_range,
                    max_message_bytes=max_message_bytes, check_first=check_first, spool=spool,
                    connect_timeout=connect_timeout, vector_lengths=vector_lengths,
                    vector_fit=vector_fit, strict_store=strict_store, state=state,
                    job=job if job is not None else self.job_id, changed_only=changed_only,
                    refresh_after=refresh_after, storage_options=storage_options)


    def verify(self, messages, store: str, caller_id: str, **options) -> Dict[str, Any]:
        """Reads a sample of what was pushed back through the online store's retrieval API and
        compares it with what was sent (on the driver). `messages`: the message DataFrame of
        `generate_df_with_protobuf_messages` (its `value` column is streamed to the driver), or
        anything `onfs_push.verify` takes. Options as `onfs_push.verify` (`caller_token`, else
        `ONFS_CALLER_TOKEN`; `sample`, `wait`, `tls`, `ca_file` ...). Returns the report; raises
        `VerifyError` when anything differs or is lost."""
        from . import verify

        if hasattr(messages, "toLocalIterator") and hasattr(messages, "select"):
            messages = (bytes(r[0]) for r in messages.select("value").toLocalIterator())
        return verify(messages, self.plan, store, caller_id, **options)


def _add(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """Two rounds' counts; every round encodes (or sends from its spool) every row, so the encoder's
    counts are one round's."""
    out = dict(a)
    for k, v in b.items():
        if k == "first_error":
            out[k] = out.get(k) or v
        elif k not in ("encoded_rows", "dropped_null_key_rows", "partitions_from_spool"):
            out[k] = out.get(k, 0) + v
    return out


def push(df, plan: Plan, kafka_bootstrap_servers: str, kafka_topic: str, additional_options: Optional[dict] = None,
         intra_batch_size: int = 20, kafka_num_batches: int = 1, *, allow_out_of_range: bool = False,
         max_message_bytes: Optional[int] = None, check_first: bool = True, spool: Union[bool, str] = True,
         connect_timeout: float = 30.0, vector_lengths: Optional[Mapping[str, int]] = None,
         vector_fit: str = "check", strict_store: bool = False, state: Optional[str] = None,
         job: Optional[str] = None, changed_only: bool = False, refresh_after: Union[str, int, None] = "7d",
         storage_options: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Encodes `df` (entity columns + renamed feature columns) with `plan` and produces the
    messages on the executors. See `OnlineFeatureStorePyClient.push` (`check_first`, `spool`,
    `state`, `changed_only`). With `check_first`, every vector feature's rows must share one
    length across all partitions (`StoreError` before anything is sent); without it, within each
    executor."""
    if intra_batch_size < 1:
        raise UsageError(f"intra_batch_size must be at least 1, not {intra_batch_size}")
    if kafka_num_batches < 1:
        raise UsageError(f"kafka_num_batches must be at least 1, not {kafka_num_batches}")
    _check_spool_arg(spool)
    _check_columns(df, plan)
    store = _store_kw(vector_lengths, vector_fit, strict_store)
    Encoder(plan, intra_batch_size, allow_out_of_range, max_message_bytes, **store)
    bootstrap, topic, options = _producer_options(kafka_bootstrap_servers, kafka_topic, additional_options)
    refresh = _check_state_args(state, job, changed_only, refresh_after)
    KafkaSink(bootstrap, topic, options, connect_timeout).finish()
    df = df.select(*plan.input_columns())
    if state is None:
        return _check_and_push(df, plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                               max_message_bytes, connect_timeout, kafka_num_batches, store, check_first, spool,
                               streaming_check=False)
    _check_state_reachable(df.sparkSession, state)
    ledger = PushState.open(state, job, plan, dict(storage_options or {}))
    committed = False
    try:
        changed = {"now": int(time.time()), "refresh_after": refresh, "location": ledger.location,
                   "storage_options": dict(storage_options or {}), "job_dir": ledger.job_dir,
                   "run": ledger.run_id}
        joined = _join_with_ledger(df, plan, ledger.ledger_file, ledger.location, dict(storage_options or {}))
        total = _check_and_push(joined, plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                                max_message_bytes, connect_timeout, kafka_num_batches, store, check_first, spool,
                                streaming_check=False, changed=changed)
        groups = {g: c for g, c in (total.get("changes") or {}).items() if isinstance(c, dict)}
        ledger.commit(total.pop("sends"), groups, total["delivered_rows"], total["delivered"], total["bytes"],
                      f"Kafka topic {topic}")
        committed = True
    finally:
        if not committed:
            try:
                ledger.release()
            except Exception as e:  # the run's own error matters more; the lock names this run
                _log.warning("could not release the push ledger's lock of job %r: %s", job, e)
    changes = total.pop("changes") or {}
    total["unchanged_rows"] = changes.pop("unchanged_rows", 0)
    total["changed_only"] = changes
    _log.info("changed-only: %s", ", ".join(
        f"{g}: {c['new']} new, {c['changed']} changed, {c['unchanged']} unchanged, {c['refreshed']} refreshed"
        for g, c in changes.items()))
    return total


def _check_state_reachable(spark, state: str) -> None:
    """A local folder (no scheme) is refused unless Spark's master is local: executors
    elsewhere would each write to their own disk. A `file://` URL given as such is taken as a
    folder every host mounts. (Executors get the location as `PushState.location`: a local
    folder as an absolute `file://` URL.)"""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", state):
        return
    try:
        master = spark.conf.get("spark.master", "")
    except Exception:  # a Spark Connect server that does not say
        master = ""
    if master and not master.startswith("local"):
        raise UsageError(f"state={state!r} is a local folder, but Spark's master is {master}: executors on "
                         f"other hosts would write what they sent to their own disks. Give an object store URL "
                         f"(s3://, s3a://, gs://, az://, abfss://), or file:///PATH of a folder every host mounts")


def _check_state_args(state, job, changed_only, refresh_after) -> Optional[int]:
    """The push ledger's arguments checked on the driver; returns the refresh interval in
    seconds (None: never)."""
    if changed_only and state is None:
        raise UsageError("changed_only=True needs state=LOCATION: the folder or object store URL of the push "
                         "ledger (the command line's --state)")
    if state is None:
        return None
    if not changed_only:
        raise UsageError("state= is used with changed_only=True from Spark (the ledger records what a "
                         "changed-only push sent); pass changed_only=True, or leave state out")
    if not job:
        raise UsageError("state= needs job=NAME: the job's name in the ledger (the command line's job name: "
                         "the job file's name, else the metadata's job id)")
    if refresh_after is None:
        return None
    if isinstance(refresh_after, bool) or not isinstance(refresh_after, (int, str)):
        raise UsageError(f"refresh_after must be a duration (7d, 12h, 30m, never) or seconds, not {refresh_after!r}")
    return refresh_seconds(str(refresh_after))


def _quoted(column: str) -> str:
    """A column name as a Spark SQL identifier (a backtick in it doubled)."""
    return "`" + column.replace("`", "``") + "`"


def _hash_partitions(plan: Plan):
    def hashes(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield ledger_hashes(plan, batch)

    return hashes


def _ledger_row_groups(location: str, path: str, plan: Plan, storage_options: Mapping[str, str]):
    def read(ids: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in ids:
            for row_group in batch.column(0).to_pylist():
                yield from ledger_side(location, path, row_group, plan, storage_options)

    return read


def _join_with_ledger(df, plan: Plan, ledger_file: Optional[Tuple[str, int]], location: str,
                      storage_options: Mapping[str, str]):
    """`df` with its key and group hashes, joined on the key hash with the ledger file the last
    changed-only run left, each row beside its ledger entry (nulls for a key the ledger lacks).
    The executors read the ledger's file themselves, a row group per task, through the state
    location and `storage_options` (Spark's own file systems need no access to it); the driver
    has read its footer (`PushState.ledger_file`), so a wrong location or credential is a
    `StateError` there, before any task. Partitioned
    by the key hash into as many partitions as `df` had (`spark.sql.shuffle.partitions` on Spark
    Connect), so that every pass over it sees the same rows in each partition."""
    import pyspark.sql.functions as F
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import LongType, StructField, StructType

    # What the executors would fail at (a column hashing cannot read), said here, once.
    ledger_hashes(plan, pa.RecordBatch.from_pylist([], schema=to_arrow_schema(df.schema)))
    key, columns = ledger_join_columns(plan)
    schema = StructType(list(df.schema.fields) + [StructField(key, LongType(), True)]
                        + [StructField(h, LongType(), False) for _, h, _, _ in columns])
    hashed = df.mapInArrow(_hash_partitions(plan), schema)
    try:
        partitions = df.rdd.getNumPartitions()
    except Exception:  # Spark Connect has no RDDs
        partitions = int(df.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    hashed = hashed.repartition(max(1, partitions), key)
    if ledger_file is None:
        joined = hashed.select("*", *[F.lit(None).cast("long").alias(c) for _, _, lh, ls in columns
                                      for c in (lh, ls)])
    else:
        path, row_groups = ledger_file
        side = StructType([StructField(key, LongType(), False)]
                          + [StructField(c, LongType(), True) for _, _, lh, ls in columns for c in (lh, ls)])
        ledger = df.sparkSession.range(0, row_groups, 1, max(1, row_groups)).mapInArrow(
            _ledger_row_groups(location, path, plan, storage_options), side)
        joined = hashed.join(ledger, on=key, how="left")
    # A shuffle's output order differs from one pass to the next; the passes of a push (check,
    # then each of kafka_num_batches rounds, which take every n-th message) must see each
    # partition's rows in one order. Rows equal in key and every group's hash encode alike.
    return joined.sortWithinPartitions(key, *[h for _, h, _, _ in columns])
