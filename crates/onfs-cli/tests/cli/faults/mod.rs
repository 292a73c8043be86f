//! Faults caused for real: a TCP fault proxy between onfs-push and the Kafka broker, the
//! metadata service and the object store emulator (moto); disks that fill up. Every run is
//! bounded: a run that outlives its bound is killed and its test fails as a hang.

pub mod proxy;
mod small_disk;

mod disk;

#[cfg(feature = "service-tests")]
mod kafka;
mod metadata;
#[cfg(feature = "service-tests")]
mod object_store;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{onfs_command, Run};

/// `onfs-push ARGS` that must end within `limit`: killed and failed as a hang otherwise.
pub fn onfs_within(limit: Duration, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = onfs_command();
    cmd.args(args);
    bounded(cmd, limit, env)
}

/// [`onfs_within`] with no file of the process allowed to grow beyond `bytes` (RLIMIT_FSIZE,
/// through the shell's `ulimit -f`; SIGXFSZ ignored, so a write past it fails with EFBIG).
pub fn onfs_with_file_limit(bytes: u64, limit: Duration, args: &[&str]) -> Run {
    let bin = onfs_command();
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f "$1" || exit 99; shift; exec "$@""#)
        .arg("bash")
        .arg((bytes / 1024).max(1).to_string())
        .arg(bin.get_program())
        .args(args);
    for (k, v) in bin.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    bounded(cmd, limit, &[])
}

fn bounded(mut cmd: Command, limit: Duration, env: &[(&str, &str)]) -> Run {
    cmd.env_remove("ONFS_JOB_TOKEN")
        .env_remove("ONFS_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("run onfs-push");
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} hung: still running after {limit:?}; stderr:\n{}",
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

#[cfg(feature = "service-tests")]
/// The numbers of a summary line `WHAT: M messages (R rows, ...): D delivered, F failed[, U not
/// sent]; ...`: (M, R, D, F, U).
pub fn summary_counts(stderr: &str, what: &str) -> (u64, u64, u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with(&format!("{what}: ")) && l.contains(" delivered, "))
        .unwrap_or_else(|| panic!("no `{what}:` summary in:\n{stderr}"));
    let num = |text: &str, before: &str| -> u64 {
        let i = text
            .find(before)
            .unwrap_or_else(|| panic!("no {before:?} in {line}"));
        let head = &text[..i];
        let start = head
            .rfind(|c: char| !c.is_ascii_digit())
            .map_or(0, |j| j + 1);
        head[start..].parse().unwrap()
    };
    let unsent = if line.contains(" not sent") {
        num(line, " not sent")
    } else {
        0
    };
    (
        num(line, " messages ("),
        num(line, " rows, "),
        num(line, " delivered, "),
        num(line, " failed"),
        unsent,
    )
}
