//! Against the real test broker: every message accounted for.

use std::collections::BTreeMap;

use crate::support::*;

fn send_case(case_name: &str, batch: &str, topic: &str, extra: &[&str]) -> Run {
    send_case_to(&broker().bootstrap, case_name, batch, topic, extra)
}

fn send_case_to(brokers: &str, case_name: &str, batch: &str, topic: &str, extra: &[&str]) -> Run {
    let mut rest = vec!["--kafka-brokers", brokers, "--topic", topic];
    rest.extend(extra);
    encode_reference(case_name, batch, &rest)
}

fn encode_int(
    dir: &std::path::Path,
    rows: i64,
    bootstrap: &str,
    topic: &str,
    extra: &[&str],
) -> Run {
    let (meta, input) = int_dataset(dir, rows);
    let mut args = vec![
        "encode",
        // The reference case is the original's output: ragged vectors, sent as they are.
        "--vector-fit",
        "keep",
        "--metadata-file",
        p(&meta),
        "--input",
        p(&input),
        "--kafka-brokers",
        bootstrap,
        "--topic",
        topic,
    ];
    args.extend(extra);
    onfs(&args)
}

fn assert_all_rows_once(rows: &[(i64, i64)], n: i64) {
    let mut seen = vec![false; n as usize];
    for &(k, v) in rows {
        assert_eq!(v, 3 * k, "row {k}");
        assert!(!seen[k as usize], "row {k} delivered twice");
        seen[k as usize] = true;
    }
    let missing = seen.iter().filter(|s| !**s).count();
    assert_eq!(missing, 0, "{missing} rows missing");
    assert_eq!(rows.len() as i64, n);
}

#[test]
fn reference_case_round_trips_byte_for_byte() {
    let topic = unique_topic("ref");
    create_topic(&broker().bootstrap, &topic, 1);
    let run = send_case("all-types", "7", &topic, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("8 delivered, 0 failed"),
        "{}",
        run.stderr
    );
    assert_reference_records(&read_topic(&broker().bootstrap, &topic));
    // inspect kafka:// prints the reference lines.
    let run = onfs(&[
        "inspect",
        &format!("kafka://{}/{topic}", broker().bootstrap),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let want = std::fs::read_to_string(case("all-types").join("expected/messages.jsonl")).unwrap();
    assert!(
        run.stdout == want,
        "inspect kafka:// differs from the reference lines"
    );
}

#[test]
fn a_million_rows_round_trip_without_loss_or_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let topic = unique_topic("million");
    create_topic(&broker().bootstrap, &topic, 3);
    let n = 1_000_000;
    let run = encode_int(tmp.path(), n, &broker().bootstrap, &topic, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("50000 delivered, 0 failed"),
        "{}",
        run.stderr
    );
    let records = read_topic(&broker().bootstrap, &topic);
    assert_eq!(records.len(), 50_000);
    assert_all_rows_once(&int_rows(&records), n);
}

#[test]
fn broker_killed_and_restarted_mid_run_loses_nothing() {
    let state = tempfile::Builder::new()
        .prefix("onfs-kafka-crash-")
        .tempdir()
        .unwrap();
    let env = start_broker(Some(state.path()));
    let bootstrap = env["ONFS_KAFKA_BOOTSTRAP"].clone();
    let topic = unique_topic("crash");
    create_topic(&bootstrap, &topic, 2);
    let tmp = tempfile::tempdir().unwrap();
    let n = 300_000;
    // 100,000 rows/s: three seconds of sending, with the broker down for part of it.
    let runner = {
        let (dir, bootstrap, topic) = (tmp.path().to_path_buf(), bootstrap.clone(), topic.clone());
        std::thread::spawn(move || {
            encode_int(&dir, n, &bootstrap, &topic, &["--max-rate", "100000"])
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(1500));
    broker_script("kill9", Some(state.path()));
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let env2 = broker_script("restart", Some(state.path()));
    assert_eq!(
        env2["ONFS_KAFKA_BOOTSTRAP"], bootstrap,
        "restarted on the same port"
    );
    let run = runner.join().unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("15000 delivered, 0 failed"),
        "{}",
        run.stderr
    );
    let records = read_topic(&bootstrap, &topic);
    let rows = int_rows(&records);
    broker_script("stop", Some(state.path()));
    assert_all_rows_once(&rows, n);
}

#[test]
fn brokers_down_for_the_whole_run_exit_1_naming_them() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let brokers = format!("127.0.0.1:{port}");
    let started = std::time::Instant::now();
    let run = send_case_to(
        &brokers,
        "all-types",
        "7",
        "t",
        &["--kafka-option", "kafka.delivery.timeout.ms=4000"],
    );
    let took = started.elapsed();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(&brokers), "{}", run.stderr);
    assert!(
        run.stderr.contains("0 messages delivered"),
        "{}",
        run.stderr
    );
    assert!(took < std::time::Duration::from_secs(15), "took {took:?}");
}

