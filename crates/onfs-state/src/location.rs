//! The state location: a local folder or an object store URL, opened with the same storage
//! options as the sources.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use onfs_stores::StorageOptions;

use crate::resume::{fnv1a, ResumeArea};
use crate::StateError;

#[derive(Clone)]
pub struct StateLocation {
    pub(crate) store: Arc<dyn ObjectStore>,
    /// The folder's path inside the store.
    pub(crate) root: Path,
    /// As given, for messages.
    pub(crate) url: String,
}

impl std::fmt::Debug for StateLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl StateLocation {
    /// `location`: a local path, `file://`, `s3://`, `s3a://`, `gs://`, `az://`, `abfs(s)://`.
    /// A local folder is made if missing.
    pub fn open(location: &str, storage: &StorageOptions) -> Result<StateLocation, StateError> {
        let bad = |problem: String| StateError::Location {
            location: location.to_string(),
            problem,
        };
        let url = onfs_stores::dir_url(location).map_err(|e| bad(e.to_string()))?;
        if url.scheme() == "file" {
            let dir = url
                .to_file_path()
                .map_err(|_| bad("not a local path".into()))?;
            std::fs::create_dir_all(&dir).map_err(|e| bad(e.to_string()))?;
            let root = Path::from_filesystem_path(&dir).map_err(|e| bad(e.to_string()))?;
            return Ok(StateLocation {
                store: Arc::new(LocalFileSystem::new()),
                root,
                url: location.to_string(),
            });
        }
        let store = onfs_stores::build_store(&url, storage).map_err(|e| bad(e.to_string()))?;
        let root = Path::from_url_path(url.path()).map_err(|e| bad(e.to_string()))?;
        Ok(StateLocation {
            store,
            root,
            url: location.to_string(),
        })
    }

    /// `path` as the user would write it: the location as given, then the path inside it.
    pub(crate) fn shown(&self, path: &Path) -> String {
        let base = self.url.trim_end_matches('/');
        match path.prefix_match(&self.root) {
            Some(parts) => {
                let rest: Vec<String> = parts.map(|p| p.as_ref().to_string()).collect();
                if rest.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}/{}", rest.join("/"))
                }
            }
            None => path.to_string(),
        }
    }

    /// As given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// As every process reaches it: a local folder as an absolute `file://` URL (another
    /// process may have another working folder; an engine with another default file system
    /// still reads it locally), an object store URL as given.
    pub fn shared_url(&self) -> String {
        match onfs_stores::dir_url(&self.url) {
            Ok(url) if url.scheme() == "file" => url.to_string(),
            _ => self.url.clone(),
        }
    }

    /// The folder, when the location is a local one.
    pub fn local_dir(&self) -> Option<std::path::PathBuf> {
        let url = onfs_stores::dir_url(&self.url).ok()?;
        (url.scheme() == "file")
            .then(|| url.to_file_path().ok())
            .flatten()
    }

    /// The resume area of the job whose folder is `job_dir` ([`crate::job_key`]): in the job's
    /// folder when the location is local, else under `spool_dir` (or the system's temporary
    /// folder), named after the job and the location.
    pub fn resume_area(&self, job_dir: &str, spool_dir: Option<&std::path::Path>) -> ResumeArea {
        if let (None, Some(local)) = (spool_dir, self.local_dir()) {
            return ResumeArea::new(local.join(job_dir).join("resume"));
        }
        let root = spool_dir
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        ResumeArea::new(root.join("onfs-push-resume").join(format!(
            "{job_dir}-{:08x}",
            fnv1a(self.url.as_bytes()) as u32
        )))
    }

    pub(crate) fn path(&self, parts: &[&str]) -> Path {
        parts
            .iter()
            .fold(self.root.clone(), |p, part| p.join(*part))
    }
}

#[cfg(test)]
impl StateLocation {
    /// A location in a new temporary folder (removed with the returned guard).
    pub(crate) fn temp() -> (tempfile::TempDir, StateLocation) {
        let dir = tempfile::tempdir().unwrap();
        let location = StateLocation::open(dir.path().to_str().unwrap(), &Default::default())
            .expect("a temporary folder");
        (dir, location)
    }
}
