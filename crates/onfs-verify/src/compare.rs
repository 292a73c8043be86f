//! One (entity, feature group) compared: the stored bytes of each feature against what was sent
//! (every version, after the store's conversions) and against the group's defaults.

use onfs_core::{DataType, Plan};

use crate::convert::{default_value, sent_value, StoredValue};
use crate::decode::{elements, render};
use crate::error::VerifyError;
use crate::report::{Class, Example};
use crate::sample::SampledEntity;

/// A group of the plan as it is read back: its features, in message order, and their defaults.
#[derive(Debug, Clone)]
pub(crate) struct GroupSpec {
    pub label: String,
    pub data_type: DataType,
    pub features: Vec<String>,
    /// The stored form of each feature's default; `None` when the metadata's default does not
    /// parse as the type (then nothing is classed as the defaults).
    pub defaults: Vec<Option<StoredValue>>,
}

impl GroupSpec {
    /// The plan's group `label` with the message's feature labels.
    pub fn new(plan: &Plan, label: &str, features: &[String]) -> Option<GroupSpec> {
        let group = plan.feature_groups.iter().find(|g| g.label == label)?;
        let defaults = features
            .iter()
            .map(|f| {
                let i = group.features.iter().position(|p| p == f)?;
                let column = plan.column(&group.columns[i])?;
                match default_value(group.data_type, &column.default) {
                    Ok(v) => Some(v),
                    Err(reason) => {
                        tracing::warn!(
                            group = %label,
                            feature = %f,
                            "the default {:?} is not a {}: {reason}; this feature is never classed as the defaults",
                            column.default,
                            group.data_type
                        );
                        None
                    }
                }
            })
            .collect();
        Some(GroupSpec {
            label: label.to_string(),
            data_type: group.data_type,
            features: features.to_vec(),
            defaults,
        })
    }
}

/// What was sent for one entity in one group: per version (oldest first), per feature.
#[derive(Debug, Clone)]
pub(crate) struct Expected {
    pub versions: Vec<Vec<StoredValue>>,
}

impl Expected {
    pub fn of(entity: &SampledEntity, spec: &GroupSpec) -> Result<Expected, VerifyError> {
        let mut versions = Vec::new();
        for sent in &entity.versions {
            let Some(g) = sent
                .schema
                .groups
                .iter()
                .position(|(l, _)| *l == spec.label)
            else {
                continue;
            };
            let labels = &sent.schema.groups[g].1;
            let mut values = Vec::with_capacity(spec.features.len());
            for feature in &spec.features {
                let value = labels
                    .iter()
                    .position(|l| l == feature)
                    .and_then(|i| sent_value(spec.data_type, &sent.values[g], i))
                    .ok_or_else(|| VerifyError::BadMessage {
                        message: sent.message,
                        reason: format!(
                            "key {} holds no {} value for {}/{}",
                            entity.key_text(),
                            spec.data_type,
                            spec.label,
                            feature
                        ),
                    })?;
                values.push(value);
            }
            versions.push(values);
        }
        Ok(Expected { versions })
    }
}

