"""onfs-push for Python: the plan, the Arrow-to-protobuf encoder and the Kafka producer of the
onfs-push command line, for pyarrow/pandas users (`encode`) and for PySpark (`onfs_push.spark`).

Errors: one hierarchy under `OnfsError`, documented in `onfs_push.errors`.

Messages are serialized `persist.Query` values, byte-identical to what the original
`spark_feature_push_client` writes; the encoding and the producing run in Rust, outside the GIL.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Optional, Union

import pyarrow as pa

from . import errors
from ._onfs import verify as _verify
from ._onfs import (
    Encoder,
    KafkaSink,
    Plan,
    Pusher,
    PushState,
    Sampler,
    Spooler,
    __version__,
    check_vector_tallies,
    count_rows,
    ledger_hashes,
    ledger_join_columns,
    ledger_side,
    message_schema,
    refresh_seconds,
)
from .errors import (
    DeliveryError,
    EncodeError,
    KafkaError,
    MetadataError,
    OnfsError,
    PlanError,
    SourceError,
    StateError,
    StoreError,
    StoreReadError,
    UsageError,
    VerifyError,
)

__all__ = [
    "DeliveryError",
    "EncodeError",
    "Encoder",
    "KafkaError",
    "KafkaSink",
    "MESSAGE_SCHEMA",
    "MetadataError",
    "OnfsError",
    "Plan",
    "PlanError",
    "PushState",
    "Pusher",
    "SourceError",
    "Spooler",
    "StateError",
    "StoreError",
    "StoreReadError",
    "UsageError",
    "VerifyError",
    "__version__",
    "as_plan",
    "count_rows",
    "encode",
    "errors",
    "record_batches",
    "verify",
]

#: The message table: the original's message DataFrame (`value binary not null,
#: intra_batch_id long not null`), as the extension declares it.
MESSAGE_SCHEMA: pa.Schema = message_schema()


PlanLike = Union[Plan, str, Mapping[str, Any]]


def as_plan(plan: PlanLike, fgs_to_consider: Optional[Iterable[str]] = None) -> Plan:
    """A `Plan`, or one made from the metadata service's answer (JSON text or a dict)."""
    if isinstance(plan, Plan):
        if fgs_to_consider:
            raise UsageError("fgs_to_consider applies to metadata, not to a Plan already made")
        return plan
    if isinstance(plan, Mapping):
        plan = json.dumps(plan)
    if isinstance(plan, str):
        return Plan.from_metadata_json(plan, list(fgs_to_consider or []))
    raise TypeError(f"plan must be a Plan, metadata JSON text or a dict, not {type(plan).__name__}")


def record_batches(data: Any) -> Iterable[pa.RecordBatch]:
    """The record batches of a pyarrow Table / RecordBatch / RecordBatchReader, a pandas
    DataFrame, anything with the Arrow PyCapsule interface, or an iterable of record batches."""
    if isinstance(data, pa.RecordBatch):
        return [data]
    if isinstance(data, pa.Table):
        return data.to_batches()
    if isinstance(data, pa.RecordBatchReader):
        return data
    if type(data).__module__.startswith("pandas") and hasattr(data, "columns"):
        return pa.Table.from_pandas(data, preserve_index=False).to_batches()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data)
    if hasattr(data, "__arrow_c_array__"):
        return [pa.record_batch(data)]
    if isinstance(data, Iterable):
        return (b if isinstance(b, pa.RecordBatch) else pa.record_batch(b) for b in data)
    raise TypeError(
        "data must be a pyarrow Table, RecordBatch or RecordBatchReader, a pandas DataFrame, "
        f"an Arrow stream or an iterable of record batches, not {type(data).__name__}"
    )


