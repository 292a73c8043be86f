//! Row transforms shared by every engine: default fill and duplicate-key handling, on Arrow
//! batches.

mod dedupe;
mod fill;

pub use dedupe::{DuplicateKeyError, DuplicateKeys, OnDuplicateKey};
pub use fill::{parse_default, vector_default_elements, DefaultFill, FillError};
