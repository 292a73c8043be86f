//! Which partition to read: the newest (as the original flow), a pinned value, a range for
//! backfills, or everything.

use crate::SourceError;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PartitionSelection {
    /// TABLE: `max(<col>)`; Parquet: the newest `<col>=<value>` folder holding `_SUCCESS`;
    /// Delta: the newest `<col>` value.
    #[default]
    Newest,
    Value(String),
    /// Inclusive; one pass per value.
    Range(String, String),
    All,
}

impl PartitionSelection {
    /// `FROM..TO`
    pub fn parse_range(text: &str) -> Result<PartitionSelection, SourceError> {
        match text.split_once("..") {
            Some((a, b)) if !a.is_empty() && !b.is_empty() => {
                Ok(PartitionSelection::Range(a.to_string(), b.to_string()))
            }
            _ => Err(SourceError::BadPartitionRange {
                text: text.to_string(),
            }),
        }
    }
}

/// The partition column of each kind of source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionColumns {
    pub table: String,
    pub parquet: String,
    pub delta: String,
}

impl Default for PartitionColumns {
    fn default() -> Self {
        PartitionColumns {
            table: "process_date".into(),
            parquet: "ts".into(),
            delta: "ts".into(),
        }
    }
}

impl PartitionColumns {
    /// `KIND=COL` with KIND one of table, parquet, delta.
    pub fn set(&mut self, arg: &str) -> Result<(), SourceError> {
        let bad = || SourceError::BadPartitionColumn {
            arg: arg.to_string(),
        };
        let (kind, col) = arg.split_once('=').ok_or_else(bad)?;
        let col = col.trim();
        if col.is_empty() {
            return Err(bad());
        }
        match kind.trim().to_ascii_lowercase().as_str() {
            "table" => self.table = col.into(),
            "parquet" => self.parquet = col.into(),
            "delta" => self.delta = col.into(),
            _ => return Err(bad()),
        }
        Ok(())
    }
}

/// The values to read, in order, among `available`, by the one partition order
/// (`onfs_core::partition_order`: numeric when every value is a plain number, else text).
pub fn choose(available: &[String], sel: &PartitionSelection) -> Vec<String> {
    use onfs_core::partition_order as order;
    match sel {
        PartitionSelection::Newest => order::newest(available).into_iter().collect(),
        PartitionSelection::Value(v) => available
            .iter()
            .filter(|x| *x == v)
            .take(1)
            .cloned()
            .collect(),
        PartitionSelection::Range(from, to) => order::in_range(available, from, to),
        PartitionSelection::All => order::sorted(available, &[])
            .0
            .into_iter()
            .map(str::to_string)
            .collect(),
    }
}

/// Hive folder names escape some characters (`%3A` for `:`).
pub fn unescape(value: &str) -> String {
    onfs_core::text::percent_decode(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn choosing() {
        let days = v(&["2026-10-31", "2026-11-02", "2026-10-30"]);
        assert_eq!(
            choose(&days, &PartitionSelection::Newest),
            v(&["2026-11-02"])
        );
        assert_eq!(
            choose(&v(&["9", "10", "2"]), &PartitionSelection::Newest),
            v(&["10"])
        );
        assert_eq!(
            choose(
                &days,
                &PartitionSelection::Range("2026-10-30".into(), "2026-10-31".into())
            ),
            v(&["2026-10-30", "2026-10-31"])
        );
        assert!(choose(&days, &PartitionSelection::Value("2026-01-01".into())).is_empty());
        assert_eq!(unescape("2026-11-01 10%3A00"), "2026-11-01 10:00");
    }

    #[test]
    fn columns_and_ranges() {
        let mut c = PartitionColumns::default();
        c.set("parquet=dt").unwrap();
        assert_eq!(c.parquet, "dt");
        assert!(c.set("hive=dt").is_err());
        assert!(PartitionSelection::parse_range("a..").is_err());
    }
}
