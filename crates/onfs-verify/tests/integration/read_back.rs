//! What the store holds, compared: all match; a lost key; a wrong value; FP16 and FP8 rounding;
//! string vectors; a lagging consumer.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::types::Float32Type;
use arrow_array::{
    ArrayRef, BooleanArray, Float32Array, Int64Array, Int8Array, ListArray, StringArray,
    UInt16Array,
};
use onfs_core::Plan;
use onfs_verify::testing::TestStore;
use onfs_verify::{verify, Class, SampleSize, VerifyReport};

use crate::support::*;

const KEYS: [i64; 10] = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20];

fn mixed_plan() -> Plan {
    plan(&[
        ("g_fp32", "FP32", &[("f0", "0"), ("f1", "0")]),
        ("g_i64", "Int64", &[("orders", "0")]),
        ("g_str", "String", &[("city", "unknown")]),
        ("g_bool", "Bool", &[("buyer", "false")]),
        ("g_i8", "Int8", &[("level", "0")]),
        ("g_u16", "Uint16", &[("port", "0")]),
        ("g_emb", "FP32Vector", &[("emb", "[0,0]")]),
        ("g_tags", "StringVector", &[("tags", "[none,none]")]),
    ])
}

/// Ten rows of every group of [`mixed_plan`], no value equal to its default, 4 rows a message.
fn mixed_messages(plan: &Plan) -> Vec<Vec<u8>> {
    let n = KEYS.len();
    let f = |k: f32| -> ArrayRef {
        Arc::new(Float32Array::from_iter_values(
            (0..n).map(|i| 0.1 + i as f32 * k),
        ))
    };
    let tags: Vec<Vec<String>> = (0..n)
        .map(|i| vec![format!("t{i}"), "x".repeat(i + 1)])
        .collect();
    let tag_refs: Vec<Vec<&str>> = tags
        .iter()
        .map(|t| t.iter().map(String::as_str).collect())
        .collect();
    let tag_rows: Vec<&[&str]> = tag_refs.iter().map(Vec::as_slice).collect();
    let b = batch(
        &KEYS,
        vec![
            (col("g_fp32", "f0"), f(1.5)),
            (col("g_fp32", "f1"), f(-2.25)),
            (
                col("g_i64", "orders"),
                Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| 40 + i))),
            ),
            (
                col("g_str", "city"),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("city-{i}")),
                )),
            ),
            (
                col("g_bool", "buyer"),
                Arc::new(BooleanArray::from(vec![true; n])),
            ),
            (
                col("g_i8", "level"),
                Arc::new(Int8Array::from_iter_values((0..n as i8).map(|i| -5 - i))),
            ),
            (
                col("g_u16", "port"),
                Arc::new(UInt16Array::from_iter_values(
                    (0..n as u16).map(|i| 60000 + i),
                )),
            ),
            (
                col("g_emb", "emb"),
                Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(
                    (0..n).map(|i| Some(vec![Some(i as f32 + 0.5), Some(-1.0)])),
                )),
            ),
            (col("g_tags", "tags"), string_lists(&tag_rows)),
        ],
    );
    encode(plan, &b, 4)
}

fn group<'a>(r: &'a VerifyReport, label: &str) -> &'a onfs_verify::GroupReport {
    r.groups.iter().find(|g| g.group == label).unwrap()
}

#[test]
fn everything_sent_matches() {
    let plan = mixed_plan();
    let messages = mixed_messages(&plan);
    assert_eq!(messages.len(), 3);
    let (store, server) = store_with(&plan, &messages);
    let report = verify(
        &plan,
        &sample(&messages, SampleSize::All),
        &options(&server),
    )
    .unwrap();
    assert!(report.ok(), "{}", report.table());
    assert_eq!(report.entities, 10);
    assert_eq!(report.messages, 3);
    assert_eq!(report.totals.checked, 80);
    assert_eq!(report.totals.matches, 80, "{}", report.table());
    assert_eq!(report.polls, 1);
    assert_eq!(store.reads(), 1);
    // Plan order, every group.
    let labels: Vec<&str> = report.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(
        labels,
        ["g_fp32", "g_i64", "g_str", "g_bool", "g_i8", "g_u16", "g_emb", "g_tags"]
    );
    assert!(report.table().starts_with("GROUP"));

    // A sample smaller than the rows, spread over the messages, in several requests.
    let mut opts = options(&server);
    opts.keys_per_request = 2;
    let report = verify(&plan, &sample(&messages, SampleSize::Count(3)), &opts).unwrap();
    assert_eq!(report.entities, 3);
    assert_eq!(report.totals.matches, 24);
    assert_eq!(store.reads(), 3);
}

