//! Changed-only encoding: each row carries a set of the plan's feature groups to send (a bit
//! per group, in plan order), and rows with the same set share messages (the store's consumer
//! takes any subset of an entity's groups, each group complete).

use std::collections::HashMap;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_select::take::take_record_batch;

use super::{EncodeError, EncodeStats, EncodedMessage, Encoder, EncoderOptions};
use crate::{Plan, StoreError};

/// The most feature groups a set can name (one bit each).
pub const MAX_GROUPS: usize = 64;

/// The set of every one of `groups` groups.
pub fn every_group(groups: usize) -> u64 {
    if groups >= MAX_GROUPS {
        u64::MAX
    } else {
        (1u64 << groups) - 1
    }
}

/// Whether a changed-only push can track `groups` feature groups (a bit each).
pub fn check_group_count(groups: usize) -> Result<(), StoreError> {
    if groups > MAX_GROUPS {
        return Err(StoreError::TooManyGroups {
            groups,
            max: MAX_GROUPS,
        });
    }
    Ok(())
}

/// An encoder per set of groups some rows send; every group's is made at once, the others as
/// rows need them.
pub struct GroupSetEncoder {
    plan: Plan,
    options: EncoderOptions,
    every: Encoder,
    subsets: HashMap<u64, Encoder>,
    /// Rows whose set was empty: nothing to send.
    unchanged: u64,
}

impl GroupSetEncoder {
    /// Sets of groups ([`GroupSetEncoder::encode_into`]) need a plan of at most [`MAX_GROUPS`]
    /// groups ([`check_group_count`]); every row with every group, any plan.
    pub fn try_new(plan: &Plan, options: EncoderOptions) -> Result<GroupSetEncoder, StoreError> {
        Ok(GroupSetEncoder {
            every: Encoder::try_new(plan, options.clone())?,
            plan: plan.clone(),
            options,
            subsets: HashMap::new(),
            unchanged: 0,
        })
    }

    /// Encodes every row with every group.
    pub fn encode_all_into(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<EncodedMessage>,
    ) -> Result<(), EncodeError> {
        self.every.encode_into(batch, out)
    }

    /// Encodes each row of `batch` with the groups of its set in `sets` (one per row); rows
    /// with an empty set are counted, not sent.
    pub fn encode_into(
        &mut self,
        batch: &RecordBatch,
        sets: &[u64],
        out: &mut Vec<EncodedMessage>,
    ) -> Result<(), EncodeError> {
        debug_assert_eq!(sets.len(), batch.num_rows());
        let every = every_group(self.plan.feature_groups.len());
        if sets.iter().all(|s| *s == every) {
            return self.every.encode_into(batch, out);
        }
        let mut distinct: Vec<u64> = sets.iter().copied().filter(|s| *s != 0).collect();
        distinct.sort_unstable();
        distinct.dedup();
        self.unchanged += sets.iter().filter(|s| **s == 0).count() as u64;
        for set in distinct {
            let rows: UInt32Array = sets
                .iter()
                .enumerate()
                .filter(|(_, s)| **s == set)
                .map(|(i, _)| i as u32)
                .collect();
            let part = take_record_batch(batch, &rows).expect("indices are rows of the batch");
            let encoder = if set == every {
                &mut self.every
            } else {
                match self.subsets.entry(set) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(Encoder::try_for_groups(
                            &self.plan,
                            |g| set >> g & 1 == 1,
                            self.options.clone(),
                        )?)
                    }
                }
            };
            encoder.encode_into(&part, out)?;
        }
        Ok(())
    }

    /// The last messages of every encoder.
    pub fn finish(&mut self) -> Vec<EncodedMessage> {
        let mut last = self.every.finish();
        for e in self.subsets.values_mut() {
            last.extend(e.finish());
        }
        last
    }

    /// Every encoder's counts, merged.
    pub fn stats(&self) -> EncodeStats {
        let mut stats = self.every.stats().clone();
        for e in self.subsets.values() {
            stats.merge(e.stats());
        }
        stats
    }

    /// Rows encoded so far, by every encoder.
    pub fn rows(&self) -> u64 {
        self.every.stats().rows + self.subsets.values().map(|e| e.stats().rows).sum::<u64>()
    }

    /// Rows with nothing to send so far.
    pub fn unchanged(&self) -> u64 {
        self.unchanged
    }

    /// Every column the encoders read (`Plan::input_columns`).
    pub fn input_columns(&self) -> &[String] {
        self.every.input_columns()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, StringArray};

    use super::*;

    fn plan() -> Plan {
        let meta = crate::metadata::Metadata::from_json(
            r#"{"keys":{"user":["id"]},"data":[{"storage-provider":"TABLE","base-path":[{"source-base-path":"db.t","data-paths":[
              {"entity-label":"user","feature-group-label":"orders","feature-label":"n","source-data-column":"n","default-value":"0","data-type":"DataTypeInt64"},
              {"entity-label":"user","feature-group-label":"profile","feature-label":"s","source-data-column":"s","default-value":"x","data-type":"DataTypeString"}
            ]}]}]}"#,
        )
        .unwrap();
        Plan::build(&meta, &[]).unwrap()
    }

    fn batch(plan: &Plan) -> RecordBatch {
        let cols = plan.input_columns();
        RecordBatch::try_from_iter([
            (
                cols[0].as_str(),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])) as ArrayRef,
            ),
            (
                cols[1].as_str(),
                Arc::new(Int64Array::from(vec![10, 20, 30, 40, 50])) as ArrayRef,
            ),
            (
                cols[2].as_str(),
                Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e"])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    /// Each message's groups and row count.
    fn shapes(messages: &[EncodedMessage]) -> Vec<(usize, u32)> {
        let mut out: Vec<(usize, u32)> = messages
            .iter()
            .map(|m| {
                let groups = crate::inspect::message_summary(&m.value, 0)
                    .unwrap()
                    .groups
                    .len();
                (groups, crate::proto::count_rows(&m.value))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn rows_of_one_set_of_groups_share_messages_and_empty_sets_are_counted() {
        let plan = plan();
        let options = EncoderOptions {
            batch_size: 10,
            ..Default::default()
        };
        let mut e = GroupSetEncoder::try_new(&plan, options).unwrap();
        let mut out = Vec::new();
        // Rows 1 and 4 send orders, row 2 profile, row 3 both, row 5 nothing.
        e.encode_into(&batch(&plan), &[0b01, 0b10, 0b11, 0b01, 0], &mut out)
            .unwrap();
        out.extend(e.finish());
        assert_eq!(shapes(&out), vec![(1, 1), (1, 2), (2, 1)]);
        assert_eq!((e.rows(), e.unchanged(), e.stats().rows), (4, 1, 4));
        // Every group for every row: one message of all five.
        let mut all = GroupSetEncoder::try_new(&plan, EncoderOptions::default()).unwrap();
        let mut out = Vec::new();
        all.encode_all_into(&batch(&plan), &mut out).unwrap();
        out.extend(all.finish());
        assert_eq!(shapes(&out), vec![(2, 5)]);
    }

    #[test]
    fn a_set_names_at_most_64_groups() {
        assert!(check_group_count(64).is_ok());
        let e = check_group_count(65).unwrap_err();
        assert!(e.to_string().contains("at most 64"), "{e}");
        assert_eq!(every_group(2), 0b11);
        assert_eq!(every_group(64), u64::MAX);
    }
}
