//! Object stores for locations given as URLs: `s3://`/`s3a://` (S3 and S3-compatible),
//! `gs://` (GCS), `az://`, `abfs://`, `abfss://` (Azure Blob / ADLS Gen2), built from each
//! cloud's usual environment and the job's storage options. Shared by the sources (read with
//! DataFusion) and the push ledger (read and written by the command line and the Python
//! package alike), without either's heavier dependencies.

mod build;
mod error;
pub mod list_retry;
mod location;

pub use build::{
    build_store, check_credentials, credentials_configured, explain, Cloud, StorageOptions,
};
pub use error::StorageError;
pub use location::dir_url;
