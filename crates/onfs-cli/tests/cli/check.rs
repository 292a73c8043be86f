//! `onfs-push check` against the suite's real services: a metadata service (tiny_http) with a
//! job token, the reference tables, the Kafka broker and the test store. Everything passes;
//! each of a wrong token, a missing table, a down broker and a missing topic has its own line
//! and exit 1.

use onfs_verify::testing::TestStore;

use crate::run::{pipeline, EMBEDDINGS, ORDERS};
use crate::support::*;

const TOKEN: &str = "check-tok-S3CRET";
const CALLER: &str = "onfs-check";

/// The reference metadata to requests bearing TOKEN; 401 to the others. Returns the URL.
fn metadata_service() -> String {
    let body = std::fs::read_to_string(pipeline().join("metadata.json")).unwrap();
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let ok = req.url().contains(&format!("jobToken={TOKEN}"));
            let (status, text) = if ok {
                (200, body.clone())
            } else {
                (401, "invalid job token".to_string())
            };
            let _ = req.respond(tiny_http::Response::from_string(text).with_status_code(status));
        }
    });
    format!("http://127.0.0.1:{port}/api/v1/orion/get-source-mapping")
}

fn table(name: &str) -> String {
    format!("{name}={}", pipeline().join("tables").join(name).display())
}

struct Setup {
    url: String,
    topic: String,
    store: String,
    _server: onfs_verify::testing::TestServer,
}

fn setup() -> Setup {
    let topic = unique_topic("onfs-check");
    create_topic(&broker().bootstrap, &topic, 3);
    let server = TestStore::new(CALLER, None).serve();
    Setup {
        url: metadata_service(),
        topic,
        store: server.address(),
        _server: server,
    }
}

/// `check` with the setup's services; `change` edits the arguments.
fn check(s: &Setup, token: &str, change: impl FnOnce(&mut Vec<String>)) -> Run {
    let mut args: Vec<String> = [
        "check",
        "--metadata-url",
        &s.url,
        "--job-id",
        "user-features",
        "--table",
        &table(ORDERS),
        "--table",
        &table(EMBEDDINGS),
        "--kafka-brokers",
        &broker().bootstrap,
        "--topic",
        &s.topic,
        "--kafka-connect-timeout",
        "5",
        "--store",
        &s.store,
        "--caller-id",
        CALLER,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    change(&mut args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    onfs_env(&args, &[("ONFS_JOB_TOKEN", token)])
}

fn replace(args: &mut [String], flag: &str, value: &str) {
    let i = args.iter().position(|a| a == flag).unwrap();
    args[i + 1] = value.to_string();
}

fn failing_lines(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect()
}

#[test]
fn every_check_passes_against_the_services() {
    let s = setup();
    let run = check(&s, TOKEN, |_| {});
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ok    metadata") && lines[0].contains("entity user"),
        "{}",
        run.stdout
    );
    for source in [ORDERS, EMBEDDINGS] {
        assert!(
            lines.iter().any(|l| l.starts_with("ok    source")
                && l.contains(source)
                && l.contains("partition process_date=")
                && l.contains(" rows")),
            "{source}: {}",
            run.stdout
        );
    }
    assert!(
        lines.iter().any(|l| l.starts_with("ok    kafka")
            && l.contains(&s.topic)
            && l.contains("3 partitions, writable")),
        "{}",
        run.stdout
    );
    assert!(
        lines.iter().any(|l| l.starts_with("ok    store")),
        "{}",
        run.stdout
    );
    assert_eq!(*lines.last().unwrap(), "all 5 checks passed");
    // Nothing was produced to the topic.
    assert!(read_topic(&broker().bootstrap, &s.topic).is_empty());
    assert!(!run.all_output().contains(TOKEN));
}

#[test]
fn each_failure_has_its_own_line_and_exit_1() {
    let s = setup();
    // A wrong token: the metadata fails (the sources cannot be listed without it).
    let run = check(&s, "wrong-token", |_| {});
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let failing = failing_lines(&run);
    assert_eq!(failing.len(), 1, "{}", run.stdout);
    assert!(
        failing[0].starts_with("FAIL  metadata") && failing[0].contains("401"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ok    kafka"), "{}", run.stdout);
    assert!(
        run.stderr.contains("1 of 3 checks failed"),
        "{}",
        run.stderr
    );
    assert!(!run.all_output().contains("wrong-token"));

    // A table the catalog does not hold.
    let run = check(&s, TOKEN, |a| {
        let i = a.iter().position(|x| x.starts_with(EMBEDDINGS)).unwrap();
        a.drain(i - 1..=i);
    });
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let failing = failing_lines(&run);
    assert_eq!(failing.len(), 1, "{}", run.stdout);
    assert!(
        failing[0].starts_with("FAIL  source") && failing[0].contains(EMBEDDINGS),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("hint: add it with --table"),
        "{}",
        run.stdout
    );

    // A broker that is down.
    let run = check(&s, TOKEN, |a| {
        replace(a, "--kafka-brokers", "127.0.0.1:9");
        replace(a, "--kafka-connect-timeout", "2");
    });
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let failing = failing_lines(&run);
    assert_eq!(failing.len(), 1, "{}", run.stdout);
    assert!(
        failing[0].starts_with("FAIL  kafka") && failing[0].contains("did not answer"),
        "{}",
        run.stdout
    );

    // A topic that does not exist.
    let missing = unique_topic("onfs-check-missing");
    let run = check(&s, TOKEN, |a| replace(a, "--topic", &missing));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let failing = failing_lines(&run);
    assert_eq!(failing.len(), 1, "{}", run.stdout);
    assert!(
        failing[0].starts_with("FAIL  kafka") && failing[0].contains("does not exist"),
        "{}",
        run.stdout
    );

    // An invalid topic name is a usage error before any check.
    let run = check(&s, TOKEN, |a| replace(a, "--topic", "bad topic!"));
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}
