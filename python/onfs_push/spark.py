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

import logging
import re
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import pyarrow as pa

from . import MESSAGE_SCHEMA, Encoder, KafkaSink, Plan, Pusher, check_vector_tallies
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
    ("first_error", pa.string()),
    ("vector_tallies", pa.string()),
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
    rows = df.mapInArrow(fn, _spark_schema(_REPORT_SCHEMA)).collect()
    for r in rows:
        if r["error_class"] is not None:
            raise error_class(r["error_class"])(r["error_message"])
    return rows


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
    return pa.RecordBatch.from_pylist([{k: row.get(k) for k, _ in _REPORT_FIELDS}], schema=_REPORT_SCHEMA)


def _send_partitions(bootstrap: str, topic: str, options: Dict[str, str], connect_timeout: float):
    @_reporting
    def send(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sink = KafkaSink(bootstrap, topic, options, connect_timeout)
        for batch in batches:
            sink.send(batch)
        yield _report_batch(sink.finish())

    return send


def _push_partitions(plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                     max_message_bytes, connect_timeout, round_index, rounds, store):
    @_reporting
    def push(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pusher = Pusher(plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                        max_message_bytes, connect_timeout, None, round_index, rounds, **store)
        for batch in batches:
            pusher.push(batch)
        yield _report_batch(pusher.finish())

    return push


def _count_partitions(plan, intra_batch_size, allow_out_of_range, max_message_bytes, store, streaming=False):
    """Encodes and counts, sending nothing: the check run before anything is produced. Each
    partition's vector lengths come back to the driver (`push` checks them across partitions).
    `streaming`: the encoder of `_encode_partitions`, which fails at a vector of another length
    than the partition's first."""

    @_reporting
    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        encoder = Encoder(plan, intra_batch_size, allow_out_of_range, max_message_bytes, streaming=streaming,
                          **store)
        for batch in batches:
            encoder.encode(batch)
        encoder.finish()
        stats = encoder.stats
        yield _report_batch({"messages": stats["messages"], "rows": stats["rows"], "bytes": stats["bytes"],
                             "encode": stats, "vector_tallies": encoder.vector_tallies})

    return count


def _sum_reports(rows) -> Dict[str, Any]:
    total: Dict[str, Any] = {name: 0 for name, t in _REPORT_FIELDS if t != pa.string()}
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
                                   connect_timeout: float = 30.0):
        """Writes a message DataFrame to Kafka, in `kafka_num_batches` rounds (round i: the
        messages whose `intra_batch_id % kafka_num_batches == i`).

        `engine="spark"`: Spark's Kafka sink, as the original (needs the connector on the
        classpath; returns None). `engine="native"`: the Rust producer in each executor: every
        message acknowledged and counted; returns the counts and raises `DeliveryError` if any
        message was not delivered. `"auto"` (default): native whenever every option translates
        to it, else Spark's sink (an option only Spark's Kafka producer takes, such as
        `kafka.partitioner.class`); the log (logger `onfs_push`) says which engine runs and why.
        Natively, a DataFrame straight from `generate_df_with_protobuf_messages` is encoded and sent
        in one pass over its source (the same messages, not carried through Spark's rows). With `check_first`, a DataFrame straight from
        `generate_df_with_protobuf_messages` is encoded once without sending (on either engine),
        so bad data fails before anything is produced, as `EncodeError` / `StoreError` with the
        executor's message; any other message DataFrame is computed once (native engine only),
        its errors then Spark's own exception. Errors while sending natively come back as their
        class (`KafkaError` ...); Spark's sink raises its own.
        """
        if engine not in _ENGINES:
            raise UsageError(f"engine must be one of {', '.join(_ENGINES)}, not {engine!r}")
        if kafka_num_batches < 1:
            raise UsageError(f"kafka_num_batches must be at least 1, not {kafka_num_batches}")
        spark_only = None
        if engine == "auto":
            engine, spark_only = _choose_engine(kafka_bootstrap_servers, kafka_topic, additional_options,
                                                connect_timeout)
        if check_first and _check_encoding(df):
            check_first = False
        if engine == "spark":
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
                                  kafka_num_batches, check_first, connect_timeout)

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
                      check_first, connect_timeout):
        import pyspark.sql.functions as F

        bootstrap, topic, options = _producer_options(kafka_bootstrap_servers, kafka_topic, additional_options)
        # Options and brokers are checked here, before any executor runs.
        KafkaSink(bootstrap, topic, options, connect_timeout).finish()
        # A DataFrame straight from `generate_df_with_protobuf_messages`: its source is encoded
        # and sent in one pass per round (the same messages, not carried through Spark's rows).
        encoding = getattr(df, "__dict__", {}).get(_ENCODING)
        if check_first and encoding is None:
            df.select("value").count()
        total = None
        for i in range(kafka_num_batches):
            if encoding is not None:
                source, (plan, intra_batch_size, allow_out_of_range, max_message_bytes, store) = encoding
                part = source
                send = _push_partitions(plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                                        max_message_bytes, connect_timeout, i, kafka_num_batches, store)
            else:
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
             connect_timeout: float = 30.0, vector_lengths: Optional[Mapping[str, int]] = None,
             vector_fit: str = "check", strict_store: bool = False) -> Dict[str, Any]:
        """Encodes and produces in one pass on the executors: the message DataFrame is never
        made. Returns the counts; raises `DeliveryError` if any message was not delivered,
        `EncodeError` / `StoreError` for bad data (found before anything is sent, with
        `check_first`), `KafkaError` when Kafka fails, `UsageError` for bad arguments: each as
        itself, with the executor's message when an executor raised it."""
        return push(df, self.plan, kafka_bootstrap_servers, kafka_topic, additional_options,
                    intra_batch_size, kafka_num_batches, allow_out_of_range=allow_out_of_range,
                    max_message_bytes=max_message_bytes, check_first=check_first,
                    connect_timeout=connect_timeout, vector_lengths=vector_lengths,
                    vector_fit=vector_fit, strict_store=strict_store)


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
    """Two rounds' counts; every round encodes every row, so the encoder's counts are one round's."""
    out = dict(a)
    for k, v in b.items():
        if k == "first_error":
            out[k] = out.get(k) or v
        elif k not in ("encoded_rows", "dropped_null_key_rows"):
            out[k] = out.get(k, 0) + v
    return out


