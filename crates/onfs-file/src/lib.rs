//! Files for onfs-push: Parquet input for `encode`, and message folders (`--out`, `send`,
//! `inspect`, `--failed-out`).

pub mod encode;
/// The message file framing, shared with the Python package's executor spools.
pub use onfs_core::frame;
pub mod input;
pub mod messages;
pub mod ranges;
pub mod sink;
mod syncer;

use std::path::Path;

pub use encode::{encode_input, Threads};
pub use frame::{Framed, RecordReader};
pub use input::ParquetInput;
pub use messages::read_messages;
pub use ranges::InputRows;
pub use sink::{DirSink, Manifest, OutFormat, RunInfo};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not readable as Parquet: {source}")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: writing Parquet failed: {source}")]
    ParquetWrite {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
    #[error("{path}: the folder holds no Parquet data file")]
    NoParquet { path: String },
    #[error("{path}: exists and is not a folder")]
    NotAFolder { path: String },
    #[error("{path}: the folder is not empty; choose an empty or new folder")]
    NotEmpty { path: String },
    #[error("{path}: holds {name}, which onfs-push did not write; refusing to overwrite")]
    Foreign { path: String, name: String },
    #[error("{0}")]
    Usage(String),
}

impl FileError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> FileError {
        FileError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn parquet(path: &Path, source: parquet::errors::ParquetError) -> FileError {
        FileError::Parquet {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn parquet_write(path: &Path, source: parquet::errors::ParquetError) -> FileError {
        FileError::ParquetWrite {
            path: path.display().to_string(),
            source,
        }
    }

    /// Bad usage (exit 2) rather than a failed run (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            FileError::Usage(_)
                | FileError::NoParquet { .. }
                | FileError::NotAFolder { .. }
                | FileError::NotEmpty { .. }
                | FileError::Foreign { .. }
        )
    }
}
