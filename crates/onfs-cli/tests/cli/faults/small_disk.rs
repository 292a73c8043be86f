//! A disk that fills up: a small tmpfs mounted for the test where the test may mount (root, as
//! in the project's CI container), so writes fail with ENOSPC, the real "no space left". Where
//! it may not, the tests that can fall back to RLIMIT_FSIZE (a file may not grow beyond a size:
//! EFBIG) do; the others say on stderr that they did not run.

use std::path::PathBuf;
use std::process::Command;

pub struct SmallDisk {
    dir: PathBuf,
    /// The folder made for the disk (removed after it is unmounted), if the test gave none.
    _made: Option<tempfile::TempDir>,
}

impl SmallDisk {
    /// A tmpfs of `bytes` (rounded up to pages), or None where mounting is not permitted.
    pub fn mount(bytes: u64) -> Option<SmallDisk> {
        let made = tempfile::Builder::new()
            .prefix("onfs-small-disk-")
            .tempdir()
            .unwrap();
        let mut disk = SmallDisk::mount_on(made.path(), bytes)?;
        disk._made = Some(made);
        Some(disk)
    }

    /// A tmpfs of `bytes` on the existing folder `dir` (left in place when unmounted).
    pub fn mount_on(dir: &std::path::Path, bytes: u64) -> Option<SmallDisk> {
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk {
            dir: dir.to_path_buf(),
            _made: None,
        })
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Fills what is left with one file.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a process still holding a file there does not keep the mount.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Which way a test filled its disk, for its assertions on the error text.
pub fn disk_full_text(stderr: &str) -> bool {
    stderr.contains("No space left on device") || stderr.contains("File too large")
}
