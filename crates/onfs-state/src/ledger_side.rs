//! The ledger file as the ledger side of an engine's join ([`crate::joined`]), read a row group
//! at a time by the engine's own workers through the state location, with the storage options
//! the run was given: the engine needs no access of its own to the store (Spark's file systems
//! know neither `s3://` nor the options given to onfs-push).

use std::ops::Range;
use std::sync::Arc;

use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryFutureExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::joined::{ledger_hash_column, ledger_sent_column, signed, KEY};
use crate::ledger::{hash_column, sent_column, KEY_COLUMN};
use crate::{StateError, StateLocation};

/// Rows per batch handed to the engine (fewer in tests: several batches a row group).
#[cfg(not(test))]
const BATCH_ROWS: usize = 1 << 16;
#[cfg(test)]
const BATCH_ROWS: usize = 1 << 12;

/// The ledger file a run joins with: its path under the state location and its row groups
/// (the engine reads one row group per task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerFile {
    pub path: String,
    pub row_groups: usize,
}

/// The columns of the ledger side, for `groups` in order: [`KEY`], then per group
/// [`ledger_hash_column`] and [`ledger_sent_column`], all signed 64-bit (hashes keep their
/// bits, as in [`crate::joined`]).
pub fn ledger_side_schema(groups: usize) -> SchemaRef {
    let mut fields = vec![Field::new(KEY, DataType::Int64, false)];
    for g in 0..groups {
        fields.push(Field::new(ledger_hash_column(g), DataType::Int64, true));
        fields.push(Field::new(ledger_sent_column(g), DataType::Int64, true));
    }
    Arc::new(Schema::new(fields))
}

/// A file of the state location, read by byte ranges.
struct StoreFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for StoreFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store
            .get_range(&self.path, range)
            .map_err(external)
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// A store's failure (a timeout, a refused credential) as such; anything else the file's own.
fn read_error(location: &StateLocation, at: &Path, e: ParquetError) -> StateError {
    match e {
        ParquetError::External(inner) => match inner.downcast::<object_store::Error>() {
            Ok(store) => StateError::store(location, at, *store),
            Err(other) => StateError::Corrupt {
                path: location.shown(at),
                problem: other.to_string(),
            },
        },
        e => StateError::Corrupt {
            path: location.shown(at),
            problem: e.to_string(),
        },
    }
}

async fn builder(
    location: &StateLocation,
    at: &Path,
) -> Result<ParquetRecordBatchStreamBuilder<StoreFile>, StateError> {
    let meta = location
        .store
        .head(at)
        .await
        .map_err(|e| StateError::store(location, at, e))?;
    let file = StoreFile {
        store: location.store.clone(),
        path: at.clone(),
        size: meta.size,
    };
    ParquetRecordBatchStreamBuilder::new(file)
        .await
        .map_err(|e| read_error(location, at, e))
}

fn file_path(location: &StateLocation, path: &str) -> Path {
    location.path(&path.split('/').collect::<Vec<_>>())
}

/// The number of row groups of the ledger file at `path` (under `location`).
pub(crate) async fn row_groups(location: &StateLocation, path: &str) -> Result<usize, StateError> {
    let at = file_path(location, path);
    Ok(builder(location, &at).await?.metadata().num_row_groups())
}

/// A row group's ledger side, batch by batch as it is read.
pub type LedgerSideBatches = BoxStream<'static, Result<RecordBatch, StateError>>;

/// Row group `row_group` of the ledger file at `path` ([`LedgerFile::path`]) as the ledger
/// side of the join ([`ledger_side_schema`]) for `groups` (only their columns are fetched); a
/// group the file lacks is null (never sent), as in the command line's ledger. The batches
/// come as they are read and converted: a worker holds one at a time, not the row group.
pub async fn read_ledger_side(
    location: &StateLocation,
    path: &str,
    groups: &[String],
    row_group: usize,
) -> Result<LedgerSideBatches, StateError> {
    let at = file_path(location, path);
    let builder = builder(location, &at).await?;
    let shown = location.shown(&at);
    let count = builder.metadata().num_row_groups();
    if row_group >= count {
        return Err(StateError::Corrupt {
            path: shown,
            problem: format!("row group {row_group} asked for, the file has {count}"),
        });
    }
    let mut columns = vec![KEY_COLUMN.to_string()];
    for label in groups {
        columns.extend([hash_column(label), sent_column(label)]);
    }
    let mask =
        ProjectionMask::columns(builder.parquet_schema(), columns.iter().map(String::as_str));
    let stream = builder
        .with_projection(mask)
        .with_row_groups(vec![row_group])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| read_error(location, &at, e))?;
    let (location, groups) = (location.clone(), groups.to_vec());
    Ok(stream
        .map(move |batch| {
            let batch = batch.map_err(|e| read_error(&location, &at, e))?;
            ledger_side(&batch, &groups).map_err(|problem| StateError::Corrupt {
                path: shown.clone(),
                problem,
            })
        })
        .boxed())
}

