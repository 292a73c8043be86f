//! The rows of a Parquet input by number, across its files and row groups: where its row
//! groups begin, and the record batches of any range of rows, for encoding ranges apart
//! (`onfs_core::encode::ranges`).

use std::fs::File;
use std::ops::Range;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
    RowSelector,
};
use parquet::file::metadata::PageIndexPolicy;

use crate::{FileError, ParquetInput};

/// Rows a range holds, about, when a row group can be split (its pages are indexed, so the
/// rows before a range are skipped without being read): a few pages of each column (writers
/// close a page at 20,000 rows), and few enough messages held while the ranges before are
/// written.
pub const RANGE_ROWS: u64 = 32_768;

/// One file's footer and the input's row number of each of its row groups' first row.
#[derive(Debug)]
struct FileRows {
    path: PathBuf,
    meta: ArrowReaderMetadata,
    /// `(first row, rows)` per row group, numbered across the input.
    groups: Vec<(u64, u64)>,
    /// Whether its pages are indexed (an offset index): a row group read from its middle
    /// skips the pages before.
    indexed: bool,
}

/// The row groups of every file of an input, numbered across the input.
#[derive(Debug)]
pub struct InputRows {
    files: Vec<FileRows>,
    rows: u64,
}

impl ParquetInput {
    /// Reads every file's footer (and offset index, when it has one).
    pub fn rows(&self) -> Result<InputRows, FileError> {
        let options = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
        let mut files = Vec::with_capacity(self.files.len());
        let mut rows = 0u64;
        for path in &self.files {
            let file = File::open(path).map_err(|e| FileError::io(path, e))?;
            let meta = ArrowReaderMetadata::load(&file, options.clone())
                .map_err(|e| FileError::parquet(path, e))?;
            let mut groups = Vec::new();
            for g in meta.metadata().row_groups() {
                let n = g.num_rows().max(0) as u64;
                groups.push((rows, n));
                rows += n;
            }
            let indexed = meta.metadata().offset_index().is_some();
            files.push(FileRows {
                path: path.clone(),
                meta,
                groups,
                indexed,
            });
        }
        Ok(InputRows { files, rows })
    }
}

impl InputRows {
    pub fn count(&self) -> u64 {
        self.rows
    }

    /// The input cut into ranges for encoding apart, each starting at a multiple of
    /// `batch_size` ([`onfs_core::encode::ranges::cut_rows`]): at row groups, and within the
    /// row groups whose pages are indexed, about every `target` rows.
    pub fn ranges(&self, batch_size: usize, target: u64) -> Vec<Range<u64>> {
        let target = target.max(1);
        let mut cuts = Vec::new();
        for f in &self.files {
            for &(first, n) in &f.groups {
                let pieces = if f.indexed {
                    n.div_ceil(target).max(1)
                } else {
                    1
                };
                cuts.extend((0..pieces).map(|i| first + n * i / pieces));
            }
        }
        onfs_core::encode::ranges::cut_rows(self.rows, batch_size, cuts)
    }

    /// The record batches of rows `range`, in order, of up to `batch_rows` rows each.
    pub fn batches(
        &self,
        range: Range<u64>,
        batch_rows: usize,
    ) -> impl Iterator<Item = Result<RecordBatch, FileError>> + '_ {
        self.files
            .iter()
            .filter(move |f| {
                f.groups
                    .iter()
                    .any(|&(first, n)| first < range.end && first + n > range.start)
            })
            .flat_map(move |f| match f.reader(range.clone(), batch_rows) {
                Ok(reader) => {
                    let path = f.path.clone();
                    Box::new(reader.map(move |b| {
                        b.map_err(|e| {
                            FileError::Usage(format!(
                                "{}: cannot read Parquet data: {e}",
                                path.display()
                            ))
                        })
                    }))
                        as Box<dyn Iterator<Item = Result<RecordBatch, FileError>>>
                }
                Err(e) => Box::new(std::iter::once(Err(e))),
            })
    }
}

impl FileRows {
    /// A reader of this file's rows within `range`.
    fn reader(
        &self,
        range: Range<u64>,
        batch_rows: usize,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, FileError> {
        let mut groups = Vec::new();
        let mut selectors = Vec::new();
        for (i, &(first, n)) in self.groups.iter().enumerate() {
            let (from, to) = (range.start.max(first), range.end.min(first + n));
            if from >= to {
                continue;
            }
            groups.push(i);
            selectors.push(RowSelector::skip((from - first) as usize));
            selectors.push(RowSelector::select((to - from) as usize));
            selectors.push(RowSelector::skip((first + n - to) as usize));
        }
        let file = File::open(&self.path).map_err(|e| FileError::io(&self.path, e))?;
        ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
            .with_batch_size(batch_rows)
            .with_row_groups(groups)
            .with_row_selection(RowSelection::from(selectors))
            .build()
            .map_err(|e| FileError::parquet(&self.path, e))
    }
}
