//! Network faults between onfs-push and the Kafka broker, through the fault proxy on the
//! broker's proxied listener (the broker advertises the proxy's port, so every connection,
//! reconnections included, goes through it). Each run either delivers every row once (counted on
//! the topic, read directly) or exits 1 with exact counts and a `--failed-out` folder that `send`
//! delivers.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::proxy::{Fault, FaultProxy};
use super::{onfs_within, summary_counts};
use crate::support::*;

/// Every run of these tests ends within this (a hang fails the test).
const BOUND: Duration = Duration::from_secs(90);

/// The proxy on the broker's advertised proxied port; one test at a time holds it.
fn kafka_proxy() -> (MutexGuard<'static, ()>, FaultProxy) {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let proxy = FaultProxy::start_on(&broker().proxied, &broker().proxied_listener);
    (guard, proxy)
}

/// `encode` of `rows` rows of the int dataset to `topic` through `bootstrap`, `extra` added.
fn push(dir: &Path, rows: i64, bootstrap: &str, topic: &str, extra: &[&str]) -> Run {
    let (meta, input) = int_dataset(dir, rows);
    let mut args = vec![
        "encode",
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
    onfs_within(BOUND, &args, &[])
}

/// Every row 0..n on the topic exactly once, with its value.
fn assert_all_rows_once(topic: &str, n: i64) {
    let rows = int_rows(&read_topic(&broker().bootstrap, topic));
    let mut seen = vec![0u32; n as usize];
    for &(k, v) in &rows {
        assert_eq!(v, 3 * k, "row {k}");
        seen[k as usize] += 1;
    }
    let twice = seen.iter().filter(|s| **s > 1).count();
    let missing = seen.iter().filter(|s| **s == 0).count();
    assert_eq!((missing, twice), (0, 0), "rows missing, rows twice");
}

/// A run under `fault` from the start that must deliver every one of `rows` rows once.
fn delivers_everything_once(fault: Fault, rows: i64, extra: &[&str]) -> FaultProxy {
    let (_one, proxy) = kafka_proxy();
    let topic = unique_topic("fault");
    create_topic(&broker().bootstrap, &topic, 2);
    let tmp = tempfile::tempdir().unwrap();
    proxy.set(fault);
    let run = push(tmp.path(), rows, &proxy.addr(), &topic, extra);
    assert_eq!(run.code, 0, "{fault:?}: {}", run.stderr);
    let (messages, sent_rows, delivered, failed, unsent) = summary_counts(&run.stderr, "sent");
    assert_eq!(sent_rows, rows as u64);
    assert_eq!(
        (delivered, failed, unsent),
        (messages, 0, 0),
        "{}",
        run.stderr
    );
    assert_all_rows_once(&topic, rows);
    proxy
}

#[test]
fn latency_to_the_broker_delivers_every_row_once() {
    let proxy = delivers_everything_once(Fault::Latency(Duration::from_millis(150)), 20_000, &[]);
    assert!(proxy.bytes_to_service() > 0);
}

#[test]
fn a_bandwidth_cap_to_the_broker_delivers_every_row_once() {
    // About 0.3 MB compressed through 200 KB/s in each direction.
    let proxy = delivers_everything_once(Fault::Bandwidth(200_000), 50_000, &[]);
    assert!(
        proxy.bytes_to_service() > 200_000,
        "{}",
        proxy.bytes_to_service()
    );
}

#[test]
fn connections_to_the_broker_reset_mid_stream_deliver_every_row_once() {
    // Five resets, spread over the run by --max-rate; the idempotent producer's retries add no
    // duplicate.
    let proxy = delivers_everything_once(
        Fault::Reset {
            every: 40_000,
            times: 5,
        },
        60_000,
        &["--max-rate", "30000"],
    );
    assert_eq!(proxy.resets(), 5, "every reset happened mid-run");
}

#[test]
fn a_blackhole_longer_than_the_delivery_timeout_fails_with_counts_then_send_delivers_the_rest() {
    let (_one, proxy) = kafka_proxy();
    let topic = unique_topic("blackhole");
    create_topic(&broker().bootstrap, &topic, 2);
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("kept");
    let rows = 40_000;
    let runner = {
        let (dir, bootstrap, topic, kept) = (
            tmp.path().to_path_buf(),
            proxy.addr(),
            topic.clone(),
            kept.clone(),
        );
        std::thread::spawn(move || {
            push(
                &dir,
                rows,
                &bootstrap,
                &topic,
                &[
                    "--max-rate",
                    "8000",
                    "--kafka-option",
                    "kafka.delivery.timeout.ms=2000",
                    "--failed-out",
                    p(&kept),
                ],
            )
        })
    };
    // Some messages through, then nothing for longer than the delivery timeout.
    assert!(
        proxy.wait_for(BOUND, |p| p.bytes_to_service() > 30_000),
        "the run sent nothing"
    );
    proxy.set(Fault::Blackhole);
    std::thread::sleep(Duration::from_secs(4));
    proxy.set(Fault::None);
    let run = runner.join().unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    // `sent: M messages (...)` counts those offered (D delivered + F failed); the U after the
    // first failure were not sent: M + U is every message encoded.
    let (messages, _, delivered, failed, unsent) = summary_counts(&run.stderr, "sent");
    assert!(failed > 0 && delivered > 0, "{}", run.stderr);
    assert_eq!(delivered + failed, messages, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("into {} messages", messages + unsent)),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "error: {} of {} messages were not delivered",
            failed + unsent,
            messages + unsent
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "send them with `onfs-push send {}`",
            kept.display()
        )),
        "{}",
        run.stderr
    );
    // The topic holds exactly the delivered messages (nothing passed the blackhole).
    assert_eq!(
        read_topic(&broker().bootstrap, &topic).len() as u64,
        delivered
    );
    // Recovered: the kept messages go through the same proxy.
    let resend = onfs_within(
        BOUND,
        &[
            "send",
            p(&kept),
            "--kafka-brokers",
            &proxy.addr(),
            "--topic",
            &topic,
        ],
        &[],
    );
    assert_eq!(resend.code, 0, "{}", resend.stderr);
    let (resent, _, resent_delivered, _, _) = summary_counts(&resend.stderr, "sent");
    assert_eq!(
        (resent, resent_delivered),
        (failed + unsent, failed + unsent)
    );
    assert_all_rows_once(&topic, rows);
}
