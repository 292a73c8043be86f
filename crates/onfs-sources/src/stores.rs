//! The object stores of source URLs ([`onfs_stores`]), registered in a DataFusion session.

use datafusion::prelude::SessionContext;
pub use onfs_stores::{
    build_store, check_credentials, credentials_configured, explain, Cloud, StorageOptions,
};
use url::Url;

use crate::SourceError;

impl From<onfs_stores::StorageError> for SourceError {
    fn from(e: onfs_stores::StorageError) -> SourceError {
        use onfs_stores::StorageError as E;
        match e {
            E::Usage(text) => SourceError::Usage(text),
            E::BadStorageOption { key } => SourceError::BadStorageOption { key },
            E::NoCredentials { url, hint } => SourceError::NoCredentials { url, hint },
        }
    }
}

/// Registers the store of `url` in the session (once per scheme and bucket/container).
pub fn register(ctx: &SessionContext, url: &Url, opts: &StorageOptions) -> Result<(), SourceError> {
    if url.scheme() == "file" {
        return Ok(());
    }
    check_credentials(url, opts)?;
    let store = build_store(url, opts)?;
    let base = Url::parse(&format!(
        "{}://{}",
        url.scheme(),
        &url[url::Position::BeforeUsername..url::Position::AfterPort]
    ))
    .map_err(|e| SourceError::Usage(format!("location {url}: {e}")))?;
    ctx.register_object_store(&base, store);
    Ok(())
}
