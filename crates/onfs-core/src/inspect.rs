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

/// One message at a glance, for people: its size, its groups and its first rows in short.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageSummary {
    pub entity: String,
    pub rows: usize,
    pub bytes: usize,
    pub groups: Vec<String>,
    /// The first rows: the key, then each group's values, each value at most
    /// [`SHORT_VALUE`] characters and each vector its first elements.
    pub first_rows: Vec<String>,
}

/// The most characters of one value in [`MessageSummary::first_rows`].
pub const SHORT_VALUE: usize = 16;

/// The summary of a message, with at most `max_rows` rows decoded.
pub fn message_summary(
    value: &[u8],
    max_rows: usize,
) -> Result<MessageSummary, prost::DecodeError> {
    let q = Query::decode(value)?;
    let first_rows = q
        .data
        .iter()
        .take(max_rows)
        .map(|d| {
            let mut row = d.key_values.join("/");
            for (g, fv) in q.feature_group_schema.iter().zip(&d.feature_values) {
                let values = fv.values.as_ref().map(short_values).unwrap_or_default();
                let _ = write!(row, " {}: {}", g.label, values.join(", "));
            }
            row
        })
        .collect();
    Ok(MessageSummary {
        entity: q.entity_label.clone(),
        rows: q.data.len(),
        bytes: value.len(),
        groups: q
            .feature_group_schema
            .iter()
            .map(|g| g.label.clone())
            .collect(),
        first_rows,
    })
}

/// A text cut to `max` characters, `…` marking the cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Every value of a feature group's `Values`, shortened; vectors as `[a, b, c, …n]`.
fn short_values(v: &Values) -> Vec<String> {
    let mut out = Vec::new();
    let float = |x: f64| {
        let mut s = String::new();
        write_double(&mut s, x);
        s.trim_matches('"').to_string()
    };
    // fp32 values travel as doubles: shown with a float's own shortest digits.
    out.extend(v.fp32_values.iter().map(|x| {
        if x.is_finite() {
            format!("{:?}", *x as f32)
        } else {
            float(*x)
        }
    }));
    out.extend(v.fp64_values.iter().map(|x| float(*x)));
    out.extend(v.int32_values.iter().map(ToString::to_string));
    out.extend(v.int64_values.iter().map(ToString::to_string));
    out.extend(v.uint32_values.iter().map(ToString::to_string));
    out.extend(v.uint64_values.iter().map(ToString::to_string));
    out.extend(v.string_values.iter().map(|s| format!("{s:?}")));
    out.extend(v.bool_values.iter().map(ToString::to_string));
    let mut out: Vec<String> = out.into_iter().map(|s| shorten(&s, SHORT_VALUE)).collect();
    for vec in &v.vector {
        let items = vec.values.as_ref().map(short_values).unwrap_or_default();
        let shown = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        out.push(if items.len() > 3 {
            format!("[{shown}, …{}]", items.len())
        } else {
            format!("[{shown}]")
        });
    }
    out
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

    #[test]
    fn a_summary_shows_rows_in_short() {
        let q = Query {
            entity_label: "user".into(),
            keys_schema: vec!["user_id".into()],
            feature_group_schema: vec![FeatureGroupSchema {
                label: "taste".into(),
                feature_labels: vec!["name".into(), "v".into()],
            }],
            data: (0..3)
                .map(|i| Data {
                    key_values: vec![format!("u{i}")],
                    feature_values: vec![crate::proto::FeatureValues {
                        values: Some(Values {
                            string_values: vec!["x".repeat(40)],
                            vector: vec![crate::proto::Vector {
                                values: Some(Values {
                                    int32_values: vec![1, 2, 3, 4, 5],
                                    ..Default::default()
                                }),
                            }],
                            ..Default::default()
                        }),
                    }],
                })
                .collect(),
        };
        let bytes = q.encode_to_vec();
        let s = message_summary(&bytes, 2).unwrap();
        assert_eq!((s.rows, s.bytes), (3, bytes.len()));
        assert_eq!(s.groups, ["taste"]);
        assert_eq!(s.first_rows.len(), 2);
        assert_eq!(
            s.first_rows[0],
            format!("u0 taste: \"{}…, [1, 2, 3, …5]", "x".repeat(14))
        );
    }
}
