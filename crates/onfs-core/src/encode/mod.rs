//! The hot path: Arrow record batches to serialized `persist.Query` messages.

pub mod by_groups;
mod column;
mod encoder;
mod error;
mod message_table;
pub mod pyfmt;
pub mod ranges;
pub mod wire;

pub use by_groups::GroupSetEncoder;
pub use encoder::{EncodeStats, EncodedMessage, Encoder, EncoderOptions};
pub use error::EncodeError;
pub use message_table::{message_batch, message_schema, messages_to_batch};

/// Python `str()` of the value at `row` of a key column, appended to `out` (`"null"` for a null,
/// `"<unsupported>"` for a type no key can have).
pub fn key_text(array: &dyn arrow_array::Array, row: usize, out: &mut String) {
    if array.is_null(row) {
        out.push_str("null");
        return;
    }
    match column::Leaf::bind(array) {
        Some(leaf) => leaf.write_py_str(row, out),
        None => out.push_str("<unsupported>"),
    }
}
