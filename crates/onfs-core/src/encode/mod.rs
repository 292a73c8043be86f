//! The hot path: Arrow record batches to serialized `persist.Query` messages.

mod column;
mod encoder;
mod error;
pub mod pyfmt;
pub mod wire;

pub use encoder::{EncodeStats, EncodedMessage, Encoder, EncoderOptions};
pub use error::EncodeError;