/// A batch of the ledger file (`key`, `hash:<group>`, `sent:<group>`) as the ledger side.
fn ledger_side(batch: &RecordBatch, groups: &[String]) -> Result<RecordBatch, String> {
    let int64 = |name: &str| -> Result<Option<ArrayRef>, String> {
        let Some(a) = batch.column_by_name(name) else {
            return Ok(None);
        };
        let out: Int64Array = if let Some(u) = a.as_any().downcast_ref::<UInt64Array>() {
            signed(u)
        } else if let Some(u) = a.as_any().downcast_ref::<UInt32Array>() {
            u.unary::<_, Int64Type>(i64::from)
        } else {
            return Err(format!(
                "column {name:?} is {}, not an unsigned integer",
                a.data_type()
            ));
        };
        Ok(Some(Arc::new(out)))
    };
    let rows = batch.num_rows();
    let nulls = || -> ArrayRef { Arc::new(Int64Array::new_null(rows)) };
    let key = int64(KEY_COLUMN)?.ok_or(format!("column {KEY_COLUMN:?} is missing"))?;
    let mut columns = vec![key];
    for label in groups {
        let (hash, sent) = (int64(&hash_column(label))?, int64(&sent_column(label))?);
        match (hash, sent) {
            (Some(h), Some(s)) => columns.extend([h, s]),
            _ => columns.extend([nulls(), nulls()]),
        }
    }
    RecordBatch::try_new(ledger_side_schema(groups.len()), columns).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;
    use crate::{JobState, Ledger, NewLedger, RunRecord, Updates};

    #[tokio::test]
    async fn every_row_group_read_back_is_the_ledger_with_signed_hashes() {
        let (dir, location) = StateLocation::temp();
        let groups = vec!["a".to_string(), "b".to_string()];
        let state = JobState::open(&location, "job", &groups).await.unwrap();
        assert_eq!(state.ledger_file().await.unwrap(), None);
        // Keys and hashes of 2^63 and more, across several row groups.
        let mut sends = Updates::new(2);
        let n = 70_000u64;
        for k in 0..n {
            let key = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            sends.push(key, [(u64::MAX - k, 7), (k, 9)]);
        }
        let mut ledger = Ledger::new(groups.clone());
        ledger.apply(&sends);
        state
            .commit(
                Some(NewLedger::whole(&ledger)),
                RunRecord::default(),
                vec![],
            )
            .await
            .unwrap();
        let next = JobState::open(&location, "job", &groups).await.unwrap();
        let file = next.ledger_file().await.unwrap().unwrap();
        assert!(file.row_groups > 1, "{file:?}");
        // A third group the file lacks: never sent.
        let asked = vec!["b".to_string(), "a".to_string(), "c".to_string()];
        let mut seen = std::collections::HashMap::new();
        for rg in 0..file.row_groups {
            let batches: Vec<RecordBatch> = read_ledger_side(&location, &file.path, &asked, rg)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            // A row group comes a bounded batch at a time, not whole.
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            assert_eq!(batches.len(), rows.div_ceil(BATCH_ROWS), "row group {rg}");
            assert!(
                batches.len() > 1,
                "row group {rg} of {rows} rows in one batch"
            );
            for b in batches {
                assert_eq!(b.schema(), ledger_side_schema(3));
                let col = |c: usize| b.column(c).as_any().downcast_ref::<Int64Array>().unwrap();
                for row in 0..b.num_rows() {
                    let key = col(0).value(row) as u64;
                    assert!(col(5).is_null(row) && col(6).is_null(row));
                    let got = [
                        col(1).value(row),
                        col(2).value(row),
                        col(3).value(row),
                        col(4).value(row),
                    ];
                    assert!(seen.insert(key, got).is_none(), "key {key} twice");
                }
            }
        }
        assert_eq!(seen.len(), n as usize);
        for (key, hashes) in ledger.values() {
            assert_eq!(
                seen[&key],
                [hashes[1] as i64, 9, hashes[0] as i64, 7],
                "key {key}"
            );
        }
        // A row group past the end names the file.
        let e = read_ledger_side(&location, &file.path, &asked, file.row_groups)
            .await
            .err()
            .expect("an error")
            .to_string();
        assert!(e.contains(&file.path) && e.contains("row group"), "{e}");
        // A missing file is the store's error, naming it.
        let e = read_ledger_side(&location, "job/no-such.parquet", &asked, 0)
            .await
            .err()
            .expect("an error");
        assert!(matches!(e, StateError::Store { .. }), "{e}");
        assert!(e.to_string().contains("no-such.parquet"), "{e}");
        next.release().await.unwrap();
        // A ledger of another hash scheme is not joined with: every group is sent once.
        let head = dir
            .path()
            .join(crate::job_key("job", &groups))
            .join("HEAD.json");
        let text = std::fs::read_to_string(&head).unwrap();
        assert!(text.contains(crate::HASH_SCHEME));
        std::fs::write(&head, text.replace(crate::HASH_SCHEME, "another-scheme")).unwrap();
        let other = JobState::open(&location, "job", &groups).await.unwrap();
        assert_eq!(other.ledger_file().await.unwrap(), None);
        other.release().await.unwrap();
    }
}