#[test]
fn sasl_wrong_password_is_a_clear_error_and_the_right_one_works() {
    let topic = unique_topic("sasl");
    create_topic(&broker().bootstrap, &topic, 1);
    let jaas = |pw: &str| {
        format!(
            r#"kafka.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="onfs" password="{pw}";"#
        )
    };
    let dir = case("all-types");
    let meta = dir.join("metadata.json");
    let input = dir.join("input.parquet");
    let go = |pw: &str| {
        onfs(&[
            "encode",
            // The reference case is the original's output: ragged vectors, sent as they are.
            "--vector-fit",
            "keep",
            "--metadata-file",
            p(&meta),
            "--input",
            p(&input),
            "--batch-size",
            "7",
            "--kafka-brokers",
            &broker().sasl,
            "--topic",
            &topic,
            "--kafka-connect-timeout",
            "10",
            "--kafka-option",
            "kafka.security.protocol=SASL_PLAINTEXT",
            "--kafka-option",
            "kafka.sasl.mechanism=PLAIN",
            "--kafka-option",
            &jaas(pw),
            "--log-level",
            "debug",
        ])
    };
    let wrong = "Wr0ng-Passw0rd-xyz";
    let run = go(wrong);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("authentication"),
        "{}",
        run.stderr
    );
    assert!(!run.all_output().contains(wrong), "password leaked");
    let run = go("onfs-secret");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.all_output().contains("onfs-secret"), "password leaked");
    assert_eq!(read_topic(&broker().bootstrap, &topic).len(), 8);
}

#[test]
fn a_missing_topic_is_named() {
    let topic = unique_topic("missing");
    let run = send_case("all-types", "7", &topic, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("topic \"{topic}\" does not exist")),
        "{}",
        run.stderr
    );
}

