//! The metadata service's answer, parsed with errors that name the field path.

use serde_json::Value;

use crate::datatype::DataType;

/// Where a source lives and how it is stored (`storage-provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Table,
    ParquetGcs,
    ParquetS3,
    ParquetAdls,
    DeltaGcs,
    DeltaS3,
    DeltaAdls,
}

impl SourceKind {
    pub const ALL: [SourceKind; 7] = [
        SourceKind::Table,
        SourceKind::ParquetGcs,
        SourceKind::ParquetS3,
        SourceKind::ParquetAdls,
        SourceKind::DeltaGcs,
        SourceKind::DeltaS3,
        SourceKind::DeltaAdls,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Table => "TABLE",
            SourceKind::ParquetGcs => "PARQUET_GCS",
            SourceKind::ParquetS3 => "PARQUET_S3",
            SourceKind::ParquetAdls => "PARQUET_ADLS",
            SourceKind::DeltaGcs => "DELTA_GCS",
            SourceKind::DeltaS3 => "DELTA_S3",
            SourceKind::DeltaAdls => "DELTA_ADLS",
        }
    }

    pub fn parse(name: &str) -> Option<SourceKind> {
        SourceKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    pub fn is_delta(self) -> bool {
        matches!(
            self,
            SourceKind::DeltaGcs | SourceKind::DeltaS3 | SourceKind::DeltaAdls
        )
    }

    pub fn is_parquet(self) -> bool {
        matches!(
            self,
            SourceKind::ParquetGcs | SourceKind::ParquetS3 | SourceKind::ParquetAdls
        )
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One `data-paths` entry: an offline column feeding one feature of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPath {
    pub entity_label: String,
    pub feature_group: String,
    pub feature_label: String,
    pub source_column: String,
    pub default_value: String,
    pub data_type: DataType,
}

/// One `base-path` entry: a source (table name or URL) and the columns read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct BasePath {
    pub source: String,
    pub paths: Vec<DataPath>,
}

/// One `data` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEntry {
    pub kind: SourceKind,
    pub base_paths: Vec<BasePath>,
}

/// The whole answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub entity_label: String,
    pub entity_columns: Vec<String>,
    pub data: Vec<SourceEntry>,
}

/// The answer is not what the metadata service promises; `path` names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata: {path}: {problem}")]
pub struct MetadataFormatError {
    pub path: String,
    pub problem: String,
}

fn err(path: &str, problem: impl Into<String>) -> MetadataFormatError {
    MetadataFormatError {
        path: if path.is_empty() {
            "(top level)".into()
        } else {
            path.to_string()
        },
        problem: problem.into(),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn field<'v>(obj: &'v Value, path: &str, key: &str) -> Result<&'v Value, MetadataFormatError> {
    let map = obj
        .as_object()
        .ok_or_else(|| err(path, format!("expected an object, found {}", kind_of(obj))))?;
    map.get(key)
        .ok_or_else(|| err(&join(path, key), "missing field"))
}

fn string(obj: &Value, path: &str, key: &str) -> Result<String, MetadataFormatError> {
    let v = field(obj, path, key)?;
    v.as_str().map(str::to_string).ok_or_else(|| {
        err(
            &join(path, key),
            format!("expected a string, found {}", kind_of(v)),
        )
    })
}

fn list<'v>(obj: &'v Value, path: &str, key: &str) -> Result<&'v [Value], MetadataFormatError> {
    let v = field(obj, path, key)?;
    v.as_array().map(Vec::as_slice).ok_or_else(|| {
        err(
            &join(path, key),
            format!("expected a list, found {}", kind_of(v)),
        )
    })
}

impl Metadata {
    /// The answer in the service's own JSON shape (`from_value` reads it back unchanged).
    pub fn to_value(&self) -> Value {
        let data: Vec<Value> = self
            .data
            .iter()
            .map(|entry| {
                let base_paths: Vec<Value> = entry
                    .base_paths
                    .iter()
                    .map(|b| {
                        let paths: Vec<Value> = b
                            .paths
                            .iter()
                            .map(|p| {
                                serde_json::json!({
                                    "entity-label": p.entity_label,
                                    "feature-group-label": p.feature_group,
                                    "feature-label": p.feature_label,
                                    "source-data-column": p.source_column,
                                    "default-value": p.default_value,
                                    "data-type": p.data_type.to_string(),
                                })
                            })
                            .collect();
                        serde_json::json!({"source-base-path": b.source, "data-paths": paths})
                    })
                    .collect();
                serde_json::json!({"storage-provider": entry.kind.name(), "base-path": base_paths})
            })
            .collect();
        serde_json::json!({
            "keys": { self.entity_label.clone(): self.entity_columns },
            "data": data,
        })
    }

