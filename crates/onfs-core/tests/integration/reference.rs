//! The original client's own output, reproduced byte for byte.

use onfs_core::inspect::message_json_line;
use onfs_core::EncoderOptions;
use serde_json::Value;

use crate::support::*;

fn check_encode_case(case: &str, batch_size: usize, groups: &[&str]) {
    let dir = reference_case(case);
    let plan = plan_of(
        &std::fs::read_to_string(dir.join("metadata.json")).unwrap(),
        groups,
    );
    let batches = read_parquet(&dir.join("input.parquet"));
    let messages = encode_all(
        &plan,
        &batches,
        EncoderOptions {
            batch_size,
            ..Default::default()
        },
    )
    .unwrap();
    let expected = std::fs::read_to_string(dir.join("expected/messages.jsonl")).unwrap();
    let expected: Vec<&str> = expected.lines().collect();
    assert_eq!(messages.len(), expected.len(), "{case}: message count");
    for (m, line) in messages.iter().zip(&expected) {
        let want: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            m.intra_batch_id,
            want["intra_batch_id"].as_i64().unwrap(),
            "{case}: intra_batch_id"
        );
        assert_eq!(
            hex(&m.value),
            want["value_hex"].as_str().unwrap(),
            "{case}: message {} differs",
            m.intra_batch_id
        );
        // inspect prints the very line the original's tool wrote.
        let got = message_json_line(m.intra_batch_id, &m.value).unwrap();
        if got != *line {
            let at = got
                .bytes()
                .zip(line.bytes())
                .take_while(|(a, b)| a == b)
                .count();
            let lo = at.saturating_sub(80);
            panic!(
                "{case}: inspect line {} differs at byte {at}:\n ours: {}\n want: {}",
                m.intra_batch_id,
                &got[lo..(at + 80).min(got.len())],
                &line[lo..(at + 80).min(line.len())]
            );
        }
    }
}

#[test]
fn all_types_is_byte_identical() {
    check_encode_case("all-types", 7, &[]);
}

#[test]
fn all_types_fgs_is_byte_identical() {
    check_encode_case(
        "all-types-fgs",
        3,
        &["fg_fp32", "fg_stringvector", "fg_int64", "fg_bool"],
    );
}

#[test]
fn plan_json_matches_for_every_case() {
    for (case, groups) in [
        ("all-types", vec![]),
        (
            "all-types-fgs",
            vec!["fg_fp32", "fg_stringvector", "fg_int64", "fg_bool"],
        ),
        ("tables-pipeline", vec![]),
    ] {
        let dir = reference_case(case);
        let plan = plan_of(
            &std::fs::read_to_string(dir.join("metadata.json")).unwrap(),
            &groups,
        );
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected/plan.json")).unwrap())
                .unwrap();
        assert_eq!(plan.to_json(), want, "{case}");
        // Same key order too.
        assert_eq!(
            serde_json::to_string(&plan.to_json()).unwrap(),
            serde_json::to_string(&want).unwrap(),
            "{case}: key order"
        );
    }
}
