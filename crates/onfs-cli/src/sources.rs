//! The offline sources at the command line's edge: onfs-sources' errors with the flag (or
//! config key) that gives what they name, as a second line `hint: ...`.

use onfs_sources::SourceError;

use crate::error::{failed, usage, CliError};

/// Where the thing a source error names is given, when the command line gives it.
fn hint(e: &SourceError) -> Option<String> {
    Some(match e {
        SourceError::UnknownTable { name, .. } => format!(
            "add it with --table {name}=LOCATION or a [tables] entry in the config, or name a Hive Metastore with --hive-metastore thrift://HOST:PORT"
        ),
        SourceError::BadTableArg { .. } => "tables are given with --table NAME=LOCATION".into(),
        SourceError::BadMetastoreUri { .. } => {
            "the Hive Metastore is given with --hive-metastore (or hive_metastore in the config's [source])".into()
        }
        SourceError::MetastoreUnreachable { .. } => {
            "check --hive-metastore (or hive_metastore in the config's [source]) and that the metastore runs".into()
        }
        SourceError::BadStorageOption { .. } => {
            "storage options are given with --storage-option KEY=VALUE".into()
        }
        SourceError::BadPartitionRange { .. } => {
            "the range is given with --partition-range FROM..TO (or partition_range in the config's [source])".into()
        }
        SourceError::BadPartitionColumn { .. } => {
            "partition columns are given with --partition-column KIND=COL".into()
        }
        SourceError::NoPartitionColumn { kind, .. } => format!(
            "set another with --partition-column {kind}=COL, or read everything with --all-partitions"
        ),
        _ => return None,
    })
}

impl From<onfs_stores::StorageError> for CliError {
    fn from(e: onfs_stores::StorageError) -> Self {
        SourceError::from(e).into()
    }
}

impl From<SourceError> for CliError {
    fn from(e: SourceError) -> Self {
        let code: fn(anyhow::Error) -> CliError = if e.is_usage() { usage } else { failed };
        match hint(&e) {
            Some(hint) => code(anyhow::anyhow!("{e}\nhint: {hint}")),
            None => code(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit code and the text the error ends the run with.
    fn assert_shown(e: SourceError, code: u8, text: &str) {
        let e = CliError::from(e);
        assert_eq!((e.code, e.to_string().as_str()), (code, text));
    }

    #[test]
    fn an_unknown_table_hints_at_the_table_and_metastore_flags() {
        assert_shown(
            SourceError::UnknownTable {
                name: "fs.x".into(),
                searched: vec!["the built-in catalog (known tables: fs.a)".into()],
            },
            2,
            "table \"fs.x\" is not in the built-in catalog (known tables: fs.a)\nhint: add it with --table fs.x=LOCATION or a [tables] entry in the config, or name a Hive Metastore with --hive-metastore thrift://HOST:PORT",
        );
    }

    #[test]
    fn a_bad_table_arg_hints_at_the_flag() {
        assert_shown(
            SourceError::BadTableArg { arg: "x".into() },
            2,
            "table \"x\": expected NAME=LOCATION\nhint: tables are given with --table NAME=LOCATION",
        );
    }

    #[test]
    fn metastore_errors_hint_at_the_flag() {
        assert_shown(
            SourceError::BadMetastoreUri {
                uri: "thrift://nowhere.invalid:1".into(),
                problem: "the host does not resolve",
            },
            2,
            "Hive Metastore \"thrift://nowhere.invalid:1\": the host does not resolve; expected thrift://HOST:PORT\nhint: the Hive Metastore is given with --hive-metastore (or hive_metastore in the config's [source])",
        );
        assert_shown(
            SourceError::MetastoreUnreachable {
                uri: "thrift://127.0.0.1:1".into(),
                source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
            },
            1,
            "Hive Metastore thrift://127.0.0.1:1: cannot connect: refused\nhint: check --hive-metastore (or hive_metastore in the config's [source]) and that the metastore runs",
        );
    }

    #[test]
    fn a_bad_storage_option_hints_at_the_flag() {
        assert_shown(
            SourceError::BadStorageOption { key: "abc".into() },
            2,
            "storage option \"abc\": expected KEY=VALUE\nhint: storage options are given with --storage-option KEY=VALUE",
        );
    }

    #[test]
    fn bad_partition_flags_hint_at_them() {
        assert_shown(
            SourceError::BadPartitionRange { text: "a-b".into() },
            2,
            "partition range \"a-b\": expected FROM..TO\nhint: the range is given with --partition-range FROM..TO (or partition_range in the config's [source])",
        );
        assert_shown(
            SourceError::BadPartitionColumn { arg: "x".into() },
            2,
            "partition column \"x\": expected KIND=COL with KIND table, parquet or delta\nhint: partition columns are given with --partition-column KIND=COL",
        );
    }

    #[test]
    fn a_missing_partition_column_hints_at_another_or_all() {
        assert_shown(
            SourceError::NoPartitionColumn {
                source_name: "fs.t".into(),
                column: "dt".into(),
                kind: "table",
            },
            1,
            "source fs.t: no partition column \"dt\" (neither a `dt=VALUE` folder nor a column)\nhint: set another with --partition-column table=COL, or read everything with --all-partitions",
        );
    }

    #[test]
    fn other_errors_have_no_hint() {
        assert_shown(SourceError::Engine("boom".into()), 1, "query failed: boom");
    }
}
