//! Byte-level fuzz targets, as property tests over bytes: the metadata JSON parser and the plan
//! (`Metadata::from_json`, `Plan::build`, `Encoder::try_new`), and inspect's decoder
//! (`inspect::message_json_line`, `proto_rows`) on random, cut and mutated input. The promise:
//! no panic, a precise error, and no allocation beyond a small multiple of the input.
//!
//! `PROPTEST_CASES=N` runs N cases instead of each test's default.

use onfs_core::inspect::message_json_line;
use onfs_core::{Encoder, EncoderOptions, Metadata, Plan};
use proptest::prelude::*;
use prost::Message;

use crate::harness::{config, largest_allocation};
use crate::support::*;

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Flip(prop::sample::Index, u8),
    Cut(prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
    /// A varint of ten 0xff bytes (a length or value claiming 2^64) at a position.
    HugeVarint(prop::sample::Index),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        4 => (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Edit::Flip(i, x)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Cut),
        2 => (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<prop::sample::Index>().prop_map(Edit::HugeVarint),
    ];
    prop::collection::vec(edit, 1..4)
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match e {
            Edit::Flip(i, x) if n > 0 => bytes[i.index(n)] ^= x,
            Edit::Cut(i) => bytes.truncate(i.index(n + 1)),
            Edit::Insert(i, b) => {
                let at = i.index(n + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Edit::HugeVarint(i) => {
                let at = i.index(n + 1);
                bytes.splice(at..at, [0xff; 9].into_iter().chain([0x01]));
            }
            Edit::Flip(..) => {}
        }
    }
    bytes
}

/// Runs one case, failing it when it allocates more than a small multiple of its input.
fn within_allocation(
    input: usize,
    case: impl FnOnce() -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    let (result, largest) = largest_allocation(case);
    prop_assert!(
        largest <= 16 * input + 64 * 1024,
        "allocated {} for {} bytes",
        largest,
        input
    );
    result
}

// ---------------------------------------------------------------------------------------------
// Metadata

/// Parses, plans and binds an encoder; every step either succeeds or gives an error that names
/// what is wrong, and a parsed answer reads back unchanged from its own JSON shape.
fn metadata_case(text: &str, groups: &[String]) -> Result<(), TestCaseError> {
    within_allocation(text.len(), || {
        let meta = match Metadata::from_json(text) {
            Ok(m) => m,
            Err(e) => {
                prop_assert!(!e.path.is_empty() && !e.problem.is_empty(), "{:?}", e);
                return Ok(());
            }
        };
        let back = Metadata::from_value(&meta.to_value());
        prop_assert_eq!(back.as_ref(), Ok(&meta));
        match Plan::build(&meta, groups) {
            Ok(plan) => {
                prop_assert!(!plan.feature_groups.is_empty());
                let enc = Encoder::try_new(&plan, EncoderOptions::default());
                prop_assert!(enc.is_ok(), "{:?}", enc.err());
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        Ok(())
    })
}

fn reference_metadata() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        std::fs::read_to_string(reference_case("all-types").join("metadata.json")).unwrap()
    })
}

/// Strings that stress names: empty, unicode, separators, URL schemes.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_]{1,6}",
        2 => "\\PC{0,8}",
        1 => Just(String::new()),
        2 => "(gs|s3|s3a|abfss|az|file|)(://|:/|)[a-zé日./ _-]{0,12}",
        1 => "[a-z]{0,4}\\.[a-z.]{0,6}",
    ]
}

fn data_type() -> impl Strategy<Value = String> {
    prop_oneof![
        20 => (prop::sample::select(&crate::encode_props::TYPES[..]), any::<bool>()).prop_map(|(t, v)| {
            format!("DataType{t}{}", if v { "Vector" } else { "" })
        }),
        1 => name(),
    ]
}

