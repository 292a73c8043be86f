//! What can go wrong with the state location, naming the file.

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state location {location:?}: {problem}")]
    Location { location: String, problem: String },
    #[error("state {path}: {source}")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("state {path}: not a ledger onfs-push can read: {problem}")]
    Corrupt { path: String, problem: String },
    #[error("state {path}: could not be encoded for writing: {problem}")]
    Encode { path: String, problem: String },
    #[error("resume area {path}: {source}")]
    Resume {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("job {job:?} is being pushed by another run ({holder}); it holds {path}. Wait for it to finish; if it is gone (killed), delete that file")]
    Locked {
        job: String,
        holder: String,
        path: String,
    },
}

impl StateError {
    /// Bad configuration (exit 2) rather than a failed run.
    pub fn is_usage(&self) -> bool {
        matches!(self, StateError::Location { .. })
    }

    /// An error of the store at `path`, named as the user gave the location.
    pub(crate) fn store(
        location: &crate::StateLocation,
        path: &object_store::path::Path,
        source: object_store::Error,
    ) -> Self {
        StateError::Store {
            path: location.shown(path),
            source,
        }
    }
}
