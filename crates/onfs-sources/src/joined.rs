//! The original flow as one DataFusion plan: each source's partition, entity and feature
//! columns, renamed; a full outer join of all sources on the entity columns; an optional row
//! limit. Executed as parallel record batch streams. (The original's per-source `distinct` is
//! done on the joined stream, see `onfs_core::transform::DuplicateKeys`.)

use std::path::PathBuf;
use std::sync::Arc;

use datafusion::execution::disk_manager::DiskManagerBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::functions::expr_fn::coalesce;
use datafusion::logical_expr::JoinType;
use datafusion::physical_plan::{execute_stream_partitioned, StatisticsArgs, StatisticsContext};
use datafusion::prelude::*;
use onfs_core::plan::SourceMapping;
use onfs_core::{Plan, SourceKind};
use serde::Serialize;

use crate::catalog::{Catalog, TableFormat};
use crate::partition::{choose, PartitionColumns, PartitionSelection};
use crate::reader::{column_names, column_values, filter_value, has_column, ident, Resolved};
use crate::stores::StorageOptions;
use crate::SourceError;

/// What a job reads.
pub struct JobInput<'a> {
    pub plan: &'a Plan,
    pub catalog: &'a Catalog,
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub partition_columns: PartitionColumns,
    /// Newest, a value, or all; a range is run one value at a time.
    pub selection: PartitionSelection,
    pub limit: Option<usize>,
    /// Bytes the query engine may hold before spilling to disk.
    pub memory_limit: usize,
    pub target_partitions: usize,
    pub spill_dir: Option<PathBuf>,
    /// Object store options (endpoint, region, credentials ...) for every source.
    pub storage: StorageOptions,
}

/// One source as read, for the summary and the report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SourceRead {
    pub source: String,
    pub kind: String,
    pub format: String,
    pub location: String,
    pub partition_column: Option<String>,
    /// The partition read (`None`: every row).
    pub partition: Option<String>,
    /// A fingerprint of the files holding the partition when it was read: another one later
    /// means the partition was rewritten or added to (`None`: they could not be listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Rows read from the partition (filled by [`JoinedSources::count_sources`]).
    pub rows: Option<u64>,
}

pub struct JoinedSources {
    pub ctx: SessionContext,
    pub sources: Vec<SourceRead>,
    frames: Vec<DataFrame>,
    joined: DataFrame,
}

/// A session with a spilling memory pool capped at `memory_limit`.
pub fn session(opts: &ReadOptions) -> Result<SessionContext, SourceError> {
    let mut disk = DiskManagerBuilder::default();
    if let Some(dir) = &opts.spill_dir {
        disk = disk.with_mode(
            datafusion::execution::disk_manager::DiskManagerMode::Directories(vec![dir.clone()]),
        );
    }
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(opts.memory_limit)))
        .with_disk_manager_builder(disk)
        .build_arc()?;
    let config = SessionConfig::new()
        .with_target_partitions(opts.target_partitions.max(1))
        .with_batch_size(8192);
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

fn partition_column(kind: SourceKind, cols: &PartitionColumns) -> &str {
    match kind {
        SourceKind::Table => &cols.table,
        k if k.is_delta() => &cols.delta,
        _ => &cols.parquet,
    }
}

fn kind_word(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Table => "table",
        k if k.is_delta() => "delta",
        _ => "parquet",
    }
}

/// The partition values of one source (folders, else the column's values).
async fn available_values(
    ctx: &SessionContext,
    r: &Resolved,
    column: &str,
) -> Result<Vec<String>, SourceError> {
    if r.format == TableFormat::Parquet {
        let folders = r
            .partition_folders(ctx, column, r.kind.is_parquet())
            .await?;
        if !folders.is_empty() {
            return Ok(folders.into_iter().map(|(v, _)| v).collect());
        }
    }
    let df = r.read(ctx, None).await?;
    if !has_column(&df, column) {
        return Err(SourceError::NoPartitionColumn {
            source_name: r.name.clone(),
            column: column.to_string(),
            kind: kind_word(r.kind),
        });
    }
    column_values(&df, column, false).await
}

impl JoinedSources {
    /// For `--partition-range`: every value in the range over all sources, in order.
    pub async fn range_values(
        ctx: &SessionContext,
        input: &JobInput<'_>,
        opts: &ReadOptions,
    ) -> Result<Vec<String>, SourceError> {
        let mut all = Vec::new();
        for m in &input.plan.feature_mapping {
            let r = Resolved::new(m, input.catalog, &opts.storage)?;
            r.register(ctx)?;
            let column = r.partition_column(partition_column(m.kind, &opts.partition_columns));
            let column = column.as_str();
            all.extend(choose(
                &available_values(ctx, &r, column).await?,
                &opts.selection,
            ));
        }
        Ok(choose(&all, &PartitionSelection::All))
    }

