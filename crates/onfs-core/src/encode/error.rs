//! Why a batch cannot be encoded: every error names the column and, for a value, the row's key.

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("column {column:?} is missing from the input; its columns are: {available}")]
    MissingColumn { column: String, available: String },

    #[error("column {column:?} has Arrow type {arrow_type}, which cannot feed group data type {data_type}; accepted: {accepted}")]
    UnsupportedType {
        column: String,
        arrow_type: String,
        data_type: String,
        accepted: &'static str,
    },

    #[error("entity column {column:?} has Arrow type {arrow_type}, which cannot be an entity key; accepted: integers, strings, booleans, floats, decimals, dates")]
    UnsupportedKeyType { column: String, arrow_type: String },

    #[error("column {column:?} is null for key {key}; fill nulls with the feature's default before encoding")]
    NullValue { column: String, key: String },

    #[error("column {column:?} holds a null at element {index} of its vector for key {key}; vectors may not hold nulls")]
    NullElement {
        column: String,
        key: String,
        index: usize,
    },

    #[error("column {column:?} value {value} for key {key} is outside {data_type} ({range}); the online store would corrupt it; fix the data, or allow out-of-range values to send it as the original client did")]
    OutOfRange {
        column: String,
        key: String,
        value: String,
        data_type: String,
        range: String,
    },

    #[error(
        "column {column:?} value {value} for key {key} cannot be sent as {data_type}: {reason}"
    )]
    NotRepresentable {
        column: String,
        key: String,
        value: String,
        data_type: String,
        reason: &'static str,
    },

    #[error("the row with key {key} encodes to {bytes} bytes, more than the message limit of {limit} bytes")]
    RowTooLarge {
        key: String,
        bytes: usize,
        limit: usize,
    },

    /// A rule of the online store (boxed: the other variants stay small).
    #[error(transparent)]
    Store(Box<crate::store::StoreError>),
}

impl From<crate::store::StoreError> for EncodeError {
    fn from(e: crate::store::StoreError) -> Self {
        EncodeError::Store(Box::new(e))
    }
}
