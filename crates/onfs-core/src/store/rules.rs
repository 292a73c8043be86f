//! Declared vector lengths, what to do with rows of another length, and the plan-time checks.

use std::fmt;
use std::str::FromStr;

use super::StoreError;
use crate::datatype::Element;
use crate::plan::Plan;
use crate::transform::vector_default_elements;

/// What to do with a vector whose length is not its feature's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VectorFit {
    /// Every vector feature has one length across the run (declared, or the one the rows share);
    /// anything else is an error before sending.
    #[default]
    Check,
    /// Shorter rows are padded with the element type's zero to the declared length; longer rows
    /// are an error.
    Pad,
    /// Longer rows are cut to the declared length; shorter rows are an error.
    Truncate,
    /// Shorter rows are padded and longer rows cut to the declared length.
    PadTruncate,
    /// No check: send what the rows hold, as the original client does.
    Keep,
}

impl VectorFit {
    pub const NAMES: &'static str = "check, pad, truncate, pad-truncate, keep";

    pub fn pads(self) -> bool {
        matches!(self, VectorFit::Pad | VectorFit::PadTruncate)
    }

    pub fn truncates(self) -> bool {
        matches!(self, VectorFit::Truncate | VectorFit::PadTruncate)
    }
}

impl FromStr for VectorFit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "check" => VectorFit::Check,
                "pad" => VectorFit::Pad,
                "truncate" => VectorFit::Truncate,
                "pad-truncate" | "pad,truncate" | "truncate,pad" => VectorFit::PadTruncate,
                "keep" => VectorFit::Keep,
                _ => return Err(format!("unknown vector fit {s:?}; one of {}", Self::NAMES)),
            },
        )
    }
}

impl fmt::Display for VectorFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VectorFit::Check => "check",
            VectorFit::Pad => "pad",
            VectorFit::Truncate => "truncate",
            VectorFit::PadTruncate => "pad-truncate",
            VectorFit::Keep => "keep",
        })
    }
}

/// The store rules a run applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreRules {
    /// Declared lengths: a feature named `GROUP.FEATURE`, by its renamed column, or by its
    /// offline source column (every feature it feeds), and its length.
    pub vector_lengths: Vec<(String, usize)>,
    pub vector_fit: VectorFit,
}

/// One vector feature of the plan, with what the rules say of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VectorSpec {
    /// `GROUP.FEATURE`.
    pub feature: String,
    /// The renamed column that feeds it.
    pub column: String,
    pub element: Element,
    /// The declared length, if any.
    pub expected: Option<usize>,
    /// The plan's default and its length (`None` when it is not a bracketed vector).
    pub default: String,
    pub default_len: Option<usize>,
}