def push(df, plan: Plan, kafka_bootstrap_servers: str, kafka_topic: str, additional_options: Optional[dict] = None,
         intra_batch_size: int = 20, kafka_num_batches: int = 1, *, allow_out_of_range: bool = False,
         max_message_bytes: Optional[int] = None, check_first: bool = True,
         connect_timeout: float = 30.0, vector_lengths: Optional[Mapping[str, int]] = None,
         vector_fit: str = "check", strict_store: bool = False) -> Dict[str, Any]:
    """Encodes `df` (entity columns + renamed feature columns) with `plan` and produces the
    messages on the executors in one pass. See `OnlineFeatureStorePyClient.push`. With
    `check_first`, every vector feature's rows must share one length across all partitions
    (`StoreError` before anything is sent); without it, within each executor."""
    if intra_batch_size < 1:
        raise UsageError(f"intra_batch_size must be at least 1, not {intra_batch_size}")
    if kafka_num_batches < 1:
        raise UsageError(f"kafka_num_batches must be at least 1, not {kafka_num_batches}")
    _check_columns(df, plan)
    store = _store_kw(vector_lengths, vector_fit, strict_store)
    Encoder(plan, intra_batch_size, allow_out_of_range, max_message_bytes, **store)
    bootstrap, topic, options = _producer_options(kafka_bootstrap_servers, kafka_topic, additional_options)
    KafkaSink(bootstrap, topic, options, connect_timeout).finish()
    df = df.select(*plan.input_columns())
    if check_first:
        count = _count_partitions(plan, intra_batch_size, allow_out_of_range, max_message_bytes, store)
        rows = _collect_reports(df, count)
        check_vector_tallies([r["vector_tallies"] for r in rows if r["vector_tallies"]])
    total = None
    for i in range(kafka_num_batches):
        fn = _push_partitions(plan, bootstrap, topic, options, intra_batch_size, allow_out_of_range,
                              max_message_bytes, connect_timeout, i, kafka_num_batches, store)
        report = _sum_reports(_collect_reports(df, fn))
        total = report if total is None else _add(total, report)
        if report["failed"] or report["unsent"]:
            raise DeliveryError(total)
    return total
