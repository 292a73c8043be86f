//! One job's state: locked while a run holds it, read at the start, committed once everything
//! the run sent was delivered.

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::head::{Head, PassSources, RunRecord};
use crate::ledger::{Ledger, Updates, HASH_SCHEME};
use crate::lock::LockInfo;
use crate::{StateError, StateLocation};

const HEAD: &str = "HEAD.json";
const LOCK: &str = "LOCK.json";
/// The folder (one per run, `sends-<run>`) where executors leave what they sent, until the
/// run commits.
const SENDS: &str = "sends";

/// An executor's sends for `run` of the job in `job_dir` (Spark), written under the job's
/// folder as `name`; the run's driver reads them with [`JobState::read_sends`] once
/// everything was delivered. Returns `name`.
pub async fn put_sends(
    location: &StateLocation,
    job_dir: &str,
    run: &str,
    name: &str,
    sends: &Updates,
    groups: &[String],
) -> Result<String, StateError> {
    let path = location.path(&[job_dir, &format!("{SENDS}-{run}"), name]);
    let bytes = sends.to_parquet(groups).map_err(|e| StateError::Encode {
        path: location.shown(&path),
        problem: e.to_string(),
    })?;
    location
        .store
        .put(&path, PutPayload::from(bytes))
        .await
        .map_err(|e| StateError::store(location, &path, e))?;
    Ok(name.to_string())
}

/// The folder of a job: its name made path-safe, and a hash of the groups it pushes (the
/// ledger is per job and groups: another set of groups is another ledger).
pub fn job_key(name: &str, groups: &[String]) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let mut sorted = groups.to_vec();
    sorted.sort();
    // FNV-1a: stable across versions and platforms.
    let h = crate::resume::fnv1a(sorted.join("\n").as_bytes());
    format!("{slug}-{:08x}", h as u32)
}

/// Bits from the standard library's randomly seeded hasher: run ids of two processes that
/// start in one second on hosts sharing a pid still differ.
fn random_bits() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub struct JobState {
    location: StateLocation,
    job: String,
    dir: String,
    groups: Vec<String>,
    run: String,
    started: String,
    /// Ledger files written by this run (checkpoints), for unique names.
    written: u32,
    /// What the last successful runs left.
    pub head: Head,
}

impl JobState {
    /// Takes the job's lock (failing at once, naming the run that holds it, unless that run was
    /// killed on this host) and reads its head.
    pub async fn open(
        location: &StateLocation,
        job: &str,
        groups: &[String],
    ) -> Result<JobState, StateError> {
        let dir = job_key(job, groups);
        let started = now();
        let run = format!(
            "{}-{}-{:06x}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            std::process::id(),
            random_bits() & 0xff_ffff
        );
        let state = JobState {
            location: location.clone(),
            job: job.to_string(),
            dir,
            groups: groups.to_vec(),
            run,
            started,
            written: 0,
            head: Head::default(),
        };
        state.lock().await?;
        match state.read_head().await {
            Ok(head) => Ok(JobState { head, ..state }),
            Err(e) => {
                let _ = state.release().await;
                Err(e)
            }
        }
    }

    pub fn location(&self) -> &StateLocation {
        &self.location
    }

    pub fn run_id(&self) -> &str {
        &self.run
    }

    /// The job's folder under the location ([`job_key`]).
    pub fn dir(&self) -> &str {
        &self.dir
    }

    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    fn path(&self, name: &str) -> object_store::path::Path {
        self.location.path(&[&self.dir, name])
    }

