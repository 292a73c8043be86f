//! Delta tables opened on the object stores this crate builds ([`crate::stores`]): deltalake is
//! given the store of the table's location and reads the log through its plain log store, so
//! it needs no cloud SDK of its own (reading takes no commit lock).

use std::sync::{Arc, Once};

use deltalake::logstore::{
    default_logstore, logstore_factories, LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig,
};
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder};
use url::Url;

use crate::stores::{self, Cloud, StorageOptions};
use crate::SourceError;

/// The URL schemes of the clouds [`stores::build_store`] serves.
const CLOUD_SCHEMES: [&str; 8] = ["s3", "s3a", "gs", "az", "abfs", "abfss", "adl", "azure"];

/// deltalake's plain log store, for the clouds' schemes.
struct PlainLogStore;

impl LogStoreFactory for PlainLogStore {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// deltalake looks the log store up by the URL's scheme: the clouds' schemes get the plain one.
fn register_log_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let registry = logstore_factories();
        for scheme in CLOUD_SCHEMES {
            let key = Url::parse(&format!("{scheme}://")).expect("a scheme is a URL");
            registry.insert(key, Arc::new(PlainLogStore));
        }
    });
}

/// Why a table could not be opened: deltalake's or the store's error, for the caller to word.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error(transparent)]
    Store(#[from] SourceError),
    #[error(transparent)]
    Delta(#[from] deltalake::DeltaTableError),
}

/// The Delta table at `url` (a local directory, or on a cloud's object store built from the
/// environment and `storage`), at its newest version.
pub(crate) async fn open_table(
    url: &Url,
    storage: &StorageOptions,
) -> Result<DeltaTable, OpenError> {
    let store = match Cloud::of(url) {
        Some(_) => Some(stores::build_store(url, storage).map_err(SourceError::from)?),
        None => None,
    };
    Ok(open_on(url, store).await?)
}

/// The table at `url`, on `root_store` (rooted at the bucket or container) when given.
async fn open_on(url: &Url, root_store: Option<ObjectStoreRef>) -> DeltaResult<DeltaTable> {
    let mut builder = DeltaTableBuilder::from_url(url.clone())?;
    if let Some(store) = root_store {
        register_log_stores();
        builder = builder.with_storage_backend(store, url.clone());
    }
    builder.load().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::path::Path;
    use object_store::{ObjectStoreExt, PutPayload};

    #[test]
    fn every_cloud_scheme_is_served() {
        register_log_stores();
        for scheme in CLOUD_SCHEMES {
            let url = Url::parse(&format!("{scheme}://bucket/t/")).unwrap();
            assert!(Cloud::of(&url).is_some(), "{scheme}");
            deltalake::logstore::logstore_with(
                Arc::new(InMemory::new()),
                &url,
                StorageConfig::default(),
            )
            .unwrap_or_else(|e| panic!("{scheme}: {e}"));
        }
    }

    #[tokio::test]
    async fn a_cloud_table_is_read_on_the_store_given() {
        let store = Arc::new(InMemory::new());
        let schema = r#"{\"type\":\"struct\",\"fields\":[{\"name\":\"id\",\"type\":\"long\",\"nullable\":true,\"metadata\":{}}]}"#;
        let log = format!(
            "{{\"protocol\":{{\"minReaderVersion\":1,\"minWriterVersion\":2}}}}\n{{\"metaData\":{{\"id\":\"t\",\"format\":{{\"provider\":\"parquet\",\"options\":{{}}}},\"schemaString\":\"{schema}\",\"partitionColumns\":[],\"configuration\":{{}},\"createdTime\":0}}}}\n"
        );
        store
            .put(
                &Path::from("tables/t/_delta_log/00000000000000000000.json"),
                PutPayload::from(log.into_bytes()),
            )
            .await
            .unwrap();
        let url = Url::parse("s3://bucket/tables/t/").unwrap();
        let table = open_on(&url, Some(store.clone())).await.unwrap();
        assert_eq!(table.version(), Some(0));
        let fields: Vec<String> = table
            .snapshot()
            .unwrap()
            .schema()
            .fields()
            .map(|f| f.name().to_string())
            .collect();
        assert_eq!(fields, ["id"]);
        // Nothing at another path of the same store: no table there.
        let other = Url::parse("s3://bucket/tables/none/").unwrap();
        assert!(open_on(&other, Some(store)).await.is_err());
    }
}
