//! Offline sources of onfs-push, read with DataFusion (deltalake for Delta): the catalog of
//! table names, newest-partition selection, and the original flow's transform (select,
//! rename, full outer join on the entity key) as a stream of record batches.

pub mod catalog;
mod delta_open;
pub mod hashing;
pub mod hive;
pub mod joined;
pub use onfs_stores::list_retry;
pub mod location;
pub mod partition;
mod reader;
pub mod stores;
pub mod table;
mod version;

pub use catalog::{BuiltInCatalog, Catalog};
pub use hive::HiveCatalog;
pub use joined::{JobInput, JoinedSources, ReadOptions, SourceRead};
pub use partition::{PartitionColumns, PartitionSelection};
pub use stores::StorageOptions;
pub use table::{TableCatalog, TableEntry, TableFormat};

/// Why a source cannot be resolved or read. The texts name the thing and what is wrong with it;
/// how it was given (a flag, a config key) is for the caller to add.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No catalog holds the name; `searched` describes each catalog asked, in order.
    #[error("table {name:?} is not in {}", searched.join(" nor in "))]
    UnknownTable { name: String, searched: Vec<String> },
    /// A built-in catalog entry that is not `NAME=LOCATION`.
    #[error("table {arg:?}: expected NAME=LOCATION")]
    BadTableArg { arg: String },
    /// A Hive Metastore address that is not `thrift://HOST:PORT` or does not resolve.
    #[error("Hive Metastore {uri:?}: {problem}; expected thrift://HOST:PORT")]
    BadMetastoreUri { uri: String, problem: &'static str },
    /// Nothing answers at the metastore's address.
    #[error("Hive Metastore {uri}: cannot connect: {source}")]
    MetastoreUnreachable {
        uri: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{catalog}: {problem}")]
    Catalog { catalog: String, problem: String },
    /// A storage option that is not `KEY=VALUE` (`key` is the text before any `=`, so that a
    /// secret value is not shown).
    #[error("storage option {key:?}: expected KEY=VALUE")]
    BadStorageOption { key: String },
    /// A partition range that is not `FROM..TO`.
    #[error("partition range {text:?}: expected FROM..TO")]
    BadPartitionRange { text: String },
    /// A partition column that is not `KIND=COL`.
    #[error("partition column {arg:?}: expected KIND=COL with KIND table, parquet or delta")]
    BadPartitionColumn { arg: String },
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
    /// The source has neither `column=VALUE` folders nor the column; `kind` is the source's
    /// kind (table, parquet or delta), whose partition column it is.
    #[error("source {source_name}: no partition column {column:?} (neither a `{column}=VALUE` folder nor a column)")]
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
    /// Nothing in the environment or the options gives credentials for an object store URL,
    /// and no instance metadata service answers.
    #[error("{url}: no credentials found; set {hint}")]
    NoCredentials { url: String, hint: &'static str },
    /// A Delta table whose protocol requires reader features deltalake cannot read.
    #[error(
        "source {source_name}: the Delta table at {url} requires {}, which onfs-push cannot read",
        describe_reader_features(features)
    )]
    DeltaReaderFeatures {
        source_name: String,
        url: String,
        features: Vec<String>,
    },
    #[error("{0}")]
    Usage(String),
    #[error("query failed: {0}")]
    Engine(String),
}

/// The table property that turns a Delta reader feature on (any feature also by
/// `delta.feature.<name>=supported`).
pub fn delta_feature_property(feature: &str) -> String {
    match feature {
        "typeWidening" | "typeWidening-preview" => "delta.enableTypeWidening=true".into(),
        "deletionVectors" => "delta.enableDeletionVectors=true".into(),
        "columnMapping" => "delta.columnMapping.mode=name|id".into(),
        "v2Checkpoint" => "delta.checkpointPolicy=v2".into(),
        "catalogManaged" | "catalogOwned-preview" => "a catalog-managed table".into(),
        other => format!("delta.feature.{other}=supported"),
    }
}

fn describe_reader_features(features: &[String]) -> String {
    let each: Vec<String> = features
        .iter()
        .map(|f| format!("{f} (table property {})", delta_feature_property(f)))
        .collect();
    let s = if each.len() == 1 { "" } else { "s" };
    format!("the reader feature{s} {}", each.join(", "))
}

impl SourceError {
    /// Bad usage or configuration (exit 2) rather than a failed run.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            SourceError::UnknownTable { .. }
                | SourceError::BadTableArg { .. }
                | SourceError::BadMetastoreUri { .. }
                | SourceError::BadStorageOption { .. }
                | SourceError::BadPartitionRange { .. }
                | SourceError::BadPartitionColumn { .. }
                | SourceError::Usage(_)
        )
    }
}

impl From<datafusion::error::DataFusionError> for SourceError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        SourceError::Engine(e.to_string())
    }
}
