//! `LOCK.json`: one run per job at a time, made with a create-only put (a conditional put on
//! object stores, an exclusive create on a local folder).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub run: String,
    pub host: String,
    pub pid: u32,
    pub started: String,
}

impl LockInfo {
    pub(crate) fn mine(run: &str) -> LockInfo {
        LockInfo {
            run: run.to_string(),
            host: host_name(),
            pid: std::process::id(),
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    /// A lock left by a process of this host that no longer runs (killed).
    pub(crate) fn is_stale(&self) -> bool {
        self.host == host_name()
            && self.pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} on {} (pid {}) since {}",
            self.run, self.host, self.pid, self.started
        )
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}
