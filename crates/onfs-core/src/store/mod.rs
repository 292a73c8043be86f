//! The online store's rules, checked before anything is sent: the store keeps one vector length
//! per feature and drops a whole message for one vector of another length; it cannot keep some
//! types (bool vectors). See the README's "What the store keeps".

mod lengths;
mod rules;

use std::sync::OnceLock;

pub use lengths::{check_tallies, merge_tallies, LengthCount, RaggedFeature, VectorTally};
pub use rules::{StoreRules, VectorFit, VectorSpec};

/// The first length seen per vector feature, shared by the encoders of a run that sends while
/// encoding: a row of another length fails at once, before its message is sent.
#[derive(Debug, Default)]
pub struct FirstLengths(Vec<OnceLock<usize>>);

impl FirstLengths {
    /// One slot per vector feature of `plan`.
    pub fn new(plan: &crate::Plan) -> FirstLengths {
        let n = plan
            .feature_groups
            .iter()
            .filter(|g| g.data_type.vector)
            .map(|g| g.columns.len())
            .sum();
        FirstLengths((0..n).map(|_| OnceLock::new()).collect())
    }

    /// The first length of vector feature `slot`, `length` if it is the first.
    #[inline]
    pub fn first(&self, slot: usize, length: usize) -> usize {
        match self.0.get(slot) {
            Some(cell) => *cell.get_or_init(|| length),
            None => length,
        }
    }
}

/// Why a run would lose rows in the store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Vector features whose rows have more than one length.
    #[error("{}", ragged_text(.0))]
    Ragged(Vec<RaggedFeature>),

    /// A row whose vector is not of the declared length (or, sending while encoding, of the
    /// first rows' length).
    #[error("vector feature {feature} (column {column:?}) has {found} elements for key {key}, but {basis} {expected}; the online store would drop the whole message holding it. {what}")]
    WrongLength {
        feature: String,
        column: String,
        key: String,
        found: usize,
        expected: usize,
        basis: &'static str,
        what: &'static str,
    },

    /// A declared length names no vector feature of the plan.
    #[error("vector length given for {name:?}, which {why}; vector features: {known}")]
    UnknownFeature {
        name: String,
        why: &'static str,
        known: String,
    },

    /// A vector default of another length than the declared one.
    #[error("the default {default:?} of vector feature {feature} (column {column:?}) has {found} elements, but its length is {expected}; rows filled with it would be dropped by the store")]
    DefaultLength {
        feature: String,
        column: String,
        default: String,
        found: usize,
        expected: usize,
    },

    /// Features of a type the store cannot keep.
    #[error("the online store cannot keep {}: {}", .data_type, .features.join(", "))]
    Unkept {
        data_type: String,
        features: Vec<String>,
    },

    /// A changed-only push of more feature groups than a row's set of groups can name.
    #[error("a changed-only push tracks at most {max} feature groups per job and this one pushes {groups}; split the job by feature groups")]
    TooManyGroups { groups: usize, max: usize },
}

fn ragged_text(features: &[RaggedFeature]) -> String {
    let mut s = format!(
        "{} vector feature{} of more than one length; the online store keeps one length per feature and drops every message holding a vector of another length, with all its rows:",
        features.len(),
        if features.len() == 1 { " has rows" } else { "s have rows" }
    );
    for f in features {
        s.push_str("\n  ");
        s.push_str(&f.to_string());
    }
    s.push_str("\nDeclare each feature's registered length (and pad or truncate the rows that differ), or fix the data");
    s
}
