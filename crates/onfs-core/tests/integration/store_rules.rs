//! The online store's rules on real data: the reference case `all-types` (ragged vectors in every
//! vector feature, as the original client sends them), declared lengths, padding, truncating.

use std::sync::Arc;

use onfs_core::proto::Values;
use onfs_core::store::{FirstLengths, StoreError};
use onfs_core::{EncodeError, EncodeStats, Encoder, EncoderOptions, StoreRules, VectorFit};

use crate::support::*;

const VECTOR_GROUPS: [&str; 15] = [
    "fg_fp8e5m2vector",
    "fg_fp8e4m3vector",
    "fg_fp16vector",
    "fg_fp32vector",
    "fg_fp64vector",
    "fg_int8vector",
    "fg_int16vector",
    "fg_int32vector",
    "fg_int64vector",
    "fg_uint8vector",
    "fg_uint16vector",
    "fg_uint32vector",
    "fg_uint64vector",
    "fg_stringvector",
    "fg_boolvector",
];

fn all_types() -> (onfs_core::Plan, Vec<arrow_array::RecordBatch>) {
    let dir = reference_case("all-types");
    let plan = plan_of(
        &std::fs::read_to_string(dir.join("metadata.json")).unwrap(),
        &[],
    );
    (plan, read_parquet(&dir.join("input.parquet")))
}

fn encode_with(
    store: StoreRules,
) -> Result<(Vec<onfs_core::EncodedMessage>, EncodeStats), EncodeError> {
    let (plan, batches) = all_types();
    let mut enc = Encoder::try_new(
        &plan,
        EncoderOptions {
            batch_size: 7,
            store,
            ..Default::default()
        },
    )?;
    let mut out = Vec::new();
    for b in &batches {
        enc.encode_into(b, &mut out)?;
    }
    out.extend(enc.finish());
    Ok((out, enc.stats().clone()))
}

fn declared(n: usize, fit: VectorFit) -> StoreRules {
    StoreRules {
        vector_lengths: VECTOR_GROUPS
            .iter()
            .map(|g| (format!("{g}.v1"), n))
            .collect(),
        vector_fit: fit,
    }
}

/// The number of elements a `Values` holds, whatever its field.
fn count(v: &Values) -> usize {
    v.fp32_values.len()
        + v.fp64_values.len()
        + v.int32_values.len()
        + v.int64_values.len()
        + v.uint32_values.len()
        + v.uint64_values.len()
        + v.string_values.len()
        + v.bool_values.len()
}

/// Per vector group, per row in order: the row's vector.
fn vectors(messages: &[onfs_core::EncodedMessage]) -> Vec<Vec<Values>> {
    let mut per_group = vec![Vec::new(); VECTOR_GROUPS.len()];
    for m in messages {
        let q = decode(m);
        for d in &q.data {
            for (i, fv) in d.feature_values.iter().skip(15).enumerate() {
                let v = fv.values.as_ref().unwrap().vector[0].values.clone();
                per_group[i].push(v.unwrap_or_default());
            }
        }
    }
    per_group
}

#[test]
fn all_types_is_ragged_in_every_vector_feature_and_the_error_names_each() {
    let (messages, stats) = encode_with(StoreRules::default()).unwrap();
    assert_eq!(messages.len(), 8);
    assert_eq!(stats.max_rows_per_message, 7);
    let err = stats.check_vector_lengths().unwrap_err();
    let StoreError::Ragged(features) = &err else {
        panic!("{err}")
    };
    assert_eq!(features.len(), 15, "{err}");
    let text = err.to_string();
    for g in VECTOR_GROUPS {
        assert!(
            text.contains(&format!("{g}.v1 (column \"all_types___{g}___v1\"): length")),
            "{g}: {text}"
        );
    }
    // Every length found, its rows and example keys; the rows add up to the 50 of the case.
    for f in features {
        assert!(f.lengths.len() > 1);
        assert_eq!(f.lengths.iter().map(|c| c.rows).sum::<u64>(), 50);
        assert!(f.lengths.iter().all(|c| !c.example_keys.is_empty()
            && c.example_keys.iter().all(|k| k.starts_with("user_id="))));
    }
    assert!(text.contains("keeps one length per feature"), "{text}");
}

#[test]
fn keep_sends_the_original_bytes_and_checks_nothing() {
    let (messages, stats) = encode_with(StoreRules {
        vector_fit: VectorFit::Keep,
        ..Default::default()
    })
    .unwrap();
    let expected =
        std::fs::read_to_string(reference_case("all-types").join("expected/messages.jsonl"))
            .unwrap();
    for (m, line) in messages.iter().zip(expected.lines()) {
        let want: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(hex(&m.value), want["value_hex"].as_str().unwrap());
    }
    assert!(stats.check_vector_lengths().is_ok());
}