/// How the stored bytes (one per feature of `spec`) compare.
pub(crate) fn classify(
    spec: &GroupSpec,
    expected: &Expected,
    stored: &[&[u8]],
    key: &str,
) -> Result<(Class, Option<Example>), VerifyError> {
    let latest = expected.versions.last().expect("an entity has a version");
    for (i, bytes) in stored.iter().enumerate() {
        if let Err(e) = elements(spec.data_type, bytes, latest[i].len) {
            return Err(VerifyError::Malformed {
                feature: format!("{}/{}", spec.label, spec.features[i]),
                key: key.to_string(),
                len: bytes.len(),
                expected: format!("a {} ({})", spec.data_type, e.0),
            });
        }
    }
    let equals = |values: &[StoredValue]| values.iter().zip(stored).all(|(v, s)| v.bytes == *s);
    let is_default = |values: &[StoredValue]| {
        spec.defaults
            .iter()
            .zip(values)
            .all(|(d, v)| d.as_ref().is_some_and(|d| d.bytes == v.bytes))
    };
    if let Some(version) = expected.versions.iter().find(|v| equals(v)) {
        let class = if is_default(version) {
            Class::Indistinguishable
        } else {
            Class::Matches
        };
        return Ok((class, None));
    }
    let stored_defaults = spec
        .defaults
        .iter()
        .zip(stored)
        .all(|(d, s)| d.as_ref().is_some_and(|d| d.bytes == *s));
    let class = if stored_defaults {
        Class::Defaults
    } else {
        Class::Differs
    };
    let i = (0..stored.len())
        .find(|&i| latest[i].bytes != stored[i])
        .expect("some feature differs");
    let text = |bytes: &[u8]| {
        render(spec.data_type, bytes, latest[i].len).unwrap_or_else(|_| format!("{bytes:02x?}"))
    };
    let example = Example {
        class,
        key: key.to_string(),
        feature: spec.features[i].clone(),
        sent: text(&latest[i].bytes),
        stored: text(stored[i]),
    };
    Ok((class, Some(example)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use onfs_core::proto::Values;
    use onfs_core::Metadata;

    use crate::sample::{Schema, Sent};

    fn plan() -> Plan {
        let meta = Metadata::from_json(
            r#"{"keys": {"user": ["user_id"]}, "data": [{"storage-provider": "TABLE", "base-path": [{"source-base-path": "db.t", "data-paths": [
              {"entity-label": "user", "feature-group-label": "g", "feature-label": "a", "source-data-column": "a", "default-value": "0", "data-type": "DataTypeFP16"},
              {"entity-label": "user", "feature-group-label": "g", "feature-label": "b", "source-data-column": "b", "default-value": "1.5", "data-type": "DataTypeFP16"}]}]}]}"#,
        )
        .unwrap();
        Plan::build(&meta, &[]).unwrap()
    }

    fn entity(versions: &[[f32; 2]]) -> SampledEntity {
        let schema = Arc::new(Schema {
            entity_label: "user".into(),
            keys_schema: vec!["user_id".into()],
            groups: vec![("g".into(), vec!["a".into(), "b".into()])],
        });
        SampledEntity {
            keys: vec!["7".into()],
            versions: versions
                .iter()
                .enumerate()
                .map(|(m, v)| Sent {
                    message: m as u64,
                    schema: schema.clone(),
                    values: vec![Values {
                        fp32_values: v.iter().map(|x| *x as f64).collect(),
                        ..Default::default()
                    }],
                })
                .collect(),
        }
    }

    fn half(v: f32) -> Vec<u8> {
        half::f16::from_f32(v).to_le_bytes().to_vec()
    }

    fn class_of(sent: &[[f32; 2]], stored: [f32; 2]) -> (Class, Option<Example>) {
        let p = plan();
        let spec = GroupSpec::new(&p, "g", &["a".into(), "b".into()]).unwrap();
        let e = entity(sent);
        let expected = Expected::of(&e, &spec).unwrap();
        let (a, b) = (half(stored[0]), half(stored[1]));
        classify(&spec, &expected, &[&a, &b], "7").unwrap()
    }

    #[test]
    fn classes() {
        assert_eq!(class_of(&[[0.1, 2.0]], [0.1, 2.0]).0, Class::Matches);
        assert_eq!(
            class_of(&[[0.0, 1.5]], [0.0, 1.5]).0,
            Class::Indistinguishable
        );
        let (c, ex) = class_of(&[[0.1, 2.0]], [0.0, 1.5]);
        assert_eq!(c, Class::Defaults);
        let ex = ex.unwrap();
        assert_eq!(
            (ex.feature.as_str(), ex.sent.as_str(), ex.stored.as_str()),
            ("a", "0.099975586", "0.0")
        );
        let (c, ex) = class_of(&[[0.1, 2.0]], [0.1, 3.0]);
        assert_eq!(c, Class::Differs);
        assert_eq!(ex.unwrap().feature, "b");
        // Either version of an entity sent twice matches.
        assert_eq!(
            class_of(&[[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0]).0,
            Class::Matches
        );
        assert_eq!(
            class_of(&[[1.0, 2.0], [3.0, 4.0]], [3.0, 4.0]).0,
            Class::Matches
        );
    }

    #[test]
    fn malformed_bytes_name_the_feature_and_key() {
        let p = plan();
        let spec = GroupSpec::new(&p, "g", &["a".into(), "b".into()]).unwrap();
        let expected = Expected::of(&entity(&[[1.0, 2.0]]), &spec).unwrap();
        let e = classify(&spec, &expected, &[&[0, 0, 0, 0], &[0, 0]], "7").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("g/a") && text.contains("key 7") && text.contains("4 bytes"),
            "{text}"
        );
    }
}
