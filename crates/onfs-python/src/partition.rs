//! The partition order of the command line (`onfs_core::partition_order`), for `read_features`.

use pyo3::prelude::*;

/// The newest of a set of partition values (folder names): numeric order when every value is a
/// plain number, else text order; None for an empty set.
#[pyfunction]
pub fn newest_partition(values: Vec<String>) -> Option<String> {
    onfs_core::partition_order::newest(&values)
}

/// The values from `start` to `end` (inclusive), in order, by the same rule.
#[pyfunction]
pub fn partitions_in_range(values: Vec<String>, start: &str, end: &str) -> Vec<String> {
    onfs_core::partition_order::in_range(&values, start, end)
}