    /// Parses the service's JSON text.
    pub fn from_json(text: &str) -> Result<Metadata, MetadataFormatError> {
        let root: Value = serde_json::from_str(text).map_err(|e| {
            err(
                "",
                format!(
                    "not valid JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        Metadata::from_value(&root)
    }

    pub fn from_value(root: &Value) -> Result<Metadata, MetadataFormatError> {
        let keys = field(root, "", "keys")?;
        let keys_map = keys.as_object().ok_or_else(|| {
            err(
                "keys",
                format!("expected an object, found {}", kind_of(keys)),
            )
        })?;
        let mut entries = keys_map.iter();
        let (entity_label, cols) = match (entries.next(), entries.next()) {
            (Some(first), None) => first,
            (None, _) => return Err(err("keys", "expected one entity label, found none")),
            (Some(_), Some(_)) => {
                return Err(err(
                    "keys",
                    format!(
                        "expected one entity label, found {}: {}",
                        keys_map.len(),
                        keys_map.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ))
            }
        };
        let cols_path = format!("keys.{entity_label}");
        let cols = cols.as_array().ok_or_else(|| {
            err(
                &cols_path,
                format!("expected a list of column names, found {}", kind_of(cols)),
            )
        })?;
        if cols.is_empty() {
            return Err(err(&cols_path, "expected at least one entity column"));
        }
        let mut entity_columns = Vec::with_capacity(cols.len());
        for (i, c) in cols.iter().enumerate() {
            let s = c.as_str().ok_or_else(|| {
                err(
                    &format!("{cols_path}[{i}]"),
                    format!("expected a string, found {}", kind_of(c)),
                )
            })?;
            entity_columns.push(s.to_string());
        }

        let mut data = Vec::new();
        for (i, entry) in list(root, "", "data")?.iter().enumerate() {
            let epath = format!("data[{i}]");
            let kind_name = string(entry, &epath, "storage-provider")?;
            let kind = SourceKind::parse(&kind_name).ok_or_else(|| {
                err(
                    &format!("{epath}.storage-provider"),
                    format!(
                        "unknown storage provider {kind_name:?}; accepted: {}",
                        SourceKind::ALL.map(SourceKind::name).join(", ")
                    ),
                )
            })?;
            let mut base_paths = Vec::new();
            for (j, bp) in list(entry, &epath, "base-path")?.iter().enumerate() {
                let bpath = format!("{epath}.base-path[{j}]");
                let source = string(bp, &bpath, "source-base-path")?;
                let mut paths = Vec::new();
                for (k, dp) in list(bp, &bpath, "data-paths")?.iter().enumerate() {
                    let dpath = format!("{bpath}.data-paths[{k}]");
                    let dt_name = string(dp, &dpath, "data-type")?;
                    let data_type: DataType =
                        dt_name
                            .parse()
                            .map_err(|e: crate::datatype::UnknownDataType| {
                                err(&format!("{dpath}.data-type"), e.to_string())
                            })?;
                    paths.push(DataPath {
                        entity_label: string(dp, &dpath, "entity-label")?,
                        feature_group: string(dp, &dpath, "feature-group-label")?,
                        feature_label: string(dp, &dpath, "feature-label")?,
                        source_column: string(dp, &dpath, "source-data-column")?,
                        default_value: string(dp, &dpath, "default-value")?,
                        data_type,
                    });
                }
                base_paths.push(BasePath { source, paths });
            }
            data.push(SourceEntry { kind, base_paths });
        }
        Ok(Metadata {
            entity_label: entity_label.clone(),
            entity_columns,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(data_type: &str) -> String {
        format!(
            r#"{{"keys": {{"user": ["user_id"]}}, "data": [
              {{"storage-provider": "TABLE", "base-path": [{{"source-base-path": "db.t", "data-paths": [
                {{"entity-label": "user", "feature-group-label": "g", "feature-label": "f",
                  "source-data-column": "c", "default-value": "0", "data-type": "{data_type}"}}]}}]}}]}}"#
        )
    }

    #[test]
    fn parses_a_valid_answer() {
        let m = Metadata::from_json(&doc("DataTypeInt64")).unwrap();
        assert_eq!(m.entity_label, "user");
        assert_eq!(m.entity_columns, vec!["user_id"]);
        assert_eq!(m.data[0].kind, SourceKind::Table);
        assert_eq!(m.data[0].base_paths[0].paths[0].source_column, "c");
    }

    #[test]
    fn to_value_reads_back_the_same() {
        let m = Metadata::from_json(&doc("DataTypeFP32Vector")).unwrap();
        let again = Metadata::from_value(&m.to_value()).unwrap();
        assert_eq!(again, m);
        assert_eq!(
            m.to_value()["data"][0]["base-path"][0]["data-paths"][0]["data-type"],
            "DataTypeFP32Vector"
        );
    }

    #[test]
    fn unknown_data_type_names_path_and_lists_all() {
        let e = Metadata::from_json(&doc("DataTypeFloat")).unwrap_err();
        assert_eq!(e.path, "data[0].base-path[0].data-paths[0].data-type");
        assert!(e.problem.contains("DataTypeBoolVector"), "{e}");
    }

    #[test]
    fn missing_field_names_path() {
        let text = doc("DataTypeInt64").replace(r#""default-value": "0","#, "");
        let e = Metadata::from_json(&text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "metadata: data[0].base-path[0].data-paths[0].default-value: missing field"
        );
    }

    #[test]
    fn wrong_type_and_bad_json() {
        let text = doc("DataTypeInt64").replace(r#""default-value": "0""#, r#""default-value": 0"#);
        let e = Metadata::from_json(&text).unwrap_err();
        assert!(e
            .to_string()
            .contains("default-value: expected a string, found a number"));
        let e = Metadata::from_json("{\"keys\": ").unwrap_err();
        assert!(e.problem.starts_with("not valid JSON"), "{e}");
        let e = Metadata::from_json(r#"{"keys": {}, "data": []}"#).unwrap_err();
        assert_eq!(e.path, "keys");
        let e = Metadata::from_json(
            r#"{"keys": {"u": ["id"]}, "data": [{"storage-provider": "CSV"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.path, "data[0].storage-provider");
        assert!(e.problem.contains("DELTA_ADLS"));
    }
}