def encode(
    data: Any,
    plan: PlanLike,
    intra_batch_size: int = 20,
    *,
    allow_out_of_range: bool = False,
    max_message_bytes: Optional[int] = None,
    vector_lengths: Optional[Mapping[str, int]] = None,
    vector_fit: str = "check",
    strict_store: bool = False,
) -> pa.Table:
    """Encodes rows into `persist.Query` messages of `intra_batch_size` rows each, in order.

    `data` holds the entity columns and the renamed feature columns (`<table>___<group>___<feature>`);
    `plan` is a `Plan` or the metadata service's answer. Returns a table `value binary,
    intra_batch_id int64`, the ids counting 0, 1, 2 ... Rows whose entity key has a null are
    dropped; a null feature or a value outside its declared type raises `EncodeError` naming the
    column and the row's key (`allow_out_of_range=True` sends such values as the original did).

    The online store keeps one length per vector feature and drops a whole message holding a
    vector of another length: rows of more than one length in a feature raise `StoreError`
    naming each feature with its lengths. `vector_lengths={"GROUP.FEATURE": N}` declares the
    registered lengths (a feature may also be named by its renamed or source column);
    `vector_fit` is "check" (default), "pad" (shorter rows padded with zeros), "truncate"
    (longer rows cut), "pad-truncate" or "keep" (no check, as the original). Bool vectors,
    which the store cannot keep, give a `UserWarning` (`StoreError` with `strict_store=True`).
    """
    encoder = Encoder(as_plan(plan), intra_batch_size, allow_out_of_range, max_message_bytes,
                      vector_lengths=dict(vector_lengths or {}), vector_fit=vector_fit,
                      strict_store=strict_store)
    out = [encoder.encode(batch) for batch in record_batches(data)]
    out.append(encoder.finish())
    encoder.check_vector_lengths()
    return pa.Table.from_batches([b for b in out if b.num_rows], schema=MESSAGE_SCHEMA)


def _value_chunks(messages: Any, size: int = 1000) -> Iterable[list]:
    """Message values (bytes) in chunks: from a message table or record batch(es) (`value`
    column), or any iterable of bytes."""
    if isinstance(messages, (pa.Table, pa.RecordBatch)):
        messages = messages.to_batches() if isinstance(messages, pa.Table) else [messages]
    chunk: list = []
    for item in messages:
        if isinstance(item, pa.RecordBatch):
            yield item.column(item.schema.get_field_index("value")).to_pylist()
            continue
        chunk.append(bytes(item))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def verify(
    messages: Any,
    plan: PlanLike,
    store: str,
    caller_id: str,
    *,
    caller_token: Optional[str] = None,
    sample: Optional[int] = 1000,
    seed: Optional[int] = None,
    wait: float = 30.0,
    connect_timeout: float = 10.0,
    timeout: float = 30.0,
    tls: bool = False,
    ca_file: Optional[str] = None,
    tls_domain: Optional[str] = None,
    keys_per_request: int = 100,
) -> dict:
    """Reads a sample of the sent entities back through the online store's retrieval API
    (`store` = HOST:PORT or http(s)://HOST:PORT) and compares them with what was sent, after the
    store's own conversions (FP16, FP8, integer widths).

    `messages`: the message table (`value` column), record batches, or an iterable of message
    bytes. `sample`: entities chosen uniformly across the messages (every message is checked
    when it is at least their number; None: all). `caller_token` defaults to the environment's
    `ONFS_CALLER_TOKEN` and never appears in any output. Values that do not match yet are read
    again until `wait` seconds have passed (the consumer may lag). Returns the report (`totals`,
    `groups`); raises `VerifyError` (with `.report`) when anything differs or came back as the
    defaults, `StoreReadError` when the store cannot be read.
    """
    import os

    sampler = Sampler(sample, seed)
    for chunk in _value_chunks(messages):
        sampler.add(chunk)
    token = caller_token if caller_token is not None else os.environ.get("ONFS_CALLER_TOKEN")
    report = json.loads(_verify(as_plan(plan), sampler, store, caller_id, token, wait, connect_timeout,
                                timeout, tls, ca_file, tls_domain, keys_per_request))
    t = report["totals"]
    if t["differs"] or t["defaults"]:
        raise VerifyError(report)
    return report