/// A metadata answer of the service's shape, with random names, kinds and types, and now and
/// then a field of the wrong JSON type.
fn metadata_doc() -> impl Strategy<Value = (serde_json::Value, Vec<String>)> {
    use serde_json::{json, Value};
    let path = (name(), name(), name(), name(), name(), data_type()).prop_map(
        |(entity, group, feature, column, default, dt)| {
            json!({"entity-label": entity, "feature-group-label": group, "feature-label": feature,
                   "source-data-column": column, "default-value": default, "data-type": dt})
        },
    );
    let source = prop_oneof![
        3 => "[a-z]{1,4}\\.[a-zé_]{1,6}",
        3 => "(gs|s3|s3a|abfss|az)://[a-z]{1,5}/[a-zé日. _-]{1,8}/?",
        1 => name(),
    ];
    let base = (source, prop::collection::vec(path, 1..4))
        .prop_map(|(source, paths)| json!({"source-base-path": source, "data-paths": paths}));
    let kind = prop_oneof![
        8 => prop::sample::select(vec![
            "TABLE", "PARQUET_GCS", "PARQUET_S3", "PARQUET_ADLS", "DELTA_GCS", "DELTA_S3", "DELTA_ADLS",
        ]).prop_map(String::from),
        1 => name(),
    ];
    let entry = (kind, prop::collection::vec(base, 1..3))
        .prop_map(|(kind, bases)| json!({"storage-provider": kind, "base-path": bases}));
    let odd = prop_oneof![
        Just(Value::Null),
        Just(json!(1)),
        Just(json!([])),
        Just(json!({})),
        Just(json!("x"))
    ];
    (
        prop::collection::vec(name(), 1..3),
        name(),
        prop::collection::vec(entry, 0..3),
        prop::option::weighted(
            0.05,
            (
                odd,
                prop::collection::vec(any::<prop::sample::Index>(), 1..4),
            ),
        ),
        prop::collection::vec(name(), 0..2),
    )
        .prop_map(|(cols, label, data, odd, groups)| {
            let mut doc = json!({"keys": {label: cols}, "data": data});
            // Replace one node (reached by indexes) with a value of another JSON type.
            if let Some((odd, at)) = odd {
                let mut pointer = String::new();
                let mut node = &doc;
                for i in &at {
                    node = match node {
                        Value::Object(m) if !m.is_empty() => {
                            let (k, v) = m.iter().nth(i.index(m.len())).unwrap();
                            pointer += &format!("/{}", k.replace('~', "~0").replace('/', "~1"));
                            v
                        }
                        Value::Array(a) if !a.is_empty() => {
                            let n = i.index(a.len());
                            pointer += &format!("/{n}");
                            &a[n]
                        }
                        _ => break,
                    };
                }
                *doc.pointer_mut(&pointer).unwrap() = odd;
            }
            (doc, groups)
        })
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn random_bytes_as_metadata_are_a_precise_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        metadata_case(&String::from_utf8_lossy(&bytes), &[])?;
    }

    #[test]
    fn mutated_metadata_parses_or_names_the_bad_field(edits in edits(), fgs in prop::collection::vec("fg_[a-z0-9]{1,10}", 0..2)) {
        let text = apply(reference_metadata().as_bytes().to_vec(), &edits);
        metadata_case(&String::from_utf8_lossy(&text), &fgs)?;
    }

    #[test]
    fn random_metadata_documents_plan_or_name_the_bad_field((doc, groups) in metadata_doc()) {
        metadata_case(&doc.to_string(), &groups)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Inspect's decoder

/// Decodes `value` as inspect does: a JSON line that is valid JSON and carries the value's hex,
/// or prost's error; `proto_rows` agrees with the decoded rows.
fn inspect_case(value: &[u8]) -> Result<(), TestCaseError> {
    within_allocation(value.len(), || {
        let rows = onfs_core::proto_rows(value);
        match message_json_line(7, value) {
            Ok(line) => {
                let json: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| TestCaseError::fail(format!("not JSON: {e}: {line}")))?;
                prop_assert_eq!(json["intra_batch_id"].as_i64(), Some(7));
                prop_assert_eq!(
                    json["value_hex"].as_str().map(str::len),
                    Some(value.len() * 2)
                );
                let q = onfs_core::proto::Query::decode(value).unwrap();
                // 0: a field the row count does not follow (a group), else every row.
                prop_assert!(
                    rows == q.data.len() as u32 || rows == 0,
                    "{} rows counted, {} decoded",
                    rows,
                    q.data.len()
                );
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        Ok(())
    })
}

/// A message of every data type, from the encoder.
fn valid_message() -> Vec<u8> {
    static VALUE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    VALUE.get_or_init(encode_sample).clone()
}

fn encode_sample() -> Vec<u8> {
    use arrow_array::*;
    use std::sync::Arc;
    let plan = plan_of(
        &metadata_json(&[
            ("a", "FP16", &["x"]),
            ("b", "Int64Vector", &["x", "y"]),
            ("c", "String", &["x"]),
            ("d", "BoolVector", &["x"]),
            ("e", "Uint64", &["x"]),
        ]),
        &[],
    );
    let list_i64: ArrayRef = Arc::new(ListArray::from_iter_primitive::<
        arrow_array::types::Int64Type,
        _,
        _,
    >(vec![
        Some(vec![Some(-1), Some(1 << 40)]),
        Some(vec![]),
    ]));
    let list_bool: ArrayRef = Arc::new({
        let mut b =
            arrow_array::builder::ListBuilder::new(arrow_array::builder::BooleanBuilder::new());
        b.append_value([Some(true), Some(false)]);
        b.append_value([Some(true)]);
        b.finish()
    });
    let b = batch(vec![
        (
            "user_id",
            Arc::new(StringArray::from(vec!["k1", "ké"])) as ArrayRef,
        ),
        (
            &col("a", "x"),
            Arc::new(Float64Array::from(vec![0.1, -65504.0])),
        ),
        (&col("b", "x"), list_i64.clone()),
        (&col("b", "y"), list_i64),
        (
            &col("c", "x"),
            Arc::new(StringArray::from(vec!["", "日\n\""])),
        ),
        (&col("d", "x"), list_bool),
        (
            &col("e", "x"),
            Arc::new(UInt64Array::from(vec![u64::MAX, 0])),
        ),
    ]);
    let m = encode_all(&plan, &[b], EncoderOptions::default()).unwrap();
    m[0].value.clone()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_bytes_as_a_message_are_a_precise_error(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        inspect_case(&bytes)?;
    }

    #[test]
    fn mutated_messages_decode_or_are_a_precise_error(edits in edits()) {
        inspect_case(&apply(valid_message(), &edits))?;
    }
}

/// A length prefix claiming 4 GiB (and a packed field claiming 2^64 bytes) is an error, not an
/// allocation.
#[test]
fn a_length_prefix_claiming_4_gib_is_a_decode_error() {
    for value in [
        vec![0x22, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a],
        vec![
            0x22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
    ] {
        let (result, largest) = largest_allocation(|| message_json_line(0, &value));
        assert!(result.is_err(), "{result:?}");
        assert!(largest < 64 * 1024, "allocated {largest}");
        assert_eq!(onfs_core::proto_rows(&value), 0);
    }
}
