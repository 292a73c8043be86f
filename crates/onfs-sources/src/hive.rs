//! A Hive Metastore catalog: `db.table` resolved to its location, format and partition keys
//! through the metastore's Thrift API (binary protocol, buffered transport, the calls Hive 3
//! and 4 both serve: `get_table_req`, `get_databases`).
//!
//! Values are read generically (`Value`) and picked by field id, so fields added by newer
//! metastores are skipped rather than misread.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TFieldIdentifier, TInputProtocol, TListIdentifier,
    TMapIdentifier, TMessageIdentifier, TMessageType, TOutputProtocol, TStructIdentifier, TType,
};

use crate::catalog::{TableEntry, TableFormat};
use crate::SourceError;

/// A Thrift value, as read from or written to the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    Str(String),
    Struct(BTreeMap<i16, Value>),
    List(TType, Vec<Value>),
    Map(TType, TType, Vec<(Value, Value)>),
}

impl Value {
    fn ttype(&self) -> TType {
        match self {
            Value::Bool(_) => TType::Bool,
            Value::I16(_) => TType::I16,
            Value::I32(_) => TType::I32,
            Value::I64(_) => TType::I64,
            Value::Str(_) => TType::String,
            Value::Struct(_) => TType::Struct,
            Value::List(..) => TType::List,
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

    pub fn list(&self) -> &[Value] {
        match self {
            Value::List(_, v) => v,
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

fn read_value(p: &mut dyn TInputProtocol, t: TType, depth: u8) -> thrift::Result<Value> {
    if depth == 0 {
        return Err(thrift::Error::from(thrift::ProtocolError::new(
            thrift::ProtocolErrorKind::DepthLimit,
            "the answer nests too deep",
        )));
    }
    Ok(match t {
        TType::Bool => Value::Bool(p.read_bool()?),
        TType::I08 => Value::I16(p.read_i8()? as i16),
        TType::I16 => Value::I16(p.read_i16()?),
        TType::I32 => Value::I32(p.read_i32()?),
        TType::I64 => Value::I64(p.read_i64()?),
        TType::Double => Value::I64(p.read_double()? as i64),
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
        TType::List | TType::Set => {
            let (element, size) = if t == TType::List {
                let l = p.read_list_begin()?;
                (l.element_type, l.size)
            } else {
                let s = p.read_set_begin()?;
                (s.element_type, s.size)
            };
            let mut items = Vec::with_capacity(size.max(0) as usize);
            for _ in 0..size {
                items.push(read_value(p, element, depth - 1)?);
            }
            if t == TType::List {
                p.read_list_end()?;
            } else {
                p.read_set_end()?;
            }
            Value::List(element, items)
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

fn write_value(p: &mut dyn TOutputProtocol, v: &Value) -> thrift::Result<()> {
    match v {
        Value::Bool(b) => p.write_bool(*b),
        Value::I16(i) => p.write_i16(*i),
        Value::I32(i) => p.write_i32(*i),
        Value::I64(i) => p.write_i64(*i),
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

/// What a call answered: its result, or one of its declared exceptions (field id, text).
pub enum Answer {
    Ok(Option<Value>),
    Exception(i16, String),
}

/// A connection to one metastore.
pub struct HiveMetastore {
    uri: String,
    input: TBinaryInputProtocol<BufReader<TcpStream>>,
    output: TBinaryOutputProtocol<BufWriter<TcpStream>>,
    seq: i32,
}

impl HiveMetastore {
    /// `thrift://HOST:PORT`.
    pub fn connect(uri: &str) -> Result<HiveMetastore, SourceError> {
        let usage = |why: &str| {
            SourceError::Usage(format!(
                "Hive Metastore {uri:?}: {why}; expected thrift://HOST:PORT"
            ))
        };
        let addr = uri
            .strip_prefix("thrift://")
            .ok_or_else(|| usage("not a thrift:// URI"))?
            .trim_end_matches('/');
        let unreachable = |e: std::io::Error| SourceError::Catalog {
            catalog: format!("Hive Metastore {uri}"),
            problem: format!("cannot connect: {e}; check --hive-metastore and that it runs"),
        };
        let sock = addr
            .to_socket_addrs()
            .map_err(unreachable)?
            .next()
            .ok_or_else(|| usage("the host does not resolve"))?;
        let stream =
            TcpStream::connect_timeout(&sock, Duration::from_secs(10)).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .map_err(unreachable)?;
        let reader = stream.try_clone().map_err(unreachable)?;
        Ok(HiveMetastore {
            uri: uri.to_string(),
            input: TBinaryInputProtocol::new(BufReader::new(reader), true),
            output: TBinaryOutputProtocol::new(BufWriter::new(stream), true),
            seq: 0,
        })
    }

    fn failed(&self, call: &str, e: impl std::fmt::Display) -> SourceError {
        SourceError::Catalog {
            catalog: format!("Hive Metastore {}", self.uri),
            problem: format!("{call} failed: {e}"),
        }
    }

    /// Calls `name` with the argument struct's fields; returns field 0 (the result) or the
    /// exception the call declared.
    pub fn call(&mut self, name: &str, args: Vec<(i16, Value)>) -> Result<Answer, SourceError> {
        self.seq += 1;
        let seq = self.seq;
        let sent = (|| -> thrift::Result<()> {
            self.output.write_message_begin(&TMessageIdentifier::new(
                name,
                TMessageType::Call,
                seq,
            ))?;
            write_value(&mut self.output, &Value::record(args))?;
            self.output.write_message_end()?;
            self.output.flush()?;
            Ok(())
        })();
        sent.map_err(|e| self.failed(name, e))?;
        let answer = (|| -> thrift::Result<(TMessageIdentifier, Value)> {
            let m = self.input.read_message_begin()?;
            let v = read_value(&mut self.input, TType::Struct, 32)?;
            self.input.read_message_end()?;
            Ok((m, v))
        })();
        let (m, v) = answer.map_err(|e| self.failed(name, e))?;
        if m.message_type == TMessageType::Exception {
            let text = v
                .field(1)
                .and_then(Value::str)
                .unwrap_or("application error");
            return Err(self.failed(name, text));
        }
        if let Value::Struct(fields) = &v {
            for (id, f) in fields {
                if *id != 0 {
                    let text = f
                        .field(1)
                        .and_then(Value::str)
                        .unwrap_or("an exception")
                        .to_string();
                    return Ok(Answer::Exception(*id, text));
                }
            }
        }
        Ok(Answer::Ok(v.field(0).cloned()))
    }

    /// The table's location, format and partition keys; None when the metastore has no such
    /// table (or database).
    pub fn table(&mut self, db: &str, table: &str) -> Result<Option<HiveTable>, SourceError> {
        let req = Value::record([(1, Value::string(db)), (2, Value::string(table))]);
        match self.call("get_table_req", vec![(1, req)])? {
            Answer::Ok(Some(result)) => {
                let t = result
                    .field(1)
                    .ok_or_else(|| self.failed("get_table_req", "an answer without a table"))?;
                Ok(Some(HiveTable::from_thrift(t)))
            }
            Answer::Ok(None) => Ok(None),
            // NoSuchObjectException
            Answer::Exception(2, _) => Ok(None),
            Answer::Exception(_, text) => Err(self.failed("get_table_req", text)),
        }
    }
}

/// A table as the metastore describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct HiveTable {
    pub location: String,
    pub format: Option<TableFormat>,
    pub partition_keys: Vec<String>,
    /// What the metastore says of the format, for an error when it is neither.
    pub described_as: String,
}

impl HiveTable {
    fn from_thrift(t: &Value) -> HiveTable {
        let sd = t.field(7);
        let params = t.field(9).map(Value::string_map).unwrap_or_default();
        let serde = sd.and_then(|s| s.field(7));
        let serde_params = serde.and_then(|s| s.field(3)).map(Value::string_map);
        let input_format = sd
            .and_then(|s| s.field(3))
            .and_then(Value::str)
            .unwrap_or("")
            .to_string();
        let serde_lib = serde
            .and_then(|s| s.field(2))
            .and_then(Value::str)
            .unwrap_or("")
            .to_string();
        let provider = params
            .get("spark.sql.sources.provider")
            .map(|p| p.to_ascii_lowercase());
        let format = match provider.as_deref() {
            Some("delta") => Some(TableFormat::Delta),
            Some("parquet") => Some(TableFormat::Parquet),
            Some(_) => None,
            None if params
                .get("table_type")
                .is_some_and(|t| t.eq_ignore_ascii_case("delta")) =>
            {
                Some(TableFormat::Delta)
            }
            None if input_format.to_ascii_lowercase().contains("parquet")
                || serde_lib.to_ascii_lowercase().contains("parquet") =>
            {
                Some(TableFormat::Parquet)
            }
            None => None,
        };
        // Spark's data source tables keep their real path in the serde's `path`.
        let location = serde_params
            .as_ref()
            .and_then(|p| p.get("path").cloned())
            .filter(|_| provider.is_some())
            .or_else(|| {
                sd.and_then(|s| s.field(2))
                    .and_then(Value::str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let partition_keys = t
            .field(8)
            .map(|l| {
                l.list()
                    .iter()
                    .filter_map(|f| f.field(1).and_then(Value::str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        HiveTable {
            location,
            format,
            partition_keys,
            described_as: format!(
                "provider {}, input format {input_format:?}, serde {serde_lib:?}",
                provider.as_deref().unwrap_or("(none)")
            ),
        }
    }

    /// As a catalog entry (Parquet or Delta only).
    pub fn entry(&self, name: &str, uri: &str) -> Result<TableEntry, SourceError> {
        let format = self.format.ok_or_else(|| SourceError::Catalog {
            catalog: format!("Hive Metastore {uri}"),
            problem: format!(
                "table {name:?} is neither Parquet nor Delta ({}); only those can be read",
                self.described_as
            ),
        })?;
        if self.location.is_empty() {
            return Err(SourceError::Catalog {
                catalog: format!("Hive Metastore {uri}"),
                problem: format!("table {name:?} has no location"),
            });
        }
        Ok(TableEntry {
            format,
            location: self.location.clone(),
            partition_keys: self.partition_keys.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(params: &[(&str, &str)], input: &str, serde_params: &[(&str, &str)]) -> Value {
        let sd = Value::record([
            (2, Value::string("s3a://b/wh/t")),
            (3, Value::string(input)),
            (
                7,
                Value::record([
                    (2, Value::string("serde")),
                    (3, Value::string_pairs(serde_params)),
                ]),
            ),
        ]);
        Value::record([
            (1, Value::string("t")),
            (7, sd),
            (
                8,
                Value::structs(vec![Value::record([
                    (1, Value::string("process_date")),
                    (2, Value::string("string")),
                ])]),
            ),
            (9, Value::string_pairs(params)),
        ])
    }

    #[test]
    fn formats_locations_and_keys() {
        let hive = HiveTable::from_thrift(&table(
            &[],
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            &[],
        ));
        assert_eq!(hive.format, Some(TableFormat::Parquet));
        assert_eq!(hive.location, "s3a://b/wh/t");
        assert_eq!(hive.partition_keys, vec!["process_date"]);
        let spark = HiveTable::from_thrift(&table(
            &[("spark.sql.sources.provider", "delta")],
            "org.apache.hadoop.mapred.SequenceFileInputFormat",
            &[("path", "s3://b/delta/t")],
        ));
        assert_eq!(spark.format, Some(TableFormat::Delta));
        assert_eq!(spark.location, "s3://b/delta/t");
        let orc = HiveTable::from_thrift(&table(&[], "OrcInputFormat", &[]));
        let e = orc.entry("db.t", "thrift://h:1").unwrap_err().to_string();
        assert!(
            e.contains("neither Parquet nor Delta") && e.contains("db.t"),
            "{e}"
        );
    }

    #[test]
    fn values_round_trip_through_the_binary_protocol() {
        let v = table(&[("a", "b")], "parquet", &[("path", "x")]);
        let mut buf = Vec::new();
        {
            let mut out = TBinaryOutputProtocol::new(&mut buf, true);
            write_value(&mut out, &v).unwrap();
        }
        let mut input = TBinaryInputProtocol::new(&buf[..], true);
        assert_eq!(read_value(&mut input, TType::Struct, 32).unwrap(), v);
    }

    #[test]
    fn bad_uris_and_nothing_listening() {
        assert!(HiveMetastore::connect("http://h:9083").is_err());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = HiveMetastore::connect(&format!("thrift://127.0.0.1:{port}"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("cannot connect") && e.contains(&port.to_string()),
            "{e}"
        );
    }
}
