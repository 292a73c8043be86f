//! Offline sources of onfs-push, read with DataFusion (deltalake for Delta): the catalog of
//! table names, newest-partition selection, and the original flow's transform (select,
//! rename, full outer join on the entity key) as a stream of record batches.

pub mod catalog;
pub mod hashing;
pub mod hive;
pub mod joined;
pub mod location;
pub mod partition;
mod reader;
pub mod stores;

pub use catalog::{Catalog, TableEntry, TableFormat};
pub use joined::{JobInput, JoinedSources, ReadOptions, SourceRead};
pub use partition::{PartitionColumns, PartitionSelection};
pub use stores::StorageOptions;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("table {name:?} is not in the built-in catalog (known tables: {known}). Add it with --table {name}=LOCATION or a [tables] entry in the config, or name a Hive Metastore with --hive-metastore thrift://HOST:PORT")]
    UnknownTable { name: String, known: String },
    #[error("{catalog}: {problem}")]
    Catalog { catalog: String, problem: String },
    #[error("source {source_name}: {problem}")]
    Source {
        source_name: String,
        problem: String,
    },
    #[error("source {source_name}: column {column:?} is missing; its columns are: {available}")]
    MissingColumn {
        source_name: String,
        column: String,
        available: String,
    },
    #[error("source {source_name}: no partition column {column:?} (neither a `{column}=VALUE` folder nor a column); set another with --partition-column {kind}=COL, or read everything with --all-partitions")]
    NoPartitionColumn {
        source_name: String,
        column: String,
        kind: &'static str,
    },
    #[error("source {source_name}: no complete partition of {column:?}{detail}")]
    NoPartition {
        source_name: String,
        column: String,
        detail: String,
    },
    #[error("{0}")]
    Usage(String),
    #[error("query failed: {0}")]
    Engine(String),
}

impl SourceError {
    /// Bad usage or configuration (exit 2) rather than a failed run.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            SourceError::UnknownTable { .. } | SourceError::Usage(_)
        )
    }
}

impl From<datafusion::error::DataFusionError> for SourceError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        SourceError::Engine(e.to_string())
    }
}
