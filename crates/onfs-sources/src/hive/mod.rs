//! A Hive Metastore catalog: `db.table` resolved to its location, format and partition keys
//! through the metastore's Thrift API (binary protocol, buffered transport, the calls Hive 3
//! and 4 both serve).
//!
//! `codec` reads and writes Thrift values generically, `client` makes the calls, `table` reads
//! the answer's `Table` struct.

mod client;
mod codec;
mod table;

pub use client::{Answer, HiveMetastore};
pub use codec::Value;
pub use table::HiveTable;

use crate::table::{TableCatalog, TableEntry};
use crate::SourceError;

/// The metastore at `thrift://HOST:PORT`, asked for `db.table` names (a connection a lookup).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiveCatalog {
    uri: String,
}

impl HiveCatalog {
    pub fn new(uri: &str) -> HiveCatalog {
        HiveCatalog {
            uri: uri.to_string(),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }
}

impl TableCatalog for HiveCatalog {
    fn lookup(&self, name: &str) -> Result<Option<TableEntry>, SourceError> {
        let Some((db, table)) = name.split_once('.') else {
            return Ok(None);
        };
        let Some(t) = HiveMetastore::connect(&self.uri)?.table(db, table)? else {
            return Ok(None);
        };
        let entry = t.entry(name, &self.uri)?;
        tracing::info!(table = name, location = %entry.location, format = ?entry.format, "resolved by the Hive Metastore");
        Ok(Some(entry))
    }

    fn describe(&self) -> String {
        format!("the Hive Metastore {}", self.uri)
    }
}
