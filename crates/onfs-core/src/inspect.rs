//! Messages as JSON lines: `{"intra_batch_id": N, "value_hex": "...", "query": {...}}`, the query
//! in proto3 JSON with the proto's field names (int64/uint64 as strings), printed exactly as
//! Python's `json.dumps(..., ensure_ascii=False)` prints `MessageToDict`, so lines can be diffed
//! against the original client's output.

use std::fmt::Write;

use prost::Message;

use crate::encode::pyfmt;
use crate::proto::{Data, FeatureGroupSchema, Query, Values};

/// One message as a JSON line (no trailing newline).
pub fn message_json_line(intra_batch_id: i64, value: &[u8]) -> Result<String, prost::DecodeError> {
    let query = Query::decode(value)?;
    let mut out = String::with_capacity(value.len() * 4 + 64);
    let _ = write!(
        out,
        "{{\"intra_batch_id\": {intra_batch_id}, \"value_hex\": \""
    );
    for b in value {
        let _ = write!(out, "{b:02x}");
    }
    out.push_str("\", \"query\": ");
    write_query(&mut out, &query);
    out.push('}');
    Ok(out)
}

/// A decoded query as proto3 JSON in Python's `json.dumps` layout.
pub fn query_json(query: &Query) -> String {
    let mut out = String::new();
    write_query(&mut out, query);
    out
}

/// Writes `{"k": v, ...}` leaving out empty fields, as `MessageToDict` does.
struct Obj<'o> {
    out: &'o mut String,
    first: bool,
}

impl<'o> Obj<'o> {
    fn open(out: &'o mut String) -> Obj<'o> {
        out.push('{');
        Obj { out, first: true }
    }

    fn key(&mut self, k: &str) -> &mut String {
        if !self.first {
            self.out.push_str(", ");
        }
        self.first = false;
        write_str(self.out, k);
        self.out.push_str(": ");
        self.out
    }

    fn list<T>(&mut self, k: &str, items: &[T], mut f: impl FnMut(&mut String, &T)) {
        if items.is_empty() {
            return;
        }
        let out = self.key(k);
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            f(out, item);
        }
        out.push(']');
    }

    fn close(self) {
        self.out.push('}');
    }
}

fn write_query(out: &mut String, q: &Query) {
    let mut o = Obj::open(out);
    if !q.entity_label.is_empty() {
        write_str(o.key("entity_label"), &q.entity_label);
    }
    o.list("keys_schema", &q.keys_schema, |out, s| write_str(out, s));
    o.list(
        "feature_group_schema",
        &q.feature_group_schema,
        write_fg_schema,
    );
    o.list("data", &q.data, write_data);
    o.close();
}

fn write_fg_schema(out: &mut String, g: &FeatureGroupSchema) {
    let mut o = Obj::open(out);
    if !g.label.is_empty() {
        write_str(o.key("label"), &g.label);
    }
    o.list("feature_labels", &g.feature_labels, |out, s| {
        write_str(out, s)
    });
    o.close();
}

fn write_data(out: &mut String, d: &Data) {
    let mut o = Obj::open(out);
    o.list("key_values", &d.key_values, |out, s| write_str(out, s));
    o.list("feature_values", &d.feature_values, |out, fv| {
        let mut o = Obj::open(out);
        if let Some(v) = &fv.values {
            write_values(o.key("values"), v);
        }
        o.close();
    });
    o.close();
}

fn write_values(out: &mut String, v: &Values) {
    let mut o = Obj::open(out);
    o.list("fp32_values", &v.fp32_values, |out, x| {
        write_double(out, *x)
    });
    o.list("fp64_values", &v.fp64_values, |out, x| {
        write_double(out, *x)
    });
    o.list("int32_values", &v.int32_values, |out, x| {
        let _ = write!(out, "{x}");
    });
    o.list("int64_values", &v.int64_values, |out, x| {
        let _ = write!(out, "\"{x}\"");
    });
    o.list("uint32_values", &v.uint32_values, |out, x| {
        let _ = write!(out, "{x}");
    });
    o.list("uint64_values", &v.uint64_values, |out, x| {
        let _ = write!(out, "\"{x}\"");
    });
    o.list("string_values", &v.string_values, |out, s| {
        write_str(out, s)
    });
    o.list("bool_values", &v.bool_values, |out, b| {
        out.push_str(if *b { "true" } else { "false" })
    });
    o.list("vector", &v.vector, |out, vec| {
        let mut o = Obj::open(out);
        if let Some(v) = &vec.values {
            write_values(o.key("values"), v);
        }
        o.close();
    });
    o.close();
}

fn write_double(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("\"NaN\"");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        pyfmt::write_float(out, x);
    }
}

/// A JSON string as Python's `json.dumps(ensure_ascii=False)` writes it.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_python() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\nd\u{1}é日");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é日\"");
    }

    #[test]
    fn empty_vector_values_show_as_empty_object() {
        let q = Query {
            entity_label: "u".into(),
            data: vec![Data {
                key_values: vec!["1".into()],
                feature_values: vec![crate::proto::FeatureValues {
                    values: Some(Values {
                        vector: vec![crate::proto::Vector {
                            values: Some(Values::default()),
                        }],
                        fp64_values: vec![f64::NAN, 1.0],
                        ..Default::default()
                    }),
                }],
            }],
            ..Default::default()
        };
        assert_eq!(
            query_json(&q),
            r#"{"entity_label": "u", "data": [{"key_values": ["1"], "feature_values": [{"values": {"fp64_values": ["NaN", 1.0], "vector": [{"values": {}}]}}]}]}"#
        );
    }
}