    pub async fn build(
        ctx: SessionContext,
        input: &JobInput<'_>,
        opts: &ReadOptions,
    ) -> Result<JoinedSources, SourceError> {
        let keys = &input.plan.entity_columns;
        let mut frames = Vec::new();
        let mut sources = Vec::new();
        for (i, m) in input.plan.feature_mapping.iter().enumerate() {
            let (df, read) = Self::source_frame(&ctx, m, input.catalog, opts, i, keys).await?;
            frames.push(df);
            sources.push(read);
        }
        let joined = join_all(&frames, keys, input.plan)?;
        let joined = match opts.limit {
            Some(n) => joined.limit(0, Some(n))?,
            None => joined,
        };
        Ok(JoinedSources {
            ctx,
            sources,
            frames,
            joined,
        })
    }

    async fn source_frame(
        ctx: &SessionContext,
        m: &SourceMapping,
        catalog: &Catalog,
        opts: &ReadOptions,
        index: usize,
        keys: &[String],
    ) -> Result<(DataFrame, SourceRead), SourceError> {
        let r = Resolved::new(m, catalog, &opts.storage)?;
        r.register(ctx)?;
        let column = r.partition_column(partition_column(m.kind, &opts.partition_columns));
        let no_partition = |detail: String| SourceError::NoPartition {
            source_name: r.name.clone(),
            column: column.clone(),
            detail,
        };
        let (df, partition, folder) = match &opts.selection {
            PartitionSelection::All => (r.read(ctx, None).await?, None, None),
            PartitionSelection::Range(..) => {
                return Err(SourceError::Usage(
                    "a partition range is read one value at a time".into(),
                ))
            }
            sel => {
                let folders = if r.format == TableFormat::Parquet {
                    r.partition_folders(ctx, &column, r.kind.is_parquet())
                        .await?
                } else {
                    Vec::new()
                };
                if !folders.is_empty() {
                    let values: Vec<String> = folders.iter().map(|(v, _)| v.clone()).collect();
                    let chosen = choose(&values, sel).pop().ok_or_else(|| {
                        no_partition(match sel {
                            PartitionSelection::Value(v) => {
                                format!(" equal to {v:?}; it has: {}", values.join(", "))
                            }
                            _ => String::new(),
                        })
                    })?;
                    let folder = folders
                        .iter()
                        .find(|(v, _)| *v == chosen)
                        .expect("chosen among them")
                        .1
                        .clone();
                    (
                        r.read(ctx, Some(&folder)).await?,
                        Some(chosen),
                        Some(folder),
                    )
                } else {
                    let df = r.read(ctx, None).await?;
                    if !has_column(&df, &column) {
                        if r.kind.is_parquet() {
                            // Folders were looked for first: none holds `_SUCCESS`, or none exists.
                            let any = r.partition_folders(ctx, &column, false).await?;
                            if !any.is_empty() {
                                return Err(no_partition(format!(
                                    ": none of its {} `{column}=` folders holds a _SUCCESS file",
                                    any.len()
                                )));
                            }
                        }
                        return Err(SourceError::NoPartitionColumn {
                            source_name: r.name.clone(),
                            column: column.clone(),
                            kind: kind_word(m.kind),
                        });
                    }
                    let value = match sel {
                        PartitionSelection::Value(v) => v.clone(),
                        _ => column_values(&df, &column, true)
                            .await?
                            .pop()
                            .ok_or_else(|| no_partition(": the source has no rows".into()))?,
                    };
                    (filter_value(df, &column, &value)?, Some(value), None)
                }
            }
        };
        // Entity and source columns, each once, renamed. The original's per-source `distinct`
        // happens after the join, streaming (exact duplicate rows stay exact duplicates
        // through a full outer join on the key).
        let mut needed: Vec<&str> = keys.iter().map(String::as_str).collect();
        for (c, _) in &m.columns {
            if !needed.contains(&c.as_str()) {
                needed.push(c);
            }
        }
        for c in &needed {
            if !has_column(&df, c) {
                return Err(SourceError::MissingColumn {
                    source_name: r.name.clone(),
                    column: c.to_string(),
                    available: column_names(&df),
                });
            }
        }
        let df = df.select(needed.iter().map(|c| ident(c)).collect::<Vec<_>>())?;
        let mut exprs: Vec<Expr> = keys
            .iter()
            .map(|k| ident(k).alias(key_alias(index, k)))
            .collect();
        for (c, renamed) in &m.columns {
            exprs.push(ident(c).alias(renamed));
        }
        let df = df.select(exprs)?;
        let version = match r
            .version(
                ctx,
                folder.as_deref(),
                partition.as_deref().map(|v| (column.as_str(), v)),
            )
            .await
        {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(source = %r.name, "no fingerprint of its files: {e}");
                None
            }
        };
        let read = SourceRead {
            source: r.name.clone(),
            kind: m.kind.name().to_string(),
            format: match r.format {
                TableFormat::Parquet => "parquet".into(),
                TableFormat::Delta => "delta".into(),
            },
            location: r.url.to_string(),
            partition_column: partition.as_ref().map(|_| column.clone()),
            partition,
            version,
            rows: None,
        };
        Ok((df, read))
    }

    /// Each source checked as a run opens it, without reading its rows: resolved by its catalog,
    /// its store reachable with the credentials given, its partition chosen and its columns
    /// present. Its rows in that partition are counted where that is cheap: a Parquet source's
    /// from the files' footers when no filter applies, a Delta table's from its log's
    /// statistics. One result per source, in the plan's order.
    pub async fn check_sources(
        ctx: &SessionContext,
        input: &JobInput<'_>,
        opts: &ReadOptions,
    ) -> Vec<Result<SourceRead, SourceError>> {
        let keys = &input.plan.entity_columns;
        let mut out = Vec::new();
        for (i, m) in input.plan.feature_mapping.iter().enumerate() {
            let checked = match Self::source_frame(ctx, m, input.catalog, opts, i, keys).await {
                Ok((df, mut read)) => {
                    read.rows = match read.format.as_str() {
                        "parquet" => df.count().await.ok().map(|n| n as u64),
                        _ => match Resolved::new(m, input.catalog, &opts.storage) {
                            Ok(r) => {
                                let partition = read
                                    .partition_column
                                    .as_deref()
                                    .zip(read.partition.as_deref());
                                r.delta_rows(partition).await
                            }
                            Err(_) => None,
                        },
                    };
                    Ok(read)
                }
                Err(e) => Err(e),
            };
            out.push(checked);
        }
        out
    }

    /// Counts each source's rows: one extra scan per source.
    pub async fn count_sources(&mut self) -> Result<(), SourceError> {
        for (df, read) in self.frames.iter().zip(self.sources.iter_mut()) {
            read.rows = Some(df.clone().count().await? as u64);
        }
        Ok(())
    }

    pub fn schema(&self) -> arrow_schema::SchemaRef {
        Arc::new(self.joined.schema().as_arrow().clone())
    }

    /// The joined rows as parallel streams (one per engine partition), with the rows the
    /// engine expects by its sources' statistics (their files' row counts; `None`: unknown),
    /// before a row is read.
    pub async fn execute_counted(
        self,
    ) -> Result<(Vec<SendableRecordBatchStream>, Option<usize>), SourceError> {
        let task = Arc::new(self.joined.task_ctx());
        let plan = self.joined.create_physical_plan().await?;
        let rows = StatisticsContext::new()
            .compute(plan.as_ref(), &StatisticsArgs::new())
            .ok()
            .and_then(|s| s.num_rows.get_value().copied());
        let streams = execute_stream_partitioned(plan, task)?;
        Ok((streams, rows))
    }
}