#[test]
fn a_lost_key_comes_back_as_the_defaults() {
    let plan = mixed_plan();
    let messages = mixed_messages(&plan);
    let (store, server) = store_with(&plan, &messages);
    store.remove(&["15"]);
    let report = verify(
        &plan,
        &sample(&messages, SampleSize::All),
        &options(&server),
    )
    .unwrap();
    assert!(!report.ok());
    assert_eq!(report.totals.defaults, 8, "{}", report.table());
    assert_eq!(report.totals.matches, 72);
    assert_eq!(report.totals.differs, 0);
    let g = group(&report, "g_i64");
    assert_eq!(g.counts.defaults, 1);
    let e = &g.examples[0];
    assert_eq!(
        (
            e.class,
            e.key.as_str(),
            e.feature.as_str(),
            e.sent.as_str(),
            e.stored.as_str()
        ),
        (Class::Defaults, "15", "orders", "44", "0")
    );
    let e = &group(&report, "g_tags").examples[0];
    assert_eq!(
        (e.sent.as_str(), e.stored.as_str()),
        ("[\"t4\", \"xxxxx\"]", "[\"none\", \"none\"]")
    );
    assert!(report.table().contains("g_str key 15: g_str/city came back as the defaults: sent \"city-4\", stored \"unknown\""), "{}", report.table());
    assert!(report.summary().contains("8 returned the defaults"));
}

#[test]
fn a_wrong_value_in_one_group_differs() {
    let plan = mixed_plan();
    let messages = mixed_messages(&plan);
    let (store, server) = store_with(&plan, &messages);
    store.put(&["13"], "g_fp32", "f1", 7.25f32.to_le_bytes());
    let report = verify(
        &plan,
        &sample(&messages, SampleSize::All),
        &options(&server),
    )
    .unwrap();
    assert!(!report.ok());
    assert_eq!(report.totals.differs, 1);
    assert_eq!(report.totals.matches, 79);
    let g = group(&report, "g_fp32");
    assert_eq!(g.counts.differs, 1);
    let e = &g.examples[0];
    let sent = format!("{:?}", 0.1f32 + 2.0 * -2.25);
    assert_eq!(
        (
            e.class,
            e.key.as_str(),
            e.feature.as_str(),
            e.sent.as_str(),
            e.stored.as_str()
        ),
        (Class::Differs, "13", "f1", sent.as_str(), "7.25")
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["groups"][0]["differs"], 1);
    assert_eq!(json["groups"][0]["examples"][0]["feature"], "f1");
}

