//! `onfs-push run --hive-metastore`: TABLE names resolved by a real Hive Metastore (started by
//! `scripts/test-services.sh`), tables registered through its Thrift API.

use onfs_sources::hive::{Answer, HiveMetastore, Value};

use crate::run::{
    assert_like_reference, messages_in, one_source_meta, out_of, pipeline, reference_meta,
    report_of, row_count, run_with, EMBEDDINGS, ORDERS,
};
use crate::stores::services;
use crate::support::*;

fn field(name: &str, t: &str) -> Value {
    Value::record([(1, Value::string(name)), (2, Value::string(t))])
}

/// Registers an external table: a Hive Parquet table partitioned by `process_date`, or a Spark
/// data source table of `provider` (its path in the serde's parameters, as Spark writes it).
fn register(
    hms: &mut HiveMetastore,
    db: &str,
    table: &str,
    location: &str,
    provider: Option<&str>,
) {
    let db_args = vec![(
        1,
        Value::record([
            (1, Value::string(db)),
            (2, Value::string("onfs-push tests")),
            (4, Value::string_pairs(&[])),
        ]),
    )];
    match hms.call("create_database", db_args).unwrap() {
        Answer::Ok(_) | Answer::Exception(1, _) => {} // created, or already there
        Answer::Exception(id, text) => panic!("create_database: exception {id}: {text}"),
    }
    let (input, output, serde, params, serde_params, keys) = match provider {
        None => (
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            vec![("EXTERNAL", "TRUE")],
            vec![],
            vec![field("process_date", "string")],
        ),
        Some(p) => (
            "org.apache.hadoop.mapred.SequenceFileInputFormat",
            "org.apache.hadoop.hive.ql.io.HiveSequenceFileOutputFormat",
            "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
            vec![("EXTERNAL", "TRUE"), ("spark.sql.sources.provider", p)],
            vec![("path", location)],
            vec![],
        ),
    };
    let sd = Value::record([
        (1, Value::structs(vec![field("user_id", "string")])),
        (2, Value::string(location)),
        (3, Value::string(input)),
        (4, Value::string(output)),
        (5, Value::Bool(false)),
        (6, Value::I32(-1)),
        (
            7,
            Value::record([
                (1, Value::string(table)),
                (2, Value::string(serde)),
                (3, Value::string_pairs(&serde_params)),
            ]),
        ),
        (8, Value::strings(&[])),
        (9, Value::structs(vec![])),
        (10, Value::string_pairs(&[])),
    ]);
    let t = Value::record([
        (1, Value::string(table)),
        (2, Value::string(db)),
        (3, Value::string("onfs")),
        (4, Value::I32(0)),
        (5, Value::I32(0)),
        (6, Value::I32(0)),
        (7, sd),
        (8, Value::structs(keys)),
        (9, Value::string_pairs(&params)),
        (12, Value::string("EXTERNAL_TABLE")),
    ]);
    match hms.call("create_table", vec![(1, t)]).unwrap() {
        Answer::Ok(_) => {}
        Answer::Exception(id, text) => panic!("create_table {db}.{table}: exception {id}: {text}"),
    }
}

fn uri() -> String {
    services()["ONFS_HMS_URI"].clone()
}

/// A database name no other test uses (the metastore outlives a test run's tables).
fn unique_db(prefix: &str) -> String {
    unique_topic(prefix).replace('-', "_")
}

fn file_url(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

/// The reference metadata with its `fs.` tables renamed to `db.`.
fn reference_meta_in(db: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(reference_meta()).unwrap();
    let path = dir.join("metadata.json");
    std::fs::write(&path, text.replace("\"fs.", &format!("\"{db}."))).unwrap();
    path
}

#[test]
fn reference_job_with_tables_from_the_hive_metastore() {
    let db = unique_db("ref");
    let mut hms = HiveMetastore::connect(&uri()).unwrap();
    for t in [ORDERS, EMBEDDINGS] {
        let table = t.strip_prefix("fs.").unwrap();
        register(
            &mut hms,
            &db,
            table,
            &file_url(&pipeline().join("tables").join(t)),
            None,
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let meta = reference_meta_in(&db, tmp.path());
    // The metastore's partition key wins over a configured column the tables lack.
    let (out, run) = run_with(
        &meta,
        &[],
        &["--hive-metastore", &uri(), "--partition-column", "table=ts"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pass = &report_of(&out)["jobs"][0]["passes"][0];
    assert_eq!(pass["sources"][0]["partition"], "2026-11-01", "{pass:#}");
    assert_eq!(pass["sources"][1]["partition"], "2026-11-02", "{pass:#}");
    assert_eq!(
        pass["sources"][0]["partition_column"], "process_date",
        "{pass:#}"
    );
    assert_like_reference(&messages_in(&out_of(&out)), 6);
}

#[test]
fn built_in_catalog_first_then_the_metastore_and_a_name_in_neither() {
    let db = unique_db("mix");
    let mut hms = HiveMetastore::connect(&uri()).unwrap();
    register(
        &mut hms,
        &db,
        "user_embeddings",
        &file_url(&pipeline().join("tables").join(EMBEDDINGS)),
        None,
    );
    let tmp = tempfile::tempdir().unwrap();
    let meta = reference_meta_in(&db, tmp.path());
    let orders = format!("{db}.user_orders");
    let orders_arg = format!(
        "{orders}={}",
        pipeline().join("tables").join(ORDERS).display()
    );
    let (out, run) = run_with(
        &meta,
        &[],
        &["--hive-metastore", &uri(), "--table", &orders_arg],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_like_reference(&messages_in(&out_of(&out)), 6);

    // Without --table, the orders table is in neither catalog.
    let (_t, run) = run_with(&meta, &[], &["--hive-metastore", &uri()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{orders:?}"))
            && run.stderr.contains("built-in catalog")
            && run.stderr.contains(&format!("Hive Metastore {}", uri())),
        "{}",
        run.stderr
    );
}

#[test]
fn delta_table_registered_by_spark_style_provider() {
    let db = unique_db("delta");
    let table = testdata().join("delta/user_scores").canonicalize().unwrap();
    let mut hms = HiveMetastore::connect(&uri()).unwrap();
    register(
        &mut hms,
        &db,
        "user_scores",
        &file_url(&table),
        Some("delta"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let meta = one_source_meta(
        tmp.path(),
        "TABLE",
        &format!("{db}.user_scores"),
        &[("scores_fg", "score", "score", "DataTypeFP64", "-1")],
    );
    let (out, run) = run_with(
        &meta,
        &[],
        &["--hive-metastore", &uri(), "--partition-column", "table=ts"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pass = &report_of(&out)["jobs"][0]["passes"][0];
    assert_eq!(pass["sources"][0]["format"], "delta", "{pass:#}");
    assert_eq!(pass["sources"][0]["partition"], "2", "{pass:#}");
    assert_eq!(row_count(&messages_in(&out_of(&out))), 30);
}

#[test]
fn an_unreachable_metastore_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let meta = reference_meta_in("nowhere", tmp.path());
    let hms = format!("thrift://127.0.0.1:{port}");
    let (_t, run) = run_with(&meta, &[], &["--hive-metastore", &hms]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&hms) && run.stderr.contains("cannot connect"),
        "{}",
        run.stderr
    );
    let (_t, run) = run_with(&meta, &[], &["--hive-metastore", "http://h:1"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}
