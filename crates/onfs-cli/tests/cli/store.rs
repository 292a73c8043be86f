//! The online store's rules at the command line: ragged vectors refused before anything is
//! sent, declared lengths, padding and truncating, types the store cannot keep.

use std::path::Path;

use serde_json::Value;

use crate::run::{messages_in, report_of, EMBEDDINGS, ORDERS};
use crate::support::*;

/// The vector groups of all-types, one per vector data type (15), from its metadata.
fn vector_groups() -> Vec<String> {
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(case("all-types").join("metadata.json")).unwrap(),
    )
    .unwrap();
    let mut groups: Vec<String> = Vec::new();
    for path in meta["data"][0]["base-path"][0]["data-paths"]
        .as_array()
        .unwrap()
    {
        let g = path["feature-group-label"].as_str().unwrap().to_string();
        if path["data-type"].as_str().unwrap().ends_with("Vector") && !groups.contains(&g) {
            groups.push(g);
        }
    }
    assert_eq!(groups.len(), 15);
    groups
}

/// `encode` of all-types (batch 7) into `out`, with `extra`.
fn encode_all_types(out: &Path, extra: &[String]) -> Run {
    let dir = case("all-types");
    let mut args: Vec<String> = [
        "encode",
        "--metadata-file",
        p(&dir.join("metadata.json")),
        "--input",
        p(&dir.join("input.parquet")),
        "--batch-size",
        "7",
        "--out",
        p(out),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    onfs(&args)
}

fn lengths(n: usize) -> Vec<String> {
    vector_groups()
        .iter()
        .flat_map(|g| ["--vector-length".to_string(), format!("{g}.v1={n}")])
        .collect()
}

/// Every vector's element count in a message folder, per group label.
fn vector_lengths(out: &Path) -> Vec<(String, usize)> {
    let mut all = Vec::new();
    for m in messages_in(out) {
        let groups: Vec<String> = m["query"]["feature_group_schema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["label"].as_str().unwrap().to_string())
            .collect();
        for row in m["query"]["data"].as_array().unwrap() {
            for (g, fv) in groups.iter().zip(row["feature_values"].as_array().unwrap()) {
                if let Some(v) = fv["values"]["vector"].as_array() {
                    let values = &v[0]["values"];
                    let n = values
                        .as_object()
                        .map(|o| o.values().map(|x| x.as_array().unwrap().len()).sum())
                        .unwrap_or(0);
                    all.push((g.clone(), n));
                }
            }
        }
    }
    all
}

#[test]
fn ragged_vectors_fail_before_anything_is_written_naming_each_feature() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = encode_all_types(&out, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    for g in vector_groups() {
        assert!(
            run.stderr.contains(&format!("{g}.v1 (column")),
            "{g}: {}",
            run.stderr
        );
    }
    assert!(
        run.stderr
            .contains("15 vector features have rows of more than one length"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("length 0 in 10 rows (e.g. user_id=0"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: --vector-length"),
        "{}",
        run.stderr
    );
    let left: Vec<_> = std::fs::read_dir(&out)
        .map(|d| d.collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing half-written: {left:?}");
}

#[test]
fn declared_lengths_with_pad_encode_and_inspect_shows_the_padding() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut extra = lengths(4);
    extra.extend(["--vector-fit".into(), "pad".into()]);
    let run = encode_all_types(&out, &extra);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("fg_fp32vector.v1 to 4: 40 padded, 0 truncated"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("messages of up to 7 rows"),
        "{}",
        run.stderr
    );
    let lens = vector_lengths(&out);
    assert_eq!(lens.len(), 50 * 15);
    assert!(lens.iter().all(|(_, n)| *n == 4), "{lens:?}");
    // The first row (length 0) is all zeros; inspect shows what is sent.
    let run = onfs(&["inspect", p(&out), "--limit", "1"]);
    let first: Value = serde_json::from_str(run.stdout.lines().next().unwrap()).unwrap();
    let row = &first["query"]["data"][0]["feature_values"];
    assert_eq!(
        row[18]["values"]["vector"][0]["values"]["fp32_values"],
        serde_json::json!([0.0, 0.0, 0.0, 0.0])
    );
    assert_eq!(
        row[28]["values"]["vector"][0]["values"]["string_values"],
        serde_json::json!(["", "", "", ""])
    );
}

#[test]
fn a_declared_length_without_fit_names_the_row_and_truncate_cuts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    // all-types' vector defaults are "[]": a declared length of 2 refuses them before reading.
    let run = encode_all_types(&out, &lengths(2));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the default \"[]\" of vector feature fg_fp8e5m2vector.v1")
            && run.stderr.contains("has 0 elements, but its length is 2"),
        "{}",
        run.stderr
    );
    // Length 0 fits the defaults; the first row with a value is named.
    let run = encode_all_types(&out, &lengths(0));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("has 1 elements for key user_id=7919, but its declared length is 0"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: --vector-fit pad"),
        "{}",
        run.stderr
    );
    let mut extra = lengths(2);
    extra.extend(["--vector-fit".into(), "pad-truncate".into()]);
    let run = encode_all_types(&out, &extra);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("fg_int64vector.v1 to 2: 20 padded, 20 truncated"),
        "{}",
        run.stderr
    );
    assert!(vector_lengths(&out).iter().all(|(_, n)| *n == 2));
}

