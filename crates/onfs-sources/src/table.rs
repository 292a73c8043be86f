//! What a catalog answers for a table name, and the trait every catalog implements.

use serde::Deserialize;

use crate::SourceError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    Parquet,
    Delta,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    pub format: TableFormat,
    pub location: String,
    /// The table's partition columns, when its catalog knows them (the Hive Metastore does).
    #[serde(skip)]
    pub partition_keys: Vec<String>,
}

/// A source of table entries: the built-in catalog, a Hive Metastore.
pub trait TableCatalog {
    /// The entry of `name` (`db.table`); `Ok(None)` when this catalog does not hold it, an
    /// error when the catalog cannot be asked or describes the table as nothing readable.
    fn lookup(&self, name: &str) -> Result<Option<TableEntry>, SourceError>;

    /// The catalog, for an error naming where a table was looked for (e.g. `the Hive
    /// Metastore thrift://h:9083`).
    fn describe(&self) -> String;
}
