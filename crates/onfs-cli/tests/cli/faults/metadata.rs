//! Faults of the metadata service: answering 503 several times (the test's own HTTP server),
//! slow, cutting connections and silent (through the fault proxy). `plan` asks the service as
//! `run` does: either the plan is the service's, or exit 1 naming the URL, within its bound.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::onfs_within;
use super::proxy::{Fault, FaultProxy};
use crate::support::*;

const TOKEN: &str = "tok-F4ULT-secret";
const BOUND: Duration = Duration::from_secs(60);

/// Answers 503 to the first `failures` requests, then the reference plan's metadata; returns
/// (`HOST:PORT`, the number of requests so far).
fn flaky_service(failures: u32) -> (String, Arc<AtomicU32>) {
    let body = std::fs::read_to_string(case("tables-pipeline").join("metadata.json")).unwrap();
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let addr = server.server_addr().to_ip().unwrap().to_string();
    let requests = Arc::new(AtomicU32::new(0));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut sink = String::new();
            let _ = req.as_reader().read_to_string(&mut sink);
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            let resp = if n <= failures {
                tiny_http::Response::from_string("overloaded").with_status_code(503)
            } else {
                tiny_http::Response::from_string(body.clone()).with_status_code(200)
            };
            let _ = req.respond(resp);
        }
    });
    (addr, requests)
}

fn url(addr: &str) -> String {
    format!("http://{addr}/api/v1/orion/get-source-mapping")
}

fn plan(addr: &str, extra: &[&str]) -> Run {
    let url = url(addr);
    let mut args = vec!["plan", "--metadata-url", &url, "--job-id", "j1", "--json"];
    args.extend(extra);
    onfs_within(BOUND, &args, &[("ONFS_JOB_TOKEN", TOKEN)])
}

#[test]
fn the_metadata_service_answering_503_twice_then_the_answer_is_planned() {
    let (addr, requests) = flaky_service(2);
    let run = plan(&addr, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_tables_pipeline_plan(&run.stdout);
    assert_eq!(requests.load(Ordering::SeqCst), 3);
    assert!(!run.all_output().contains(TOKEN));
}

#[test]
fn the_metadata_service_answering_503_more_often_than_the_tries_exits_1_naming_it() {
    let (addr, requests) = flaky_service(5);
    let run = plan(&addr, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&url(&addr))
            && run.stderr.contains("after 3 tries")
            && run.stderr.contains("HTTP 503"),
        "{}",
        run.stderr
    );
    assert_eq!(requests.load(Ordering::SeqCst), 3, "three tries, no more");
    assert!(run.stdout.is_empty(), "no plan: {}", run.stdout);
    assert!(!run.all_output().contains(TOKEN));
}

#[test]
fn a_slow_metadata_service_is_waited_for() {
    let (addr, _) = flaky_service(0);
    let proxy = FaultProxy::start(&addr);
    proxy.set(Fault::Latency(Duration::from_millis(500)));
    let run = plan(&proxy.addr(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_tables_pipeline_plan(&run.stdout);
}

#[test]
fn a_metadata_connection_reset_mid_request_is_retried() {
    let (addr, requests) = flaky_service(0);
    let proxy = FaultProxy::start(&addr);
    // The first request is cut after 40 bytes of its head.
    proxy.set(Fault::Reset {
        every: 40,
        times: 1,
    });
    let run = plan(&proxy.addr(), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_tables_pipeline_plan(&run.stdout);
    assert_eq!(proxy.resets(), 1);
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "the cut request never arrived"
    );
}

#[test]
fn a_silent_metadata_service_times_out_naming_it() {
    let (addr, requests) = flaky_service(0);
    let proxy = FaultProxy::start(&addr);
    proxy.set(Fault::Blackhole);
    let run = plan(&proxy.addr(), &["--metadata-timeout", "1"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&url(&proxy.addr()))
            && run.stderr.contains("after 3 tries")
            && run.stderr.contains("timed out"),
        "{}",
        run.stderr
    );
    assert_eq!(requests.load(Ordering::SeqCst), 0);
    assert!(!run.all_output().contains(TOKEN));
}
