//! `encode --input PATH`: a Parquet file, or a folder of them as Spark writes it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::FileError;

/// The Parquet files of an input, in the order their rows are read.
#[derive(Debug, Clone)]
pub struct ParquetInput {
    pub files: Vec<PathBuf>,
}

impl ParquetInput {
    /// A file, or a folder's data files in name order (`_SUCCESS`, `.crc` and hidden files skipped).
    pub fn open(path: &Path) -> Result<ParquetInput, FileError> {
        let meta = fs::metadata(path).map_err(|e| FileError::io(path, e))?;
        if meta.is_file() {
            return Ok(ParquetInput {
                files: vec![path.to_path_buf()],
            });
        }
        let mut files = Vec::new();
        for entry in fs::read_dir(path).map_err(|e| FileError::io(path, e))? {
            let entry = entry.map_err(|e| FileError::io(path, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || name.starts_with('_') || name.ends_with(".crc") {
                continue;
            }
            if entry
                .file_type()
                .map_err(|e| FileError::io(&entry.path(), e))?
                .is_file()
            {
                files.push(entry.path());
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(FileError::NoParquet {
                path: path.display().to_string(),
            });
        }
        Ok(ParquetInput { files })
    }

    /// The schema of the first file.
    pub fn schema(&self) -> Result<SchemaRef, FileError> {
        let path = &self.files[0];
        let file = File::open(path).map_err(|e| FileError::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| FileError::parquet(path, e))?;
        Ok(builder.schema().clone())
    }

    /// Record batches of every file, in order.
    pub fn batches(
        &self,
        batch_rows: usize,
    ) -> impl Iterator<Item = Result<RecordBatch, FileError>> + '_ {
        let mut files = self.files.iter();
        let mut current: Option<(&PathBuf, ParquetRecordBatchReader)> = None;
        std::iter::from_fn(move || loop {
            if let Some((path, reader)) = current.as_mut() {
                match reader.next() {
                    Some(Ok(b)) => return Some(Ok(b)),
                    Some(Err(e)) => {
                        let p = path.to_path_buf();
                        current = None;
                        files = [].iter();
                        return Some(Err(FileError::Usage(format!(
                            "{}: cannot read Parquet data: {e}",
                            p.display()
                        ))));
                    }
                    None => current = None,
                }
            }
            let path = files.next()?;
            let opened = File::open(path)
                .map_err(|e| FileError::io(path, e))
                .and_then(|f| {
                    ParquetRecordBatchReaderBuilder::try_new(f)
                        .and_then(|b| b.with_batch_size(batch_rows).build())
                        .map_err(|e| FileError::parquet(path, e))
                });
            match opened {
                Ok(r) => current = Some((path, r)),
                Err(e) => {
                    files = [].iter();
                    return Some(Err(e));
                }
            }
        })
    }
}
