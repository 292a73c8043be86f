//! Writes the sample job under `examples/user-features/`: the metadata service's answer and a
//! Parquet input of realistic rows (entity column + renamed feature columns).
//!
//!     cargo run -p onfs-file --example make_sample -- examples/user-features 1000

use std::fs::File;
use std::path::PathBuf;

use onfs_core::sample::{realistic_batch, realistic_metadata_json};
use parquet::arrow::ArrowWriter;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "examples/user-features".into()),
    );
    let rows: usize = args
        .next()
        .map(|s| s.parse().expect("rows"))
        .unwrap_or(1000);
    std::fs::create_dir_all(&dir).unwrap();
    let meta: serde_json::Value = serde_json::from_str(&realistic_metadata_json()).unwrap();
    std::fs::write(
        dir.join("metadata.json"),
        serde_json::to_string_pretty(&meta).unwrap() + "\n",
    )
    .unwrap();
    let batch = realistic_batch(0, rows);
    let file = File::create(dir.join("features.parquet")).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    eprintln!("wrote {rows} rows to {}", dir.display());
}
