//! What a state location holds: every job's head and lock, for `onfs-push status`.

use std::path::Path;

use object_store::ObjectStoreExt;
use serde::Serialize;

use crate::head::Head;
use crate::lock::LockInfo;
use crate::resume::PendingPass;
use crate::{StateError, StateLocation};

#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// The job's folder under the location.
    pub folder: String,
    /// `None`: no run of the job committed yet.
    pub head: Option<Head>,
    /// The run holding the job now, if any.
    pub lock: Option<LockInfo>,
    /// A pass a cut run left to deliver, in the job's resume area.
    pub pending: Option<PendingStatus>,
}

/// A cut run's pass waiting in the resume area.
#[derive(Debug, Clone, Serialize)]
pub struct PendingStatus {
    #[serde(flatten)]
    pub pass: PendingPass,
    /// Messages the brokers acknowledged before the run was cut.
    pub acknowledged: u64,
}

impl StateLocation {
    /// Every job folder of the location, by name; `spool_dir` as given to the runs (where
    /// their resume areas are when the location is not local).
    pub async fn status(&self, spool_dir: Option<&Path>) -> Result<Vec<JobStatus>, StateError> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.root))
            .await
            .map_err(|e| StateError::store(self, &self.root, e))?;
        let mut jobs = Vec::new();
        for prefix in listing.common_prefixes {
            let Some(folder) = prefix.filename().map(str::to_string) else {
                continue;
            };
            let head = self
                .read_json::<Head>(&prefix.clone().join("HEAD.json"))
                .await?;
            let lock = self
                .read_json::<LockInfo>(&prefix.join("LOCK.json"))
                .await?;
            let pending = match self.resume_area(&folder, spool_dir).pending() {
                Ok(p) => p.map(|(pass, acked)| PendingStatus {
                    acknowledged: acked.count(),
                    pass,
                }),
                Err(e) => {
                    tracing::warn!("{e}");
                    None
                }
            };
            if head.is_some() || lock.is_some() || pending.is_some() {
                jobs.push(JobStatus {
                    folder,
                    head,
                    lock,
                    pending,
                });
            }
        }
        jobs.sort_by(|a, b| a.folder.cmp(&b.folder));
        Ok(jobs)
    }

    /// What the last successful runs of the job in folder `job_dir` ([`crate::job_key`]) left,
    /// read without taking its lock; `None` before its first commit.
    pub async fn head(&self, job_dir: &str) -> Result<Option<Head>, StateError> {
        self.read_json::<Head>(&self.path(&[job_dir, "HEAD.json"]))
            .await
    }

    pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &object_store::path::Path,
    ) -> Result<Option<T>, StateError> {
        match self.store.get(path).await {
            Ok(r) => {
                let bytes = r
                    .bytes()
                    .await
                    .map_err(|e| StateError::store(self, path, e))?;
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::Corrupt {
                        path: path.to_string(),
                        problem: e.to_string(),
                    })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StateError::store(self, path, e)),
        }
    }
}