#[test]
fn fp16_and_fp8_match_after_the_stores_rounding() {
    let plan = plan(&[
        ("g_h", "FP16", &[("h", "0")]),
        ("g_e4", "FP8E4M3", &[("e4", "0")]),
        ("g_e5", "FP8E5M2", &[("e5", "0")]),
    ]);
    let b = batch(
        &[1, 2],
        vec![
            (
                col("g_h", "h"),
                Arc::new(Float32Array::from(vec![0.1, 70000.0])),
            ),
            (
                col("g_e4", "e4"),
                Arc::new(Float32Array::from(vec![0.1, 300.0])),
            ),
            (
                col("g_e5", "e5"),
                Arc::new(Float32Array::from(vec![0.1, -1000.0])),
            ),
        ],
    );
    let mut messages = vec![];
    // 70000 is out of FP16's range: sent as the original would, the store makes it infinity.
    let mut enc = onfs_core::Encoder::new(
        &plan,
        onfs_core::EncoderOptions {
            allow_out_of_range: true,
            ..Default::default()
        },
    );
    messages.extend(enc.encode(&b).unwrap().into_iter().map(|m| m.value));
    messages.extend(enc.finish().into_iter().map(|m| m.value));
    let store = TestStore::new(CALLER, Some(TOKEN));
    store.set_plan_defaults(&plan);
    // The store's bytes, written out by hand: IEEE half and OCP FP8, round to nearest even.
    store.put(&["1"], "g_h", "h", [0x66, 0x2e]); // 0.099975586
    store.put(&["2"], "g_h", "h", [0x00, 0x7c]); // infinity
    store.put(&["1"], "g_e4", "e4", [0x1d]); // 0.1015625
    store.put(&["2"], "g_e4", "e4", [0x79]); // 288
    store.put(&["1"], "g_e5", "e5", [0x2e]); // 0.09375
    store.put(&["2"], "g_e5", "e5", [0xe4]); // -1024
    let server = store.serve();
    let report = verify(
        &plan,
        &sample(&messages, SampleSize::All),
        &options(&server),
    )
    .unwrap();
    assert!(report.ok(), "{}", report.table());
    assert_eq!(report.totals.matches, 6, "{}", report.table());

    // The unrounded float32 is not what the store holds.
    store.put(&["1"], "g_h", "h", [0x67, 0x2e]);
    let report = verify(
        &plan,
        &sample(&messages, SampleSize::All),
        &options(&server),
    )
    .unwrap();
    let e = &group(&report, "g_h").examples[0];
    assert_eq!(
        (e.sent.as_str(), e.stored.as_str()),
        ("0.099975586", "0.10003662")
    );
}

#[test]
fn string_vectors_are_read_from_the_raw_bytes() {
    let plan = plan(&[(
        "g_tags",
        "StringVector",
        &[("tags", "[,]"), ("more", "[a,b]")],
    )]);
    let b = batch(
        &[1, 2, 3],
        vec![
            (
                col("g_tags", "tags"),
                string_lists(&[&["électronique", ""], &["a", "bc"], &["", ""]]),
            ),
            (
                col("g_tags", "more"),
                string_lists(&[&["x", "y"], &["a", "b"], &["a", "b"]]),
            ),
        ],
    );
    let messages = encode(&plan, &b, 2);
    let (store, server) = store_with(&plan, &messages);
    let report = verify(
        &plan,
        &sample(&messages, SampleSize::All),
        &options(&server),
    )
    .unwrap();
    assert!(report.ok(), "{}", report.table());
    // Key 3 sent exactly the defaults.
    assert_eq!(
        (report.totals.matches, report.totals.indistinguishable),
        (2, 1)
    );

    // n u16 lengths, then the bytes.
    store.put(&["2"], "g_tags", "tags", b"\x01\x00\x03\x00abcd".to_vec());
    let report = verify(
        &plan,
        &sample(&messages, SampleSize::All),
        &options(&server),
    )
    .unwrap();
    let e = &group(&report, "g_tags").examples[0];
    assert_eq!(
        (
            e.key.as_str(),
            e.feature.as_str(),
            e.sent.as_str(),
            e.stored.as_str()
        ),
        ("2", "tags", "[\"a\", \"bc\"]", "[\"a\", \"bcd\"]")
    );
}

#[test]
fn a_lagging_consumer_is_waited_for() {
    let plan = mixed_plan();
    let messages = mixed_messages(&plan);
    let (store, server) = store_with(&plan, &messages);
    store.visible_after(3);
    let mut opts = options(&server);
    opts.wait = Duration::from_secs(20);
    let started = std::time::Instant::now();
    let report = verify(&plan, &sample(&messages, SampleSize::All), &opts).unwrap();
    assert!(report.ok(), "{}", report.table());
    assert_eq!(report.totals.matches, 80);
    assert_eq!(report.polls, 4);
    assert_eq!(store.reads(), 4);
    // 0.2 + 0.4 + 0.8 s of backoff.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(10),
        "{took:?}"
    );
}

#[test]
fn a_wait_too_short_reports_the_defaults() {
    let plan = mixed_plan();
    let messages = mixed_messages(&plan);
    let (store, server) = store_with(&plan, &messages);
    store.visible_after(1000);
    let mut opts = options(&server);
    opts.wait = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let report = verify(&plan, &sample(&messages, SampleSize::All), &opts).unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!report.ok());
    assert_eq!(report.totals.defaults, 80);
    assert!((2..=3).contains(&report.polls), "{}", report.polls);
    assert!(report.summary().contains("try a longer wait"));
}