#[test]
fn big_batches_are_split_below_the_size_limit() {
    let topic = unique_topic("split");
    create_topic(&broker().bootstrap, &topic, 1);
    let run = send_case(
        "all-types",
        "50",
        &topic,
        &["--kafka-option", "kafka.max.request.size=5000"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = read_topic(&broker().bootstrap, &topic);
    assert!(
        records.len() > 5,
        "50 rows of ~700 bytes split into several messages"
    );
    let mut rows = 0;
    for (i, r) in records.iter().enumerate() {
        assert!(
            r.value.len() <= 5000 - 1024,
            "message of {} bytes",
            r.value.len()
        );
        assert_eq!(r.intra_batch_id, Some(i as i64));
        rows += decode(&r.value).data.len();
    }
    assert_eq!(rows, 50);
    let run = send_case("all-types", "7", &topic, &["--max-message-bytes", "3000"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = send_case("all-types", "7", &topic, &["--max-message-bytes", "1000"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("key user_id=") && run.stderr.contains("limit of 1000 bytes"),
        "{}",
        run.stderr
    );
}

#[test]
fn key_entity_keeps_every_entity_on_one_partition() {
    let topic = unique_topic("keyed");
    create_topic(&broker().bootstrap, &topic, 4);
    let tmp = tempfile::tempdir().unwrap();
    let n = 10_000;
    let run = encode_int(
        tmp.path(),
        n,
        &broker().bootstrap,
        &topic,
        &["--key", "entity", "--batch-size", "5"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = read_topic(&broker().bootstrap, &topic);
    let mut per_partition = BTreeMap::new();
    for r in &records {
        let q = decode(&r.value);
        assert_eq!(
            r.key.as_deref(),
            Some(q.data[0].key_values[0].as_bytes()),
            "keyed by the first row"
        );
        for d in &q.data {
            let want =
                onfs_core::partition::partition_for_key(d.key_values[0].as_bytes(), 4) as i32;
            assert_eq!(
                r.partition, want,
                "entity {} on partition {}",
                d.key_values[0], r.partition
            );
        }
        *per_partition.entry(r.partition).or_insert(0) += q.data.len();
    }
    assert_eq!(per_partition.len(), 4, "{per_partition:?}");
    assert_all_rows_once(&int_rows(&records), n);
}

#[test]
fn kafka_num_batches_sends_round_by_round() {
    let topic = unique_topic("rounds");
    create_topic(&broker().bootstrap, &topic, 1);
    let tmp = tempfile::tempdir().unwrap();
    let run = encode_int(
        tmp.path(),
        1000,
        &broker().bootstrap,
        &topic,
        &["--kafka-num-batches", "3"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = read_topic(&broker().bootstrap, &topic);
    let rounds: Vec<i64> = records
        .iter()
        .map(|r| r.intra_batch_id.unwrap() % 3)
        .collect();
    assert_eq!(records.len(), 50);
    assert!(
        rounds.windows(2).all(|w| w[0] <= w[1]),
        "round order: {rounds:?}"
    );
    assert_eq!(rounds.iter().filter(|r| **r == 0).count(), 17);
    assert_all_rows_once(&int_rows(&records), 1000);
}

#[test]
fn max_rate_holds_the_requested_rate() {
    let topic = unique_topic("rate");
    create_topic(&broker().bootstrap, &topic, 1);
    let tmp = tempfile::tempdir().unwrap();
    let run = encode_int(
        tmp.path(),
        30_000,
        &broker().bootstrap,
        &topic,
        &["--max-rate", "10000"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    // "... ; 10012 rows/s, ..."
    let rate: f64 = run
        .stderr
        .split("; ")
        .find_map(|s| {
            s.strip_suffix(" rows/s")
                .or_else(|| s.split(" rows/s").next().filter(|_| s.contains(" rows/s")))
        })
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in: {}", run.stderr));
    assert!((9_000.0..=11_000.0).contains(&rate), "rate {rate} rows/s");
}

#[test]
fn undelivered_messages_are_kept_and_resent_with_send() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let small = unique_topic("small");
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        rdkafka::config::ClientConfig::new()
            .set("bootstrap.servers", &broker().bootstrap)
            .create()
            .unwrap();
    for r in block_on(admin.create_topics(
        &[NewTopic::new(&small, 1, TopicReplication::Fixed(1)).set("max.message.bytes", "1000")],
        &AdminOptions::new(),
    ))
    .unwrap()
    {
        r.unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let run = send_case("all-types", "7", &small, &["--failed-out", p(&kept)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("8 of 8 messages were not delivered"),
        "{}",
        run.stderr
    );
    let good = unique_topic("good");
    create_topic(&broker().bootstrap, &good, 1);
    let run = onfs(&[
        "send",
        p(&kept),
        "--kafka-brokers",
        &broker().bootstrap,
        "--topic",
        &good,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = read_topic(&broker().bootstrap, &good);
    let mut ids: Vec<i64> = records.iter().map(|r| r.intra_batch_id.unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    let rows: usize = records.iter().map(|r| decode(&r.value).data.len()).sum();
    assert_eq!(rows, 50);
}

#[test]
fn send_an_out_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let dir = case("all-types");
    let run = onfs(&[
        "encode",
        // The reference case is the original's output: ragged vectors, sent as they are.
        "--vector-fit",
        "keep",
        "--metadata-file",
        p(&dir.join("metadata.json")),
        "--input",
        p(&dir.join("input.parquet")),
        "--batch-size",
        "7",
        "--out",
        p(&out),
    ]);
    assert_eq!(run.code, 0);
    let topic = unique_topic("sendout");
    create_topic(&broker().bootstrap, &topic, 1);
    let run = onfs(&[
        "send",
        p(&out),
        "--kafka-brokers",
        &broker().bootstrap,
        "--topic",
        &topic,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = onfs(&[
        "inspect",
        &format!("kafka://{}/{topic}", broker().bootstrap),
    ]);
    let want = std::fs::read_to_string(dir.join("expected/messages.jsonl")).unwrap();
    assert!(run.stdout == want);
}

#[test]
fn unknown_kafka_option_is_a_usage_error_naming_it() {
    let run = send_case(
        "all-types",
        "7",
        "t",
        &["--kafka-option", "kafka.partitioner.ignore.keys=true"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("kafka.partitioner.ignore.keys"),
        "{}",
        run.stderr
    );
    let run = send_case(
        "all-types",
        "7",
        "t",
        &["--kafka-option", "no.such.librdkafka.property=1"],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("no.such.librdkafka.property"),
        "{}",
        run.stderr
    );
}
