//! Generates a benchmark table: `ROWS` rows of `user_id` + 8 features (4 float32, 2 int64, a
//! string and a boolean) in `FILES` Parquet files under `DIR/process_date=2026-01-01/`, and
//! `DIR.metadata.json` describing it as the TABLE source `bench.NAME`.
//!
//!     cargo run --release -p onfs-file --example make_bench_data -- DIR NAME ROWS FILES [PREFIX [DATE [CHANGE_EVERY]]]
//!
//! Columns are prefixed with PREFIX (default `f`) so two tables can be joined on `user_id`.
//! PREFIX `realistic` writes the realistic row instead (`onfs_core::sample`: 8 FP32, 2 String,
//! 4 Int64, 2 Bool, an FP32 vector of 32, a string vector of 3).
//! DATE names the partition (default 2026-01-01); with CHANGE_EVERY = N, every Nth user's
//! `n0` (`orders_7d` in the realistic row; the Int64 group) is one more than in the other
//! partitions (a day's changes).

use std::fs::File;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float32Array, Int64Array, RecordBatch, StringArray};
use onfs_core::sample::{realistic_batch, realistic_metadata_json};
use parquet::arrow::ArrowWriter;

/// The realistic batch's renamed columns (`features___GROUP___FEATURE`) back to the source's
/// (`FEATURE`), as a table holds them.
fn source_columns(batch: RecordBatch) -> RecordBatch {
    let columns = batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            let name = f.name().rsplit("___").next().unwrap().to_string();
            (name, c.clone())
        })
        .collect::<Vec<_>>();
    RecordBatch::try_from_iter(columns).unwrap()
}

/// The realistic batch (rows from `first`) with `orders_7d` (of the Int64 group) one more in
/// every `every`th user.
fn change_orders(batch: RecordBatch, first: usize, every: usize) -> RecordBatch {
    let at = batch.schema().index_of("orders_7d").unwrap();
    let old = batch
        .column(at)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let new: Int64Array = (0..old.len())
        .map(|i| old.value(i) + ((first + i) % every == 0) as i64)
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[at] = Arc::new(new);
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, name, rows, files, rest @ ..] = args.as_slice() else {
        eprintln!("usage: make_bench_data DIR NAME ROWS FILES [PREFIX]");
        std::process::exit(2);
    };
    let prefix = rest.first().map(String::as_str).unwrap_or("f");
    let date = rest.get(1).map(String::as_str).unwrap_or("2026-01-01");
    let change_every: usize = rest.get(2).map_or(0, |n| n.parse().expect("CHANGE_EVERY"));
    let rows: usize = rows.parse().expect("ROWS");
    let files: usize = files.parse().expect("FILES");
    let part = std::path::Path::new(dir).join(format!("process_date={date}"));
    std::fs::create_dir_all(&part).unwrap();
    let per_file = rows.div_ceil(files);
    let segments = ["new", "loyal", "lapsed", "dormant"];
    for f in 0..files {
        let start = f * per_file;
        let end = ((f + 1) * per_file).min(rows);
        let file = File::create(part.join(format!("part-{f:05}.parquet"))).unwrap();
        let mut writer: Option<ArrowWriter<File>> = None;
        let mut at = start;
        while at < end {
            let n = (end - at).min(65_536);
            if prefix == "realistic" {
                let mut batch = source_columns(realistic_batch(at, n));
                if change_every > 0 {
                    batch = change_orders(batch, at, change_every);
                }
                writer
                    .get_or_insert_with(|| {
                        ArrowWriter::try_new(file.try_clone().unwrap(), batch.schema(), None)
                            .unwrap()
                    })
                    .write(&batch)
                    .unwrap();
                at += n;
                continue;
            }
            let r = at..at + n;
            let mut cols: Vec<(String, ArrayRef)> = vec![(
                "user_id".into(),
                Arc::new(Int64Array::from_iter_values(r.clone().map(|i| i as i64))),
            )];
            for k in 0..4 {
                cols.push((
                    format!("{prefix}_x{k}"),
                    Arc::new(Float32Array::from_iter_values(
                        r.clone().map(|i| ((i * (k + 7)) % 10_000) as f32 / 100.0),
                    )),
                ));
            }
            for k in 0..2 {
                cols.push((
                    format!("{prefix}_n{k}"),
                    Arc::new(Int64Array::from_iter_values(r.clone().map(|i| {
                        let changed = k == 0 && change_every > 0 && i % change_every == 0;
                        ((i * (k + 3)) % 100_000) as i64 + changed as i64
                    }))),
                ));
            }
            cols.push((
                format!("{prefix}_segment"),
                Arc::new(StringArray::from_iter_values(
                    r.clone().map(|i| segments[i % 4]),
                )),
            ));
            cols.push((
                format!("{prefix}_flag"),
                Arc::new(BooleanArray::from_iter(r.clone().map(|i| Some(i % 3 == 0)))),
            ));
            let batch = RecordBatch::try_from_iter(cols).unwrap();
            let w = writer.get_or_insert_with(|| {
                ArrowWriter::try_new(file.try_clone().unwrap(), batch.schema(), None).unwrap()
            });
            w.write(&batch).unwrap();
            at += n;
        }
        if let Some(w) = writer {
            w.close().unwrap();
        }
    }
    let mut paths = Vec::new();
    let dtypes = [
        ("x0", "DataTypeFP32"),
        ("x1", "DataTypeFP32"),
        ("x2", "DataTypeFP32"),
        ("x3", "DataTypeFP32"),
        ("n0", "DataTypeInt64"),
        ("n1", "DataTypeInt64"),
        ("segment", "DataTypeString"),
        ("flag", "DataTypeBool"),
    ];
    for (c, dt) in dtypes {
        let default = match dt {
            "DataTypeString" => "unknown",
            "DataTypeBool" => "false",
            _ => "0",
        };
        paths.push(serde_json::json!({
            "entity-label": "user", "feature-group-label": format!("{prefix}_{}", dt.trim_start_matches("DataType").to_lowercase()),
            "feature-label": c, "source-data-column": format!("{prefix}_{c}"), "default-value": default, "data-type": dt,
        }));
    }
    let mut meta = serde_json::json!({"keys": {"user": ["user_id"]}, "data": [
        {"storage-provider": "TABLE", "base-path": [{"source-base-path": format!("bench.{name}"), "data-paths": paths}]}]});
    if prefix == "realistic" {
        meta = serde_json::from_str(&realistic_metadata_json()).unwrap();
        meta["data"][0]["storage-provider"] = "TABLE".into();
        meta["data"][0]["base-path"][0]["source-base-path"] = format!("bench.{name}").into();
    }
    std::fs::write(
        format!("{dir}.metadata.json"),
        serde_json::to_string_pretty(&meta).unwrap(),
    )
    .unwrap();
    eprintln!(
        "wrote {rows} rows in {files} files under {}",
        part.display()
    );
}
