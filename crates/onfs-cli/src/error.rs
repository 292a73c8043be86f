//! Errors at the binary's edge, with the exit code they end the process with.

use std::fmt;

pub struct CliError {
    pub code: u8,
    pub error: anyhow::Error,
}

pub type CliResult<T> = Result<T, CliError>;

/// Bad usage or configuration: exit 2.
pub fn usage(error: impl Into<anyhow::Error>) -> CliError {
    CliError {
        code: 2,
        error: error.into(),
    }
}

/// The run failed: exit 1.
pub fn failed(error: impl Into<anyhow::Error>) -> CliError {
    CliError {
        code: 1,
        error: error.into(),
    }
}

impl fmt::Display for CliError {
    /// The error and its causes, each cause once: a cause whose text the message already holds
    /// (a library error that prints its source and also returns it) is not repeated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = self.error.to_string();
        for cause in self.error.chain().skip(1) {
            let cause = cause.to_string();
            if !text.contains(&cause) {
                text.push_str(": ");
                text.push_str(&cause);
            }
        }
        f.write_str(&text)
    }
}

impl From<onfs_file::FileError> for CliError {
    fn from(e: onfs_file::FileError) -> Self {
        if e.is_usage() {
            usage(e)
        } else {
            failed(e)
        }
    }
}

impl From<onfs_core::MetadataError> for CliError {
    fn from(e: onfs_core::MetadataError) -> Self {
        use onfs_core::MetadataError::*;
        match e {
            Unreachable { .. } | Status { .. } => failed(e),
            Refused { .. } | BadUrl { .. } | Format { .. } | File { .. } => usage(e),
        }
    }
}

impl From<onfs_core::plan::PlanError> for CliError {
    fn from(e: onfs_core::plan::PlanError) -> Self {
        usage(e)
    }
}

impl From<onfs_core::EncodeError> for CliError {
    fn from(e: onfs_core::EncodeError) -> Self {
        match e {
            onfs_core::EncodeError::Store(s) => (*s).into(),
            e => failed(e),
        }
    }
}

impl From<onfs_pipeline::PipelineError> for CliError {
    fn from(e: onfs_pipeline::PipelineError) -> Self {
        match e {
            onfs_pipeline::PipelineError::Encode(e) => e.into(),
            onfs_pipeline::PipelineError::Source(e) => e.into(),
            e if e.is_usage() => usage(e),
            e => failed(e),
        }
    }
}

impl From<onfs_verify::VerifyError> for CliError {
    fn from(e: onfs_verify::VerifyError) -> Self {
        if e.is_configuration() {
            usage(e)
        } else {
            failed(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("data.parquet: {source}")]
    struct Echoes {
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_shown_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = failed(Echoes { source: io() });
        assert_eq!(e.to_string(), "data.parquet: No such file");
        let e = failed(anyhow::Error::new(io()).context("reading data.parquet"));
        assert_eq!(e.to_string(), "reading data.parquet: No such file");
    }
}
