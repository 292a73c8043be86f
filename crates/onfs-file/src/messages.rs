//! Reading a folder (or file) of messages back: framed files or the `proto_df` Parquet shape.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaData;

use crate::frame::{Framed, RecordReader, MAGIC};
use crate::sink::{Manifest, MANIFEST};
use crate::FileError;

/// The message files of a folder, from its manifest, else every message file in name order.
pub fn message_files(path: &Path) -> Result<Vec<PathBuf>, FileError> {
    let meta = fs::metadata(path).map_err(|e| FileError::io(path, e))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let manifest_path = path.join(MANIFEST);
    if manifest_path.exists() {
        let text =
            fs::read_to_string(&manifest_path).map_err(|e| FileError::io(&manifest_path, e))?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
            FileError::Usage(format!(
                "{}: not a valid manifest: {e}",
                manifest_path.display()
            ))
        })?;
        return manifest
            .files
            .iter()
            .map(|f| match plain_name(f) {
                Some(name) => Ok(path.join(name)),
                None => Err(FileError::Usage(format!(
                    "{}: lists {f:?}, which is not a file name in its folder",
                    manifest_path.display()
                ))),
            })
            .collect();
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path).map_err(|e| FileError::io(path, e))? {
        let p = entry.map_err(|e| FileError::io(path, e))?.path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if !name.starts_with('.') && (name.ends_with(".onfsmsg") || name.ends_with(".parquet")) {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(FileError::Usage(format!(
            "{}: holds no message files (*.onfsmsg or *.parquet)",
            path.display()
        )));
    }
    Ok(files)
}

/// `name` when it names a file directly inside a folder (no separator, `..`, root or prefix).
fn plain_name(name: &str) -> Option<&Path> {
    let p = Path::new(name);
    let mut parts = p.components();
    match (parts.next(), parts.next()) {
        (Some(std::path::Component::Normal(_)), None) => Some(p),
        _ => None,
    }
}

/// Every message under `path`, in order.
pub fn read_messages(
    path: &Path,
) -> Result<Box<dyn Iterator<Item = Result<Framed, FileError>>>, FileError> {
    let files = message_files(path)?;
    let mut iters: Vec<Box<dyn Iterator<Item = Result<Framed, FileError>>>> = Vec::new();
    for f in files {
        iters.push(open_file(&f)?);
    }
    Ok(Box::new(iters.into_iter().flatten()))
}

fn open_file(
    path: &Path,
) -> Result<Box<dyn Iterator<Item = Result<Framed, FileError>>>, FileError> {
    let mut file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut magic = [0u8; 8];
    let n = file.read(&mut magic).map_err(|e| FileError::io(path, e))?;
    drop(file);
    let name = path.display().to_string();
    if n == 8 && &magic == MAGIC {
        let file = File::open(path).map_err(|e| FileError::io(path, e))?;
        let reader = RecordReader::new(BufReader::with_capacity(1 << 20, file), name)?;
        return Ok(Box::new(reader.map(|r| r.map_err(FileError::from))));
    }
    if n >= 4 && &magic[..4] == b"PAR1" {
        return read_proto_df(path);
    }
    Err(FileError::Usage(format!(
        "{name}: neither a message file nor Parquet"
    )))
}

/// Reads a `proto_df` Parquet file whole. The Parquet reader panics on some corrupted files
/// (a dictionary-encoded page without its dictionary, among others): such a panic is the file's
/// error, not the process's end.
fn read_proto_df(
    path: &Path,
) -> Result<Box<dyn Iterator<Item = Result<Framed, FileError>>>, FileError> {
    std::panic::catch_unwind(|| read_proto_df_unguarded(path)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(FileError::parquet(
            path,
            ParquetError::General(format!("the file is corrupted: {what}")),
        ))
    })
}

fn read_proto_df_unguarded(
    path: &Path,
) -> Result<Box<dyn Iterator<Item = Result<Framed, FileError>>>, FileError> {
    let file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| {
            check_chunks(b.metadata())?;
            b.build()
        })
        .map_err(|e| FileError::parquet(path, e))?;
    let name = path.display().to_string();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| FileError::Usage(format!("{name}: {e}")))?;
        let missing = |c: &str| {
            FileError::Usage(format!("{name}: no `{c}` column; expected the proto_df shape (value binary, intra_batch_id long)"))
        };
        let values = batch
            .column_by_name("value")
            .ok_or_else(|| missing("value"))?;
        let ids = batch
            .column_by_name("intra_batch_id")
            .ok_or_else(|| missing("intra_batch_id"))?;
        let ids = ids
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| missing("intra_batch_id"))?;
        let values = values
            .as_binary_opt::<i32>()
            .ok_or_else(|| missing("value"))?;
        for i in 0..batch.num_rows() {
            let value = values.value(i).to_vec();
            out.push(Ok(Framed {
                intra_batch_id: if ids.is_null(i) { 0 } else { ids.value(i) },
                rows: onfs_core::proto_rows(&value),
                key: None,
                value,
            }));
        }
    }
    Ok(Box::new(out.into_iter()))
}

/// A column chunk whose footer gives a negative offset or size is an error: the Parquet reader
/// asserts they are not negative (a panic) when it reaches the chunk.
fn check_chunks(meta: &ParquetMetaData) -> Result<(), ParquetError> {
    for (i, group) in meta.row_groups().iter().enumerate() {
        for (j, chunk) in group.columns().iter().enumerate() {
            let start = chunk
                .dictionary_page_offset()
                .unwrap_or(chunk.data_page_offset());
            if start < 0 || chunk.compressed_size() < 0 {
                return Err(ParquetError::General(format!(
                    "row group {i}, column {j}: the footer gives offset {start} and size {}; the file is corrupted",
                    chunk.compressed_size()
                )));
            }
        }
    }
    Ok(())
}
