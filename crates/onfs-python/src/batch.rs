//! Arrow batches in and out: the message table (`value binary not null, intra_batch_id long not
//! null`, the original's message DataFrame) and reading one back for sending.

use crate::errors;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema};
use pyo3::prelude::*;
use pyo3_arrow::PySchema;

pub use onfs_core::encode::{message_schema, messages_to_batch};

/// One message of a message batch, borrowed.
pub struct MessageRef<'a> {
    pub value: &'a [u8],
    pub intra_batch_id: i64,
}

/// The messages of a batch with a binary `value` column and, optionally, an integer
/// `intra_batch_id` column (0 when absent, as after the original's `drop("intra_batch_id")`).
pub fn batch_messages(batch: &RecordBatch) -> PyResult<Vec<MessageRef<'_>>> {
    let schema = batch.schema();
    let value = schema.index_of("value").map_err(|_| {
        errors::usage(format!(
            "the message batch has no \"value\" column; its columns are: {}",
            column_names(&schema)
        ))
    })?;
    let values = batch.column(value);
    if values.null_count() > 0 {
        return Err(errors::usage(
            "column \"value\" holds a null: every message needs a value",
        ));
    }
    let bytes: Vec<&[u8]> = match values.data_type() {
        DataType::Binary => values.as_binary::<i32>().iter().flatten().collect(),
        DataType::LargeBinary => values.as_binary::<i64>().iter().flatten().collect(),
        DataType::BinaryView => values.as_binary_view().iter().flatten().collect(),
        other => {
            return Err(errors::usage(format!(
                "column \"value\" has Arrow type {other}; expected binary"
            )))
        }
    };
    let ids: Vec<i64> = match schema.index_of("intra_batch_id") {
        Err(_) => vec![0; bytes.len()],
        Ok(i) => {
            let col = batch.column(i);
            match col.data_type() {
                DataType::Int64 => col
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.unwrap_or(0))
                    .collect(),
                DataType::Int32 => col
                    .as_primitive::<Int32Type>()
                    .iter()
                    .map(|v| v.unwrap_or(0) as i64)
                    .collect(),
                other => {
                    return Err(errors::usage(format!(
                        "column \"intra_batch_id\" has Arrow type {other}; expected int64"
                    )))
                }
            }
        }
    };
    Ok(bytes
        .into_iter()
        .zip(ids)
        .map(|(value, intra_batch_id)| MessageRef {
            value,
            intra_batch_id,
        })
        .collect())
}

fn column_names(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The message table's schema (`value binary not null, intra_batch_id int64 not null`) as a
/// `pyarrow.Schema`.
#[pyfunction(name = "message_schema")]
pub fn py_message_schema(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    PySchema::new(message_schema()).into_pyarrow(py)
}

/// The number of rows (`data` entries) in one serialized `persist.Query`.
#[pyfunction]
pub fn count_rows(value: &[u8]) -> u32 {
    onfs_core::proto_rows(value)
}
