//! Typed, allocation-free access to the Arrow arrays the encoder reads.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, BooleanArray, LargeStringArray, StringArray, StringViewArray};
use arrow_buffer::NullBuffer;
use arrow_schema::DataType as ArrowType;

use super::pyfmt;
use crate::datatype::Element;

/// The values of one primitive, boolean or string array.
pub(crate) enum LeafData<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    F16(&'a [half::f16]),
    F32(&'a [f32]),
    F64(&'a [f64]),
    Dec(&'a [i128], i8),
    Bool(&'a BooleanArray),
    Utf8(&'a StringArray),
    LargeUtf8(&'a LargeStringArray),
    Utf8View(&'a StringViewArray),
    Date32(&'a [i32]),
    Date64(&'a [i64]),
}

pub(crate) struct Leaf<'a> {
    pub data: LeafData<'a>,
    pub nulls: Option<&'a NullBuffer>,
}

/// A number read from a leaf, exact for integers and decimals.
pub(crate) enum Num {
    Int(i128),
    Float(f64),
    Dec(i128, i8),
}

impl<'a> Leaf<'a> {
    /// Binds any supported array; `None` for other types.
    pub fn bind(array: &'a dyn Array) -> Option<Leaf<'a>> {
        let data = match array.data_type() {
            ArrowType::Int8 => LeafData::I8(array.as_primitive::<Int8Type>().values()),
            ArrowType::Int16 => LeafData::I16(array.as_primitive::<Int16Type>().values()),
            ArrowType::Int32 => LeafData::I32(array.as_primitive::<Int32Type>().values()),
            ArrowType::Int64 => LeafData::I64(array.as_primitive::<Int64Type>().values()),
            ArrowType::UInt8 => LeafData::U8(array.as_primitive::<UInt8Type>().values()),
            ArrowType::UInt16 => LeafData::U16(array.as_primitive::<UInt16Type>().values()),
            ArrowType::UInt32 => LeafData::U32(array.as_primitive::<UInt32Type>().values()),
            ArrowType::UInt64 => LeafData::U64(array.as_primitive::<UInt64Type>().values()),
            ArrowType::Float16 => LeafData::F16(array.as_primitive::<Float16Type>().values()),
            ArrowType::Float32 => LeafData::F32(array.as_primitive::<Float32Type>().values()),
            ArrowType::Float64 => LeafData::F64(array.as_primitive::<Float64Type>().values()),
            ArrowType::Decimal128(_, scale) => {
                LeafData::Dec(array.as_primitive::<Decimal128Type>().values(), *scale)
            }
            ArrowType::Boolean => LeafData::Bool(array.as_boolean()),
            ArrowType::Utf8 => LeafData::Utf8(array.as_string::<i32>()),
            ArrowType::LargeUtf8 => LeafData::LargeUtf8(array.as_string::<i64>()),
            ArrowType::Utf8View => LeafData::Utf8View(array.as_string_view()),
            ArrowType::Date32 => LeafData::Date32(array.as_primitive::<Date32Type>().values()),
            ArrowType::Date64 => LeafData::Date64(array.as_primitive::<Date64Type>().values()),
            _ => return None,
        };
        Some(Leaf {
            data,
            nulls: array.logical_nulls_ref(),
        })
    }

    pub fn is_numeric(&self) -> bool {
        !matches!(
            self.data,
            LeafData::Bool(_)
                | LeafData::Utf8(_)
                | LeafData::LargeUtf8(_)
                | LeafData::Utf8View(_)
                | LeafData::Date32(_)
                | LeafData::Date64(_)
        )
    }

    pub fn is_integer(&self) -> bool {
        matches!(
            self.data,
            LeafData::I8(_)
                | LeafData::I16(_)
                | LeafData::I32(_)
                | LeafData::I64(_)
                | LeafData::U8(_)
                | LeafData::U16(_)
                | LeafData::U32(_)
                | LeafData::U64(_)
        )
    }

    /// Whether this leaf may feed an element of type `element`.
    pub fn can_feed(&self, element: Element) -> bool {
        match element {
            Element::String => !matches!(self.data, LeafData::Date32(_) | LeafData::Date64(_)),
            Element::Bool => matches!(self.data, LeafData::Bool(_)) || self.is_integer(),
            _ => self.is_numeric(),
        }
    }

    #[inline]
    pub fn is_null(&self, i: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(i))
    }

    #[inline]
    pub fn num(&self, i: usize) -> Num {
        match &self.data {
            LeafData::I8(v) => Num::Int(v[i] as i128),
            LeafData::I16(v) => Num::Int(v[i] as i128),
            LeafData::I32(v) => Num::Int(v[i] as i128),
            LeafData::I64(v) => Num::Int(v[i] as i128),
            LeafData::U8(v) => Num::Int(v[i] as i128),
            LeafData::U16(v) => Num::Int(v[i] as i128),
            LeafData::U32(v) => Num::Int(v[i] as i128),
            LeafData::U64(v) => Num::Int(v[i] as i128),
            LeafData::F16(v) => Num::Float(v[i].to_f64()),
            LeafData::F32(v) => Num::Float(v[i] as f64),
            LeafData::F64(v) => Num::Float(v[i]),
            LeafData::Dec(v, s) => Num::Dec(v[i], *s),
            LeafData::Bool(b) => Num::Int(b.value(i) as i128),
            _ => unreachable!("num() on a non-numeric leaf; checked by can_feed"),
        }
    }

    /// The value as a double (what `np.float32(x)` / `np.float64(x)` start from).
    #[inline]
    pub fn f64(&self, i: usize) -> f64 {
        match &self.data {
            LeafData::F32(v) => v[i] as f64,
            LeafData::F64(v) => v[i],
            _ => match self.num(i) {
                Num::Int(x) => x as f64,
                Num::Float(x) => x,
                Num::Dec(u, s) => {
                    let mut text = String::new();
                    pyfmt::write_decimal(&mut text, u, s);
                    text.parse().unwrap_or(f64::NAN)
                }
            },
        }
    }

    #[inline]
    pub fn bool(&self, i: usize) -> bool {
        match &self.data {
            LeafData::Bool(b) => b.value(i),
            _ => match self.num(i) {
                Num::Int(x) => x != 0,
                Num::Float(x) => x != 0.0,
                Num::Dec(u, _) => u != 0,
            },
        }
    }

    /// The string bytes of a string leaf.
    #[inline]
    pub fn str_bytes(&self, i: usize) -> Option<&'a [u8]> {
        match &self.data {
            LeafData::Utf8(a) => Some(a.value(i).as_bytes()),
            LeafData::LargeUtf8(a) => Some(a.value(i).as_bytes()),
            LeafData::Utf8View(a) => Some(a.value(i).as_bytes()),
            _ => None,
        }
    }

    /// Python `str()` of the value, appended to `out`.
    pub fn write_py_str(&self, i: usize, out: &mut String) {
        use std::fmt::Write;
        match &self.data {
            LeafData::Utf8(a) => out.push_str(a.value(i)),
            LeafData::LargeUtf8(a) => out.push_str(a.value(i)),
            LeafData::Utf8View(a) => out.push_str(a.value(i)),
            LeafData::Bool(b) => pyfmt::write_bool(out, b.value(i)),
            LeafData::Date32(v) => pyfmt::write_date(out, v[i] as i64),
            LeafData::Date64(v) => pyfmt::write_date(out, v[i].div_euclid(86_400_000)),
            _ => match self.num(i) {
                Num::Int(x) => {
                    let _ = write!(out, "{x}");
                }
                Num::Float(x) => pyfmt::write_float(out, x),
                Num::Dec(u, s) => pyfmt::write_decimal(out, u, s),
            },
        }
    }
}

/// The offsets of a list column: where each row's elements sit in the child array.
pub(crate) enum ListOffsets<'a> {
    I32(&'a [i32]),
    I64(&'a [i64]),
    Fixed(usize),
}

impl ListOffsets<'_> {
    #[inline]
    pub fn range(&self, row: usize) -> (usize, usize) {
        match self {
            ListOffsets::I32(o) => (o[row] as usize, o[row + 1] as usize),
            ListOffsets::I64(o) => (o[row] as usize, o[row + 1] as usize),
            ListOffsets::Fixed(n) => (row * n, row * n + n),
        }
    }
}

/// A feature column bound for encoding.
pub(crate) enum Bound<'a> {
    Scalar(Leaf<'a>),
    List {
        offsets: ListOffsets<'a>,
        nulls: Option<&'a NullBuffer>,
        child: Leaf<'a>,
    },
}

impl<'a> Bound<'a> {
    pub fn bind(array: &'a dyn Array) -> Option<Bound<'a>> {
        match array.data_type() {
            ArrowType::List(_) => {
                let l = array.as_list::<i32>();
                Some(Bound::List {
                    offsets: ListOffsets::I32(l.value_offsets()),
                    nulls: l.logical_nulls_ref(),
                    child: Leaf::bind(l.values().as_ref())?,
                })
            }
            ArrowType::LargeList(_) => {
                let l = array.as_list::<i64>();
                Some(Bound::List {
                    offsets: ListOffsets::I64(l.value_offsets()),
                    nulls: l.logical_nulls_ref(),
                    child: Leaf::bind(l.values().as_ref())?,
                })
            }
            ArrowType::FixedSizeList(_, n) => {
                let l = array.as_fixed_size_list();
                Some(Bound::List {
                    offsets: ListOffsets::Fixed(*n as usize),
                    nulls: l.logical_nulls_ref(),
                    child: Leaf::bind(l.values().as_ref())?,
                })
            }
            _ => Some(Bound::Scalar(Leaf::bind(array)?)),
        }
    }
}

/// `Array::logical_nulls` returns an owned buffer; the encoder only needs the physical one,
/// which equals the logical one for every type it accepts.
trait NullsRef {
    fn logical_nulls_ref(&self) -> Option<&NullBuffer>;
}

impl<T: Array + ?Sized> NullsRef for T {
    fn logical_nulls_ref(&self) -> Option<&NullBuffer> {
        self.nulls()
    }
}