#[test]
fn declared_lengths_with_pad_give_every_row_the_length_and_zeros_after_the_values() {
    let (raw, _) = encode_with(StoreRules {
        vector_fit: VectorFit::Keep,
        ..Default::default()
    })
    .unwrap();
    let raw = vectors(&raw);
    let longest = raw.iter().flat_map(|g| g.iter().map(count)).max().unwrap();
    let (messages, stats) = encode_with(declared(longest, VectorFit::Pad)).unwrap();
    stats.check_vector_lengths().unwrap();
    let padded = vectors(&messages);
    for (g, (before, after)) in raw.iter().zip(&padded).enumerate() {
        let mut short = 0;
        for (b, a) in before.iter().zip(after) {
            assert_eq!(count(a), longest, "{}", VECTOR_GROUPS[g]);
            let n = count(b);
            short += (n < longest) as u64;
            // The row's own values first, then the element type's zero.
            let zeros = |v: &Values| -> bool {
                v.fp32_values[n.min(v.fp32_values.len())..]
                    .iter()
                    .all(|x| *x == 0.0)
                    && v.fp64_values[n.min(v.fp64_values.len())..]
                        .iter()
                        .all(|x| *x == 0.0)
                    && v.int32_values[n.min(v.int32_values.len())..]
                        .iter()
                        .all(|x| *x == 0)
                    && v.int64_values[n.min(v.int64_values.len())..]
                        .iter()
                        .all(|x| *x == 0)
                    && v.uint32_values[n.min(v.uint32_values.len())..]
                        .iter()
                        .all(|x| *x == 0)
                    && v.uint64_values[n.min(v.uint64_values.len())..]
                        .iter()
                        .all(|x| *x == 0)
                    && v.string_values[n.min(v.string_values.len())..]
                        .iter()
                        .all(String::is_empty)
                    && v.bool_values[n.min(v.bool_values.len())..]
                        .iter()
                        .all(|x| !x)
            };
            assert!(zeros(a), "{}: {a:?}", VECTOR_GROUPS[g]);
            let head = |v: &Values| {
                let mut c = v.clone();
                c.fp32_values.truncate(n);
                c.fp64_values.truncate(n);
                c.int32_values.truncate(n);
                c.int64_values.truncate(n);
                c.uint32_values.truncate(n);
                c.uint64_values.truncate(n);
                c.string_values.truncate(n);
                c.bool_values.truncate(n);
                c
            };
            assert_eq!(&head(a), b, "{}", VECTOR_GROUPS[g]);
        }
        assert_eq!(stats.vectors[g].padded_rows, short);
        assert!(short > 0);
        assert_eq!(stats.vectors[g].truncated_rows, 0);
    }
}

#[test]
fn truncate_cuts_longer_rows_and_pad_refuses_them() {
    let (messages, stats) = encode_with(declared(1, VectorFit::PadTruncate)).unwrap();
    for g in vectors(&messages) {
        assert!(g.iter().all(|v| count(v) == 1));
    }
    assert!(stats
        .vectors
        .iter()
        .all(|t| t.truncated_rows > 0 && t.padded_rows > 0));
    // Longer rows with pad only, shorter rows with truncate only: errors naming the key.
    let err = encode_with(declared(1, VectorFit::Pad))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fg_fp8e5m2vector.v1") && err.contains("key user_id="),
        "{err}"
    );
    assert!(err.contains("its declared length is 1"), "{err}");
    let err = encode_with(declared(1, VectorFit::Truncate))
        .unwrap_err()
        .to_string();
    assert!(err.contains("has 0 elements for key user_id=0"), "{err}");
}

#[test]
fn declared_length_with_check_fails_at_the_first_row_of_another_length() {
    let err = encode_with(declared(3, VectorFit::Check)).unwrap_err();
    let EncodeError::Store(store) = err else {
        panic!("{err}")
    };
    match *store {
        StoreError::WrongLength {
            feature,
            key,
            found,
            expected,
            ..
        } => {
            assert_eq!(feature, "fg_fp8e5m2vector.v1");
            assert_eq!(key, "user_id=0");
            assert_eq!((found, expected), (0, 3));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn sending_while_encoding_fails_at_the_first_row_unlike_the_first() {
    let (plan, batches) = all_types();
    let first = Arc::new(FirstLengths::new(&plan));
    // Two encoders of one run share the first lengths.
    let opts = EncoderOptions {
        batch_size: 7,
        first_lengths: Some(first),
        ..Default::default()
    };
    let mut a = Encoder::new(&plan, opts.clone());
    let mut b = Encoder::new(&plan, opts);
    let one = batches[0].slice(0, 1);
    a.encode(&one).unwrap();
    let err = b.encode(&batches[0].slice(1, 1)).unwrap_err().to_string();
    assert!(
        err.contains("has 1 elements for key user_id=")
            && err.contains("the rows before it have length 0"),
        "{err}"
    );
}

#[test]
fn unknown_vector_names_fail_the_encoder() {
    let (plan, _) = all_types();
    let e = Encoder::try_new(
        &plan,
        EncoderOptions {
            store: StoreRules {
                vector_lengths: vec![("fg_fp32.f1".into(), 3)],
                vector_fit: VectorFit::Check,
            },
            ..Default::default()
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("\"fg_fp32.f1\", which is not a vector feature"),
        "{e}"
    );
}
