"""onfs-push for Python: the plan, the Arrow-to-protobuf encoder and the Kafka producer of the
onfs-push command line, for pyarrow/pandas users (`encode`) and for PySpark (`onfs_push.spark`).

Messages are serialized `persist.Query` values, byte-identical to what the original
`spark_feature_push_client` writes; the encoding and the producing run in Rust, outside the GIL.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Optional, Union

import pyarrow as pa

from ._onfs import (
    EncodeError,
    Encoder,
    KafkaError,
    KafkaSink,
    MetadataError,
    OnfsError,
    Plan,
    PlanError,
    Pusher,
    __version__,
    count_rows,
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
    "Pusher",
    "__version__",
    "as_plan",
    "count_rows",
    "encode",
    "record_batches",
]

#: The message table: the original's message DataFrame (`value binary not null,
#: intra_batch_id long not null`).
MESSAGE_SCHEMA = pa.schema(
    [pa.field("value", pa.binary(), nullable=False), pa.field("intra_batch_id", pa.int64(), nullable=False)]
)


class DeliveryError(OnfsError):
    """Some messages were not delivered. `report` holds the counts (`messages`, `delivered`,
    `failed`, `unsent`, `first_error` ...)."""

    def __init__(self, report: Mapping[str, Any]):
        self.report = dict(report)
        failed = self.report.get("failed", 0) + self.report.get("unsent", 0)
        super().__init__(
            f"{failed} of {self.report.get('messages', 0)} messages were not delivered "
            f"({self.report.get('failed_rows', 0) + self.report.get('unsent_rows', 0)} rows); "
            f"{self.report.get('unsent', 0)} were not sent after the first failure: "
            f"{self.report.get('first_error') or 'no delivery report'}"
        )


PlanLike = Union[Plan, str, Mapping[str, Any]]


def as_plan(plan: PlanLike, fgs_to_consider: Optional[Iterable[str]] = None) -> Plan:
    """A `Plan`, or one made from the metadata service's answer (JSON text or a dict)."""
    if isinstance(plan, Plan):
        if fgs_to_consider:
            raise ValueError("fgs_to_consider applies to metadata, not to a Plan already made")
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
) -> pa.Table:
    """Encodes rows into `persist.Query` messages of `intra_batch_size` rows each, in order.

    `data` holds the entity columns and the renamed feature columns (`<table>___<group>___<feature>`);
    `plan` is a `Plan` or the metadata service's answer. Returns a table `value binary,
    intra_batch_id int64`, the ids counting 0, 1, 2 ... Rows whose entity key has a null are
    dropped; a null feature or a value outside its declared type raises `EncodeError` naming the
    column and the row's key (`allow_out_of_range=True` sends such values as the original did).
    """
    encoder = Encoder(as_plan(plan), intra_batch_size, allow_out_of_range, max_message_bytes)
    out = [encoder.encode(batch) for batch in record_batches(data)]
    out.append(encoder.finish())
    return pa.Table.from_batches([b for b in out if b.num_rows], schema=MESSAGE_SCHEMA)
