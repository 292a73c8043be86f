//! From metadata to a plan: which offline columns feed which groups, under which names.

mod rename;

use serde_json::{json, Map, Value};

use crate::datatype::DataType;
use crate::metadata::{Metadata, SourceKind};

pub use rename::{clean_column_name, renamed_column, table_part};

/// The columns read from one source (one `base-path` that kept at least one feature).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceMapping {
    pub source: String,
    pub kind: SourceKind,
    /// `(offline column, renamed column)`, in metadata order.
    pub columns: Vec<(String, String)>,
}

/// One feature group, as every message lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureGroup {
    pub label: String,
    pub data_type: DataType,
    /// Online feature labels, in order.
    pub features: Vec<String>,
    /// The renamed column of each feature, in the same order.
    pub columns: Vec<String>,
}

/// A renamed column's default and declared type.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSpec {
    pub name: String,
    pub default: String,
    pub data_type: DataType,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub entity_label: String,
    pub entity_columns: Vec<String>,
    pub feature_mapping: Vec<SourceMapping>,
    /// Every renamed column, in first-seen order, with its default and type.
    pub columns: Vec<ColumnSpec>,
    pub feature_groups: Vec<FeatureGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("unknown feature group(s) {unknown}; known groups: {known}")]
    UnknownGroups { unknown: String, known: String },
    #[error("metadata: {0}")]
    BadSource(String),
    #[error("no feature group left to send{0}")]
    Empty(String),
}

