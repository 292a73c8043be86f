//! The message table: `value binary not null, intra_batch_id long not null`, the original's
//! message DataFrame. Defined once: Parquet message files, the Python package's batches, its
//! `MESSAGE_SCHEMA` and the Spark schema are all made from it.

use std::sync::Arc;

use arrow_array::{BinaryArray, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::EncodedMessage;

pub fn message_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("value", DataType::Binary, false),
        Field::new("intra_batch_id", DataType::Int64, false),
    ]))
}

/// Messages as one record batch of the message table, in order.
pub fn message_batch<'a>(messages: impl IntoIterator<Item = (&'a [u8], i64)>) -> RecordBatch {
    let (values, ids): (Vec<&[u8]>, Vec<i64>) = messages.into_iter().unzip();
    RecordBatch::try_new(
        message_schema(),
        vec![
            Arc::new(BinaryArray::from_iter_values(values)),
            Arc::new(Int64Array::from(ids)),
        ],
    )
    .expect("message batch matches its schema")
}

/// Encoded messages as one record batch of the message table, in order.
pub fn messages_to_batch(messages: &[EncodedMessage]) -> RecordBatch {
    message_batch(
        messages
            .iter()
            .map(|m| (m.value.as_slice(), m.intra_batch_id)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_has_the_table_schema_and_keeps_order() {
        let batch = message_batch([(&b"ab"[..], 0), (&b""[..], 1)]);
        assert_eq!(batch.schema(), message_schema());
        assert_eq!(batch.num_rows(), 2);
        let ids = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(ids.values(), &[0, 1]);
    }
}