fn key_alias(source: usize, key: &str) -> String {
    format!("__onfs_k{source}__{key}")
}

/// Full outer join of every source on the entity columns, keys coalesced, as Spark's
/// `join(on=keys, how="outer")`.
fn join_all(frames: &[DataFrame], keys: &[String], plan: &Plan) -> Result<DataFrame, SourceError> {
    let mut acc = frames[0].clone();
    let mut acc_keys: Vec<String> = keys.iter().map(|k| key_alias(0, k)).collect();
    for (i, right) in frames.iter().enumerate().skip(1) {
        let right_keys: Vec<String> = keys.iter().map(|k| key_alias(i, k)).collect();
        let l: Vec<&str> = acc_keys.iter().map(String::as_str).collect();
        let r: Vec<&str> = right_keys.iter().map(String::as_str).collect();
        let joined = acc.join(right.clone(), JoinType::Full, &l, &r, None)?;
        let merged_keys: Vec<String> = keys.iter().map(|k| format!("__onfs_j{i}__{k}")).collect();
        let mut exprs: Vec<Expr> = acc_keys
            .iter()
            .zip(&right_keys)
            .zip(&merged_keys)
            .map(|((a, b), m)| coalesce(vec![ident(a), ident(b)]).alias(m))
            .collect();
        for f in joined.schema().fields() {
            let name = f.name();
            if !acc_keys.contains(name) && !right_keys.contains(name) {
                exprs.push(ident(name));
            }
        }
        acc = joined.select(exprs)?;
        acc_keys = merged_keys;
    }
    let mut exprs: Vec<Expr> = acc_keys
        .iter()
        .zip(keys)
        .map(|(a, k)| ident(a).alias(k))
        .collect();
    let mut seen = std::collections::HashSet::new();
    for c in &plan.columns {
        if seen.insert(c.name.as_str()) && acc.schema().field_with_unqualified_name(&c.name).is_ok()
        {
            exprs.push(ident(&c.name));
        }
    }
    Ok(acc.select(exprs)?)
}
