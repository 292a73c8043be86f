//! The lengths a run's vectors have, per feature: counted while encoding, merged across
//! encoders, and checked before anything is sent.

use std::fmt;

use super::StoreError;

/// How many example keys are kept per length.
const EXAMPLES: usize = 3;

/// Rows of one length.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LengthCount {
    pub length: usize,
    pub rows: u64,
    pub example_keys: Vec<String>,
}

/// The lengths seen in one vector feature, and the rows fitted to its declared length.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VectorTally {
    /// `GROUP.FEATURE`.
    pub feature: String,
    pub column: String,
    /// The declared length, if any.
    pub expected: Option<usize>,
    /// The lengths the rows came with (before any fitting), in first-seen order.
    pub lengths: Vec<LengthCount>,
    pub padded_rows: u64,
    pub truncated_rows: u64,
    /// The feature's default and its length, for the error's hint.
    pub default: String,
    pub default_len: Option<usize>,
}

impl VectorTally {
    /// Counts a row of the first length seen once its examples are kept, the common case;
    /// false when the row needs `count`.
    #[inline(always)]
    pub fn count_common(&mut self, length: usize) -> bool {
        match self.lengths.first_mut() {
            Some(c) if c.length == length && c.example_keys.len() == EXAMPLES => {
                c.rows += 1;
                true
            }
            _ => false,
        }
    }

    /// Counts a row of `length`; `key` is asked for only when the example is kept.
    pub fn count(&mut self, length: usize, key: impl FnOnce() -> String) {
        if self.count_common(length) {
            return;
        }
        match self.lengths.iter_mut().find(|c| c.length == length) {
            Some(c) => {
                c.rows += 1;
                if c.example_keys.len() < EXAMPLES {
                    c.example_keys.push(key());
                }
            }
            None => self.lengths.push(LengthCount {
                length,
                rows: 1,
                example_keys: vec![key()],
            }),
        }
    }

    /// The length the feature's rows share, if they share one.
    pub fn single_length(&self) -> Option<usize> {
        match self.lengths.as_slice() {
            [one] => Some(one.length),
            _ => None,
        }
    }

    /// Adds another encoder's counts of the same feature.
    pub fn merge(&mut self, other: &VectorTally) {
        self.padded_rows += other.padded_rows;
        self.truncated_rows += other.truncated_rows;
        for c in &other.lengths {
            match self.lengths.iter_mut().find(|m| m.length == c.length) {
                Some(m) => {
                    m.rows += c.rows;
                    let room = EXAMPLES.saturating_sub(m.example_keys.len());
                    m.example_keys
                        .extend(c.example_keys.iter().take(room).cloned());
                }
                None => self.lengths.push(c.clone()),
            }
        }
    }
}

/// A vector feature whose rows have more than one length.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RaggedFeature {
    pub feature: String,
    pub column: String,
    /// Most rows first.
    pub lengths: Vec<LengthCount>,
    pub default: String,
    pub default_len: Option<usize>,
}

impl fmt::Display for RaggedFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (column {:?}): ", self.feature, self.column)?;
        for (i, c) in self.lengths.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "length {} in {} row{} (e.g. {})",
                c.length,
                c.rows,
                if c.rows == 1 { "" } else { "s" },
                c.example_keys.join(", ")
            )?;
        }
        if let Some(n) = self.default_len {
            if self.lengths.iter().any(|c| c.length == n) {
                write!(
                    f,
                    "; rows filled with the default {:?} have length {n}",
                    self.default
                )?;
            }
        }
        Ok(())
    }
}

/// Merges the tallies of several encoders (same plan, same order).
pub fn merge_tallies(into: &mut Vec<VectorTally>, other: &[VectorTally]) {
    // By feature: encoders of different group subsets (changed-only pushes) count different
    // features.
    for b in other {
        match into.iter_mut().find(|a| a.feature == b.feature) {
            Some(a) => a.merge(b),
            None => into.push(b.clone()),
        }
    }
}

/// An error naming every feature whose rows have more than one length.
pub fn check_tallies(tallies: &[VectorTally]) -> Result<(), StoreError> {
    let ragged: Vec<RaggedFeature> = tallies
        .iter()
        .filter(|t| t.expected.is_none() && t.lengths.len() > 1)
        .map(|t| {
            let mut lengths = t.lengths.clone();
            lengths.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.length.cmp(&b.length)));
            RaggedFeature {
                feature: t.feature.clone(),
                column: t.column.clone(),
                lengths,
                default: t.default.clone(),
                default_len: t.default_len,
            }
        })
        .collect();
    if ragged.is_empty() {
        Ok(())
    } else {
        Err(StoreError::Ragged(ragged))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(rows: &[(usize, &str)]) -> VectorTally {
        let mut t = VectorTally {
            feature: "g.f".into(),
            column: "t___g___f".into(),
            default: "[]".into(),
            default_len: Some(0),
            ..Default::default()
        };
        for (len, key) in rows {
            t.count(*len, || key.to_string());
        }
        t
    }

    #[test]
    fn one_length_passes() {
        let t = tally(&[(3, "a"), (3, "b"), (3, "c")]);
        assert_eq!(t.single_length(), Some(3));
        assert!(check_tallies(&[t]).is_ok());
    }

    #[test]
    fn ragged_names_lengths_counts_keys_and_the_default() {
        let mut a = tally(&[(3, "id=1"), (0, "id=2"), (3, "id=3")]);
        let b = tally(&[(0, "id=4"), (5, "id=5"), (3, "id=6"), (3, "id=7")]);
        a.merge(&b);
        let e = check_tallies(&[a]).unwrap_err().to_string();
        assert!(
            e.starts_with("1 vector feature has rows of more than one length"),
            "{e}"
        );
        assert!(
            e.contains("g.f (column \"t___g___f\"): length 3 in 4 rows (e.g. id=1, id=3, id=6); length 0 in 2 rows (e.g. id=2, id=4); length 5 in 1 row (e.g. id=5); rows filled with the default \"[]\" have length 0"),
            "{e}"
        );
    }

    #[test]
    fn merge_into_empty_takes_the_other() {
        let mut all = Vec::new();
        merge_tallies(&mut all, &[tally(&[(1, "a")])]);
        merge_tallies(&mut all, &[tally(&[(2, "b")])]);
        assert_eq!(all[0].lengths.len(), 2);
    }
}
