//! The metadata service over https:// with a private CA (the test broker's): trusted with
//! `--metadata-ca`, refused by the system's store and by another CA, naming the URL.

use std::io::{Read, Write};
use std::sync::Arc;

use crate::support::*;

const TOKEN: &str = "tok-S3CRET-tls";

/// An https:// server on 127.0.0.1 with the private CA's certificate for 127.0.0.1, answering
/// every request with 200 and `body`; returns the URL.
fn serve_https(body: String) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = &broker().tls_dir;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (config, body) = (config.clone(), body.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    format!("https://127.0.0.1:{port}/api/v1/orion/get-source-mapping")
}

fn plan(url: &str, ca: Option<&str>) -> Run {
    let mut args = vec!["plan", "--metadata-url", url, "--job-id", "j1", "--json"];
    if let Some(ca) = ca {
        args.extend(["--metadata-ca", ca]);
    }
    let run = onfs_env(&args, &[("ONFS_JOB_TOKEN", TOKEN)]);
    assert!(!run.all_output().contains(TOKEN), "the token leaked");
    run
}

#[test]
fn https_metadata_with_a_private_ca() {
    let body = std::fs::read_to_string(case("tables-pipeline").join("metadata.json")).unwrap();
    let url = serve_https(body);
    let ca = broker().tls_dir.join("ca.pem");
    let run = plan(&url, Some(p(&ca)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_tables_pipeline_plan(&run.stdout);

    // The system's store and another CA do not know the private CA: the URL is named.
    let other = broker().tls_dir.join("other-ca.pem");
    for ca in [None, Some(p(&other))] {
        let run = plan(&url, ca);
        assert_eq!(run.code, 1, "{}", run.stderr);
        let error = &run.stderr[run.stderr.find("error: ").expect("an error line")..];
        assert!(error.contains(&url), "{error}");
        assert!(error.to_lowercase().contains("certificate"), "{error}");
    }

    // A CA file that is not there, or holds no certificate, is a usage error naming it.
    let missing = broker().tls_dir.join("no-such-ca.pem");
    let run = plan(&url, Some(p(&missing)));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains(p(&missing)), "{}", run.stderr);
    let key = broker().tls_dir.join("client.key");
    let run = plan(&url, Some(p(&key)));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("holds no PEM certificate"),
        "{}",
        run.stderr
    );
}
