//! `onfs-push run`: real tables on disk (Parquet, Delta), the whole flow, files and Kafka.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::support::*;

pub(crate) const ORDERS: &str = "fs.user_orders";
pub(crate) const EMBEDDINGS: &str = "fs.user_embeddings";
/// The feature groups of `fs.user_orders` only.
const ORDER_GROUPS: &str = "user_orders_i64,user_orders_fp64,user_orders_str,user_orders_bool";

// ---------- fixtures and helpers ----------

/// The reference case, its path without `..` (see `table_location_with_dot_dot_components`).
pub(crate) fn pipeline() -> PathBuf {
    case("tables-pipeline").canonicalize().unwrap()
}

pub(crate) fn reference_meta() -> PathBuf {
    pipeline().join("metadata.json")
}

fn table_dir(name: &str) -> PathBuf {
    pipeline().join("tables").join(name)
}

/// `NAME=LOCATION` for `--table`, from the reference case.
fn table_arg(name: &str) -> String {
    format!("{name}={}", table_dir(name).display())
}

fn onfs_strings(args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    onfs(&args)
}

/// `run` on `meta` with `--out <tmp>/out --report <tmp>/report.json --batch-size 6`, the given
/// tables of the reference case, then `extra` (and `--vector-fit keep` unless `extra` says).
pub(crate) fn run_with(meta: &Path, tables: &[&str], extra: &[&str]) -> (tempfile::TempDir, Run) {
    let tmp = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = [
        "run",
        "--metadata-file",
        p(meta),
        "--batch-size",
        "6",
        "--out",
        p(&tmp.path().join("out")),
        "--report",
        p(&tmp.path().join("report.json")),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for t in tables {
        args.push("--table".into());
        args.push(table_arg(t));
    }
    if !extra.contains(&"--vector-fit") {
        // The reference case (and the cases made from it) is the original's output: its vectors
        // are filled with defaults of other lengths, which the store would drop; these tests
        // compare with the original, so it is sent as it is (tests/cli/store.rs checks the rule).
        args.extend(["--vector-fit".into(), "keep".into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = onfs_strings(&args);
    (tmp, run)
}

/// The reference case with both tables.
fn run_reference(extra: &[&str]) -> (tempfile::TempDir, Run) {
    run_with(&reference_meta(), &[ORDERS, EMBEDDINGS], extra)
}

/// Only the orders table and its feature groups.
fn run_orders_only(extra: &[&str]) -> (tempfile::TempDir, Run) {
    let mut args = vec!["--fgs", ORDER_GROUPS];
    args.extend(extra);
    run_with(&reference_meta(), &[ORDERS], &args)
}

pub(crate) fn out_of(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("out")
}

pub(crate) fn report_of(tmp: &tempfile::TempDir) -> Value {
    let path = tmp.path().join("report.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The messages of a folder, as `onfs-push inspect` prints them.
pub(crate) fn messages_in(dir: &Path) -> Vec<Value> {
    let run = onfs(&["inspect", p(dir)]);
    assert_eq!(run.code, 0, "inspect {}: {}", dir.display(), run.stderr);
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn reference_messages() -> Vec<Value> {
    std::fs::read_to_string(pipeline().join("expected/messages.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every decoded row `(key_values, feature_values)`, sorted (a multiset).
fn rows_of(messages: &[Value]) -> Vec<(String, Value)> {
    let mut rows: Vec<(String, Value)> = messages
        .iter()
        .flat_map(|m| m["query"]["data"].as_array().cloned().unwrap_or_default())
        .map(|d| (d["key_values"].to_string(), d["feature_values"].clone()))
        .collect();
    rows.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
    rows
}

/// The rows of each single-column key (`user_007` -> its feature_values, in no order).
pub(crate) fn rows_by_key(messages: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in messages {
        for d in m["query"]["data"].as_array().unwrap() {
            let key = d["key_values"][0].as_str().unwrap().to_string();
            map.entry(key)
                .or_default()
                .push(d["feature_values"].clone());
        }
    }
    map
}

pub(crate) fn row_count(messages: &[Value]) -> usize {
    messages
        .iter()
        .map(|m| m["query"]["data"].as_array().map_or(0, Vec::len))
        .sum()
}

fn header(m: &Value) -> Value {
    let q = &m["query"];
    json!([
        q["entity_label"],
        q["keys_schema"],
        q["feature_group_schema"]
    ])
}

/// The reference case's rule for pipeline cases: every message's entity label, keys schema
/// and feature group schema as the reference's, the same multiset of rows, and no message
/// above the batch size.
pub(crate) fn assert_like_reference(messages: &[Value], batch: usize) {
    let want = reference_messages();
    let want_header = header(&want[0]);
    assert!(want.iter().all(|m| header(m) == want_header));
    assert!(!messages.is_empty());
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(header(m), want_header, "message {i}");
        let n = m["query"]["data"].as_array().unwrap().len();
        assert!(n >= 1 && n <= batch, "message {i} holds {n} rows");
    }
    assert_eq!(row_count(messages), 59);
    let got = rows_of(messages);
    let want = rows_of(&want);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "rows differ");
    }
}

/// Feature `f` of a row's feature_values: the values object of that feature group.
fn values(features: &Value, group: usize) -> &Value {
    &features[group]["values"]
}

fn write_parquet(path: &Path, batches: &[arrow_array::RecordBatch]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batches[0].schema(),
        None,
    )
    .unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn read_parquet(path: &Path) -> Vec<arrow_array::RecordBatch> {
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(path).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap()
    .map(|b| b.unwrap())
    .collect()
}

/// Metadata with one source: `(group, feature, column, data type, default)` each.
pub(crate) fn one_source_meta(
    dir: &Path,
    provider: &str,
    source: &str,
    features: &[(&str, &str, &str, &str, &str)],
) -> PathBuf {
    let paths: Vec<Value> = features
        .iter()
        .map(|(g, f, c, t, d)| {
            json!({"entity-label": "user", "feature-group-label": g, "feature-label": f,
                   "source-data-column": c, "default-value": d, "data-type": t})
        })
        .collect();
    let meta = json!({"keys": {"user": ["user_id"]}, "data": [
        {"storage-provider": provider, "base-path": [
            {"source-base-path": source, "data-paths": paths}]}]});
    let path = dir.join("metadata.json");
    std::fs::write(&path, serde_json::to_string_pretty(&meta).unwrap()).unwrap();
    path
}

/// `user_id` (text) and `v` (Int64) rows.
fn id_value_batch(rows: &[(&str, i64)]) -> arrow_array::RecordBatch {
    let ids: arrow_array::ArrayRef = Arc::new(arrow_array::StringArray::from_iter_values(
        rows.iter().map(|(k, _)| *k),
    ));
    let vals: arrow_array::ArrayRef = Arc::new(arrow_array::Int64Array::from_iter_values(
        rows.iter().map(|(_, v)| *v),
    ));
    arrow_array::RecordBatch::try_from_iter([("user_id", ids), ("v", vals)]).unwrap()
}

/// True when a failed run left no messages behind (no folder, or an empty one).
fn no_output(out: &Path) -> bool {
    !out.exists() || std::fs::read_dir(out).unwrap().next().is_none()
}

/// A TOML literal string.
fn lit(path: &Path) -> String {
    format!("'{}'", path.display())
}

// ---------- 1. the reference case ----------

#[test]
fn reference_case_from_tables_to_files() {
    let (tmp, run) = run_reference(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let messages = messages_in(&out_of(&tmp));
    assert_like_reference(&messages, 6);
}

#[test]
fn table_location_with_dot_dot_components() {
    // `support::case` paths hold `crates/onfs-cli/../../testdata`: the same folder.
    let raw = case("tables-pipeline").join("tables");
    assert!(raw
        .components()
        .any(|c| c == std::path::Component::ParentDir));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = onfs_strings(&[
        "run".into(),
        "--metadata-file".into(),
        p(&reference_meta()).into(),
        "--vector-fit".into(),
        "keep".into(),
        "--table".into(),
        format!("{ORDERS}={}", raw.join(ORDERS).display()),
        "--table".into(),
        format!("{EMBEDDINGS}={}", raw.join(EMBEDDINGS).display()),
        "--batch-size".into(),
        "6".into(),
        "--out".into(),
        p(&out).into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_like_reference(&messages_in(&out), 6);
}

// ---------- 2. the config file ----------

fn config_text(tmp: &Path, jobs: &str) -> String {
    format!(
        "[tables]\n\
         \"fs.user_orders\" = {{ format = \"parquet\", location = {} }}\n\
         \"fs.user_embeddings\" = {{ format = \"parquet\", location = {} }}\n\
         [output]\n\
         out = {}\n\
         report = {}\n\
         [encode]\n\
         batch_size = 6\n\
         vector_fit = \"keep\"\n\
         {jobs}",
        lit(&table_dir(ORDERS)),
        lit(&table_dir(EMBEDDINGS)),
        lit(&tmp.join("out")),
        lit(&tmp.join("report.json")),
    )
}

fn run_config(tmp: &Path, text: &str, env: &[(&str, &str)]) -> Run {
    let path = tmp.join("job.toml");
    std::fs::write(&path, text).unwrap();
    onfs_env(&["run", "--config", p(&path)], env)
}

#[test]
fn config_file_runs_the_reference_case() {
    let tmp = tempfile::tempdir().unwrap();
    let jobs = format!("[[jobs]]\nmetadata_file = {}\n", lit(&reference_meta()));
    let run = run_config(tmp.path(), &config_text(tmp.path(), &jobs), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_like_reference(&messages_in(&out_of(&tmp)), 6);
    let report = report_of(&tmp);
    assert_eq!(report["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(report["rows"], 59);
}

#[test]
fn config_file_with_two_jobs_runs_both_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = lit(&reference_meta());
    let jobs = format!(
        "[[jobs]]\nname = \"everything\"\nmetadata_file = {meta}\n\
         [[jobs]]\nname = \"taste-only\"\nmetadata_file = {meta}\nfgs = [\"user_taste\"]\n"
    );
    let run = run_config(tmp.path(), &config_text(tmp.path(), &jobs), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let report = report_of(&tmp);
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{report:#}");
    assert_eq!(jobs[0]["name"], "everything");
    assert_eq!(jobs[0]["feature_groups"].as_array().unwrap().len(), 7);
    assert_eq!(jobs[0]["passes"][0]["rows"], 59);
    assert_eq!(jobs[1]["name"], "taste-only");
    assert_eq!(jobs[1]["feature_groups"], json!(["user_taste"]));
    // user_embeddings holds user_020..user_059.
    assert_eq!(jobs[1]["passes"][0]["rows"], 40);
    assert_eq!(report["rows"], 99);
    let first = run
        .stderr
        .find("everything\n  read ")
        .expect("first job's line");
    let second = run
        .stderr
        .find("taste-only\n  read ")
        .expect("second job's line");
    assert!(first < second, "{}", run.stderr);

    // Both jobs' messages are in the folder: the first's as the reference, the second's
    // with the one group.
    let messages = messages_in(&out_of(&tmp));
    let (taste, all): (Vec<Value>, Vec<Value>) = messages
        .into_iter()
        .partition(|m| m["query"]["feature_group_schema"].as_array().unwrap().len() == 1);
    assert_like_reference(&all, 6);
    assert_eq!(row_count(&taste), 40);
    for m in &taste {
        assert_eq!(
            m["query"]["feature_group_schema"],
            json!([{"label": "user_taste", "feature_labels": ["taste"]}])
        );
    }
    let taste_rows = rows_by_key(&taste);
    assert_eq!(taste_rows.len(), 40);
    assert!(taste_rows.contains_key("user_020") && taste_rows.contains_key("user_059"));
}

#[test]
fn config_file_unknown_key_exits_2_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let jobs = format!(
        "[[jobs]]\nmetadata_file = {}\nbatch_sise = 6\n",
        lit(&reference_meta())
    );
    let run = run_config(tmp.path(), &config_text(tmp.path(), &jobs), &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("batch_sise"), "{}", run.stderr);
    assert!(!out_of(&tmp).exists());
}

#[test]
fn config_file_environment_variables() {
    const VAR: &str = "ONFS_RUN_TEST_REFERENCE_TABLES";
    assert!(
        std::env::var(VAR).is_err(),
        "{VAR} must not be set for this test"
    );
    let tmp = tempfile::tempdir().unwrap();
    let jobs = format!("[[jobs]]\nmetadata_file = {}\n", lit(&reference_meta()));
    let text = config_text(tmp.path(), &jobs)
        .replace(&lit(&table_dir(ORDERS)), &format!("'${{{VAR}}}/{ORDERS}'"));
    assert!(text.contains(&format!("${{{VAR}}}")), "{text}");

    let run = run_config(tmp.path(), &text, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(VAR) && run.stderr.contains("not set"),
        "{}",
        run.stderr
    );
    assert!(!out_of(&tmp).exists());

    let tables = pipeline().join("tables");
    let run = run_config(tmp.path(), &text, &[(VAR, p(&tables))]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_like_reference(&messages_in(&out_of(&tmp)), 6);
}

// ---------- 3. Kafka ----------

#[cfg(feature = "service-tests")]
#[test]
fn reference_case_to_kafka() {
    let topic = unique_topic("run-ref");
    create_topic(&broker().bootstrap, &topic, 1);
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.json");
    let run = onfs_strings(&[
        "run".into(),
        "--metadata-file".into(),
        p(&reference_meta()).into(),
        "--vector-fit".into(),
        "keep".into(),
        "--table".into(),
        table_arg(ORDERS),
        "--table".into(),
        table_arg(EMBEDDINGS),
        "--batch-size".into(),
        "6".into(),
        "--kafka-brokers".into(),
        broker().bootstrap.clone(),
        "--topic".into(),
        topic.clone(),
        "--report".into(),
        p(&report).into(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records = read_topic(&broker().bootstrap, &topic);
    let mut messages = Vec::new();
    for r in &records {
        let q = decode(&r.value);
        assert!(
            !q.data.is_empty() && q.data.len() <= 6,
            "{} rows",
            q.data.len()
        );
        assert_eq!(r.rows, Some(q.data.len() as u32), "rows header");
        assert_eq!(r.key, None, "null keys by default");
        let line =
            onfs_core::inspect::message_json_line(r.intra_batch_id.unwrap_or(0), &r.value).unwrap();
        messages.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert_like_reference(&messages, 6);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["delivered"], records.len() as u64, "{report:#}");
    assert_eq!(report["failed"], 0);
    assert_eq!(report["messages"], records.len() as u64);
}

// ---------- 4. the report ----------

#[test]
fn report_counts_of_the_reference_case() {
    let (tmp, run) = run_reference(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let messages = messages_in(&out_of(&tmp));
    let report = report_of(&tmp);
    assert_eq!(report["dry_run"], false);
    let jobs = report["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["entity_label"], "user");
    let passes = jobs[0]["passes"].as_array().unwrap();
    assert_eq!(passes.len(), 1);
    let pass = &passes[0];
    let sources = pass["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2, "{pass:#}");
    assert_eq!(sources[0]["source"], ORDERS);
    assert_eq!(sources[0]["kind"], "TABLE");
    assert_eq!(sources[0]["partition_column"], "process_date");
    assert_eq!(sources[0]["partition"], "2026-11-01");
    assert_eq!(sources[1]["source"], EMBEDDINGS);
    assert_eq!(sources[1]["partition"], "2026-11-02");
    // 41 rows read from the orders file, one an exact duplicate of another (dropped as the
    // original's distinct does).
    assert_eq!(sources[0]["rows"], 41, "{pass:#}");
    assert_eq!(pass["exact_duplicate_rows"], 1, "{pass:#}");
    assert_eq!(sources[1]["rows"], 40, "{pass:#}");
    // user_000..user_059 but user_005, plus the null key.
    assert_eq!(pass["rows_after_join"], 60, "{pass:#}");
    assert_eq!(pass["dropped_null_key_rows"], 1);
    assert_eq!(pass["rows"], 59);
    assert_eq!(pass["duplicate_keys"], 0);
    assert_eq!(pass["messages"], messages.len() as u64);
    assert_eq!(report["rows"], 59);
    assert_eq!(report["messages"], messages.len() as u64);
    let filled = pass["defaults_filled"].as_object().unwrap();
    assert_eq!(filled.len(), 8, "{pass:#}");
    for (column, n) in filled {
        assert!(n.as_u64().unwrap() > 0, "{column}: {n}");
    }
    // orders_30d is null for i % 6 == 0 (7 users of 0..39) and missing for user_040..user_059.
    assert_eq!(filled["user_orders___user_orders_i64___orders_30d"], 27);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out_of(&tmp).join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["rows"], 59);
    assert_eq!(manifest["messages"], messages.len() as u64);
    assert_eq!(manifest["dropped_null_key_rows"], 1);
}

// ---------- 5. partitions ----------

fn first_int64s(features: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = features
        .iter()
        .map(|f| {
            values(f, 0)["int64_values"][0]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn pinned_partition_is_read() {
    let (tmp, run) = run_reference(&["--partition", "2026-10-31"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let messages = messages_in(&out_of(&tmp));
    assert_eq!(row_count(&messages), 59);
    let rows = rows_by_key(&messages);
    // Older days carry +1000.
    assert_eq!(first_int64s(&rows["user_001"]), ["1003"]);
    assert_eq!(first_int64s(&rows["user_010"]), ["1030"]);
    let pass = &report_of(&tmp)["jobs"][0]["passes"][0];
    assert_eq!(pass["partition"], "2026-10-31");
    assert_eq!(pass["sources"][0]["partition"], "2026-10-31");
    assert_eq!(pass["sources"][1]["partition"], "2026-10-31");
}

#[test]
fn pinned_partition_missing_in_one_source_names_it_and_its_partitions() {
    let (tmp, run) = run_reference(&["--partition", "2026-10-30"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for s in [EMBEDDINGS, "2026-10-30", "2026-10-31", "2026-11-02"] {
        assert!(run.stderr.contains(s), "{s}: {}", run.stderr);
    }
    assert!(!out_of(&tmp).join("manifest.json").exists());
}

#[test]
fn partition_range_runs_one_pass_per_value_in_order() {
    let (tmp, run) = run_orders_only(&["--partition-range", "2026-10-30..2026-11-01"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = report_of(&tmp);
    let passes = report["jobs"][0]["passes"].as_array().unwrap();
    let order: Vec<&str> = passes
        .iter()
        .map(|p| p["partition"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["2026-10-30", "2026-10-31", "2026-11-01"]);
    for pass in passes {
        assert_eq!(pass["sources"][0]["partition"], pass["partition"]);
        assert_eq!(pass["rows"], 39, "{pass:#}");
    }
    assert_eq!(report["rows"], 117);
    let messages = messages_in(&out_of(&tmp));
    assert_eq!(row_count(&messages), 117);
    let rows = rows_by_key(&messages);
    assert_eq!(first_int64s(&rows["user_001"]), ["1003", "1003", "3"]);

    // With both tables the range holds 2026-10-30, which user_embeddings lacks.
    let (_tmp, run) = run_reference(&["--partition-range", "2026-10-30..2026-10-31"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(EMBEDDINGS), "{}", run.stderr);
}

#[test]
fn all_partitions_reports_keys_repeated_across_days() {
    let (tmp, run) = run_orders_only(&["--all-partitions"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pass = &report_of(&tmp)["jobs"][0]["passes"][0];
    assert_eq!(pass["sources"][0]["partition"], Value::Null, "{pass:#}");
    assert!(pass["duplicate_keys"].as_u64().unwrap() > 0, "{pass:#}");
    // 2026-10-30 and 2026-10-31 are equal; 2026-11-01 differs in orders_30d for the 32 keyed
    // users whose orders_30d is not null (39 keyed users, 7 with i % 6 == 0).
    assert_eq!(pass["duplicate_keys"], 32, "{pass:#}");
    assert_eq!(pass["rows"], 71, "{pass:#}");
    assert!(!pass["duplicate_key_examples"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(
        run.stderr.contains("duplicate keys, e.g."),
        "{}",
        run.stderr
    );
    let rows = rows_by_key(&messages_in(&out_of(&tmp)));
    assert_eq!(first_int64s(&rows["user_001"]), ["1003", "3"]);
}

// ---------- 6. errors ----------

#[test]
fn unknown_table_exits_2_listing_the_known_ones() {
    let (tmp, run) = run_with(&reference_meta(), &[ORDERS], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("\"fs.user_embeddings\"")
            && run.stderr.contains("known tables: fs.user_orders"),
        "{}",
        run.stderr
    );
    assert!(no_output(&out_of(&tmp)));
}

#[test]
fn missing_source_column_names_it_and_lists_the_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let orders = tmp.path().join(ORDERS);
    for entry in std::fs::read_dir(table_dir(ORDERS)).unwrap() {
        let day = entry.unwrap().path();
        let mut out = Vec::new();
        for b in read_parquet(&day.join("part-0.parquet")) {
            let keep: Vec<usize> = (0..b.num_columns())
                .filter(|&i| b.schema().field(i).name() != "aov")
                .collect();
            out.push(b.project(&keep).unwrap());
        }
        assert!(out
            .iter()
            .all(|b| b.schema().field_with_name("aov").is_err()));
        write_parquet(
            &orders.join(day.file_name().unwrap()).join("part-0.parquet"),
            &out,
        );
    }
    let out = tmp.path().join("out");
    let run = onfs_strings(&[
        "run".into(),
        "--metadata-file".into(),
        p(&reference_meta()).into(),
        "--vector-fit".into(),
        "keep".into(),
        "--table".into(),
        format!("{ORDERS}={}", orders.display()),
        "--table".into(),
        table_arg(EMBEDDINGS),
        "--out".into(),
        p(&out).into(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(ORDERS) && run.stderr.contains("\"aov\""),
        "{}",
        run.stderr
    );
    for c in ["user_id", "orders_30d", "gmv_30d", "segment", "is_buyer"] {
        assert!(run.stderr.contains(c), "{c}: {}", run.stderr);
    }
    assert!(no_output(&out));
}

#[test]
fn missing_partition_column_suggests_the_flag() {
    let (tmp, run) = run_reference(&["--partition-column", "table=dt"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(ORDERS)
            && run.stderr.contains("\"dt\"")
            && run.stderr.contains("--partition-column"),
        "{}",
        run.stderr
    );
    assert!(no_output(&out_of(&tmp)));
}

#[test]
fn default_that_does_not_parse_exits_2_naming_the_column() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(reference_meta()).unwrap();
    let bad = text.replacen(
        "\"default-value\": \"0\",",
        "\"default-value\": \"abc\",",
        1,
    );
    assert_ne!(bad, text);
    let meta = tmp.path().join("metadata.json");
    std::fs::write(&meta, bad).unwrap();
    let (out_tmp, run) = run_with(&meta, &[ORDERS, EMBEDDINGS], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("orders_30d") && run.stderr.contains("\"abc\""),
        "{}",
        run.stderr
    );
    assert!(no_output(&out_of(&out_tmp)));
}

/// A Parquet source folder with `ts=1/` and `ts=2/` (`score` = 100 * ts + i for u0..u4);
/// `_SUCCESS` in the folders listed.
fn parquet_source(dir: &Path, complete: &[u32]) -> PathBuf {
    let base = dir.join("scores");
    for ts in [1u32, 2] {
        let rows: Vec<(String, i64)> = (0..5)
            .map(|i| (format!("u{i}"), 100 * ts as i64 + i))
            .collect();
        let rows: Vec<(&str, i64)> = rows.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let folder = base.join(format!("ts={ts}"));
        write_parquet(&folder.join("part-00000.parquet"), &[id_value_batch(&rows)]);
        if complete.contains(&ts) {
            std::fs::write(folder.join("_SUCCESS"), "").unwrap();
        }
    }
    base
}

#[test]
fn parquet_source_reads_the_newest_complete_partition() {
    let tmp = tempfile::tempdir().unwrap();
    let base = parquet_source(tmp.path(), &[1]);
    let meta = one_source_meta(
        tmp.path(),
        "PARQUET_S3",
        p(&base),
        &[("scores_fg", "score", "v", "DataTypeInt64", "0")],
    );
    let (out_tmp, run) = run_with(&meta, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pass = &report_of(&out_tmp)["jobs"][0]["passes"][0];
    assert_eq!(pass["sources"][0]["kind"], "PARQUET_S3");
    assert_eq!(pass["sources"][0]["partition_column"], "ts");
    assert_eq!(pass["sources"][0]["partition"], "1", "{pass:#}");
    let rows = rows_by_key(&messages_in(&out_of(&out_tmp)));
    assert_eq!(rows.len(), 5);
    assert_eq!(first_int64s(&rows["u3"]), ["103"]);

    // No _SUCCESS anywhere: nothing is complete.
    let tmp = tempfile::tempdir().unwrap();
    let base = parquet_source(tmp.path(), &[]);
    let meta = one_source_meta(
        tmp.path(),
        "PARQUET_S3",
        p(&base),
        &[("scores_fg", "score", "v", "DataTypeInt64", "0")],
    );
    let (out_tmp, run) = run_with(&meta, &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no complete partition"),
        "{}",
        run.stderr
    );
    assert!(no_output(&out_of(&out_tmp)));
}

// ---------- 7. duplicate keys ----------

/// A table `db.dups` where u1 appears twice with different values; returns (metadata, NAME=LOCATION).
fn duplicates_table(dir: &Path) -> (PathBuf, String) {
    let location = dir.join("dups");
    write_parquet(
        &location
            .join("process_date=2026-01-01")
            .join("part-0.parquet"),
        &[id_value_batch(&[
            ("u1", 1),
            ("u2", 2),
            ("u1", 3),
            ("u3", 4),
        ])],
    );
    let meta = one_source_meta(
        dir,
        "TABLE",
        "db.dups",
        &[("dups_fg", "v", "v", "DataTypeInt64", "0")],
    );
    (meta, format!("db.dups={}", location.display()))
}

fn run_duplicates(extra: &[&str]) -> (tempfile::TempDir, tempfile::TempDir, Run) {
    let data = tempfile::tempdir().unwrap();
    let (meta, table) = duplicates_table(data.path());
    let mut args = vec!["--table", table.as_str()];
    args.extend(extra);
    let (tmp, run) = run_with(&meta, &[], &args);
    (data, tmp, run)
}

#[test]
fn duplicate_keys_warn_by_default_and_send_both_rows() {
    let (_data, tmp, run) = run_duplicates(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pass = &report_of(&tmp)["jobs"][0]["passes"][0];
    assert_eq!(pass["duplicate_keys"], 1, "{pass:#}");
    let examples = pass["duplicate_key_examples"].as_array().unwrap();
    assert_eq!(examples.len(), 1);
    assert!(
        examples[0].as_str().unwrap().contains("user_id=u1"),
        "{examples:?}"
    );
    assert!(run.stderr.contains("user_id=u1"), "{}", run.stderr);
    let rows = rows_by_key(&messages_in(&out_of(&tmp)));
    assert_eq!(first_int64s(&rows["u1"]), ["1", "3"]);
    assert_eq!(first_int64s(&rows["u2"]), ["2"]);
    assert_eq!(pass["rows"], 4);
}

#[test]
fn duplicate_keys_error_fails_naming_the_key_and_writes_nothing() {
    let (_data, tmp, run) = run_duplicates(&["--on-duplicate-key", "error"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("user_id=u1"), "{}", run.stderr);
    let out = out_of(&tmp);
    assert!(!out.join("manifest.json").exists());
    assert!(no_output(&out), "a failed run leaves nothing");
}

#[test]
fn duplicate_keys_keep_any_keeps_one_row_per_key() {
    let (_data, tmp, run) = run_duplicates(&["--on-duplicate-key", "keep-any"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let messages = messages_in(&out_of(&tmp));
    let rows = rows_by_key(&messages);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows["u1"].len(), 1);
    let v = &first_int64s(&rows["u1"])[0];
    assert!(v == "1" || v == "3", "{v}");
    assert_eq!(row_count(&messages), 3);
    assert_eq!(report_of(&tmp)["rows"], 3);
}

// ---------- 8. dry run and limit ----------

#[test]
fn dry_run_writes_nothing() {
    let (tmp, run) = run_reference(&["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(no_output(&out_of(&tmp)), "the --out folder is left alone");
    assert!(run.stderr.contains("dry run"), "{}", run.stderr);
    let report = report_of(&tmp);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["rows"], 59, "encoded all the same");
}

#[test]
fn limit_caps_the_rows_after_the_join() {
    let (tmp, run) = run_reference(&["--limit", "10"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pass = &report_of(&tmp)["jobs"][0]["passes"][0];
    assert_eq!(pass["rows_after_join"], 10, "{pass:#}");
    // The null-key row may be among the ten.
    let rows = pass["rows"].as_u64().unwrap();
    assert_eq!(rows + pass["dropped_null_key_rows"].as_u64().unwrap(), 10);
    assert_eq!(row_count(&messages_in(&out_of(&tmp))) as u64, rows);

    // user_embeddings has no null key: exactly ten rows.
    let (tmp, run) = run_with(
        &reference_meta(),
        &[EMBEDDINGS],
        &["--fgs", "user_taste,user_cats,user_recent", "--limit", "10"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let messages = messages_in(&out_of(&tmp));
    assert_eq!(row_count(&messages), 10);
    assert_eq!(rows_by_key(&messages).len(), 10);
    assert!(messages
        .iter()
        .all(|m| m["query"]["data"].as_array().unwrap().len() <= 6));
}

// ---------- 9. Delta ----------

#[test]
fn delta_source_reads_the_newest_ts() {
    let tmp = tempfile::tempdir().unwrap();
    let table = testdata().join("delta/user_scores").canonicalize().unwrap();
    let meta = one_source_meta(
        tmp.path(),
        "DELTA_S3",
        p(&table),
        &[
            ("scores_fg", "score", "score", "DataTypeFP64", "-1"),
            ("tier_fg", "tier", "tier", "DataTypeString", "none"),
        ],
    );
    let (out_tmp, run) = run_with(&meta, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pass = &report_of(&out_tmp)["jobs"][0]["passes"][0];
    assert_eq!(pass["sources"][0]["format"], "delta", "{pass:#}");
    assert_eq!(pass["sources"][0]["partition"], "2", "{pass:#}");
    assert_eq!(pass["rows"], 30);
    let messages = messages_in(&out_of(&out_tmp));
    assert_eq!(row_count(&messages), 30);
    let rows = rows_by_key(&messages);
    assert_eq!(rows.len(), 30);
    let get = |key: &str| -> (f64, String) {
        let f = &rows[key];
        assert_eq!(f.len(), 1, "{key}");
        (
            values(&f[0], 0)["fp64_values"][0].as_f64().unwrap(),
            values(&f[0], 1)["string_values"][0]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    // score = i * 0.5 + ts * 100 (null when i % 7 == 0), tier = [gold, silver, bronze][(i + ts) % 3]
    // (null when i % 5 == 0), ts = 2.
    assert_eq!(get("user_001"), (200.5, "gold".to_string()));
    assert_eq!(get("user_003"), (201.5, "bronze".to_string()));
    assert_eq!(get("user_000"), (-1.0, "none".to_string()));
    assert_eq!(get("user_007"), (-1.0, "gold".to_string()));
    assert_eq!(get("user_029"), (214.5, "silver".to_string()));
}

/// testdata/delta/user_visits: written by Spark 4.0 with delta-spark 4.0, `visits` widened from
/// INT to BIGINT between its two partitions (testdata/tools/make_type_widening.py).
fn widened_table() -> PathBuf {
    testdata().join("delta/user_visits").canonicalize().unwrap()
}

/// Spark's rows of the widened table: (ts, user_id) -> visits.
fn spark_rows() -> BTreeMap<(i64, String), Option<i64>> {
    let text = std::fs::read_to_string(testdata().join("delta/user_visits.expected.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"]["visits"], "bigint");
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["ts"].as_i64().unwrap(),
                    r["user_id"].as_str().unwrap().to_string(),
                ),
                r["visits"].as_i64(),
            )
        })
        .collect()
}

#[test]
fn delta_table_with_type_widening_reads_as_spark_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let table = widened_table();
    let meta = one_source_meta(
        tmp.path(),
        "DELTA_S3",
        p(&table),
        &[("visits_fg", "visits", "visits", "DataTypeInt64", "-1")],
    );
    let spark = spark_rows();
    // The newest partition (written after the widening) and the older one (written as INT).
    for (ts, extra) in [(2, vec![]), (1, vec!["--partition", "1"])] {
        let (out_tmp, run) = run_with(&meta, &[], &extra);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let pass = &report_of(&out_tmp)["jobs"][0]["passes"][0];
        assert_eq!(pass["sources"][0]["partition"], ts.to_string(), "{pass:#}");
        let rows = rows_by_key(&messages_in(&out_of(&out_tmp)));
        let want: BTreeMap<String, i64> = spark
            .iter()
            .filter(|((t, _), _)| *t == ts)
            .map(|((_, k), v)| (k.clone(), v.unwrap_or(-1)))
            .collect();
        let got: BTreeMap<String, i64> = rows
            .iter()
            .map(|(k, f)| {
                let v = values(&f[0], 0)["int64_values"][0].as_str().unwrap();
                (k.clone(), v.parse().unwrap())
            })
            .collect();
        assert_eq!(got, want, "ts={ts}");
    }
}

#[test]
fn delta_reader_feature_not_supported_is_named_with_its_property() {
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("user_visits");
    let src = widened_table();
    for entry in walk(&src) {
        let rel = entry.strip_prefix(&src).unwrap();
        let to = table.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        // Without the checksum files, which also record the protocol.
        if !rel.to_string_lossy().ends_with(".crc") {
            std::fs::copy(&entry, &to).unwrap();
        }
    }
    let first = table.join("_delta_log/00000000000000000000.json");
    let text = std::fs::read_to_string(&first)
        .unwrap()
        .replace(
            r#""readerFeatures":["typeWidening"]"#,
            r#""readerFeatures":["typeWidening","vacuumProtocolCheck"]"#,
        )
        .replace(
            r#""writerFeatures":["typeWidening""#,
            r#""writerFeatures":["typeWidening","vacuumProtocolCheck""#,
        );
    std::fs::write(&first, text).unwrap();
    let meta = one_source_meta(
        tmp.path(),
        "DELTA_S3",
        p(&table),
        &[("visits_fg", "visits", "visits", "DataTypeInt64", "-1")],
    );
    let (_out, run) = run_with(&meta, &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let table_name = p(&table);
    assert!(
        run.stderr.contains(table_name)
            && run.stderr.contains(
                "vacuumProtocolCheck (table property delta.feature.vacuumProtocolCheck=supported)"
            )
            && run.stderr.contains("which onfs-push cannot read"),
        "{}",
        run.stderr
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn an_invalid_topic_name_is_refused_at_once() {
    // The brokers are a closed port: a check that waited for them would take the connect timeout.
    let started = std::time::Instant::now();
    let (_t, run) = run_with(
        &reference_meta(),
        &[ORDERS, EMBEDDINGS],
        &["--kafka-brokers", "127.0.0.1:9", "--topic", "bad topic!"],
    );
    // run_with passes --out; the topic is checked before the choice of output.
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("\"bad topic!\" is not a valid topic name")
            && run.stderr.contains("hint: the topic is given with --topic"),
        "{}",
        run.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    for bad in [".", "..", &"x".repeat(250)] {
        let run = onfs(&[
            "send",
            p(&pipeline()),
            "--kafka-brokers",
            "127.0.0.1:9",
            "--topic",
            bad,
        ]);
        assert_eq!(run.code, 2, "{bad}: {}", run.stderr);
        assert!(
            run.stderr.contains("not a valid topic name"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn an_object_store_without_credentials_answers_at_once() {
    // No credentials anywhere: the clients would retry the instance metadata service (here a
    // closed loopback port) for seconds; the answer comes before any request.
    for (location, says) in [
        (
            "gs://onfs-bucket/fs/user_orders",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ),
        ("s3://onfs-bucket/fs/user_orders", "AWS_ACCESS_KEY_ID"),
        (
            "az://container/fs/user_orders",
            "AZURE_STORAGE_ACCOUNT_NAME",
        ),
    ] {
        let started = std::time::Instant::now();
        let (_t, run) = run_with(
            &reference_meta(),
            &[],
            &[
                "--fgs",
                "user_orders_i64",
                "--table",
                &format!("{ORDERS}={location}"),
                "--storage-option",
                "aws_region=us-east-1",
                "--storage-option",
                "azure_storage_account_name=onfsaccount",
            ],
        );
        let took = started.elapsed();
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert!(
            run.stderr.contains("no credentials found") && run.stderr.contains(says),
            "{}",
            run.stderr
        );
        assert!(
            took < std::time::Duration::from_secs(3),
            "{location}: {took:?}"
        );
    }
}

#[test]
fn check_counts_a_delta_tables_rows_from_its_log() {
    // Without Kafka or a store: the metadata and the source only; the widened table too.
    for (table, rows) in [
        (testdata().join("delta/user_scores"), 30),
        (widened_table(), 12),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let table = table.canonicalize().unwrap();
        let meta = one_source_meta(
            tmp.path(),
            "DELTA_S3",
            p(&table),
            &[("fg", "x", "user_id", "DataTypeString", "none")],
        );
        let run = onfs(&["check", "--metadata-file", p(&meta)]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert!(lines[0].starts_with("ok    metadata"), "{}", run.stdout);
        assert!(
            lines[1].starts_with("ok    source")
                && lines[1].contains("delta at ")
                && lines[1].ends_with(&format!("partition ts=2, {rows} rows")),
            "{}",
            run.stdout
        );
        assert_eq!(lines[2], "all 2 checks passed");
    }
    // A source that is not there: its own line, exit 1.
    let tmp = tempfile::tempdir().unwrap();
    let meta = one_source_meta(
        tmp.path(),
        "DELTA_S3",
        p(&tmp.path().join("no_such_table")),
        &[("fg", "x", "user_id", "DataTypeString", "none")],
    );
    let run = onfs(&["check", "--metadata-file", p(&meta)]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("FAIL  source"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("1 of 2 checks failed"),
        "{}",
        run.stderr
    );
}
