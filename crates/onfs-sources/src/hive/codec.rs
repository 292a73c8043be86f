//! Thrift values read and written generically: a struct is its fields by id, so a caller picks
//! the fields it knows and fields added by newer metastores are skipped rather than misread.

use std::collections::BTreeMap;

use thrift::protocol::{
    TFieldIdentifier, TInputProtocol, TListIdentifier, TMapIdentifier, TOutputProtocol,
    TSetIdentifier, TStructIdentifier, TType,
};

/// How deep an answer may nest before it is refused.
pub const MAX_DEPTH: u8 = 32;

/// A Thrift value, as read from or written to the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    Double(f64),
    Str(String),
    Struct(BTreeMap<i16, Value>),
    List(TType, Vec<Value>),
    Set(TType, Vec<Value>),
    Map(TType, TType, Vec<(Value, Value)>),
}

impl Value {
    fn ttype(&self) -> TType {
        match self {
            Value::Bool(_) => TType::Bool,
            Value::I8(_) => TType::I08,
            Value::I16(_) => TType::I16,
            Value::I32(_) => TType::I32,
            Value::I64(_) => TType::I64,
            Value::Double(_) => TType::Double,
            Value::Str(_) => TType::String,
            Value::Struct(_) => TType::Struct,
            Value::List(..) => TType::List,
            Value::Set(..) => TType::Set,
            Value::Map(..) => TType::Map,
        }
    }

