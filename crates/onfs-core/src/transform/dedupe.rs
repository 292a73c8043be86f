//! Entity keys seen more than once after the join: an error, a warning (both rows sent, as the
//! original does), or one row kept.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use arrow_array::{Array, BooleanArray, RecordBatch};

use crate::encode::key_text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDuplicateKey {
    /// Fail, naming the key.
    Error,
    /// Count, show examples, send every row.
    #[default]
    Warn,
    /// Keep the first row of each key.
    KeepAny,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entity key {key} appears more than once after the join; pass --on-duplicate-key warn or keep-any to send anyway")]
pub struct DuplicateKeyError {
    pub key: String,
}

/// Tracks the keys seen so far (a 64-bit hash each).
pub struct DuplicateKeys {
    mode: OnDuplicateKey,
    key_columns: Vec<String>,
    seen: HashSet<u64>,
    scratch: String,
    /// Rows whose key was seen before.
    pub duplicates: u64,
    /// Up to 5 of those keys.
    pub examples: Vec<String>,
}

impl DuplicateKeys {
    pub fn new(mode: OnDuplicateKey, key_columns: &[String]) -> Self {
        DuplicateKeys {
            mode,
            key_columns: key_columns.to_vec(),
            seen: HashSet::new(),
            scratch: String::new(),
            duplicates: 0,
            examples: Vec::new(),
        }
    }

    /// Checks a batch; in keep-any mode returns it without the repeated keys.
    pub fn process(&mut self, batch: &RecordBatch) -> Result<RecordBatch, DuplicateKeyError> {
        let keys: Vec<&dyn Array> = self
            .key_columns
            .iter()
            .map(|c| batch.column_by_name(c).map(|a| a.as_ref()))
            .collect::<Option<_>>()
            .expect("key columns present (checked by the plan)");
        let mut keep: Option<Vec<bool>> =
            (self.mode == OnDuplicateKey::KeepAny).then(|| vec![true; batch.num_rows()]);
        for row in 0..batch.num_rows() {
            if keys.iter().any(|k| k.is_null(row)) {
                continue; // dropped by the encoder
            }
            self.scratch.clear();
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    self.scratch.push('\u{1f}');
                }
                key_text(*k, row, &mut self.scratch);
            }
            let mut h = std::hash::DefaultHasher::new();
            self.scratch.hash(&mut h);
            if self.seen.insert(h.finish()) {
                continue;
            }
            self.duplicates += 1;
            let shown = || {
                self.key_columns
                    .iter()
                    .zip(self.scratch.split('\u{1f}'))
                    .map(|(c, v)| format!("{c}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match self.mode {
                OnDuplicateKey::Error => return Err(DuplicateKeyError { key: shown() }),
                OnDuplicateKey::Warn | OnDuplicateKey::KeepAny => {
                    if self.examples.len() < 5 {
                        let s = shown();
                        self.examples.push(s);
                    }
                    if let Some(k) = keep.as_mut() {
                        k[row] = false;
                    }
                }
            }
        }
        match keep {
            Some(k) if k.iter().any(|x| !x) => Ok(arrow_select::filter::filter_record_batch(
                batch,
                &BooleanArray::from(k),
            )
            .expect("same length")),
            _ => Ok(batch.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn batch(keys: &[Option<&str>]) -> RecordBatch {
        let k: arrow_array::ArrayRef = Arc::new(arrow_array::StringArray::from(keys.to_vec()));
        RecordBatch::try_from_iter([("id", k)]).unwrap()
    }

    #[test]
    fn modes() {
        let cols = vec!["id".to_string()];
        let b = batch(&[Some("a"), Some("b"), Some("a"), None, None]);
        let mut warn = DuplicateKeys::new(OnDuplicateKey::Warn, &cols);
        assert_eq!(warn.process(&b).unwrap().num_rows(), 5);
        assert_eq!(warn.duplicates, 1);
        assert_eq!(warn.examples, vec!["id=a"]);
        let mut keep = DuplicateKeys::new(OnDuplicateKey::KeepAny, &cols);
        assert_eq!(keep.process(&b).unwrap().num_rows(), 4);
        assert_eq!(
            keep.process(&batch(&[Some("b")])).unwrap().num_rows(),
            0,
            "across batches"
        );
        let mut err = DuplicateKeys::new(OnDuplicateKey::Error, &cols);
        assert_eq!(err.process(&b).unwrap_err().key, "id=a");
    }
}
