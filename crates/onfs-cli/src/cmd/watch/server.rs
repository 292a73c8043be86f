//! `--listen`: `/metrics` in Prometheus' text format, `/healthz` (the process answers) and
//! `/readyz` (every job was looked at once), on a thread of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{usage, CliResult};
use crate::metrics::Metrics;

/// Stops serving when dropped.
pub struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn serve(addr: &str, metrics: Arc<Metrics>, ready: Arc<AtomicBool>) -> CliResult<Server> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| usage(anyhow::anyhow!("--listen {addr}: {e}")))?;
    tracing::info!(
        "serving /metrics, /healthz and /readyz at http://{}",
        server
            .server_addr()
            .to_ip()
            .map(|a| a.to_string())
            .unwrap_or_else(|| addr.to_string())
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let thread = std::thread::spawn(move || {
        while !stopping.load(Ordering::Relaxed) {
            let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(200)) else {
                continue;
            };
            let (code, body, kind) = match request.url() {
                "/metrics" => (
                    200,
                    metrics.text(),
                    "text/plain; version=0.0.4; charset=utf-8",
                ),
                "/healthz" => (200, "ok\n".to_string(), "text/plain"),
                "/readyz" if ready.load(Ordering::Relaxed) => {
                    (200, "ready\n".to_string(), "text/plain")
                }
                "/readyz" => (
                    503,
                    "not ready: the jobs are being looked at for the first time\n".to_string(),
                    "text/plain",
                ),
                _ => (404, "not found\n".to_string(), "text/plain"),
            };
            let header = tiny_http::Header::from_bytes("Content-Type", kind).expect("a header");
            let _ = request.respond(
                tiny_http::Response::from_string(body)
                    .with_status_code(code)
                    .with_header(header),
            );
        }
    });
    Ok(Server {
        stop,
        thread: Some(thread),
    })
}
