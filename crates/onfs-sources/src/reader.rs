//! One source: where it is, which partitions it has, and its rows as a DataFrame.

use datafusion::arrow::datatypes::DataType;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::*;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use onfs_core::plan::SourceMapping;
use onfs_core::SourceKind;
use url::Url;

use crate::catalog::{Catalog, TableFormat};
use crate::location::{child_dir, dir_url};
use crate::partition::unescape;
use crate::stores::{self, StorageOptions};
use crate::SourceError;

/// A source located and typed.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// What the metadata calls it (`db.table` or a URL).
    pub name: String,
    pub kind: SourceKind,
    pub format: TableFormat,
    pub url: Url,
    pub storage: StorageOptions,
    /// Partition columns its catalog declares (the Hive Metastore's partition keys).
    pub partition_keys: Vec<String>,
}

impl Resolved {
    pub fn new(
        mapping: &SourceMapping,
        catalog: &Catalog,
        storage: &StorageOptions,
    ) -> Result<Resolved, SourceError> {
        let (format, location, partition_keys) = if mapping.kind == SourceKind::Table {
            let e = catalog.resolve(&mapping.source)?;
            (e.format, e.location, e.partition_keys)
        } else if mapping.kind.is_delta() {
            (TableFormat::Delta, mapping.source.clone(), Vec::new())
        } else {
            (TableFormat::Parquet, mapping.source.clone(), Vec::new())
        };
        Ok(Resolved {
            name: mapping.source.clone(),
            kind: mapping.kind,
            format,
            url: dir_url(&location)?,
            storage: storage.clone(),
            partition_keys,
        })
    }

    /// The partition column to read: the configured one, unless the catalog declares a single
    /// other partition key for the table.
    pub fn partition_column(&self, configured: &str) -> String {
        match self.partition_keys.as_slice() {
            [only] if only != configured => {
                tracing::info!(source = %self.name, column = %only, "partition column from the catalog");
                only.clone()
            }
            _ => configured.to_string(),
        }
    }

    /// Registers the location's object store in the session (nothing for local paths).
    pub fn register(&self, ctx: &SessionContext) -> Result<(), SourceError> {
        stores::register(ctx, &self.url, &self.storage).map_err(|e| self.err(e.to_string()))
    }

    fn is_remote(&self) -> bool {
        self.url.scheme() != "file"
    }

    pub fn err(&self, problem: impl Into<String>) -> SourceError {
        SourceError::Source {
            source_name: self.name.clone(),
            problem: problem.into(),
        }
    }

    async fn open_delta(&self) -> Result<deltalake::DeltaTable, SourceError> {
        crate::delta_open::open_table(&self.url, &self.storage)
            .await
            .map_err(|e| {
                self.err(format!(
                    "cannot open the Delta table at {}: {}",
                    self.url,
                    self.storage.scrub(&e.to_string())
                ))
            })
    }

    /// A Delta table's rows from its log's statistics, without reading a file: all of them, or
    /// those of the files whose partition `column` is `value`. `None` when a file has no row
    /// count in the log, or `column` is not a partition column.
    pub async fn delta_rows(&self, partition: Option<(&str, &str)>) -> Option<u64> {
        let table = self.open_delta().await.ok()?;
        let state = table.snapshot().ok()?;
        if let Some((column, _)) = partition {
            if !state
                .metadata()
                .partition_columns()
                .iter()
                .any(|c| c == column)
            {
                return None;
            }
        }
        let mut rows = 0u64;
        for file in state.log_data().iter() {
            if let Some((column, value)) = partition {
                let values = file.partition_values_map();
                if values.get(column).cloned().flatten().as_deref() != Some(value) {
                    continue;
                }
            }
            rows += file.num_records()? as u64;
        }
        Some(rows)
    }

    /// A fingerprint of the files that hold the partition read (see [`crate::version`]): those
    /// under `folder` (a Parquet partition folder), else those of the whole source; for Delta,
    /// those of the current version whose partition `column` is `value` when it is a partition
    /// column.
    pub async fn version(
        &self,
        ctx: &SessionContext,
        folder: Option<&str>,
        partition: Option<(&str, &str)>,
    ) -> Result<String, SourceError> {
        use futures::TryStreamExt;
        match self.format {
            TableFormat::Parquet => {
                let store = self.store(ctx)?;
                let mut base = self.store_path();
                if let Some(f) = folder {
                    base = base.clone().join(f);
                }
                let objects: Vec<object_store::ObjectMeta> =
                    store.list(Some(&base)).try_collect().await.map_err(|e| {
                        self.err(format!(
                            "cannot list {}",
                            stores::explain(&self.url, &e, &self.storage)
                        ))
                    })?;
                let lines = objects
                    .iter()
                    .map(|o| {
                        let tag = o
                            .e_tag
                            .clone()
                            .unwrap_or_else(|| o.last_modified.to_rfc3339());
                        format!("{}\t{}\t{tag}", o.location, o.size)
                    })
                    .collect();
                Ok(crate::version::fingerprint("files", lines))
            }
            TableFormat::Delta => {
                let table = self.open_delta().await?;
                let state = table.snapshot().map_err(|e| self.err(e.to_string()))?;
                let by_value = partition.filter(|(column, _)| {
                    state
                        .metadata()
                        .partition_columns()
                        .iter()
                        .any(|c| c == column)
                });
                let mut lines = Vec::new();
                for file in state.log_data().iter() {
                    if let Some((column, value)) = by_value {
                        let values = file.partition_values_map();
                        if values.get(column).cloned().flatten().as_deref() != Some(value) {
                            continue;
                        }
                    }
                    let dv = file
                        .deletion_vector_descriptor()
                        .map(|d| format!("{}{:?}", d.path_or_inline_dv, d.offset))
                        .unwrap_or_default();
                    lines.push(format!("{}\t{}\t{dv}", file.path(), file.size()));
                }
                Ok(crate::version::fingerprint("delta", lines))
            }
        }
    }

