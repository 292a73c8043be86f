//! Logs on stderr, with every secret the run knows (job token, Kafka passwords) removed from
//! every line, whatever library wrote it.

use std::io::{self, Write};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

fn secrets() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Never show `secret` (nor its URL-encoded form) in a log line or an error.
pub fn register_secret(secret: &str) {
    if !secret.is_empty() {
        secrets().lock().unwrap().push(secret.to_string());
    }
}

/// Registers the secret values of a Kafka client configuration.
pub fn register_kafka_secrets(cfg: &onfs_kafka::ProducerConfig) {
    for v in cfg.secrets() {
        register_secret(v);
    }
}

/// `text` with every registered secret replaced.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for s in secrets().lock().unwrap().iter() {
        out = onfs_core::metadata::scrub(&out, s);
    }
    out
}

pub fn init(level: &str) {
    let mut filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The HTTP and TLS libraries' own debug logs print request URLs (which carry the job token):
    // they stay quiet whatever level is asked for.
    for quiet in ["ureq=warn", "ureq_proto=warn", "rustls=warn"] {
        filter = filter.add_directive(quiet.parse().expect("valid directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = LineBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        LineBuffer(Vec::with_capacity(256))
    }
}

/// Collects one event's text and writes it redacted when the event is done.
struct LineBuffer(Vec<u8>);

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        let text = redact(&String::from_utf8_lossy(&self.0));
        let _ = io::stderr().write_all(text.as_bytes());
    }
}
