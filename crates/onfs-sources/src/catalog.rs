//! The catalogs a run resolves table names (`db.table`) with: the built-in one (names given
//! with the run), then a Hive Metastore when one is named.

use std::collections::BTreeMap;
use std::path::Path;

use crate::hive::HiveCatalog;
pub use crate::table::{TableCatalog, TableEntry, TableFormat};
use crate::SourceError;

/// Names given with the run, each mapped to a format and a location.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuiltInCatalog {
    tables: BTreeMap<String, TableEntry>,
}

impl BuiltInCatalog {
    pub fn insert(&mut self, name: &str, entry: TableEntry) {
        self.tables.insert(name.to_string(), entry);
    }

    /// `NAME=LOCATION`: Delta when the location holds `_delta_log/`, else Parquet.
    pub fn add_arg(&mut self, arg: &str) -> Result<(), SourceError> {
        let Some((name, location)) = arg
            .split_once('=')
            .filter(|(n, l)| !n.trim().is_empty() && !l.trim().is_empty())
        else {
            return Err(SourceError::BadTableArg {
                arg: arg.to_string(),
            });
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

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}

impl TableCatalog for BuiltInCatalog {
    fn lookup(&self, name: &str) -> Result<Option<TableEntry>, SourceError> {
        Ok(self.tables.get(name).cloned())
    }

    fn describe(&self) -> String {
        let known = if self.tables.is_empty() {
            "(none)".to_string()
        } else {
            self.names().collect::<Vec<_>>().join(", ")
        };
        format!("the built-in catalog (known tables: {known})")
    }
}

/// The catalogs of a run, asked in order: the built-in one first, then the Hive Metastore if
/// one is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    built_in: BuiltInCatalog,
    hive: Option<HiveCatalog>,
}

impl Catalog {
    pub fn insert(&mut self, name: &str, entry: TableEntry) {
        self.built_in.insert(name, entry);
    }

    /// `NAME=LOCATION` into the built-in catalog (see [`BuiltInCatalog::add_arg`]).
    pub fn add_arg(&mut self, arg: &str) -> Result<(), SourceError> {
        self.built_in.add_arg(arg)
    }

    /// `thrift://HOST:PORT` of a Hive Metastore, asked for names the built-in catalog lacks.
    pub fn set_hive_metastore(&mut self, uri: &str) {
        self.hive = Some(HiveCatalog::new(uri));
    }

    fn catalogs(&self) -> impl Iterator<Item = &dyn TableCatalog> {
        std::iter::once(&self.built_in as &dyn TableCatalog)
            .chain(self.hive.iter().map(|h| h as &dyn TableCatalog))
    }

    /// The entry of the first catalog that holds `name`.
    pub fn resolve(&self, name: &str) -> Result<TableEntry, SourceError> {
        for c in self.catalogs() {
            if let Some(e) = c.lookup(name)? {
                return Ok(e);
            }
        }
        Err(SourceError::UnknownTable {
            name: name.to_string(),
            searched: self.catalogs().map(|c| c.describe()).collect(),
        })
    }

    /// The built-in catalog's names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.built_in.names()
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
        assert_eq!(
            e,
            "table \"db.x\" is not in the built-in catalog (known tables: db.d, db.p)"
        );
        let e = c.add_arg("nolocation").unwrap_err();
        assert!(e.is_usage());
        assert_eq!(
            e.to_string(),
            "table \"nolocation\": expected NAME=LOCATION"
        );
    }

    #[test]
    fn built_in_entries_come_before_the_metastore() {
        let mut c = Catalog::default();
        c.add_arg("db.p=/nonexistent/p").unwrap();
        // Nothing listens there: a name the built-in catalog holds never reaches it.
        c.set_hive_metastore("thrift://127.0.0.1:1");
        assert_eq!(c.resolve("db.p").unwrap().location, "/nonexistent/p");
        let e = c.resolve("db.x").unwrap_err();
        assert!(matches!(e, SourceError::MetastoreUnreachable { .. }), "{e}");
        // A name without a database is not one the metastore can hold.
        let e = c.resolve("x").unwrap_err().to_string();
        assert_eq!(
            e,
            "table \"x\" is not in the built-in catalog (known tables: db.p) nor in the Hive Metastore thrift://127.0.0.1:1"
        );
    }
}
