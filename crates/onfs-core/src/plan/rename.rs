//! The renamed column of a feature: `<table>___<group>___<feature>`.

use crate::metadata::SourceKind;

/// The `<table>` part of a renamed column, from the source name.
///
/// TABLE sources (`db.table`): the part after the first `.`. URL and path sources: the last
/// non-empty path segment, every character outside `[A-Za-z0-9_]` replaced by `_`, a leading
/// digit prefixed with `_`, lower-cased. Works for `gs://`, `s3://`, `s3a://`, `abfss://`,
/// `az://`, `file://` and local paths.
pub fn table_part(source: &str, kind: SourceKind) -> Result<String, String> {
    if kind == SourceKind::Table {
        let mut parts = source.split('.');
        parts.next();
        return match parts.next() {
            Some(t) if !t.is_empty() => Ok(t.to_string()),
            _ => Err(format!("TABLE source {source:?} is not a `db.table` name")),
        };
    }
    let without_scheme = match source.find("://") {
        Some(i) => &source[i + 3..],
        None => source,
    };
    let segment = without_scheme
        .trim_matches(|c| c == '/' || c == ' ')
        .rsplit('/')
        .next()
        .unwrap_or("");
    if segment.is_empty() {
        return Err(format!(
            "{kind} source {source:?} has no path segment to name its columns after"
        ));
    }
    Ok(clean_column_name(segment))
}

/// The original's `clean_column_name`.
pub fn clean_column_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if out.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out.to_lowercase()
}

pub fn renamed_column(table: &str, group: &str, feature: &str) -> String {
    format!("{table}___{group}___{feature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use SourceKind::*;

    #[test]
    fn every_scheme() {
        let cases = [
            ("gs://bucket/features/all_types/", ParquetGcs, "all_types"),
            ("s3://bucket/a/User-Feats", ParquetS3, "user_feats"),
            ("s3a://bucket/a/b.c/", DeltaS3, "b_c"),
            (
                "abfss://cont@acct.dfs.core.windows.net/x/9lives",
                ParquetAdls,
                "_9lives",
            ),
            ("az://cont/x/y", DeltaAdls, "y"),
            ("file:///tmp/data/Table One", ParquetGcs, "table_one"),
            ("/tmp/data/t1/", ParquetS3, "t1"),
            ("gs://bucket", ParquetGcs, "bucket"),
        ];
        for (src, kind, want) in cases {
            assert_eq!(table_part(src, kind).unwrap(), want, "{src}");
        }
    }

    #[test]
    fn table_names() {
        assert_eq!(table_part("fs.user_orders", Table).unwrap(), "user_orders");
        assert!(table_part("no_dot", Table).unwrap_err().contains("no_dot"));
        assert!(table_part("gs:///", ParquetGcs).is_err());
    }
}
