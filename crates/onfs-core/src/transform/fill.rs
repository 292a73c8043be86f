//! Nulls filled with the metadata's default, cast to the column's type (`"0"`, `"-1.5"`,
//! `"false"`, `"unknown"`; `"[a,b]"` and `"[]"` for vectors), counted per column.

use std::sync::Arc;

use arrow_array::{
    new_empty_array, Array, ArrayRef, BooleanArray, RecordBatch, Scalar, StringArray,
};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error("the default {default:?} of feature column {column:?} does not parse as its type {arrow_type}: {reason}")]
    BadDefault {
        column: String,
        default: String,
        arrow_type: String,
        reason: String,
    },
    #[error("feature column {column:?} is missing after the join")]
    MissingColumn { column: String },
}

fn bad(column: &str, default: &str, t: &DataType, reason: impl Into<String>) -> FillError {
    FillError::BadDefault {
        column: column.to_string(),
        default: default.to_string(),
        arrow_type: t.to_string(),
        reason: reason.into(),
    }
}

/// Casts text elements to `t`; integers also accept integral decimals ("0.0").
fn cast_texts(texts: &[&str], t: &DataType) -> Result<ArrayRef, String> {
    let strings = StringArray::from(texts.to_vec());
    let opts = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    match arrow_cast::cast_with_options(&strings, t, &opts) {
        Ok(a) => Ok(a),
        Err(e) if t.is_integer() => {
            let as_float = arrow_cast::cast_with_options(&strings, &DataType::Float64, &opts)
                .map_err(|_| e.to_string())?;
            let floats = arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Float64Type>(
                &as_float,
            );
            if floats.values().iter().any(|f| f.fract() != 0.0) {
                return Err(e.to_string());
            }
            arrow_cast::cast_with_options(&as_float, t, &opts).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The elements of a vector default `"[a,b,...]"` (`"[]"`: none), as text; `None` when it is not
/// written in brackets. Text elements keep their spaces, numbers are trimmed.
pub fn vector_default_elements(default: &str, is_text: bool) -> Option<Vec<&str>> {
    let inner = default.trim();
    let inner = inner.strip_prefix('[').and_then(|s| s.strip_suffix(']'))?;
    Some(if inner.trim().is_empty() {
        Vec::new()
    } else if is_text {
        inner.split(',').collect()
    } else {
        inner.split(',').map(str::trim).collect()
    })
}

/// The default of `column` as a one-row array of type `t`.
pub fn parse_default(column: &str, default: &str, t: &DataType) -> Result<ArrayRef, FillError> {
    let list_item = |f: &FieldRef| f.data_type().clone();
    let (item, kind): (DataType, u8) = match t {
        DataType::List(f) => (list_item(f), 0),
        DataType::LargeList(f) => (list_item(f), 1),
        DataType::FixedSizeList(f, _) => (list_item(f), 2),
        _ => {
            return cast_texts(&[default], t).map_err(|r| bad(column, default, t, r));
        }
    };
    let is_text = matches!(
        item,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let Some(elems) = vector_default_elements(default, is_text) else {
        return Err(bad(
            column,
            default,
            t,
            "a vector default is written [a,b,...]",
        ));
    };
    let values = if elems.is_empty() {
        new_empty_array(&item)
    } else {
        cast_texts(&elems, &item).map_err(|r| bad(column, default, t, r))?
    };
    let n = values.len();
    let field = match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f.clone(),
        _ => unreachable!(),
    };
    Ok(match kind {
        0 => Arc::new(arrow_array::ListArray::new(
            field,
            OffsetBuffer::new(ScalarBuffer::from(vec![0i32, n as i32])),
            values,
            None,
        )),
        1 => Arc::new(arrow_array::LargeListArray::new(
            field,
            OffsetBuffer::new(ScalarBuffer::from(vec![0i64, n as i64])),
            values,
            None,
        )),
        _ => {
            let DataType::FixedSizeList(_, size) = t else {
                unreachable!()
            };
            if n != *size as usize {
                return Err(bad(
                    column,
                    default,
                    t,
                    format!("the vector has {n} elements, the column {size}"),
                ));
            }
            Arc::new(arrow_array::FixedSizeListArray::new(
                field, *size, values, None,
            ))
        }
    })
}

/// The defaults of a set of columns, ready to fill batches.
#[derive(Debug, Clone)]
pub struct DefaultFill {
    columns: Vec<(String, Scalar<ArrayRef>)>,
    /// Nulls filled so far, per column (same order as `columns`).
    pub filled: Vec<u64>,
}

impl DefaultFill {
    /// `defaults`: `(column, default text)`; the types come from `schema`.
    pub fn new(
        schema: &arrow_schema::Schema,
        defaults: &[(String, String)],
    ) -> Result<DefaultFill, FillError> {
        let mut columns = Vec::with_capacity(defaults.len());
        for (name, default) in defaults {
            let field = schema
                .field_with_name(name)
                .map_err(|_| FillError::MissingColumn {
                    column: name.clone(),
                })?;
            let value = parse_default(name, default, field.data_type())?;
            columns.push((name.clone(), Scalar::new(value)));
        }
        let n = columns.len();
        Ok(DefaultFill {
            columns,
            filled: vec![0; n],
        })
    }

    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(c, _)| c.as_str())
    }

    /// The batch with every null of a default-carrying column replaced.
    pub fn fill(&mut self, batch: &RecordBatch) -> Result<RecordBatch, FillError> {
        let schema = batch.schema();
        let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
        for (i, (name, default)) in self.columns.iter().enumerate() {
            let idx = schema
                .index_of(name)
                .map_err(|_| FillError::MissingColumn {
                    column: name.clone(),
                })?;
            let col = &arrays[idx];
            let nulls = col.null_count();
            if nulls == 0 {
                continue;
            }
            self.filled[i] += nulls as u64;
            // True where the column has a value.
            let mask =
                BooleanArray::new(col.nulls().expect("null_count > 0").inner().clone(), None);
            let filled =
                arrow_select::zip::zip(&mask, col, default).map_err(|e| FillError::BadDefault {
                    column: name.clone(),
                    default: String::new(),
                    arrow_type: col.data_type().to_string(),
                    reason: e.to_string(),
                })?;
            arrays[idx] = filled;
        }
        // Filled columns hold no null any more; the schema keeps its nullability flags.
        Ok(RecordBatch::try_new(schema, arrays).expect("same shapes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_schema::Field;

    fn list_of(t: DataType) -> DataType {
        DataType::List(Arc::new(Field::new("item", t, true)))
    }

    #[test]
    fn scalars_cast_to_the_column_type() {
        let v = parse_default("c", "0", &DataType::Int64).unwrap();
        assert_eq!(v.as_primitive::<Int64Type>().value(0), 0);
        let v = parse_default("c", "0.0", &DataType::Int32).unwrap();
        assert_eq!(v.as_primitive::<Int32Type>().value(0), 0);
        let v = parse_default("c", "-1.5", &DataType::Float32).unwrap();
        assert_eq!(v.as_primitive::<Float32Type>().value(0), -1.5);
        let v = parse_default("c", "false", &DataType::Boolean).unwrap();
        assert!(!v.as_boolean().value(0));
        let v = parse_default("c", "unknown", &DataType::Utf8).unwrap();
        assert_eq!(v.as_string::<i32>().value(0), "unknown");
        let e = parse_default("col_x", "abc", &DataType::Int64).unwrap_err();
        assert!(
            e.to_string().contains("\"col_x\"") && e.to_string().contains("\"abc\""),
            "{e}"
        );
        assert!(parse_default("c", "1.5", &DataType::Int64).is_err());
    }

    #[test]
    fn vectors() {
        let v = parse_default("c", "[0,0,0]", &list_of(DataType::Float32)).unwrap();
        assert_eq!(v.as_list::<i32>().value(0).len(), 3);
        let v = parse_default("c", "[]", &list_of(DataType::Int64)).unwrap();
        assert_eq!(v.as_list::<i32>().value(0).len(), 0);
        let v = parse_default("c", "[none]", &list_of(DataType::Utf8)).unwrap();
        assert_eq!(
            v.as_list::<i32>().value(0).as_string::<i32>().value(0),
            "none"
        );
        let v = parse_default("c", "[1, 2]", &list_of(DataType::Int16)).unwrap();
        assert_eq!(
            v.as_list::<i32>()
                .value(0)
                .as_primitive::<Int16Type>()
                .values(),
            &[1, 2]
        );
        assert!(parse_default("c", "0", &list_of(DataType::Int64)).is_err());
        assert!(parse_default("c", "[a]", &list_of(DataType::Int64)).is_err());
    }

    #[test]
    fn fill_replaces_nulls_and_counts_them() {
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("v", list_of(DataType::Float32), true),
        ]));
        let a: ArrayRef = Arc::new(arrow_array::Int64Array::from(vec![Some(1), None, None]));
        let v: ArrayRef = Arc::new(arrow_array::ListArray::from_iter_primitive::<
            Float32Type,
            _,
            _,
        >(vec![None, Some(vec![Some(1.0)]), None]));
        let batch = RecordBatch::try_new(schema.clone(), vec![a, v]).unwrap();
        let mut fill = DefaultFill::new(
            &schema,
            &[("a".into(), "7".into()), ("v".into(), "[0,0]".into())],
        )
        .unwrap();
        let out = fill.fill(&batch).unwrap();
        assert_eq!(
            out.column(0).as_primitive::<Int64Type>().values(),
            &[1, 7, 7]
        );
        assert_eq!(out.column(0).null_count(), 0);
        let v = out.column(1).as_list::<i32>();
        assert_eq!(v.null_count(), 0);
        assert_eq!(v.value(0).len(), 2);
        assert_eq!(v.value(1).len(), 1);
        assert_eq!(fill.filled, vec![2, 2]);
    }
}
