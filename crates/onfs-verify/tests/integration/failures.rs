//! A read-back that cannot be done says why: a refused token (never shown), a store that is not
//! there or does not answer (within the timeouts), bad message bytes, a stored value of another
//! type.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::Int64Array;
use onfs_core::Plan;
use onfs_verify::testing::TestStore;
use onfs_verify::{verify, SampleSize, Sampler, VerifyError, VerifyOptions};

use crate::support::*;

fn small() -> (Plan, Vec<Vec<u8>>) {
    let plan = plan(&[("g", "Int64", &[("f", "0")])]);
    let b = batch(
        &[1, 2, 3],
        vec![(col("g", "f"), Arc::new(Int64Array::from(vec![5, 6, 7])))],
    );
    let messages = encode(&plan, &b, 2);
    (plan, messages)
}

#[test]
fn a_wrong_token_is_refused_without_showing_it() {
    let (plan, messages) = small();
    let (_store, server) = store_with(&plan, &messages);
    let mut opts = options(&server);
    opts.token = Some("wr0ng-s3cret-value".into());
    let e = verify(&plan, &sample(&messages, SampleSize::All), &opts).unwrap_err();
    assert!(matches!(e, VerifyError::Refused { .. }), "{e:?}");
    assert!(e.is_configuration());
    let text = e.to_string();
    assert!(text.contains(&server.address()), "{text}");
    assert!(
        text.contains("refused caller id \"verify-test\" and its auth token"),
        "{text}"
    );
    assert!(text.contains("Unauthenticated"), "{text}");
    for shown in [text, format!("{e:?}"), format!("{opts:?}")] {
        assert!(!shown.contains("wr0ng-s3cret-value"), "{shown}");
        assert!(!shown.contains(TOKEN), "{shown}");
    }
    // No token at all.
    opts.token = None;
    let e = verify(&plan, &sample(&messages, SampleSize::All), &opts).unwrap_err();
    assert!(e.to_string().contains("no auth token was given"), "{e}");
}

#[test]
fn a_store_that_is_not_there_is_named() {
    let (plan, messages) = small();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut opts = VerifyOptions::new(address.clone(), CALLER);
    opts.connect_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let e = verify(&plan, &sample(&messages, SampleSize::All), &opts).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(e, VerifyError::Unreachable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "cannot reach the online feature store at {address}"
        )),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
}

#[test]
fn a_store_that_does_not_answer_is_bounded_by_the_timeouts() {
    let (plan, messages) = small();
    // Accepts connections (the kernel's backlog) and never speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let mut opts = VerifyOptions::new(address.clone(), CALLER);
    opts.connect_timeout = Duration::from_secs(1);
    opts.request_timeout = Duration::from_secs(1);
    opts.wait = Duration::from_secs(30);
    let started = Instant::now();
    let e = verify(&plan, &sample(&messages, SampleSize::All), &opts).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert_eq!(
        e.to_string(),
        format!("the online feature store at {address} did not answer within 1s")
    );
    drop(silent);
}

#[test]
fn bad_inputs() {
    let (plan, messages) = small();
    let mut sampler = Sampler::new(SampleSize::All, 1);
    sampler.add_message(&messages[0]).unwrap();
    let e = sampler.add_message(b"\x22\x09oops").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("message 1 (from 0) is not a persist.Query"),
        "{e}"
    );

    // The store holds an Int32 where the metadata says Int64.
    let store = TestStore::new(CALLER, Some(TOKEN));
    store.set_plan_defaults(&plan);
    store.put(&["2"], "g", "f", 6i32.to_le_bytes());
    let server = store.serve();
    let e = verify(
        &plan,
        &sample(&messages, SampleSize::All),
        &options(&server),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the stored value of g/f for key 2 is 4 bytes, not a DataTypeInt64 (8 bytes): the store's data type for the group differs from the metadata's"
    );

    // Metadata whose groups the messages do not hold.
    let other = crate::support::plan(&[("h", "Int64", &[("f", "0")])]);
    let e = verify(
        &other,
        &sample(&messages, SampleSize::All),
        &options(&server),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "no feature group of the messages (g) is in the metadata's plan (h): nothing to compare"
    );

    let mut opts = options(&server);
    opts.store = "grpc://localhost:1".into();
    assert!(matches!(
        verify(&plan, &sample(&messages, SampleSize::All), &opts),
        Err(VerifyError::BadAddress { .. })
    ));
    opts.store = "http://localhost:1".into();
    opts.tls.enabled = true;
    let e = verify(&plan, &sample(&messages, SampleSize::All), &opts).unwrap_err();
    assert!(e.to_string().contains("cannot use TLS"), "{e}");
    opts.store = server.address();
    opts.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let e = verify(&plan, &sample(&messages, SampleSize::All), &opts).unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot read the CA file /nonexistent/ca.pem"),
        "{e}"
    );
}
