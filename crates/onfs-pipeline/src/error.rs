//! Why a pass failed, by the step that failed; each keeps its cause.

use onfs_core::transform::{DuplicateKeyError, FillError};
use onfs_core::EncodeError;
use onfs_sources::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A source cannot be resolved, listed or read as the plan needs it.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Reading the joined sources failed midway.
    #[error("reading the sources: {0}")]
    Read(#[source] datafusion::error::DataFusionError),
    /// A partition range holds no partition of any source.
    #[error("{job}: no partition in the range {from:?}..{to:?}")]
    EmptyRange {
        job: String,
        from: String,
        to: String,
    },
    /// A default does not parse as its column's type (checked before anything is read), or a
    /// feature column is missing after the join.
    #[error(transparent)]
    Fill(#[from] FillError),
    /// An entity key holds rows with different values (with `OnDuplicateKey::Error`).
    #[error(transparent)]
    DuplicateKey(#[from] DuplicateKeyError),
    /// Changed-only: a row's key or group values cannot be hashed for the push ledger.
    #[error("hashing rows for the push ledger: {0}")]
    Hash(String),
    /// A row cannot be encoded, or the store would drop it.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

impl PipelineError {
    /// Bad configuration (the metadata's defaults, a catalog entry, a flag) rather than bad data
    /// or a failed read.
    pub fn is_usage(&self) -> bool {
        match self {
            PipelineError::Source(e) => e.is_usage(),
            PipelineError::Fill(FillError::BadDefault { .. }) => true,
            _ => false,
        }
    }
}

impl From<onfs_core::StoreError> for PipelineError {
    fn from(e: onfs_core::StoreError) -> Self {
        PipelineError::Encode(EncodeError::Store(Box::new(e)))
    }
}
