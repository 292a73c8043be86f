//! `--out DIR`: messages written to files, with a manifest, all or nothing.
//!
//! Files are written under temporary names and renamed once every message is in; a run that fails
//! removes what it wrote, so a folder with a `manifest.json` always holds a complete run.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use onfs_core::encode::{message_batch, message_schema};
use parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};

use crate::frame::{write_record, Framed, MAGIC};
use crate::syncer::{Syncer, SYNC_EVERY};
use crate::FileError;

/// What `--out` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutFormat {
    /// Framed message files (`messages-00000.onfsmsg`), see docs/message-files.md.
    #[default]
    Frames,
    /// The original's `proto_df`: Parquet with `value` binary and `intra_batch_id` int64.
    Parquet,
}

pub const MANIFEST: &str = "manifest.json";

/// `manifest.json`: what a folder of messages holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub files: Vec<String>,
    pub messages: u64,
    pub rows: u64,
    /// Sum of the message values' sizes.
    pub bytes: u64,
    pub dropped_null_key_rows: u64,
    pub entity_label: String,
    pub batch_size: usize,
    pub created_by: String,
}

/// Facts about the run that the sink does not see in the messages.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    pub dropped_null_key_rows: u64,
    pub entity_label: String,
    pub batch_size: usize,
}

enum Writer {
    Frames(BufWriter<File>, Syncer),
    Parquet {
        writer: Box<ArrowWriter<File>>,
        values: Vec<Vec<u8>>,
        ids: Vec<i64>,
    },
}

pub struct DirSink {
    dir: PathBuf,
    format: OutFormat,
    tmp: PathBuf,
    final_name: String,
    writer: Option<Writer>,
    messages: u64,
    rows: u64,
    bytes: u64,
    finished: bool,
}

const PARQUET_ROWS_PER_BATCH: usize = 4096;

