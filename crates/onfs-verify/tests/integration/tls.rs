//! The retrieval API over TLS: a private CA (made here with openssl), the server's certificate
//! checked against it and against the address's name.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow_array::Int64Array;
use onfs_verify::testing::TestStore;
use onfs_verify::{verify, SampleSize, TlsOptions};

use crate::support::*;

/// A CA and a server certificate for `localhost` and 127.0.0.1, signed by it, in `dir`.
fn certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (Debian package openssl) makes the test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=onfs-push test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

#[test]
fn tls_with_a_private_ca_and_the_host_checked() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let plan = plan(&[("g", "Int64", &[("f", "0")])]);
    let b = batch(
        &[1, 2, 3],
        vec![(col("g", "f"), Arc::new(Int64Array::from(vec![5, 6, 7])))],
    );
    let messages = encode(&plan, &b, 2);
    let store = TestStore::new(CALLER, Some(TOKEN));
    store.set_plan_defaults(&plan);
    for m in &messages {
        store.consume(&plan, m).unwrap();
    }
    let server = store.serve_tls(
        &std::fs::read(dir.path().join("server.pem")).unwrap(),
        &std::fs::read(dir.path().join("server.key")).unwrap(),
    );
    let sample = sample(&messages, SampleSize::All);
    let mut opts = options(&server);
    opts.store = format!("https://{}", server.address());
    opts.tls = TlsOptions {
        enabled: true,
        ca_file: Some(dir.path().join("ca.pem")),
        domain: None,
    };
    let report = verify(&plan, &sample, &opts).unwrap();
    assert!(report.ok(), "{}", report.table());
    assert_eq!(report.totals.matches, 3);

    // The system's roots do not know the private CA.
    opts.tls.ca_file = None;
    let e = verify(&plan, &sample, &opts).unwrap_err().to_string();
    assert!(e.contains(&server.address()), "{e}");
    assert!(e.to_lowercase().contains("certificate"), "{e}");

    // The certificate is not for this name.
    opts.tls.ca_file = Some(dir.path().join("ca.pem"));
    opts.tls.domain = Some("store.example".into());
    let e = verify(&plan, &sample, &opts).unwrap_err().to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");

    // Plain text to a TLS port is refused, in bounded time.
    opts.tls = TlsOptions::default();
    opts.store = server.address();
    opts.request_timeout = std::time::Duration::from_secs(5);
    assert!(verify(&plan, &sample, &opts).is_err());
}
