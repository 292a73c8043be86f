//! The metadata service client: `POST <url>?jobId=<id>&jobToken=<token>`.
//!
//! The job token is a secret: it is sent in the query string (as the service expects) and never
//! appears in an error, a log line or any output; every text that leaves this module is scrubbed.

use std::time::Duration;

use super::model::{Metadata, MetadataFormatError};

/// How to reach the metadata service.
#[derive(Clone)]
pub struct MetadataRequest {
    pub url: String,
    pub job_id: String,
    pub job_token: String,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    /// Tries in all (1 = no retry).
    pub tries: u32,
    /// Wait before the second try; doubled before each later one.
    pub backoff: Duration,
    /// The CA certificates (PEM) to trust for https:// instead of the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for MetadataRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataRequest")
            .field("url", &self.url)
            .field("job_id", &self.job_id)
            .field("job_token", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("tries", &self.tries)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl MetadataRequest {
    pub fn new(
        url: impl Into<String>,
        job_id: impl Into<String>,
        job_token: impl Into<String>,
    ) -> Self {
        MetadataRequest {
            url: url.into(),
            job_id: job_id.into(),
            job_token: job_token.into(),
            connect_timeout: Duration::from_secs(10),
            total_timeout: Duration::from_secs(60),
            tries: 3,
            backoff: Duration::from_millis(500),
            ca_file: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata service at {url} refused job id {job_id:?} and its token (HTTP {status}); check the job id and its token")]
    Refused {
        url: String,
        job_id: String,
        status: u16,
    },
    #[error("metadata service at {url} answered HTTP {status} for job id {job_id:?}: {body}")]
    Status {
        url: String,
        job_id: String,
        status: u16,
        body: String,
    },
    #[error("metadata service at {url} could not be reached after {tries} tries: {reason}")]
    Unreachable {
        url: String,
        tries: u32,
        reason: String,
    },
    #[error("metadata URL {url:?} is not an http:// or https:// URL")]
    BadUrl { url: String },
    #[error("metadata from {origin}: {source}")]
    Format {
        origin: String,
        #[source]
        source: MetadataFormatError,
    },
    #[error("cannot read metadata file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("CA file {path} for the metadata service: {reason}")]
    Ca { path: String, reason: String },
}

/// Replaces every occurrence of `secret` in `text`: as is, percent-encoded in any style (a URL
/// echoed back by a server), and escaped as Rust or JSON would quote it.
pub fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    const R: &str = "<redacted>";
    let escaped = format!("{secret:?}");
    let escaped = &escaped[1..escaped.len() - 1];
    let mut out = text.replace(secret, R).replace(escaped, R);
    for encoded in [url_encode(secret), url_encode(secret).to_lowercase()] {
        if encoded != secret {
            out = out.replace(&encoded, R);
        }
    }
    // Any other encoding of it (some characters escaped, others not): decode and look again.
    let decoded = crate::text::percent_decode(&out);
    if decoded.contains(secret) {
        out = decoded.replace(secret, R);
    }
    out
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads the metadata from a file holding the service's JSON answer.
pub fn read_metadata_file(path: &std::path::Path) -> Result<Metadata, MetadataError> {
    let text = std::fs::read_to_string(path).map_err(|e| MetadataError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Metadata::from_json(&text).map_err(|source| MetadataError::Format {
        origin: path.display().to_string(),
        source,
    })
}

enum Attempt {
    Done(Metadata),
    Retry(String),
    Fail(MetadataError),
}

/// Asks the metadata service, retrying connection errors, timeouts and 5xx answers.
pub fn fetch_metadata(req: &MetadataRequest) -> Result<Metadata, MetadataError> {
    if !(req.url.starts_with("http://") || req.url.starts_with("https://")) {
        return Err(MetadataError::BadUrl {
            url: scrub(&req.url, &req.job_token),
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(root_certs(req.ca_file.as_deref())?)
                .build(),
        )
        .timeout_connect(Some(req.connect_timeout))
        .timeout_global(Some(req.total_timeout))
        .http_status_as_error(false)
        .user_agent(concat!("onfs-push/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let tries = req.tries.max(1);
    let mut wait = req.backoff;
    let mut last = String::new();
    for attempt in 1..=tries {
        if attempt > 1 {
            tracing::warn!(
                url = %req.url,
                attempt,
                tries,
                "metadata request failed ({last}); retrying in {wait:?}"
            );
            std::thread::sleep(wait);
            wait *= 2;
        }
        match try_once(&agent, req) {
            Attempt::Done(m) => return Ok(m),
            Attempt::Fail(e) => return Err(e),
            Attempt::Retry(reason) => last = reason,
        }
    }
    Err(MetadataError::Unreachable {
        url: scrub(&req.url, &req.job_token),
        tries,
        reason: last,
    })
}

/// The CA certificates of `ca_file`, else the system's (the platform's verifier).
fn root_certs(ca_file: Option<&std::path::Path>) -> Result<ureq::tls::RootCerts, MetadataError> {
    let Some(path) = ca_file else {
        return Ok(ureq::tls::RootCerts::PlatformVerifier);
    };
    let fail = |reason: String| MetadataError::Ca {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| fail(e.to_string()))? {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        return Err(fail("holds no PEM certificate".into()));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

fn try_once(agent: &ureq::Agent, req: &MetadataRequest) -> Attempt {
    let secret = &req.job_token;
    let url = scrub(&req.url, secret);
    let result = agent
        .post(&req.url)
        .query("jobId", &req.job_id)
        .query("jobToken", &req.job_token)
        .header("Content-Type", "application/json")
        .send_empty();
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => return classify_transport_error(e, secret),
    };
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_string();
    let body = match body {
        Ok(b) => b,
        Err(e) if status == 200 => return classify_transport_error(e, secret),
        Err(_) => String::new(),
    };
    match status {
        200 => match Metadata::from_json(&body) {
            Ok(m) => Attempt::Done(m),
            Err(source) => Attempt::Fail(MetadataError::Format {
                origin: url,
                source: MetadataFormatError {
                    path: scrub(&source.path, secret),
                    problem: scrub(&source.problem, secret),
                },
            }),
        },
        401 | 403 => Attempt::Fail(MetadataError::Refused {
            url,
            job_id: req.job_id.clone(),
            status,
        }),
        500..=599 => Attempt::Retry(format!("HTTP {status}: {}", excerpt(&body, secret))),
        _ => Attempt::Fail(MetadataError::Status {
            url,
            job_id: req.job_id.clone(),
            status,
            body: excerpt(&body, secret),
        }),
    }
}

fn classify_transport_error(e: ureq::Error, secret: &str) -> Attempt {
    let reason = match &e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::ConnectionFailed => "connection failed".to_string(),
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::Io(io) => format!("I/O error: {io}"),
        other => other.to_string(),
    };
    Attempt::Retry(scrub(&reason, secret))
}

fn excerpt(body: &str, secret: &str) -> String {
    let body = scrub(body.trim(), secret);
    if body.chars().count() > 300 {
        let cut: String = body.chars().take(300).collect();
        format!("{cut}...")
    } else if body.is_empty() {
        "(empty body)".to_string()
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_plain_and_encoded_secret() {
        assert_eq!(scrub("a tok/en b", "tok/en"), "a <redacted> b");
        assert_eq!(scrub("jobToken=tok%2Fen", "tok/en"), "jobToken=<redacted>");
        assert_eq!(scrub("nothing", ""), "nothing");
        assert_eq!(scrub("jobToken=tok%2F!*", "tok/!*"), "jobToken=<redacted>");
        assert_eq!(scrub("t=tok%2fen", "tok/en"), "t=<redacted>");
        assert_eq!(scrub(r#"type "a\"b""#, "a\"b"), r#"type "<redacted>""#);
    }

    #[test]
    fn debug_hides_token() {
        let r = MetadataRequest::new("http://h/x", "job", "s3cr3t");
        assert!(!format!("{r:?}").contains("s3cr3t"));
    }

    #[test]
    fn non_http_url_is_rejected() {
        let r = MetadataRequest::new("ftp://h/x", "job", "t");
        assert!(matches!(
            fetch_metadata(&r),
            Err(MetadataError::BadUrl { .. })
        ));
    }
}
