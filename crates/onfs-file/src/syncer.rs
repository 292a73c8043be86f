//! A message file reaches the disk while it is written: every [`SYNC_EVERY`] bytes, a thread of
//! its own syncs what was written so far, so that the sync closing the file waits only for the
//! last of it instead of the whole file.

use std::fs::File;
use std::io;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// Bytes written between two background syncs.
pub(crate) const SYNC_EVERY: u64 = 64 << 20;

pub(crate) struct Syncer {
    kick: Option<SyncSender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
    every: u64,
    since: u64,
}

impl Syncer {
    /// A thread syncing `file` every `every` bytes written to it.
    pub fn start(file: &File, every: u64) -> io::Result<Syncer> {
        let file = file.try_clone()?;
        // One sync asked for while one runs is enough: a later one covers every byte before it.
        let (kick, asked) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("onfs-sync".into())
            .spawn(move || {
                for () in asked {
                    file.sync_data()?;
                }
                Ok(())
            })?;
        Ok(Syncer {
            kick: Some(kick),
            thread: Some(thread),
            every,
            since: 0,
        })
    }

    /// Counts `n` more bytes; true when they make a sync due (flush them to the file, then
    /// [`Syncer::sync`]).
    pub fn wrote(&mut self, n: u64) -> bool {
        self.since += n;
        self.since >= self.every
    }

    /// Asks the thread to sync what the file holds so far, without waiting for it.
    pub fn sync(&mut self) {
        self.since = 0;
        if let Some(kick) = &self.kick {
            // Full: a sync is asked for already. Gone: it failed, which `finish` reports.
            let _ = kick.try_send(());
        }
    }

    /// Stops the thread; the error of a sync that failed.
    pub fn finish(mut self) -> io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> io::Result<()> {
        self.kick.take();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the sync thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    #[test]
    fn syncs_are_asked_for_every_so_many_bytes_and_the_file_is_whole() {
        let mut file = tempfile::tempfile().unwrap();
        let mut syncer = Syncer::start(&file, 10).unwrap();
        let mut due = 0;
        for _ in 0..100 {
            file.write_all(b"abcd").unwrap();
            if syncer.wrote(4) {
                due += 1;
                syncer.sync();
            }
        }
        assert_eq!(due, 400 / 12);
        syncer.finish().unwrap();
        let mut back = Vec::new();
        file.rewind().unwrap();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"abcd".repeat(100));
    }

    #[test]
    fn a_syncer_dropped_unfinished_stops_its_thread() {
        let file = tempfile::tempfile().unwrap();
        let mut syncer = Syncer::start(&file, 1).unwrap();
        syncer.sync();
        let (done, ended) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(syncer);
            done.send(()).unwrap();
        });
        ended
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the drop joined the sync thread");
    }
}