    /// Whether a Delta table is read through its log here rather than by deltalake: when the
    /// only reader features deltalake lacks are type widening's. A table needing any other
    /// reader feature deltalake cannot read is refused by name, with the table property that
    /// turned it on, before any scan.
    fn needs_widened_read(&self, table: &deltalake::DeltaTable) -> Result<bool, SourceError> {
        use deltalake::kernel::transaction::{TransactionError, PROTOCOL};
        let snapshot = table.snapshot().map_err(|e| self.err(e.to_string()))?;
        match PROTOCOL.can_read_from_protocol(snapshot.protocol()) {
            Err(TransactionError::UnsupportedTableFeatures(features)) => {
                let features: Vec<String> = features.iter().map(ToString::to_string).collect();
                if features.iter().all(|f| WIDENING.contains(&f.as_str())) {
                    return Ok(true);
                }
                Err(SourceError::DeltaReaderFeatures {
                    source_name: self.name.clone(),
                    url: self.url.to_string(),
                    features,
                })
            }
            _ => Ok(false),
        }
    }

    /// A Delta table with type widening, read from its log's files: each file's Parquet read
    /// with the table's (widest) types, the engine casting the older, narrower columns, and
    /// its partition values from its add action.
    async fn read_widened(
        &self,
        ctx: &SessionContext,
        table: &deltalake::DeltaTable,
    ) -> Result<DataFrame, SourceError> {
        use datafusion::arrow::datatypes::Schema;
        use datafusion::scalar::ScalarValue;
        let state = table.snapshot().map_err(|e| self.err(e.to_string()))?;
        let schema = state.snapshot().arrow_schema();
        let parts = state.metadata().partition_columns();
        let file_schema = Schema::new(
            schema
                .fields()
                .iter()
                .filter(|f| !parts.contains(f.name()))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let mut frames = Vec::new();
        for file in state.log_data().iter() {
            let path = file.path();
            let url = if path.contains("://") {
                Url::parse(&path).map_err(|e| self.err(format!("file {path}: {e}")))?
            } else {
                self.url
                    .join(&path)
                    .map_err(|e| self.err(format!("file {path}: {e}")))?
            };
            let df = ctx
                .read_parquet(
                    url.as_str(),
                    ParquetReadOptions::default().schema(&file_schema),
                )
                .await
                .map_err(|e| {
                    self.err(format!(
                        "cannot read {url} of the Delta table: {}",
                        self.storage.scrub(&e.to_string())
                    ))
                })?;
            let values = file.partition_values_map();
            let columns = schema
                .fields()
                .iter()
                .map(|f| {
                    if parts.contains(f.name()) {
                        let v = values.get(f.name()).cloned().flatten();
                        cast(lit(ScalarValue::Utf8(v)), f.data_type().clone()).alias(f.name())
                    } else {
                        ident(f.name())
                    }
                })
                .collect::<Vec<_>>();
            frames.push(df.select(columns)?);
        }
        tracing::debug!(source = %self.name, files = frames.len(), "Delta table read through its log (type widening)");
        let mut frames = frames.into_iter();
        match frames.next() {
            Some(first) => Ok(frames.try_fold(first, |acc, df| acc.union(df))?),
            None => Ok(
                ctx.read_batch(datafusion::arrow::record_batch::RecordBatch::new_empty(
                    schema,
                ))?,
            ),
        }
    }

    fn store(&self, ctx: &SessionContext) -> Result<std::sync::Arc<dyn ObjectStore>, SourceError> {
        let base = format!(
            "{}://{}",
            self.url.scheme(),
            &self.url[url::Position::BeforeHost..url::Position::AfterPort]
        );
        let url = ObjectStoreUrl::parse(base).map_err(|e| self.err(e.to_string()))?;
        ctx.runtime_env()
            .object_store(url)
            .map_err(|e| self.err(e.to_string()))
    }

    fn store_path(&self) -> StorePath {
        StorePath::from_url_path(self.url.path())
            .unwrap_or_else(|_| StorePath::from(self.url.path()))
    }

    /// `<col>=<value>` folders directly under the location: `(value, folder name)`; with
    /// `require_success`, only those holding `_SUCCESS`.
    pub async fn partition_folders(
        &self,
        ctx: &SessionContext,
        column: &str,
        require_success: bool,
    ) -> Result<Vec<(String, String)>, SourceError> {
        let store = self.store(ctx)?;
        let base = self.store_path();
        let listing = store.list_with_delimiter(Some(&base)).await.map_err(|e| {
            self.err(format!(
                "cannot list {}",
                stores::explain(&self.url, &e, &self.storage)
            ))
        })?;
        if self.is_remote() && listing.common_prefixes.is_empty() && listing.objects.is_empty() {
            return Err(self.err(format!(
                "nothing is stored under {} (a missing prefix?); check the location",
                self.url
            )));
        }
        let prefix = format!("{column}=");
        let mut out = Vec::new();
        for p in listing.common_prefixes {
            let Some(folder) = p.filename().map(str::to_string) else {
                continue;
            };
            let Some(raw) = folder.strip_prefix(&prefix) else {
                continue;
            };
            if require_success {
                let marker = p.clone().join("_SUCCESS");
                if store.head(&marker).await.is_err() {
                    tracing::debug!(source = %self.name, folder, "skipped: no _SUCCESS (incomplete)");
                    continue;
                }
            }
            out.push((unescape(raw), folder));
        }
        Ok(out)
    }

    /// All rows of the source, or of one partition folder.
    pub async fn read(
        &self,
        ctx: &SessionContext,
        folder: Option<&str>,
    ) -> Result<DataFrame, SourceError> {
        match self.format {
            TableFormat::Parquet => {
                let url = match folder {
                    Some(f) => child_dir(&self.url, f),
                    None => self.url.clone(),
                };
                ctx.read_parquet(
                    url.as_str(),
                    ParquetReadOptions::default().file_extension(".parquet"),
                )
                .await
                .map_err(|e| {
                    self.err(format!(
                        "cannot read Parquet at {url}: {}",
                        self.storage.scrub(&e.to_string())
                    ))
                })
            }
            TableFormat::Delta => {
                let table = self.open_delta().await?;
                if self.needs_widened_read(&table)? {
                    return self.read_widened(ctx, &table).await;
                }
                table
                    .update_datafusion_session(&ctx.state())
                    .map_err(|e| self.err(e.to_string()))?;
                let provider = table
                    .table_provider()
                    .await
                    .map_err(|e| self.err(e.to_string()))?;
                ctx.read_table(provider)
                    .map_err(|e| self.err(e.to_string()))
            }
        }
    }
}

/// The reader features of type widening, which this crate reads itself.
const WIDENING: [&str; 2] = ["typeWidening", "typeWidening-preview"];

/// The column's values in a DataFrame: the newest (`max`) or all of them, as text.
pub(crate) async fn column_values(
    df: &DataFrame,
    column: &str,
    newest_only: bool,
) -> Result<Vec<String>, SourceError> {
    let c = ident(column);
    let q = if newest_only {
        df.clone().aggregate(
            vec![],
            vec![datafusion::functions_aggregate::expr_fn::max(c).alias("v")],
        )?
    } else {
        df.clone().select(vec![c.alias("v")])?.distinct()?
    };
    let q = q.select(vec![cast(col("v"), DataType::Utf8).alias("v")])?;
    let batches = q.collect().await?;
    let mut out = Vec::new();
    for b in batches {
        let a = datafusion::arrow::array::cast::AsArray::as_string::<i32>(b.column(0));
        out.extend(a.iter().flatten().map(str::to_string));
    }
    Ok(out)
}

/// A column by its exact name (no SQL case folding).
pub(crate) fn ident(name: &str) -> Expr {
    Expr::Column(datafusion::common::Column::from_name(name))
}

/// Rows whose `column` equals `value` (compared as the column's type).
pub(crate) fn filter_value(
    df: DataFrame,
    column: &str,
    value: &str,
) -> Result<DataFrame, SourceError> {
    let t = df
        .schema()
        .field_with_unqualified_name(column)
        .map(|f| f.data_type().clone())
        .map_err(|e| SourceError::Engine(e.to_string()))?;
    let rhs = if t == DataType::Utf8 {
        lit(value)
    } else {
        cast(lit(value), t)
    };
    Ok(df.filter(ident(column).eq(rhs))?)
}

pub(crate) fn has_column(df: &DataFrame, column: &str) -> bool {
    df.schema().field_with_unqualified_name(column).is_ok()
}

pub(crate) fn column_names(df: &DataFrame) -> String {
    df.schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
