//! Output for people and shells: `inspect` as a table, completions and the manual page, and the
//! log switches (`--quiet`, `-v`, `--log-format json`).

use crate::support::*;

/// Messages of the sample job in a new folder.
fn sample_messages() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let run = encode_sample(&out, &["--batch-size", "20"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (tmp, out)
}

#[test]
fn inspect_prints_a_table_fitting_the_terminal_when_asked() {
    let (_tmp, out) = sample_messages();
    let run = onfs_env(
        &["inspect", p(&out), "--format", "table"],
        &[("COLUMNS", "100")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[1].contains("message") && lines[1].contains("first rows"),
        "{}",
        run.stdout
    );
    for line in &lines {
        assert!(
            line.chars().count() <= 100,
            "wider than the terminal: {line}"
        );
    }
    // Five messages shown, the rest counted.
    assert!(
        lines[lines.len() - 2].contains("50 messages, 1000 rows of user"),
        "{}",
        run.stdout
    );
    assert_eq!(
        lines[lines.len() - 1],
        "45 more not shown: --limit N, or --format json"
    );
    assert!(
        lines.iter().filter(|l| l.contains("(batch ")).count() == 5,
        "{}",
        run.stdout
    );
}

#[test]
fn inspect_off_a_terminal_prints_json_lines() {
    let (_tmp, out) = sample_messages();
    for args in [
        vec!["inspect", p(&out), "--limit", "2"],
        vec!["inspect", p(&out), "--limit", "2", "--format", "json"],
    ] {
        let run = onfs(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 2);
        for l in lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["value_hex"].is_string() && v["query"].is_object());
        }
    }
}

#[test]
fn completions_and_the_manual_page_come_from_the_flags() {
    for (shell, says) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef onfs-push"),
        ("fish", "complete -c onfs-push"),
    ] {
        let run = onfs(&["completions", shell]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains(says),
            "{shell}: {}",
            &run.stdout[..200.min(run.stdout.len())]
        );
        assert!(
            run.stdout.contains("inspect") && run.stdout.contains("check"),
            "{shell}"
        );
    }
    let run = onfs(&["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(".TH onfs-push 1"), "{}", run.stdout);
    assert!(run.stdout.contains("\\-\\-log\\-format"), "{}", run.stdout);
    assert_eq!(onfs(&["completions", "tcsh"]).code, 2);
}

/// The sample Delta table, read by a run.
fn delta_run(extra: &[&str]) -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let table = testdata().join("delta/user_scores").canonicalize().unwrap();
    let meta = crate::run::one_source_meta(
        tmp.path(),
        "DELTA_S3",
        p(&table),
        &[("scores_fg", "score", "score", "DataTypeFP64", "-1")],
    );
    let out = tmp.path().join("out");
    let mut args = vec!["run", "--metadata-file", p(&meta), "--out", p(&out)];
    args.extend(extra);
    onfs(&args)
}

#[test]
fn quiet_runs_print_no_info_line_and_dependencies_speak_only_when_asked() {
    let run = delta_run(&["--quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("INFO"), "{}", run.stderr);
    // Warnings and errors only: a run that succeeds without any says nothing.
    assert_eq!(run.stderr, "");
    let tmp = tempfile::tempdir().unwrap();
    let run = encode_sample(&tmp.path().join("out"), &["-q"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    // By default the product's own lines, none of the Delta libraries'.
    let run = delta_run(&[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("INFO reading"), "{}", run.stderr);
    for dep in [
        "ScanMetadataCompleted",
        "snap.build",
        "delta_kernel",
        "deltalake",
    ] {
        assert!(!run.stderr.contains(dep), "{dep}: {}", run.stderr);
    }
    // -v and --log-level debug show them.
    for flag in [["-v", "-v"], ["--log-level", "debug"]] {
        let run = delta_run(&flag);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.lines().count() > 5, "{flag:?}: {}", run.stderr);
    }
}

#[test]
fn log_lines_as_json_for_machines() {
    let run = delta_run(&["--log-format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let logs: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!logs.is_empty(), "{}", run.stderr);
    assert!(logs
        .iter()
        .all(|l| l["level"].is_string() && l["fields"]["message"].is_string()));
}
