//! The built-in catalog: table names (`db.table`) mapped to a format and a location.

use std::collections::BTreeMap;
use std::path::Path;

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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    tables: BTreeMap<String, TableEntry>,
    /// `thrift://HOST:PORT` of a Hive Metastore, asked for names the built-in catalog lacks.
    hive_metastore: Option<String>,
}

impl Catalog {
    pub fn insert(&mut self, name: &str, entry: TableEntry) {
        self.tables.insert(name.to_string(), entry);
    }

    /// `NAME=LOCATION` (`--table`): Delta when the location holds `_delta_log/`, else Parquet.
    pub fn add_arg(&mut self, arg: &str) -> Result<(), SourceError> {
        let Some((name, location)) = arg
            .split_once('=')
            .filter(|(n, l)| !n.trim().is_empty() && !l.trim().is_empty())
        else {
            return Err(SourceError::Usage(format!(
                "--table {arg:?}: expected NAME=LOCATION"
            )));
        };
        let format = if is_delta_location(location.trim()) {
            TableFormat::Delta
        } else {
            TableFormat::Parquet
        };
        self.insert(
            name.trim(),
            TableEntry {
                format,
                location: location.trim().to_string(),
                partition_keys: Vec::new(),
            },
        );
        Ok(())
    }

    pub fn set_hive_metastore(&mut self, uri: &str) {
        self.hive_metastore = Some(uri.to_string());
    }

    /// The built-in catalog's entry, else the Hive Metastore's.
    pub fn resolve(&self, name: &str) -> Result<TableEntry, SourceError> {
        if let Some(e) = self.tables.get(name) {
            return Ok(e.clone());
        }
        let known = if self.tables.is_empty() {
            "(none)".to_string()
        } else {
            self.tables.keys().cloned().collect::<Vec<_>>().join(", ")
        };
        let Some(uri) = &self.hive_metastore else {
            return Err(SourceError::UnknownTable {
                name: name.to_string(),
                known,
            });
        };
        let Some((db, table)) = name.split_once('.') else {
            return Err(SourceError::UnknownTable {
                name: name.to_string(),
                known,
            });
        };
        let mut hms = crate::hive::HiveMetastore::connect(uri)?;
        match hms.table(db, table)? {
            Some(t) => {
                let entry = t.entry(name, uri)?;
                tracing::info!(table = name, location = %entry.location, format = ?entry.format, "resolved by the Hive Metastore");
                Ok(entry)
            }
            None => Err(SourceError::UnknownTable {
                name: name.to_string(),
                known: format!("{known}; nor is it in the Hive Metastore {uri}"),
            }),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}

/// A local location with a `_delta_log` folder (remote locations say their format in the config).
fn is_delta_location(location: &str) -> bool {
    let path = location.strip_prefix("file://").unwrap_or(location);
    !path.contains("://") && Path::new(path).join("_delta_log").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_args_and_unknown_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("_delta_log")).unwrap();
        let mut c = Catalog::default();
        c.add_arg(&format!("db.d={}", dir.path().display()))
            .unwrap();
        c.add_arg("db.p=/nonexistent/p").unwrap();
        assert_eq!(c.resolve("db.d").unwrap().format, TableFormat::Delta);
        assert_eq!(c.resolve("db.p").unwrap().format, TableFormat::Parquet);
        let e = c.resolve("db.x").unwrap_err().to_string();
        assert!(e.contains("\"db.x\"") && e.contains("db.d, db.p"), "{e}");
        assert!(c.add_arg("nolocation").is_err());
    }
}
