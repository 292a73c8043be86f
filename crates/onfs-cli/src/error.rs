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

/// An error about the file or folder given with `flag`: the flag named first; for an output
/// folder that is not empty, how to replace what it holds.
pub fn file_flag(flag: &'static str) -> impl Fn(onfs_file::FileError) -> CliError {
    use onfs_file::FileError::*;
    move |e| match &e {
        NotEmpty { .. } if flag == "--out" => usage(anyhow::anyhow!(
            "{flag} {e}\nhint: --overwrite replaces an earlier run's output in it"
        )),
        NoParquet { .. } | NotAFolder { .. } | NotEmpty { .. } | Foreign { .. } => {
            usage(anyhow::anyhow!("{flag} {e}"))
        }
        _ => e.into(),
    }
}

/// A write into the folder given with `flag` failed (a full disk, a quota): the flag and the
/// folder named, what became of the messages, and what to do.
pub fn write_failed<'a>(
    flag: &'static str,
    dir: &'a std::path::Path,
    left: &'static str,
) -> impl Fn(onfs_file::FileError) -> CliError + 'a {
    use onfs_file::FileError::*;
    move |e| match &e {
        Io { .. } | ParquetWrite { .. } => failed(anyhow::anyhow!(
            "{flag} {}: {e}\n{left}; free space there or choose another folder, then run again",
            dir.display()
        )),
        _ => e.into(),
    }
}

impl From<onfs_core::MetadataError> for CliError {
    fn from(e: onfs_core::MetadataError) -> Self {
        use onfs_core::MetadataError::*;
        match e {
            Unreachable { .. } | Status { .. } => failed(e),
            Refused { .. } => usage(anyhow::anyhow!(
                "{e}\nhint: the job id is given with --job-id, its token with --job-token or ONFS_JOB_TOKEN"
            )),
            BadUrl { .. } | Format { .. } | File { .. } | Ca { .. } => usage(e),
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
            e @ onfs_core::EncodeError::OutOfRange { .. } => failed(anyhow::anyhow!(
                "{e}\nhint: --allow-out-of-range sends such values as the original client did"
            )),
            e => failed(e),
        }
    }
}

impl From<onfs_pipeline::PipelineError> for CliError {
    fn from(e: onfs_pipeline::PipelineError) -> Self {
        match e {
            onfs_pipeline::PipelineError::Encode(e) => e.into(),
            e @ onfs_pipeline::PipelineError::DuplicateKey(_) => failed(anyhow::anyhow!(
                "{e}\nhint: --on-duplicate-key warn or keep-any sends them anyway"
            )),
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

    #[test]
    fn library_errors_get_the_flag_here() {
        let not_empty = || onfs_file::FileError::NotEmpty { path: "out".into() };
        let e = file_flag("--out")(not_empty());
        assert_eq!(e.code, 2);
        assert_eq!(
            e.to_string(),
            "--out out: the folder is not empty; choose an empty or new folder\nhint: --overwrite replaces an earlier run's output in it"
        );
        let e = file_flag("--failed-out")(not_empty());
        assert_eq!(
            e.to_string(),
            "--failed-out out: the folder is not empty; choose an empty or new folder"
        );
        let refused = onfs_core::MetadataError::Refused {
            url: "http://127.0.0.1:1/m".into(),
            job_id: "j".into(),
            status: 401,
        };
        let e = CliError::from(refused);
        assert_eq!(e.code, 2);
        assert!(e.to_string().ends_with("\nhint: the job id is given with --job-id, its token with --job-token or ONFS_JOB_TOKEN"), "{e}");
        let out_of_range = onfs_core::EncodeError::OutOfRange {
            column: "c".into(),
            key: "id=1".into(),
            value: "300".into(),
            data_type: "DataTypeUint8".into(),
            range: "0..=255".into(),
        };
        let e = CliError::from(out_of_range);
        assert_eq!(e.code, 1);
        assert!(
            e.to_string().contains("\nhint: --allow-out-of-range"),
            "{e}"
        );
        let dup =
            onfs_pipeline::PipelineError::DuplicateKey(onfs_core::transform::DuplicateKeyError {
                key: "id=1".into(),
            });
        let e = CliError::from(dup);
        assert_eq!(e.code, 1);
        assert!(
            e.to_string()
                .contains("\nhint: --on-duplicate-key warn or keep-any"),
            "{e}"
        );
    }
}