impl DirSink {
    /// Prepares `dir`: it must not exist, be empty, or (with `overwrite`) hold an earlier run.
    pub fn create(dir: &Path, format: OutFormat, overwrite: bool) -> Result<DirSink, FileError> {
        let io = |e| FileError::io(dir, e);
        if dir.exists() {
            if !dir.is_dir() {
                return Err(FileError::NotAFolder {
                    path: dir.display().to_string(),
                });
            }
            let entries: Vec<_> = fs::read_dir(dir)
                .map_err(io)?
                .collect::<Result<_, _>>()
                .map_err(io)?;
            if !entries.is_empty() {
                if !overwrite {
                    return Err(FileError::NotEmpty {
                        path: dir.display().to_string(),
                    });
                }
                remove_previous_run(dir)?;
            }
        } else {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let (final_name, ext) = match format {
            OutFormat::Frames => ("messages-00000.onfsmsg", "onfsmsg"),
            OutFormat::Parquet => ("part-00000.parquet", "parquet"),
        };
        let tmp = dir.join(format!(".{final_name}.{}.tmp.{ext}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| FileError::io(&tmp, e))?;
        let writer = match format {
            OutFormat::Frames => {
                let syncer =
                    Syncer::start(&file, SYNC_EVERY).map_err(|e| FileError::io(&tmp, e))?;
                let mut w = BufWriter::with_capacity(1 << 20, file);
                w.write_all(MAGIC).map_err(|e| FileError::io(&tmp, e))?;
                Writer::Frames(w, syncer)
            }
            OutFormat::Parquet => Writer::Parquet {
                writer: Box::new(
                    ArrowWriter::try_new(file, message_schema(), None)
                        .map_err(|e| FileError::parquet_write(&tmp, e))?,
                ),
                values: Vec::new(),
                ids: Vec::new(),
            },
        };
        Ok(DirSink {
            dir: dir.to_path_buf(),
            format,
            tmp,
            final_name: final_name.to_string(),
            writer: Some(writer),
            messages: 0,
            rows: 0,
            bytes: 0,
            finished: false,
        })
    }

    pub fn write(&mut self, m: &Framed) -> Result<(), FileError> {
        match self.writer.as_mut().expect("write after finish") {
            Writer::Frames(w, syncer) => {
                let n = write_record(w, m).map_err(|e| FileError::io(&self.tmp, e))?;
                if syncer.wrote(n) {
                    w.flush().map_err(|e| FileError::io(&self.tmp, e))?;
                    syncer.sync();
                }
            }
            Writer::Parquet {
                writer,
                values,
                ids,
            } => {
                values.push(m.value.clone());
                ids.push(m.intra_batch_id);
                if values.len() >= PARQUET_ROWS_PER_BATCH {
                    flush_parquet(writer, values, ids)
                        .map_err(|e| FileError::parquet_write(&self.tmp, e))?;
                }
            }
        }
        self.messages += 1;
        self.rows += m.rows as u64;
        self.bytes += m.value.len() as u64;
        Ok(())
    }

    /// Completes the run: renames the file into place and writes the manifest last.
    pub fn finish(mut self, info: RunInfo) -> Result<Manifest, FileError> {
        match self.writer.take().expect("finish twice") {
            Writer::Frames(mut w, syncer) => {
                w.flush().map_err(|e| FileError::io(&self.tmp, e))?;
                syncer.finish().map_err(|e| FileError::io(&self.tmp, e))?;
                w.get_ref()
                    .sync_all()
                    .map_err(|e| FileError::io(&self.tmp, e))?;
            }
            Writer::Parquet {
                mut writer,
                mut values,
                mut ids,
            } => {
                flush_parquet(&mut writer, &mut values, &mut ids)
                    .map_err(|e| FileError::parquet_write(&self.tmp, e))?;
                writer
                    .close()
                    .map_err(|e| FileError::parquet_write(&self.tmp, e))?;
            }
        }
        let target = self.dir.join(&self.final_name);
        fs::rename(&self.tmp, &target).map_err(|e| FileError::io(&target, e))?;
        let manifest = Manifest {
            format: match self.format {
                OutFormat::Frames => "onfs-messages".into(),
                OutFormat::Parquet => "proto-df-parquet".into(),
            },
            version: 1,
            files: vec![self.final_name.clone()],
            messages: self.messages,
            rows: self.rows,
            bytes: self.bytes,
            dropped_null_key_rows: info.dropped_null_key_rows,
            entity_label: info.entity_label,
            batch_size: info.batch_size,
            created_by: concat!("onfs-push ", env!("CARGO_PKG_VERSION")).into(),
        };
        // The manifest makes the folder a complete run: staged, synced and renamed into place;
        // when that fails (a full disk), the message file goes too, so no folder holds messages
        // without their manifest or with a cut one.
        let path = self.dir.join(MANIFEST);
        let staged = self
            .dir
            .join(format!(".{MANIFEST}.{}.tmp", std::process::id()));
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serializes");
        let written = fs::write(&staged, text + "\n")
            .and_then(|()| File::open(&staged)?.sync_all())
            .and_then(|()| fs::rename(&staged, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&staged);
            let _ = fs::remove_file(&target);
            return Err(FileError::io(&path, e));
        }
        self.finished = true;
        Ok(manifest)
    }
}

impl Drop for DirSink {
    /// A sink dropped before `finish` (an error, a panic) leaves nothing behind.
    fn drop(&mut self) {
        if !self.finished {
            self.writer.take();
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn flush_parquet(
    writer: &mut ArrowWriter<File>,
    values: &mut Vec<Vec<u8>>,
    ids: &mut Vec<i64>,
) -> Result<(), parquet::errors::ParquetError> {
    if values.is_empty() {
        return Ok(());
    }
    let batch = message_batch(values.iter().map(Vec::as_slice).zip(ids.iter().copied()));
    values.clear();
    ids.clear();
    writer.write(&batch)
}

/// Removes the files an earlier run wrote (only those: its manifest's and message files).
fn remove_previous_run(dir: &Path) -> Result<(), FileError> {
    for entry in fs::read_dir(dir).map_err(|e| FileError::io(dir, e))? {
        let entry = entry.map_err(|e| FileError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let ours = name == MANIFEST
            || (name.starts_with("messages-") && name.ends_with(".onfsmsg"))
            || (name.starts_with("part-") && name.ends_with(".parquet"));
        if !ours {
            return Err(FileError::Foreign {
                path: dir.display().to_string(),
                name,
            });
        }
    }
    for entry in fs::read_dir(dir).map_err(|e| FileError::io(dir, e))? {
        let p = entry.map_err(|e| FileError::io(dir, e))?.path();
        fs::remove_file(&p).map_err(|e| FileError::io(&p, e))?;
    }
    Ok(())
}
