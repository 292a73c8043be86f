//! One job's state: locked while a run holds it, read at the start, committed once everything
//! the run sent was delivered.

use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::head::{Head, PassSources, RunRecord, HEAD_VERSION};
use crate::ledger::{Ledger, Updates, HASH_SCHEME};
use crate::ledger_side::LedgerFile;
use crate::lock::LockInfo;
use crate::{StateError, StateLocation};

const HEAD: &str = "HEAD.json";
/// Change files a head keeps before the next write is a whole ledger.
const MAX_CHANGE_FILES: usize = 8;
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

/// A ledger to record: as it stands after the run's sends, and (when the run kept them) those
/// sends, which made it from the head's ledger. With the sends, a run that changed few keys
/// records them as a change file instead of writing the whole ledger again.
#[derive(Clone, Copy)]
pub struct NewLedger<'a> {
    pub ledger: &'a Ledger,
    pub sends: Option<&'a Updates>,
}

impl<'a> NewLedger<'a> {
    /// The whole ledger, written as one file.
    pub fn whole(ledger: &'a Ledger) -> NewLedger<'a> {
        NewLedger {
            ledger,
            sends: None,
        }
    }
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
        let path = self.path(HEAD);
        let head = self.read_json::<Head>(&path).await?;
        if let Some(head) = &head {
            if head.version > HEAD_VERSION {
                return Err(StateError::Corrupt {
                    path: self.location.shown(&path),
                    problem: format!(
                        "it was written by a newer onfs-push (head version {}, this one reads \
                         up to {HEAD_VERSION}): run the job with that version or a newer one",
                        head.version
                    ),
                });
            }
        }
        Ok(head.unwrap_or_else(|| Head {
            version: HEAD_VERSION,
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
        let mut ledger =
            Ledger::from_parquet(bytes, &self.groups).map_err(|problem| StateError::Corrupt {
                path: self.location.shown(&path),
                problem,
            })?;
        // Every change file's sends in order, applied at once (one merge of new keys).
        let mut changes = Updates::new(self.groups.len());
        for name in &self.head.changes {
            let path = self.path(name);
            let bytes = self.get(&path).await?;
            changes.append(
                Updates::from_parquet(bytes, &self.groups).map_err(|problem| {
                    StateError::Corrupt {
                        path: self.location.shown(&path),
                        problem,
                    }
                })?,
            );
        }
        ledger.apply(changes);
        tracing::debug!(job = %self.job, keys = ledger.len(), changes = self.head.changes.len(), seconds = t.elapsed().as_secs_f64(), "ledger read");
        Ok(ledger)
    }

    /// Writes the ledger whole if the head has change files (for an engine that reads the
    /// ledger's file itself, [`JobState::ledger_file`]), keeping the lock.
    pub async fn compact(&mut self) -> Result<(), StateError> {
        if self.head.changes.is_empty() {
            return Ok(());
        }
        let ledger = self.ledger().await?;
        self.write(Some(NewLedger::whole(&ledger)), &[], None).await
    }

    /// Records what a run delivered so far (the ledger with its sends, the passes it pushed),
    /// keeping the lock: a run cut after this leaves these passes pushed. The head is replaced
    /// in one put, after the ledger file is complete.
    pub async fn checkpoint(
        &mut self,
        ledger: Option<NewLedger<'_>>,
        passes: &[PassSources],
    ) -> Result<(), StateError> {
        self.write(ledger, passes, None).await
    }

    /// Records a successful run: the new ledger (if the run kept one), the passes it pushed
    /// and its counts; then releases the lock. A run killed before leaves the previous state
    /// as it was.
    pub async fn commit(
        mut self,
        ledger: Option<NewLedger<'_>>,
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

    /// Whether `sends` are recorded as a change file (else the whole ledger is written): the
    /// head has a ledger of this scheme, fewer than [`MAX_CHANGE_FILES`] change files, and
    /// its change files would hold at most a quarter as many entries as the ledger has keys.
    fn as_change(&self, new: &NewLedger<'_>) -> bool {
        let Some(sends) = new.sends else {
            return false;
        };
        self.head.ledger.is_some()
            && self.head.hash_scheme == HASH_SCHEME
            && self.head.changes.len() < MAX_CHANGE_FILES
            && (self.head.change_keys + sends.len() as u64).saturating_mul(4)
                <= new.ledger.len() as u64
    }

    async fn write(
        &mut self,
        ledger: Option<NewLedger<'_>>,
        passes: &[PassSources],
        run: Option<RunRecord>,
    ) -> Result<(), StateError> {
        let recorded = ledger.is_some();
        if let Some(new) = ledger {
            let change = self.as_change(&new);
            let t = std::time::Instant::now();
            let (name, bytes) = match new.sends {
                // Nothing sent: the ledger is the head's.
                Some(sends) if change && sends.is_empty() => (None, None),
                Some(sends) if change => {
                    self.written += 1;
                    let name = format!("ledger-{}-{}-sends.parquet", self.run, self.written);
                    let bytes = sends.to_parquet(&self.groups);
                    (Some(name), Some(bytes))
                }
                _ => {
                    self.written += 1;
                    let name = format!("ledger-{}-{}.parquet", self.run, self.written);
                    (Some(name), Some(new.ledger.to_parquet()))
                }
            };
            if let (Some(name), Some(bytes)) = (name, bytes) {
                let path = self.path(&name);
                let bytes = bytes.map_err(|e| StateError::Encode {
                    path: self.location.shown(&path),
                    problem: e.to_string(),
                })?;
                let encoded = t.elapsed().as_secs_f64();
                let size = bytes.len() as u64;
                self.location
                    .store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map_err(|e| StateError::store(&self.location, &path, e))?;
                tracing::debug!(
                    job = %self.job,
                    keys = new.ledger.len(),
                    bytes = size,
                    change,
                    encoded,
                    seconds = t.elapsed().as_secs_f64(),
                    "ledger written"
                );
                if change {
                    self.head.changes.push(name);
                    self.head.change_keys += new.sends.map_or(0, |s| s.len() as u64);
                    self.head.ledger_bytes += size;
                } else {
                    self.head.ledger = Some(name);
                    self.head.changes.clear();
                    self.head.change_keys = 0;
                    self.head.ledger_bytes = size;
                }
            }
            self.head.keys = new.ledger.len() as u64;
            self.head.hash_scheme = HASH_SCHEME.into();
            self.head.groups = self.groups.clone();
        }
        self.head.version = HEAD_VERSION;
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
        if recorded {
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

    /// Deletes every ledger file but the head's (its ledger and change files): the previous
    /// ones, and any a killed run wrote without committing. Best effort: a file left is never
    /// read.
    async fn remove_other_ledgers(&self) {
        for meta in self.files().await {
            let name = meta.location.filename().unwrap_or_default();
            let in_effect = Some(name) == self.head.ledger.as_deref()
                || self.head.changes.iter().any(|c| c == name);
            if name.starts_with("ledger-") && !in_effect {
                let _ = self.location.store.delete(&meta.location).await;
            }
        }
    }

    /// The ledger file in effect and its row groups, for an engine that joins with it itself
    /// ([`crate::ledger_side`]); `None` before the first changed-only run, or for a ledger of
    /// another hash scheme (everything is sent once). The head must have no change files
    /// ([`JobState::compact`]).
    pub async fn ledger_file(&self) -> Result<Option<LedgerFile>, StateError> {
        debug_assert!(self.head.changes.is_empty(), "compact before");
        let Some(name) = self.head.ledger.as_ref() else {
            return Ok(None);
        };
        if self.head.hash_scheme != HASH_SCHEME {
            return Ok(None);
        }
        let path = format!("{}/{name}", self.dir);
        let row_groups = crate::ledger_side::row_groups(&self.location, &path).await?;
        Ok(Some(LedgerFile { path, row_groups }))
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
        let (dir, location) = StateLocation::temp();
        let groups = vec!["a".to_string(), "b".to_string()];
        let state = JobState::open(&location, "job", &groups).await.unwrap();
        assert_eq!(state.ledger_file().await.unwrap(), None);
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
            .commit(
                Some(NewLedger::whole(&ledger)),
                RunRecord::default(),
                Vec::new(),
            )
            .await
            .unwrap();
        // The next run finds the ledger's file under the job's folder.
        let next = JobState::open(&location, "job", &groups).await.unwrap();
        let file = next.ledger_file().await.unwrap().unwrap();
        assert_eq!(file.row_groups, 1);
        assert!(dir.path().join(&file.path).is_file(), "{file:?}");
        assert_eq!(next.ledger().await.unwrap(), ledger);
        next.release().await.unwrap();
    }

    fn ledger_files(dir: &std::path::Path, state: &JobState) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(state.dir()))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("ledger-"))
            .collect();
        names.sort();
        names
    }

    /// Commits a run that sent `sends`, leaving `ledger`.
    async fn commit_sends(
        location: &StateLocation,
        groups: &[String],
        ledger: &Ledger,
        sends: &Updates,
    ) -> Head {
        let state = JobState::open(location, "job", groups).await.unwrap();
        let new = NewLedger {
            ledger,
            sends: Some(sends),
        };
        state
            .commit(Some(new), RunRecord::default(), Vec::new())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn few_sends_are_recorded_as_change_files_until_they_are_many() {
        let (dir, location) = StateLocation::temp();
        let groups = vec!["a".to_string(), "b".to_string()];
        // A first run: 100 keys, written whole (its sends are every key).
        let mut first = Updates::new(2);
        for key in 0..100 {
            first.push(key, [(key, 5), (key + 1000, 5)]);
        }
        let mut ledger = Ledger::new(groups.clone());
        ledger.apply(&first);
        let head = commit_sends(&location, &groups, &ledger, &first).await;
        assert!(head.ledger.is_some() && head.changes.is_empty());
        let whole_bytes = head.ledger_bytes;

        // Runs sending a few keys each (one new) record change files; the ledger read back is
        // the one they made.
        for run in 0..8u64 {
            let mut sends = Updates::new(2);
            sends.push(run, [(run + 7, 6), (0, 0)]);
            sends.push(200 + run, [(1, 6), (2, 6)]);
            ledger.apply(&sends);
            let head = commit_sends(&location, &groups, &ledger, &sends).await;
            assert_eq!(head.changes.len(), run as usize + 1, "run {run}");
            assert_eq!(head.change_keys, 2 * (run + 1));
            assert_eq!(head.keys, 101 + run);
            assert!(head.ledger_bytes > whole_bytes);
            let state = JobState::open(&location, "job", &groups).await.unwrap();
            assert_eq!(state.ledger().await.unwrap(), ledger, "run {run}");
            assert_eq!(ledger_files(dir.path(), &state).len(), run as usize + 2);
            state.release().await.unwrap();
        }
        // A ninth change file is one too many: the ledger is written whole, the others removed.
        let mut sends = Updates::new(2);
        sends.push(1, [(99, 7), (0, 0)]);
        ledger.apply(&sends);
        let head = commit_sends(&location, &groups, &ledger, &sends).await;
        assert!(head.changes.is_empty());
        assert_eq!(head.change_keys, 0);
        let state = JobState::open(&location, "job", &groups).await.unwrap();
        assert_eq!(
            ledger_files(dir.path(), &state),
            [head.ledger.clone().unwrap()]
        );
        assert_eq!(state.ledger().await.unwrap(), ledger);

        // Nothing sent: no file, the head as it was.
        let before = state.head.clone();
        let empty = Updates::new(2);
        let new = NewLedger {
            ledger: &ledger,
            sends: Some(&empty),
        };
        let head = state
            .commit(Some(new), RunRecord::default(), Vec::new())
            .await
            .unwrap();
        assert_eq!(
            (&head.ledger, &head.changes),
            (&before.ledger, &before.changes)
        );

        // More sends than a quarter of the keys: whole.
        let mut many = Updates::new(2);
        for key in 0..40 {
            many.push(key, [(key + 1, 8), (0, 0)]);
        }
        ledger.apply(&many);
        let head = commit_sends(&location, &groups, &ledger, &many).await;
        assert!(head.changes.is_empty());
        assert_ne!(head.ledger, before.ledger);
    }

    #[tokio::test]
    async fn an_engine_reading_the_ledger_file_gets_it_whole() {
        let (dir, location) = StateLocation::temp();
        let groups = vec!["a".to_string()];
        let mut ledger = Ledger::new(groups.clone());
        let mut first = Updates::new(1);
        for key in 0..40 {
            first.push(key, [(key, 5)]);
        }
        ledger.apply(&first);
        // The first run's sends are every key: written whole.
        commit_sends(&location, &groups, &ledger, &first).await;
        let mut sends = Updates::new(1);
        sends.push(3, [(33, 6)]);
        ledger.apply(&sends);
        let head = commit_sends(&location, &groups, &ledger, &sends).await;
        assert_eq!(head.changes.len(), 1);
        let mut state = JobState::open(&location, "job", &groups).await.unwrap();
        state.compact().await.unwrap();
        assert!(state.head.changes.is_empty());
        let file = state.ledger_file().await.unwrap().unwrap();
        let whole = Ledger::from_parquet(
            std::fs::read(dir.path().join(&file.path)).unwrap().into(),
            &groups,
        )
        .unwrap();
        assert_eq!(whole, ledger);
        assert_eq!(ledger_files(dir.path(), &state).len(), 1);
        state.release().await.unwrap();
    }

    #[tokio::test]
    async fn a_head_of_a_newer_version_is_refused() {
        let (dir, location) = StateLocation::temp();
        let groups = vec!["a".to_string()];
        let folder = dir.path().join(job_key("job", &groups));
        std::fs::create_dir_all(&folder).unwrap();
        let head = Head {
            version: HEAD_VERSION + 1,
            ..Default::default()
        };
        std::fs::write(folder.join(HEAD), serde_json::to_vec(&head).unwrap()).unwrap();
        let e = JobState::open(&location, "job", &groups)
            .await
            .err()
            .unwrap();
        let text = e.to_string();
        assert!(
            text.contains("HEAD.json") && text.contains("newer onfs-push"),
            "{text}"
        );
        assert!(!folder.join(LOCK).exists(), "the lock is given back");
    }
}
