//! The ledger's hashes: one per row over the named columns (DataFusion's vectorized hashing,
//! a fixed seed), for an entity's key and for each feature group's values ([`HASH_SCHEME`]).
//! The command line and the Python package both hash here, so a ledger one wrote is compared
//! with by the other. Columns are hashed in one canonical Arrow type per kind of value
//! (strings as `Utf8`, bytes as `Binary`, lists as `List`, dictionaries as their values), so a
//! value read by DataFusion (string views) and by Spark (plain strings) hashes alike.
//!
//! [`HASH_SCHEME`]: crate::HASH_SCHEME

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field};
use datafusion_common::hash_utils::{create_hashes, RandomState};

/// The type a value of `t` is hashed as.
fn canonical(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, values) => canonical(values),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f) => DataType::List(Arc::new(Field::new(
            f.name(),
            canonical(f.data_type()),
            f.is_nullable(),
        ))),
        other => other.clone(),
    }
}

fn hashed_as(array: &ArrayRef) -> Result<ArrayRef, String> {
    let to = canonical(array.data_type());
    if &to == array.data_type() {
        return Ok(Arc::clone(array));
    }
    arrow_cast::cast(array, &to).map_err(|e| e.to_string())
}

/// One hash per row over `columns` of `batch`; `Err` names a column the batch lacks.
pub fn column_hashes(batch: &RecordBatch, columns: &[String]) -> Result<Vec<u64>, String> {
    let state = RandomState::with_seed(0x6f6e_6673);
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|c| {
            let array = batch
                .column_by_name(c)
                .ok_or_else(|| format!("column {c:?} is missing"))?;
            hashed_as(array).map_err(|e| format!("column {c:?}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut hashes = vec![0u64; batch.num_rows()];
    create_hashes(&arrays, &state, &mut hashes).map_err(|e| e.to_string())?;
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int64Array, LargeStringArray, StringArray, StringViewArray};

    use super::*;

    #[test]
    fn equal_values_hash_alike_and_columns_are_named() {
        let batch = RecordBatch::try_from_iter([
            ("k", Arc::new(Int64Array::from(vec![1, 2, 1])) as ArrayRef),
            (
                "v",
                Arc::new(StringArray::from(vec!["a", "b", "a"])) as ArrayRef,
            ),
        ])
        .unwrap();
        let h = column_hashes(&batch, &["k".into(), "v".into()]).unwrap();
        assert_eq!(h[0], h[2]);
        assert_ne!(h[0], h[1]);
        let e = column_hashes(&batch, &["w".into()]).unwrap_err();
        assert!(e.contains("\"w\""), "{e}");
    }

    #[test]
    fn strings_hash_alike_whatever_their_arrow_type() {
        let words = ["a", "a longer text than a view holds inline", "b"];
        let one = |v: ArrayRef| {
            let batch = RecordBatch::try_from_iter([("v", v)]).unwrap();
            column_hashes(&batch, &["v".into()]).unwrap()
        };
        let plain = one(Arc::new(StringArray::from(words.to_vec())));
        assert_eq!(one(Arc::new(StringViewArray::from(words.to_vec()))), plain);
        assert_eq!(one(Arc::new(LargeStringArray::from(words.to_vec()))), plain);
        // The hash is of the values: another value differs.
        assert_ne!(plain[0], plain[1]);
    }
}