impl Plan {
    /// Builds the plan; `groups` filters the feature groups (empty = all).
    pub fn build(meta: &Metadata, groups: &[String]) -> Result<Plan, PlanError> {
        let known: Vec<&str> = {
            let mut seen: Vec<&str> = Vec::new();
            for entry in &meta.data {
                for bp in &entry.base_paths {
                    for p in &bp.paths {
                        if !seen.contains(&p.feature_group.as_str()) {
                            seen.push(&p.feature_group);
                        }
                    }
                }
            }
            seen
        };
        let unknown: Vec<&String> = groups
            .iter()
            .filter(|g| !known.contains(&g.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(PlanError::UnknownGroups {
                unknown: unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                known: known.join(", "),
            });
        }

        // The group's data type is the first seen, before filtering (as the original).
        let mut group_types: Vec<(String, DataType)> = Vec::new();
        let mut feature_mapping = Vec::new();
        let mut columns: Vec<ColumnSpec> = Vec::new();
        let mut feature_groups: Vec<FeatureGroup> = Vec::new();
        for entry in &meta.data {
            for bp in &entry.base_paths {
                let mut kept = Vec::new();
                for p in &bp.paths {
                    if !group_types.iter().any(|(g, _)| g == &p.feature_group) {
                        group_types.push((p.feature_group.clone(), p.data_type));
                    }
                    if !groups.is_empty() && !groups.contains(&p.feature_group) {
                        continue;
                    }
                    let table = table_part(&bp.source, entry.kind).map_err(PlanError::BadSource)?;
                    let renamed = renamed_column(&table, &p.feature_group, &p.feature_label);
                    kept.push((p.source_column.clone(), renamed.clone()));
                    match columns.iter_mut().find(|c| c.name == renamed) {
                        Some(c) => {
                            c.default = p.default_value.clone();
                            c.data_type = p.data_type;
                        }
                        None => columns.push(ColumnSpec {
                            name: renamed.clone(),
                            default: p.default_value.clone(),
                            data_type: p.data_type,
                        }),
                    }
                    let group_type = group_types
                        .iter()
                        .find(|(g, _)| g == &p.feature_group)
                        .map(|(_, t)| *t)
                        .unwrap_or(p.data_type);
                    if group_type != p.data_type {
                        tracing::warn!(
                            group = %p.feature_group,
                            feature = %p.feature_label,
                            "feature declared {} in group declared {}; it is sent as {}",
                            p.data_type,
                            group_type,
                            group_type
                        );
                    }
                    match feature_groups
                        .iter_mut()
                        .find(|g| g.label == p.feature_group)
                    {
                        Some(g) => {
                            g.features.push(p.feature_label.clone());
                            g.columns.push(renamed);
                        }
                        None => feature_groups.push(FeatureGroup {
                            label: p.feature_group.clone(),
                            data_type: group_type,
                            features: vec![p.feature_label.clone()],
                            columns: vec![renamed],
                        }),
                    }
                }
                if !kept.is_empty() {
                    feature_mapping.push(SourceMapping {
                        source: bp.source.clone(),
                        kind: entry.kind,
                        columns: kept,
                    });
                }
            }
        }
        if feature_groups.is_empty() {
            return Err(PlanError::Empty(if known.is_empty() {
                ": the metadata lists no feature".to_string()
            } else {
                String::new()
            }));
        }
        Ok(Plan {
            entity_label: meta.entity_label.clone(),
            entity_columns: meta.entity_columns.clone(),
            feature_mapping,
            columns,
            feature_groups,
        })
    }

    /// Every column the encoder reads, each once: the entity columns, then each group's renamed
    /// columns, in plan order.
    pub fn input_columns(&self) -> Vec<String> {
        let mut cols: Vec<String> = Vec::new();
        let groups = self.feature_groups.iter().flat_map(|g| &g.columns);
        for c in self.entity_columns.iter().chain(groups) {
            if !cols.contains(c) {
                cols.push(c.clone());
            }
        }
        cols
    }

    /// The plan of the groups `keep` picks (by their index), in plan order: the messages of a
    /// row that sends only some of its groups. Sources and columns stay as they are.
    pub fn with_groups(&self, keep: impl Fn(usize) -> bool) -> Plan {
        Plan {
            feature_groups: self
                .feature_groups
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, g)| g.clone())
                .collect(),
            ..self.clone()
        }
    }

    pub fn column(&self, renamed: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == renamed)
    }

    /// The plan in the shape of the original client's view (`plan --json`).
    pub fn to_json(&self) -> Value {
        let mut defaults = Map::new();
        let mut datatypes = Map::new();
        for c in &self.columns {
            defaults.insert(c.name.clone(), Value::String(c.default.clone()));
            datatypes.insert(c.name.clone(), Value::String(c.data_type.to_string()));
        }
        json!({
            "entity_label": self.entity_label,
            "entity_columns": self.entity_columns,
            "feature_mapping": self.feature_mapping.iter().map(|m| json!([
                m.source,
                m.kind.name(),
                m.columns.iter().map(|(c, r)| json!([c, r])).collect::<Vec<_>>(),
            ])).collect::<Vec<_>>(),
            "defaults": defaults,
            "datatypes": datatypes,
            "feature_groups": self.feature_groups.iter().map(|g| json!({
                "label": g.label,
                "data_type": g.data_type.to_string(),
                "features": g.features,
                "columns": g.columns,
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Metadata {
        Metadata::from_json(
            r#"{"keys": {"user": ["user_id"]}, "data": [
            {"storage-provider": "PARQUET_S3", "base-path": [{"source-base-path": "s3://b/p/orders/", "data-paths": [
              {"entity-label": "user", "feature-group-label": "g1", "feature-label": "a", "source-data-column": "x", "default-value": "0", "data-type": "DataTypeInt64"},
              {"entity-label": "user", "feature-group-label": "g2", "feature-label": "a", "source-data-column": "x", "default-value": "1", "data-type": "DataTypeFP32"}]}]},
            {"storage-provider": "TABLE", "base-path": [{"source-base-path": "db.t", "data-paths": [
              {"entity-label": "user", "feature-group-label": "g1", "feature-label": "b", "source-data-column": "y", "default-value": "2", "data-type": "DataTypeInt64"}]}]}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn one_column_feeds_two_groups_and_a_group_spans_sources() {
        let p = Plan::build(&meta(), &[]).unwrap();
        assert_eq!(p.feature_groups.len(), 2);
        assert_eq!(
            p.feature_groups[0].columns,
            vec!["orders___g1___a", "t___g1___b"]
        );
        assert_eq!(p.feature_groups[1].columns, vec!["orders___g2___a"]);
        assert_eq!(
            p.feature_mapping[0].columns,
            vec![
                ("x".to_string(), "orders___g1___a".to_string()),
                ("x".to_string(), "orders___g2___a".to_string())
            ]
        );
        assert_eq!(p.column("orders___g2___a").unwrap().default, "1");
    }

    #[test]
    fn input_columns_are_the_entity_then_each_groups_columns_once() {
        let mut p = Plan::build(&meta(), &[]).unwrap();
        let want = [
            "user_id",
            "orders___g1___a",
            "t___g1___b",
            "orders___g2___a",
        ];
        assert_eq!(p.input_columns(), want);
        // A column listed twice (here by a second group) is read once, where first listed.
        let mut again = p.feature_groups[0].clone();
        again.label = "g3".into();
        p.feature_groups.push(again);
        assert_eq!(p.input_columns(), want);
    }

    #[test]
    fn filter_keeps_only_named_groups() {
        let p = Plan::build(&meta(), &["g2".to_string()]).unwrap();
        assert_eq!(p.feature_groups.len(), 1);
        assert_eq!(p.feature_mapping.len(), 1);
        assert_eq!(p.columns.len(), 1);
    }

    #[test]
    fn unknown_group_lists_known() {
        let e = Plan::build(&meta(), &["g9".to_string()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown feature group(s) g9; known groups: g1, g2"
        );
    }
}