    /// Field `id` of a struct.
    pub fn field(&self, id: i16) -> Option<&Value> {
        match self {
            Value::Struct(f) => f.get(&id),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items of a list or a set.
    pub fn list(&self) -> &[Value] {
        match self {
            Value::List(_, v) | Value::Set(_, v) => v,
            _ => &[],
        }
    }

    /// A `map<string,string>` as pairs.
    pub fn string_map(&self) -> BTreeMap<String, String> {
        match self {
            Value::Map(_, _, kv) => kv
                .iter()
                .filter_map(|(k, v)| Some((k.str()?.to_string(), v.str()?.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// A struct from `(field id, value)` pairs.
    pub fn record(fields: impl IntoIterator<Item = (i16, Value)>) -> Value {
        Value::Struct(fields.into_iter().collect())
    }

    pub fn string(s: &str) -> Value {
        Value::Str(s.to_string())
    }

    pub fn strings(items: &[&str]) -> Value {
        Value::List(
            TType::String,
            items.iter().map(|s| Value::string(s)).collect(),
        )
    }

    pub fn structs(items: Vec<Value>) -> Value {
        Value::List(TType::Struct, items)
    }

    pub fn string_pairs(items: &[(&str, &str)]) -> Value {
        Value::Map(
            TType::String,
            TType::String,
            items
                .iter()
                .map(|(k, v)| (Value::string(k), Value::string(v)))
                .collect(),
        )
    }
}

/// Reads one value of type `t`, refusing answers nested deeper than `depth`.
pub fn read_value(p: &mut dyn TInputProtocol, t: TType, depth: u8) -> thrift::Result<Value> {
    if depth == 0 {
        return Err(thrift::Error::from(thrift::ProtocolError::new(
            thrift::ProtocolErrorKind::DepthLimit,
            "the answer nests too deep",
        )));
    }
    Ok(match t {
        TType::Bool => Value::Bool(p.read_bool()?),
        TType::I08 => Value::I8(p.read_i8()?),
        TType::I16 => Value::I16(p.read_i16()?),
        TType::I32 => Value::I32(p.read_i32()?),
        TType::I64 => Value::I64(p.read_i64()?),
        TType::Double => Value::Double(p.read_double()?),
        TType::String => Value::Str(String::from_utf8_lossy(&p.read_bytes()?).into_owned()),
        TType::Struct => {
            p.read_struct_begin()?;
            let mut fields = BTreeMap::new();
            loop {
                let f = p.read_field_begin()?;
                if f.field_type == TType::Stop {
                    break;
                }
                let v = read_value(p, f.field_type, depth - 1)?;
                if let Some(id) = f.id {
                    fields.insert(id, v);
                }
                p.read_field_end()?;
            }
            p.read_struct_end()?;
            Value::Struct(fields)
        }
        TType::List => {
            let l = p.read_list_begin()?;
            let items = read_items(p, l.element_type, l.size, depth)?;
            p.read_list_end()?;
            Value::List(l.element_type, items)
        }
        TType::Set => {
            let s = p.read_set_begin()?;
            let items = read_items(p, s.element_type, s.size, depth)?;
            p.read_set_end()?;
            Value::Set(s.element_type, items)
        }
        TType::Map => {
            let m = p.read_map_begin()?;
            let (kt, vt) = (
                m.key_type.unwrap_or(TType::String),
                m.value_type.unwrap_or(TType::String),
            );
            let mut items = Vec::with_capacity(m.size.max(0) as usize);
            for _ in 0..m.size {
                let k = read_value(p, kt, depth - 1)?;
                let v = read_value(p, vt, depth - 1)?;
                items.push((k, v));
            }
            p.read_map_end()?;
            Value::Map(kt, vt, items)
        }
        other => {
            p.skip(other)?;
            Value::Bool(false)
        }
    })
}

fn read_items(
    p: &mut dyn TInputProtocol,
    element: TType,
    size: i32,
    depth: u8,
) -> thrift::Result<Vec<Value>> {
    let mut items = Vec::with_capacity(size.max(0) as usize);
    for _ in 0..size {
        items.push(read_value(p, element, depth - 1)?);
    }
    Ok(items)
}

pub fn write_value(p: &mut dyn TOutputProtocol, v: &Value) -> thrift::Result<()> {
    match v {
        Value::Bool(b) => p.write_bool(*b),
        Value::I8(i) => p.write_i8(*i),
        Value::I16(i) => p.write_i16(*i),
        Value::I32(i) => p.write_i32(*i),
        Value::I64(i) => p.write_i64(*i),
        Value::Double(d) => p.write_double(*d),
        Value::Str(s) => p.write_string(s),
        Value::Struct(fields) => {
            p.write_struct_begin(&TStructIdentifier::new("s"))?;
            for (id, f) in fields {
                p.write_field_begin(&TFieldIdentifier::new("f", f.ttype(), *id))?;
                write_value(p, f)?;
                p.write_field_end()?;
            }
            p.write_field_stop()?;
            p.write_struct_end()
        }
        Value::List(t, items) => {
            p.write_list_begin(&TListIdentifier::new(*t, items.len() as i32))?;
            for i in items {
                write_value(p, i)?;
            }
            p.write_list_end()
        }
        Value::Set(t, items) => {
            p.write_set_begin(&TSetIdentifier::new(*t, items.len() as i32))?;
            for i in items {
                write_value(p, i)?;
            }
            p.write_set_end()
        }
        Value::Map(kt, vt, items) => {
            p.write_map_begin(&TMapIdentifier::new(*kt, *vt, items.len() as i32))?;
            for (k, v) in items {
                write_value(p, k)?;
                write_value(p, v)?;
            }
            p.write_map_end()
        }
    }
}

#[cfg(test)]
mod tests {
    use thrift::protocol::{TBinaryInputProtocol, TBinaryOutputProtocol};

    use super::*;

    fn round_trip(v: &Value) -> Value {
        let mut buf = Vec::new();
        {
            let mut out = TBinaryOutputProtocol::new(&mut buf, true);
            write_value(&mut out, v).unwrap();
        }
        let mut input = TBinaryInputProtocol::new(&buf[..], true);
        read_value(&mut input, v.ttype(), MAX_DEPTH).unwrap()
    }

    #[test]
    fn values_round_trip_through_the_binary_protocol() {
        let v = Value::record([
            (1, Value::string("t")),
            (2, Value::Bool(true)),
            (3, Value::I8(-3)),
            (4, Value::I16(7)),
            (5, Value::I32(-1)),
            (6, Value::I64(1 << 40)),
            (7, Value::Double(0.25)),
            (8, Value::strings(&["a", "b"])),
            (
                9,
                Value::Set(TType::I32, vec![Value::I32(1), Value::I32(2)]),
            ),
            (10, Value::string_pairs(&[("k", "v")])),
            (
                11,
                Value::structs(vec![Value::record([(1, Value::I64(2))])]),
            ),
        ]);
        assert_eq!(round_trip(&v), v);
    }

    #[test]
    fn doubles_keep_their_fraction() {
        assert_eq!(
            round_trip(&Value::record([(1, Value::Double(2.5))])).field(1),
            Some(&Value::Double(2.5))
        );
    }

    #[test]
    fn too_deep_an_answer_is_refused() {
        let mut v = Value::I32(1);
        for _ in 0..MAX_DEPTH {
            v = Value::record([(1, v)]);
        }
        let mut buf = Vec::new();
        write_value(&mut TBinaryOutputProtocol::new(&mut buf, true), &v).unwrap();
        let mut input = TBinaryInputProtocol::new(&buf[..], true);
        assert!(read_value(&mut input, TType::Struct, MAX_DEPTH).is_err());
    }
}
