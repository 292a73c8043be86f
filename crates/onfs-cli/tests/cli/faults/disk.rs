//! Disks that fill up under `--out`, the spool (`--spool-dir`) and the state (`--state`): exit 1
//! with an error naming the path and what became of the messages; no message file a reader
//! would take as complete (a folder holds messages only with their manifest), nothing sent
//! from a spool that could not be written whole.

use std::path::Path;
use std::time::Duration;

use super::small_disk::{disk_full_text, SmallDisk};
use super::{onfs_with_file_limit, onfs_within};
use crate::run::{pipeline, reference_meta, EMBEDDINGS, ORDERS};
use crate::support::*;

const BOUND: Duration = Duration::from_secs(60);

/// `encode` of the sample job (1,000 rows, 0.4 MB of messages), `rest` giving the output.
fn encode_sample_args(rest: &[&str]) -> Vec<String> {
    let dir = repo().join("examples/user-features");
    let mut args: Vec<String> = [
        "encode",
        "--metadata-file",
        p(&dir.join("metadata.json")),
        "--input",
        p(&dir.join("features.parquet")),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// `run` of the reference case (both tables), `rest` added.
fn run_reference_args(rest: &[&str]) -> Vec<String> {
    let table = |t: &str| format!("{t}={}", pipeline().join("tables").join(t).display());
    let mut args: Vec<String> = [
        "run",
        "--metadata-file",
        p(&reference_meta()),
        "--vector-fit",
        "keep",
        "--table",
        &table(ORDERS),
        "--table",
        &table(EMBEDDINGS),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

/// The folder holds no file at all (it may not exist).
fn assert_no_files(dir: &Path) {
    let files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(files.is_empty(), "{} holds {files:?}", dir.display());
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let path = e.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Encodes the sample to `out` on a 64 KiB disk: a tmpfs where the test may mount, else a
/// file size limit of 64 KiB.
fn encode_sample_to_a_full_disk(format: &str) {
    let disk = SmallDisk::mount(64 * 1024);
    let tmp = tempfile::tempdir().unwrap();
    let out = match &disk {
        Some(d) => d.join("out"),
        None => tmp.path().join("out"),
    };
    let args = encode_sample_args(&["--out", p(&out), "--out-format", format]);
    let run = match &disk {
        Some(_) => onfs_within(BOUND, &strs(&args), &[]),
        None => onfs_with_file_limit(64 * 1024, BOUND, &strs(&args)),
    };
    assert_eq!(run.code, 1, "{format}: {}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("error: --out {}: ", out.display()))
            && disk_full_text(&run.stderr)
            && run
                .stderr
                .contains("no message file of this run was left there; free space there"),
        "{format}: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("not readable"), "{}", run.stderr);
    assert_no_files(&out);
}

#[test]
fn out_frames_on_a_full_disk_exit_1_naming_the_folder_and_leave_no_message_file() {
    encode_sample_to_a_full_disk("frames");
}

#[test]
fn out_parquet_on_a_full_disk_exit_1_naming_the_folder_and_leave_no_message_file() {
    encode_sample_to_a_full_disk("parquet");
}

#[test]
fn a_manifest_that_does_not_fit_takes_its_message_file_with_it() {
    // The message file's size, then a disk that holds it and not one page more.
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let run = onfs_within(
        BOUND,
        &strs(&encode_sample_args(&["--out", p(&whole)])),
        &[],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let size = std::fs::metadata(whole.join("messages-00000.onfsmsg"))
        .unwrap()
        .len();
    let Some(disk) = SmallDisk::mount(size.div_ceil(4096) * 4096) else {
        eprintln!("not run: this test needs to mount a tmpfs (root)");
        return;
    };
    let out = disk.join("out");
    let run = onfs_within(BOUND, &strs(&encode_sample_args(&["--out", p(&out)])), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "error: --out {}: {}: No space left on device",
            out.display(),
            out.join("manifest.json").display()
        )),
        "{}",
        run.stderr
    );
    assert_no_files(&out);
}

#[test]
fn a_full_state_disk_stops_the_run_before_anything_is_written() {
    let Some(disk) = SmallDisk::mount(64 * 1024) else {
        eprintln!("not run: this test needs to mount a tmpfs (root)");
        return;
    };
    disk.fill();
    let state = disk.join("state");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let args = run_reference_args(&["--state", p(&state), "--out", p(&out), "--changed-only"]);
    let run = onfs_within(BOUND, &strs(&args), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("{}/", state.display()))
            && run.stderr.contains("No space left on device"),
        "{}",
        run.stderr
    );
    assert!(!out.join("manifest.json").exists(), "nothing written");
}

#[test]
fn a_state_disk_filling_at_the_commit_says_the_run_is_not_recorded_and_frees_the_job() {
    // Room for the lock and the head (a page each), not for the ledger (7 KB).
    let Some(disk) = SmallDisk::mount(8 * 1024) else {
        eprintln!("not run: this test needs to mount a tmpfs (root)");
        return;
    };
    let state = disk.join("state");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let args = run_reference_args(&["--state", p(&state), "--out", p(&out), "--changed-only"]);
    let run = onfs_within(BOUND, &strs(&args), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("error: state {}/", state.display()))
            && run.stderr.contains("No space left on device")
            && run.stderr.contains(&format!(
                "but the state at {} does not record this run (its lock was given back): the next run sends these rows again",
                state.display()
            )),
        "{}",
        run.stderr
    );
    // The messages were written whole; the job is not left locked (a lock left would refuse
    // every later run), nor a ledger file half written.
    assert!(out.join("manifest.json").exists());
    let left: Vec<String> = walk(&state)
        .into_iter()
        .map(|f| f.display().to_string())
        .collect();
    assert!(left.is_empty(), "left in the state: {left:?}");
    // With room, the next run goes through.
    drop(disk);
    let roomy = tmp.path().join("state");
    let again = tmp.path().join("again");
    let args = run_reference_args(&["--state", p(&roomy), "--out", p(&again), "--changed-only"]);
    let run = onfs_within(BOUND, &strs(&args), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[cfg(feature = "service-tests")]
#[test]
fn a_full_spool_disk_sends_nothing_and_names_the_spool_folder() {
    let topic = unique_topic("spool");
    create_topic(&broker().bootstrap, &topic, 1);
    let disk = SmallDisk::mount(64 * 1024);
    let tmp = tempfile::tempdir().unwrap();
    let spool = match &disk {
        Some(d) => d.join("spool"),
        None => tmp.path().join("spool"),
    };
    std::fs::create_dir(&spool).unwrap();
    let args = encode_sample_args(&[
        "--kafka-brokers",
        &broker().bootstrap,
        "--topic",
        &topic,
        "--spool-dir",
        p(&spool),
    ]);
    let run = match &disk {
        Some(_) => onfs_within(BOUND, &strs(&args), &[]),
        None => onfs_with_file_limit(64 * 1024, BOUND, &strs(&args)),
    };
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("error: --spool-dir {}: ", spool.display()))
            && disk_full_text(&run.stderr)
            && run.stderr.contains("none of them was sent"),
        "{}",
        run.stderr
    );
    assert_eq!(read_topic(&broker().bootstrap, &topic).len(), 0);
    assert_no_files(&spool);
}

#[cfg(feature = "service-tests")]
#[test]
fn a_state_disk_filling_at_the_commit_of_a_kafka_pass_is_resumed_without_sending_again() {
    // The pass is spooled in the job's resume area under --spool-dir, delivered, then the
    // commit fails (the ledger does not fit): the next run, with room, resumes the pass (every
    // message acknowledged: nothing sent) and records it.
    let tmp = tempfile::tempdir().unwrap();
    let (state, spool) = (tmp.path().join("state"), tmp.path().join("spool"));
    std::fs::create_dir(&state).unwrap();
    std::fs::create_dir(&spool).unwrap();
    let Some(small) = SmallDisk::mount_on(&state, 8 * 1024) else {
        eprintln!("not run: this test needs to mount a tmpfs (root)");
        return;
    };
    let topic = unique_topic("resumed");
    create_topic(&broker().bootstrap, &topic, 1);
    let args = run_reference_args(&[
        "--state",
        p(&state),
        "--spool-dir",
        p(&spool),
        "--changed-only",
        "--kafka-brokers",
        &broker().bootstrap,
        "--topic",
        &topic,
    ]);
    let rows_on_topic = || -> usize {
        read_topic(&broker().bootstrap, &topic)
            .iter()
            .map(|r| decode(&r.value).data.len())
            .sum()
    };
    let run = onfs_within(BOUND, &strs(&args), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("No space left on device")
            && run.stderr.contains(
                "the next run resumes the pass from the job's resume area, sending only what was not acknowledged"
            ),
        "{}",
        run.stderr
    );
    assert_eq!(rows_on_topic(), 59);
    drop(small);
    let _roomy = SmallDisk::mount_on(&state, 1 << 20).expect("mounted before");
    let run = onfs_within(BOUND, &strs(&args), &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("recorded"), "{}", run.stderr);
    assert_eq!(rows_on_topic(), 59, "nothing sent twice");
}