    async fn lock(&self) -> Result<(), StateError> {
        let path = self.path(LOCK);
        let body = serde_json::to_vec_pretty(&LockInfo::mine(&self.run)).expect("lock serializes");
        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        for _ in 0..2 {
            match self
                .location
                .store
                .put_opts(&path, PutPayload::from(body.clone()), create.clone())
                .await
            {
                Ok(_) => return Ok(()),
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let holder = self.read_json::<LockInfo>(&path).await?;
                    match holder {
                        Some(h) if h.is_stale() => {
                            tracing::warn!(job = %self.job, holder = %h, "taking over the lock of a run that no longer runs");
                            self.location
                                .store
                                .delete(&path)
                                .await
                                .map_err(|e| StateError::store(&self.location, &path, e))?;
                        }
                        Some(h) => {
                            return Err(StateError::Locked {
                                job: self.job.clone(),
                                holder: h.to_string(),
                                path: format!(
                                    "{}/{}/{LOCK}",
                                    self.location.url.trim_end_matches('/'),
                                    self.dir
                                ),
                            })
                        }
                        None => continue, // released meanwhile
                    }
                }
                Err(e) => return Err(StateError::store(&self.location, &path, e)),
            }
        }
        Err(StateError::Locked {
            job: self.job.clone(),
            holder: "another run".into(),
            path: path.to_string(),
        })
    }

    async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &object_store::path::Path,
    ) -> Result<Option<T>, StateError> {
        self.location.read_json(path).await
    }

    async fn read_head(&self) -> Result<Head, StateError> {
        Ok(self
            .read_json::<Head>(&self.path(HEAD))
            .await?
            .unwrap_or_else(|| Head {
                version: 1,
                job: self.job.clone(),
                groups: self.groups.clone(),
                hash_scheme: HASH_SCHEME.into(),
                ..Default::default()
            }))
    }

    /// The ledger the last successful run left (empty if none, or if it was made with another
    /// hash scheme).
    pub async fn ledger(&self) -> Result<Ledger, StateError> {
        let Some(name) = &self.head.ledger else {
            return Ok(Ledger::new(self.groups.clone()));
        };
        if self.head.hash_scheme != HASH_SCHEME {
            tracing::warn!(job = %self.job, "the ledger was made by another version of onfs-push: every group is sent once");
            return Ok(Ledger::new(self.groups.clone()));
        }
        let path = self.path(name);
        let bytes = self.get(&path).await?;
        let t = std::time::Instant::now();
        let ledger =
            Ledger::from_parquet(bytes, &self.groups).map_err(|problem| StateError::Corrupt {
                path: path.to_string(),
                problem,
            })?;
        tracing::debug!(job = %self.job, keys = ledger.len(), seconds = t.elapsed().as_secs_f64(), "ledger read");
        Ok(ledger)
    }

    /// Records what a run delivered so far (the ledger with its sends, the passes it pushed),
    /// keeping the lock: a run cut after this leaves these passes pushed. The head is replaced
    /// in one put, after the ledger file is complete.
    pub async fn checkpoint(
        &mut self,
        ledger: Option<&Ledger>,
        passes: &[PassSources],
    ) -> Result<(), StateError> {
        self.write(ledger, passes, None).await
    }

    /// Records a successful run: the new ledger (if the run kept one), the passes it pushed
    /// and its counts; then releases the lock. A run killed before leaves the previous state
    /// as it was.
    pub async fn commit(
        mut self,
        ledger: Option<&Ledger>,
        run: RunRecord,
        passes: Vec<PassSources>,
    ) -> Result<Head, StateError> {
        if let Err(e) = self.write(ledger, &passes, Some(run)).await {
            // The head is replaced in one put, so the location holds the previous commit (or
            // the last checkpoint) as it was: the lock goes back, or the job would stay locked
            // by a run that has ended.
            if let Err(r) = self.release().await {
                tracing::warn!("{r}");
            }
            return Err(e);
        }
        let head = self.head.clone();
        self.release().await?;
        Ok(head)
    }

    async fn write(
        &mut self,
        ledger: Option<&Ledger>,
        passes: &[PassSources],
        run: Option<RunRecord>,
    ) -> Result<(), StateError> {
        let previous = self.head.ledger.clone();
        if let Some(ledger) = ledger {
            self.written += 1;
            let name = format!("ledger-{}-{}.parquet", self.run, self.written);
            let path = self.path(&name);
            let t = std::time::Instant::now();
            let bytes = ledger.to_parquet().map_err(|e| StateError::Encode {
                path: self.location.shown(&path),
                problem: e.to_string(),
            })?;
            let encoded = t.elapsed().as_secs_f64();
            self.head.ledger_bytes = bytes.len() as u64;
            self.location
                .store
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(|e| StateError::store(&self.location, &path, e))?;
            tracing::debug!(
                job = %self.job,
                keys = ledger.len(),
                bytes = self.head.ledger_bytes,
                encoded,
                seconds = t.elapsed().as_secs_f64(),
                "ledger written"
            );
            self.head.ledger = Some(name);
            self.head.keys = ledger.len() as u64;
            self.head.hash_scheme = HASH_SCHEME.into();
            self.head.groups = self.groups.clone();
        }
        for pass in passes {
            self.head.record_pass(pass, &self.run);
        }
        if let Some(mut run) = run {
            run.id = self.run.clone();
            run.started = self.started.clone();
            run.finished = now();
            self.head.add_run(run);
        }
        let path = self.path(HEAD);
        let body = serde_json::to_vec_pretty(&self.head).expect("head serializes");
        self.location
            .store
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|e| StateError::store(&self.location, &path, e))?;
        if previous != self.head.ledger {
            self.remove_other_ledgers().await;
        }
        Ok(())
    }

    async fn get(&self, path: &object_store::path::Path) -> Result<bytes::Bytes, StateError> {
        let store = |e| StateError::store(&self.location, path, e);
        self.location
            .store
            .get(path)
            .await
            .map_err(store)?
            .bytes()
            .await
            .map_err(store)
    }

    /// Every object in the job's folder (none, with a warning, if it cannot be listed).
    async fn files(&self) -> Vec<object_store::ObjectMeta> {
        use futures::TryStreamExt;
        let dir = self.location.path(&[&self.dir]);
        match self.location.store.list(Some(&dir)).try_collect().await {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!("listing {dir}: {e}");
                Vec::new()
            }
        }
    }

    /// Deletes every ledger file but the head's: the previous one, and any a killed run wrote
    /// without committing. Best effort: a file left is never read.
    async fn remove_other_ledgers(&self) {
        for meta in self.files().await {
            let name = meta.location.filename().unwrap_or_default();
            if name.starts_with("ledger-") && Some(name) != self.head.ledger.as_deref() {
                let _ = self.location.store.delete(&meta.location).await;
            }
        }
    }

    /// The ledger file in effect as a URL under the location as every process reaches it
    /// ([`StateLocation::shared_url`]), for an engine that reads it itself; `None` before the
    /// first changed-only run, or for a ledger of another hash scheme (everything is sent
    /// once).
    pub fn ledger_url(&self) -> Option<String> {
        let name = self.head.ledger.as_ref()?;
        if self.head.hash_scheme != HASH_SCHEME {
            return None;
        }
        Some(format!(
            "{}/{}/{name}",
            self.location.shared_url().trim_end_matches('/'),
            self.dir
        ))
    }

    /// The sends executors of this run recorded ([`put_sends`]), by file name, in one
    /// [`Updates`] (a later file winning for a key and group).
    pub async fn read_sends(&self, names: &[String]) -> Result<Updates, StateError> {
        let mut all = Updates::new(self.groups.len());
        for name in names {
            let sends_dir = format!("{SENDS}-{}", self.run);
            let path = self.location.path(&[&self.dir, &sends_dir, name]);
            let bytes = self.get(&path).await?;
            let sends = Updates::from_parquet(bytes, &self.groups).map_err(|problem| {
                StateError::Corrupt {
                    path: self.location.shown(&path),
                    problem,
                }
            })?;
            all.append(sends);
        }
        Ok(all)
    }

    /// Deletes this run's sends folder, and any a killed run left. Best effort.
    pub async fn remove_sends(&self) {
        let dir = self.location.path(&[&self.dir]);
        for meta in self.files().await {
            let in_sends = meta
                .location
                .prefix_match(&dir)
                .and_then(|mut parts| parts.next())
                .is_some_and(|first| first.as_ref().starts_with(SENDS));
            if in_sends {
                let _ = self.location.store.delete(&meta.location).await;
            }
        }
        // A local folder keeps the emptied folders.
        if let Some(root) = self.location.local_dir() {
            if let Ok(entries) = std::fs::read_dir(root.join(&self.dir)) {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with(SENDS) {
                        let _ = std::fs::remove_dir_all(e.path());
                    }
                }
            }
        }
    }

    /// Gives the job back without recording anything (a failed or dry run).
    pub async fn release(&self) -> Result<(), StateError> {
        let path = self.path(LOCK);
        match self.location.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StateError::store(&self.location, &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StateLocation;

    #[tokio::test]
    async fn executors_sends_are_committed_by_the_run_and_their_folder_removed() {
        let dir = tempfile::tempdir().unwrap();
        let location =
            StateLocation::open(dir.path().to_str().unwrap(), &Default::default()).unwrap();
        let groups = vec!["a".to_string(), "b".to_string()];
        let state = JobState::open(&location, "job", &groups).await.unwrap();
        assert_eq!(state.ledger_url(), None);
        // Two executors' sends; a third file (a retried attempt) is never named.
        let mut one = Updates::new(2);
        one.push(1, [(10, 5), (11, 5)]);
        let mut two = Updates::new(2);
        two.push(2, [(20, 5), (0, 0)]);
        for (name, sends) in [("p0", &one), ("p1", &two), ("p1-retry", &two)] {
            put_sends(&location, state.dir(), state.run_id(), name, sends, &groups)
                .await
                .unwrap();
        }
        let sends = state.read_sends(&["p0".into(), "p1".into()]).await.unwrap();
        assert_eq!(sends.len(), 2);
        let mut ledger = state.ledger().await.unwrap();
        ledger.apply(sends);
        state.remove_sends().await;
        let run_dir = dir.path().join(state.dir());
        let left: Vec<String> = std::fs::read_dir(&run_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.iter().all(|n| !n.starts_with(SENDS)), "{left:?}");
        state
            .commit(Some(&ledger), RunRecord::default(), Vec::new())
            .await
            .unwrap();
        // The next run finds the ledger, by an absolute file:// URL of the local folder.
        let next = JobState::open(&location, "job", &groups).await.unwrap();
        let url = next.ledger_url().unwrap();
        assert!(url.starts_with("file:///"), "{url}");
        let file = url::Url::parse(&url).unwrap().to_file_path().unwrap();
        assert!(file.starts_with(dir.path()), "{url}");
        assert!(file.is_file(), "{url}");
        assert_eq!(next.ledger().await.unwrap(), ledger);
        next.release().await.unwrap();
    }
}
