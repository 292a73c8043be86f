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

/// The crates of this project: their lines are the product's own, shown at INFO; every other
/// crate (DataFusion, deltalake, object_store, librdkafka's bridge ...) is a dependency, shown
/// from WARN unless more is asked for.
const PRODUCT: [&str; 8] = [
    "onfs_push",
    "onfs_cli",
    "onfs_core",
    "onfs_file",
    "onfs_kafka",
    "onfs_sources",
    "onfs_pipeline",
    "onfs_verify",
];

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    Text,
    /// One JSON object per event (timestamp, level, fields, span).
    Json,
}

/// The filter for the flags given: `--quiet` warnings and errors only; `-v` the product at DEBUG
/// and dependencies at INFO, `-vv` everything at DEBUG, `-vvv` TRACE; `--log-level LEVEL`
/// (or `ONFS_LOG`) the product at LEVEL and dependencies at WARN unless LEVEL is debug or
/// trace, which apply to every crate; a tracing filter (`onfs_core=debug,deltalake=info`) as
/// written. The default is the product at INFO.
pub fn filter_directives(level: Option<&str>, verbose: u8, quiet: bool) -> String {
    let product = |product: &str, deps: &str| {
        let mut d = vec![deps.to_string()];
        d.extend(PRODUCT.iter().map(|c| format!("{c}={product}")));
        d.join(",")
    };
    if quiet {
        return "warn".into();
    }
    match verbose {
        0 => {}
        1 => return product("debug", "info"),
        2 => return "debug".into(),
        _ => return "trace".into(),
    }
    match level.map(|l| l.trim().to_ascii_lowercase()) {
        None => product("info", "warn"),
        Some(l) if l == "debug" || l == "trace" => l,
        Some(l) if ["error", "warn", "info", "off"].contains(&l.as_str()) => {
            let deps = if l == "info" { "warn" } else { l.as_str() };
            product(&l, deps)
        }
        Some(_) => level.unwrap_or_default().to_string(),
    }
}

/// `--quiet`: the summaries of a successful command are not printed either.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `--quiet` was given: warnings and errors only.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn init(directives: &str, format: LogFormat) {
    let mut filter = tracing_subscriber::EnvFilter::try_new(directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter_directives(None, 0, false)));
    // The HTTP and TLS libraries' own debug logs print request URLs (which carry the job token):
    // they stay quiet whatever level is asked for.
    for quiet in ["ureq=warn", "ureq_proto=warn", "rustls=warn"] {
        filter = filter.add_directive(quiet.parse().expect("valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        .with_target(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .with_ansi(false)
            .with_current_span(false)
            .init(),
    }
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

#[cfg(test)]
mod tests {
    use super::filter_directives as f;

    #[test]
    fn dependencies_speak_from_warn_unless_asked() {
        let default = f(None, 0, false);
        assert!(default.starts_with("warn,"), "{default}");
        assert!(default.contains("onfs_sources=info"), "{default}");
        assert_eq!(f(Some("info"), 0, false), default);
        assert_eq!(f(None, 0, true), "warn");
        assert_eq!(f(Some("debug"), 0, true), "warn");
        assert_eq!(f(Some("DEBUG"), 0, false), "debug");
        let v = f(None, 1, false);
        assert!(
            v.starts_with("info,") && v.contains("onfs_core=debug"),
            "{v}"
        );
        assert_eq!(f(None, 2, false), "debug");
        assert!(f(Some("error"), 0, false).starts_with("error,"));
        assert_eq!(
            f(Some("onfs_core=debug,deltalake=info"), 0, false),
            "onfs_core=debug,deltalake=info"
        );
    }
}
