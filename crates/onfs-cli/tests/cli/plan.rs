use serde_json::Value;

use crate::support::*;

#[test]
fn plan_json_equals_the_reference_for_every_case() {
    for (name, fgs) in [
        ("all-types", None),
        (
            "all-types-fgs",
            Some("fg_fp32,fg_stringvector,fg_int64,fg_bool"),
        ),
        ("tables-pipeline", None),
    ] {
        let dir = case(name);
        let meta = dir.join("metadata.json");
        let mut args = vec!["plan", "--metadata-file", p(&meta), "--json"];
        if let Some(f) = fgs {
            args.extend(["--fgs", f]);
        }
        let run = onfs(&args);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let got: Value = serde_json::from_str(&run.stdout).unwrap();
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected/plan.json")).unwrap())
                .unwrap();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn plan_table_is_readable() {
    let meta = case("tables-pipeline").join("metadata.json");
    let run = onfs(&["plan", "--metadata-file", p(&meta)]);
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("TABLE fs.user_orders"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("DataTypeFP32Vector"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("taste <- user_embeddings___user_taste___taste (\"[0,0,0]\")"),
        "{}",
        run.stdout
    );
}

#[test]
fn unknown_group_is_a_usage_error_listing_known_groups() {
    let meta = case("tables-pipeline").join("metadata.json");
    let run = onfs(&[
        "plan",
        "--metadata-file",
        p(&meta),
        "--fgs",
        "user_taste,nope",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown feature group(s) nope"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("user_orders_i64, user_orders_fp64"),
        "{}",
        run.stderr
    );
}

#[test]
fn no_metadata_and_bad_metadata_file_are_usage_errors() {
    let run = onfs(&["plan"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--metadata-file"), "{}", run.stderr);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("m.json");
    std::fs::write(&bad, r#"{"keys": {"u": ["id"]}, "data": [{"storage-provider": "TABLE", "base-path": [{"source-base-path": "a.b"}]}]}"#).unwrap();
    let run = onfs(&["plan", "--metadata-file", p(&bad)]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("data[0].base-path[0].data-paths: missing field"),
        "{}",
        run.stderr
    );
    let run = onfs(&["plan", "--metadata-file", "/nonexistent/m.json"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("/nonexistent/m.json"), "{}", run.stderr);
}

#[test]
fn help_lists_exit_codes() {
    for args in [vec!["--help"], vec!["encode", "--help"]] {
        let run = onfs(&args);
        assert_eq!(run.code, 0);
        assert!(
            run.stdout.contains("Exit codes:") && run.stdout.contains("2  bad usage"),
            "{}",
            run.stdout
        );
    }
}