#[test]
fn vector_length_names_a_feature_three_ways_and_unknown_names_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    // By renamed column and by source column (all-types' source columns are the labels' own).
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(case("all-types").join("metadata.json")).unwrap(),
    )
    .unwrap();
    let source = meta["data"][0]["base-path"][0]["data-paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["feature-group-label"] == "fg_fp64vector")
        .unwrap()["source-data-column"]
        .as_str()
        .unwrap()
        .to_string();
    let mut extra = lengths(3);
    extra[7] = "all_types___fg_fp32vector___v1=3".into();
    extra[9] = format!("{source}=3");
    extra.extend(["--vector-fit".into(), "pad-truncate".into()]);
    let run = encode_all_types(&tmp.path().join("a"), &extra);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = encode_all_types(
        &tmp.path().join("b"),
        &["--vector-length".into(), "fg_fp32.f1=3".into()],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("\"fg_fp32.f1\", which is not a vector feature"),
        "{}",
        run.stderr
    );
    let run = encode_all_types(
        &tmp.path().join("c"),
        &["--vector-length".into(), "nope=3".into()],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("fg_boolvector.v1"), "{}", run.stderr);
}

#[test]
fn bool_vectors_warn_and_strict_store_refuses_them() {
    let tmp = tempfile::tempdir().unwrap();
    let run = encode_all_types(
        &tmp.path().join("a"),
        &["--vector-fit".into(), "keep".into()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot keep bool vectors") && run.stderr.contains("fg_boolvector.v1"),
        "{}",
        run.stderr
    );
    let run = encode_all_types(
        &tmp.path().join("b"),
        &[
            "--vector-fit".into(),
            "keep".into(),
            "--strict-store".into(),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("fg_boolvector.v1"), "{}", run.stderr);
    assert!(
        !tmp.path().join("b").exists()
            || std::fs::read_dir(tmp.path().join("b"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn run_refuses_ragged_defaults_and_pads_to_declared_lengths() {
    // The reference pipeline: user_cats and user_recent hold vectors of 1 and 2 elements, and
    // their defaults ("[none]", "[0]") fill rows with length 1.
    let meta = case("tables-pipeline").join("metadata.json");
    let tmp = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec![
        "run".into(),
        "--metadata-file".into(),
        p(&meta).into(),
        "--batch-size".into(),
        "6".into(),
        "--out".into(),
        p(&tmp.path().join("out")).into(),
        "--report".into(),
        p(&tmp.path().join("report.json")).into(),
    ];
    for t in [ORDERS, EMBEDDINGS] {
        args.push("--table".into());
        args.push(format!(
            "{t}={}",
            case("tables-pipeline").join("tables").join(t).display()
        ));
    }
    let go = |extra: &[&str]| {
        let mut a = args.clone();
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        onfs(&a)
    };
    let run = go(&[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("user_cats.top_categories"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("user_recent.recent_ids"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("user_taste.taste ("), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("rows filled with the default \"[0]\" have length 1"),
        "{}",
        run.stderr
    );
    assert!(!tmp.path().join("out").join("manifest.json").exists());
    // A declared length the default does not have: refused before reading.
    let run = go(&["--vector-length", "user_recent.recent_ids=2"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the default \"[0]\" of vector feature user_recent.recent_ids"),
        "{}",
        run.stderr
    );
    let run = go(&[
        "--vector-length",
        "user_recent.recent_ids=2",
        "--vector-length",
        "top_categories=2",
        "--vector-fit",
        "pad",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = report_of(&tmp);
    let pass = &report["jobs"][0]["passes"][0];
    assert_eq!(pass["max_rows_per_message"], 6);
    let vectors = pass["vectors"].as_array().unwrap();
    let recent = vectors
        .iter()
        .find(|v| v["feature"] == "user_recent.recent_ids")
        .unwrap();
    assert_eq!(recent["expected"], 2);
    assert_eq!(recent["padded_rows"], 32);
    let taste = vectors
        .iter()
        .find(|v| v["feature"] == "user_taste.taste")
        .unwrap();
    assert_eq!(taste["lengths"][0]["length"], 3);
    assert_eq!(taste["lengths"][0]["rows"], 59);
    let lens = vector_lengths(&tmp.path().join("out"));
    assert!(lens
        .iter()
        .filter(|(g, _)| g != "user_taste")
        .all(|(_, n)| *n == 2));
}

#[test]
fn config_file_declares_lengths() {
    let tmp = tempfile::tempdir().unwrap();
    let meta = case("tables-pipeline").join("metadata.json");
    let tables = case("tables-pipeline").join("tables");
    let text = format!(
        "[tables]\n\"{ORDERS}\" = {{ format = \"parquet\", location = {:?} }}\n\"{EMBEDDINGS}\" = {{ format = \"parquet\", location = {:?} }}\n\
         [encode]\nvector_fit = \"pad\"\n\
         [vector_lengths]\n\"user_recent.recent_ids\" = 2\n\"user_cats.top_categories\" = 2\n\
         [output]\nout = {:?}\n\
         [[jobs]]\nmetadata_file = {:?}\n",
        tables.join(ORDERS).display().to_string(),
        tables.join(EMBEDDINGS).display().to_string(),
        tmp.path().join("out").display().to_string(),
        meta.display().to_string(),
    );
    let path = tmp.path().join("job.toml");
    std::fs::write(&path, text).unwrap();
    let run = onfs(&["run", "--config", p(&path)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("user_recent.recent_ids to 2: 32 padded"),
        "{}",
        run.stderr
    );
    // The flag wins over the file.
    let again = tmp.path().join("again");
    let run = onfs(&[
        "run",
        "--config",
        p(&path),
        "--vector-fit",
        "check",
        "--out",
        p(&again),
    ]);
    // The flag wins over the file: checked, the "[none]" default is of another length.
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("the default \"[none]\""),
        "{}",
        run.stderr
    );
}

#[test]
fn the_examples_follow_the_store_rules() {
    // The README's first command runs these: every vector feature of one length, defaults too.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let report = tmp.path().join("report.json");
    let run = onfs_command()
        .current_dir(repo())
        .args(["run", "--config", "examples/job.toml", "--out"])
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let vectors = report["jobs"][0]["passes"][0]["vectors"]
        .as_array()
        .unwrap();
    assert_eq!(vectors.len(), 3);
    for v in vectors {
        assert_eq!(v["padded_rows"], 0, "{v}");
        assert!(v["expected"].is_u64(), "{v}");
    }
    let mut seen = std::collections::BTreeMap::new();
    for (g, n) in vector_lengths(&out) {
        seen.entry(g)
            .or_insert_with(std::collections::BTreeSet::new)
            .insert(n);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.values().all(|s| s.len() == 1), "{seen:?}");
    let run = encode_sample(&tmp.path().join("encode"), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}