impl StoreRules {
    /// Every vector feature of the plan, in group order, with its declared length; an error
    /// for a declared name that is no vector feature.
    pub fn vectors(&self, plan: &Plan) -> Result<Vec<VectorSpec>, StoreError> {
        let mut specs = Vec::new();
        for g in plan.feature_groups.iter().filter(|g| g.data_type.vector) {
            for (label, column) in g.features.iter().zip(&g.columns) {
                let default = plan
                    .column(column)
                    .map(|c| c.default.clone())
                    .unwrap_or_default();
                let default_len =
                    vector_default_elements(&default, g.data_type.element == Element::String)
                        .map(|e| e.len());
                specs.push(VectorSpec {
                    feature: format!("{}.{}", g.label, label),
                    column: column.clone(),
                    element: g.data_type.element,
                    expected: None,
                    default,
                    default_len,
                });
            }
        }
        for (name, len) in &self.vector_lengths {
            let mut found = false;
            for spec in specs.iter_mut() {
                let by_source = plan
                    .feature_mapping
                    .iter()
                    .flat_map(|m| &m.columns)
                    .any(|(offline, renamed)| renamed == &spec.column && offline == name);
                if &spec.feature == name || &spec.column == name || by_source {
                    spec.expected = Some(*len);
                    found = true;
                }
            }
            if !found {
                let scalar = plan.feature_groups.iter().any(|g| {
                    g.features
                        .iter()
                        .zip(&g.columns)
                        .any(|(l, c)| &format!("{}.{l}", g.label) == name || c == name)
                });
                return Err(StoreError::UnknownFeature {
                    name: name.clone(),
                    why: if scalar {
                        "is not a vector feature"
                    } else {
                        "names no feature of the plan (name it GROUP.FEATURE, by its column, or by its source column)"
                    },
                    known: if specs.is_empty() {
                        "none".into()
                    } else {
                        specs
                            .iter()
                            .map(|s| s.feature.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                });
            }
        }
        Ok(specs)
    }

    /// The checks that need no data: declared names exist, and a vector default of another
    /// length than the declared one is an error unless rows are fitted to it.
    pub fn check_plan(&self, plan: &Plan) -> Result<Vec<VectorSpec>, StoreError> {
        let specs = self.vectors(plan)?;
        if self.vector_fit == VectorFit::Keep {
            return Ok(specs);
        }
        for s in &specs {
            if let (Some(expected), Some(found)) = (s.expected, s.default_len) {
                let fits = (found < expected && self.vector_fit.pads())
                    || (found > expected && self.vector_fit.truncates());
                if found != expected && !fits {
                    return Err(StoreError::DefaultLength {
                        feature: s.feature.clone(),
                        column: s.column.clone(),
                        default: s.default.clone(),
                        found,
                        expected,
                    });
                }
            }
        }
        Ok(specs)
    }

    /// Features of a type the store cannot keep (bool vectors: the store never stores them).
    pub fn unkept(plan: &Plan) -> Option<StoreError> {
        let features: Vec<String> = plan
            .feature_groups
            .iter()
            .filter(|g| g.data_type.vector && g.data_type.element == Element::Bool)
            .flat_map(|g| g.features.iter().map(move |f| format!("{}.{f}", g.label)))
            .collect();
        (!features.is_empty()).then(|| StoreError::Unkept {
            data_type: "bool vectors (DataTypeBoolVector)".into(),
            features,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        let meta = crate::metadata::Metadata::from_json(
            r#"{"keys":{"user":["id"]},"data":[{"storage-provider":"TABLE","base-path":[{"source-base-path":"db.t","data-paths":[
              {"entity-label":"user","feature-group-label":"emb","feature-label":"v","source-data-column":"vec_src","default-value":"[]","data-type":"DataTypeFP32Vector"},
              {"entity-label":"user","feature-group-label":"emb","feature-label":"w","source-data-column":"w_src","default-value":"[0,0]","data-type":"DataTypeFP32Vector"},
              {"entity-label":"user","feature-group-label":"flags","feature-label":"b","source-data-column":"b_src","default-value":"[false]","data-type":"DataTypeBoolVector"},
              {"entity-label":"user","feature-group-label":"s","feature-label":"x","source-data-column":"x_src","default-value":"0","data-type":"DataTypeInt32"}
            ]}]}]}"#,
        )
        .unwrap();
        Plan::build(&meta, &[]).unwrap()
    }

    #[test]
    fn names_resolve_by_feature_column_and_source() {
        let p = plan();
        let rules = StoreRules {
            vector_lengths: vec![
                ("emb.v".into(), 4),
                ("t___emb___w".into(), 2),
                ("b_src".into(), 3),
            ],
            vector_fit: VectorFit::Pad,
        };
        let specs = rules.vectors(&p).unwrap();
        let lens: Vec<_> = specs
            .iter()
            .map(|s| (s.feature.as_str(), s.expected, s.default_len))
            .collect();
        assert_eq!(
            lens,
            vec![
                ("emb.v", Some(4), Some(0)),
                ("emb.w", Some(2), Some(2)),
                ("flags.b", Some(3), Some(1)),
            ]
        );
    }

    #[test]
    fn unknown_and_scalar_names_are_errors() {
        let p = plan();
        for (name, why) in [("s.x", "is not a vector"), ("nope", "names no feature")] {
            let rules = StoreRules {
                vector_lengths: vec![(name.into(), 4)],
                ..Default::default()
            };
            let e = rules.vectors(&p).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
            assert!(e.contains("emb.v, emb.w, flags.b"), "{e}");
        }
    }

    #[test]
    fn a_default_of_another_length_fails_unless_fitted() {
        let p = plan();
        let mut rules = StoreRules {
            vector_lengths: vec![("emb.v".into(), 4)],
            vector_fit: VectorFit::Check,
        };
        let e = rules.check_plan(&p).unwrap_err().to_string();
        assert!(e.contains("\"[]\"") && e.contains("emb.v") && e.contains("length is 4"));
        rules.vector_fit = VectorFit::Truncate;
        assert!(rules.check_plan(&p).is_err());
        rules.vector_fit = VectorFit::Pad;
        assert!(rules.check_plan(&p).is_ok());
        rules.vector_fit = VectorFit::Keep;
        assert!(rules.check_plan(&p).is_ok());
    }

    #[test]
    fn bool_vectors_are_unkept() {
        let e = StoreRules::unkept(&plan()).unwrap().to_string();
        assert!(e.contains("flags.b"), "{e}");
    }

    #[test]
    fn fit_parses() {
        for (s, f) in [
            ("pad", VectorFit::Pad),
            ("pad,truncate", VectorFit::PadTruncate),
            ("KEEP", VectorFit::Keep),
        ] {
            assert_eq!(s.parse::<VectorFit>().unwrap(), f);
        }
        assert!("fit"
            .parse::<VectorFit>()
            .unwrap_err()
            .contains("pad-truncate"));
    }
}
