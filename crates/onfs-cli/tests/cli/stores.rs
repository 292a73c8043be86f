//! `onfs-push run` on object stores: the reference tables as Parquet and Delta on moto (S3),
//! Azurite (Azure Blob) and fake-gcs-server (GCS), started by `scripts/test-services.sh`;
//! newest-partition selection, `_SUCCESS`, and the errors of no credentials, a wrong key, a
//! missing bucket and a missing prefix.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use object_store::path::Path as StorePath;
use object_store::{ObjectStoreExt, PutPayload};
use onfs_sources::StorageOptions;

use crate::run::{
    assert_like_reference, messages_in, one_source_meta, out_of, pipeline, reference_meta,
    report_of, row_count, run_with, EMBEDDINGS, ORDERS,
};
use crate::support::*;

/// The services' env file (`ONFS_S3_ENDPOINT` ...), starting them if needed.
pub(crate) fn services() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let out = std::process::Command::new("bash")
            .arg(repo().join("scripts/test-services.sh"))
            .arg("start")
            .output()
            .expect("run scripts/test-services.sh");
        assert!(
            out.status.success(),
            "test-services.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env_file = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("the env file's path")
            .to_string();
        std::fs::read_to_string(env_file)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

pub(crate) fn env(key: &str) -> String {
    services()[key].clone()
}

/// A prefix no other test uses.
fn unique(prefix: &str) -> String {
    unique_topic(prefix)
}

#[derive(Clone, Copy)]
pub(crate) enum Store {
    S3,
    Azure,
    Gcs,
}

/// A service account file pointing object_store at fake-gcs-server, without OAuth.
fn gcs_service_account() -> String {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("onfs-gcs-{}.json", std::process::id()));
        let json = serde_json::json!({
            "gcs_base_url": env("ONFS_GCS_ENDPOINT"), "disable_oauth": true,
            "client_email": "", "private_key": "", "private_key_id": ""
        });
        std::fs::write(&path, json.to_string()).unwrap();
        path.display().to_string()
    })
    .clone()
}

/// `--storage-option` values reaching the emulator (the secret one marked for checks).
fn options(store: Store, secret: &str) -> Vec<(String, String)> {
    let o = |k: &str, v: &str| (k.to_string(), v.to_string());
    match store {
        Store::S3 => vec![
            o("aws_endpoint", &env("ONFS_S3_ENDPOINT")),
            o("aws_allow_http", "true"),
            o("aws_region", "us-east-1"),
            o("aws_access_key_id", "test-key"),
            o("aws_secret_access_key", secret),
        ],
        Store::Azure => vec![
            o(
                "azure_storage_endpoint",
                &format!(
                    "{}/{}",
                    env("ONFS_AZURE_ENDPOINT"),
                    env("ONFS_AZURE_ACCOUNT")
                ),
            ),
            o("azure_allow_http", "true"),
            o("azure_storage_account_name", &env("ONFS_AZURE_ACCOUNT")),
            o("azure_storage_account_key", secret),
        ],
        Store::Gcs => vec![o("google_service_account", &gcs_service_account())],
    }
}

fn storage(store: Store) -> StorageOptions {
    let mut s = StorageOptions::default();
    for (k, v) in options(store, &real_secret(store)) {
        s.set(&k, &v).unwrap();
    }
    s
}

/// The secret the emulator accepts (moto: any; Azurite: its account key).
pub(crate) fn real_secret(store: Store) -> String {
    match store {
        Store::S3 => "test-secret-0000".into(),
        Store::Azure => env("ONFS_AZURE_KEY"),
        Store::Gcs => gcs_service_account(),
    }
}

fn option_args(store: Store, secret: &str) -> Vec<String> {
    options(store, secret)
        .into_iter()
        .flat_map(|(k, v)| ["--storage-option".to_string(), format!("{k}={v}")])
        .collect()
}

/// Copies the local folder `dir` to `url` (a folder URL ending in `/`).
pub(crate) fn upload(store: Store, dir: &Path, url: &str) {
    let url = url::Url::parse(url).unwrap();
    let base = url.path().trim_matches('/').to_string();
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    if let Store::Gcs = store {
        // fake-gcs-server takes uploads through the JSON API only.
        for f in files {
            let rel = f.strip_prefix(dir).unwrap().to_string_lossy().to_string();
            let name = format!("{base}/{rel}");
            let target = format!(
                "{}/upload/storage/v1/b/{}/o?uploadType=media&name={name}",
                env("ONFS_GCS_ENDPOINT"),
                url.host_str().unwrap()
            );
            ureq::post(&target)
                .header("Content-Type", "application/octet-stream")
                .send(&std::fs::read(&f).unwrap()[..])
                .unwrap_or_else(|e| panic!("upload {name}: {e}"));
        }
        return;
    }
    let os = onfs_sources::stores::build_store(&url, &storage(store)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        for f in files {
            let rel = f.strip_prefix(dir).unwrap().to_string_lossy().to_string();
            let key = if base.is_empty() {
                rel
            } else {
                format!("{base}/{rel}")
            };
            os.put(
                &StorePath::from(key.as_str()),
                PutPayload::from(std::fs::read(&f).unwrap()),
            )
            .await
            .unwrap_or_else(|e| panic!("upload {key}: {e}"));
        }
    });
}

/// Container/bucket URL roots of each store, for `scheme`.
pub(crate) fn root(store: Store, scheme: &str) -> String {
    let bucket = env("ONFS_TEST_BUCKET");
    match (store, scheme) {
        (Store::Azure, "abfss") => format!(
            "abfss://{bucket}@{}.dfs.core.windows.net",
            env("ONFS_AZURE_ACCOUNT")
        ),
        _ => format!("{scheme}://{bucket}"),
    }
}

/// The reference tables uploaded under a fresh prefix; `run` with both tables at `scheme`.
fn reference_on(store: Store, scheme: &str) {
    let prefix = unique("pipeline");
    let base = format!("{}/{prefix}", root(store, scheme));
    for t in [ORDERS, EMBEDDINGS] {
        upload(
            store,
            &pipeline().join("tables").join(t),
            &format!("{base}/{t}/"),
        );
    }
    let mut extra = vec![
        "--table".to_string(),
        format!("{ORDERS}={base}/{ORDERS}"),
        "--table".to_string(),
        format!("{EMBEDDINGS}={base}/{EMBEDDINGS}/"),
    ];
    let secret = real_secret(store);
    extra.extend(option_args(store, &secret));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (tmp, run) = run_with(&reference_meta(), &[], &extra);
    assert_eq!(run.code, 0, "{scheme}: {}", run.stderr);
    assert!(
        !run.all_output().contains(&secret),
        "{scheme}: secret shown"
    );
    // Newest partition of each table, as the reference.
    let pass = &report_of(&tmp)["jobs"][0]["passes"][0];
    assert_eq!(pass["sources"][0]["partition"], "2026-11-01", "{pass:#}");
    assert_eq!(pass["sources"][1]["partition"], "2026-11-02", "{pass:#}");
    assert_like_reference(&messages_in(&out_of(&tmp)), 6);
}

#[test]
fn reference_job_on_s3() {
    reference_on(Store::S3, "s3");
}

#[test]
fn reference_job_on_s3a() {
    reference_on(Store::S3, "s3a");
}

#[test]
fn reference_job_on_gcs() {
    reference_on(Store::Gcs, "gs");
}

#[test]
fn reference_job_on_azure_abfss() {
    reference_on(Store::Azure, "abfss");
}

#[test]
fn reference_job_on_azure_az() {
    reference_on(Store::Azure, "az");
}

/// The Delta test table (`ts=1`, `ts=2`) on a store: the newest `ts` is read.
fn delta_on(store: Store, scheme: &str) {
    let base = format!("{}/{}/user_scores", root(store, scheme), unique("delta"));
    upload(
        store,
        &testdata().join("delta/user_scores"),
        &format!("{base}/"),
    );
    let tmp = tempfile::tempdir().unwrap();
    let provider = match store {
        Store::S3 => "DELTA_S3",
        Store::Azure => "DELTA_ADLS",
        Store::Gcs => "DELTA_GCS",
    };
    let meta = one_source_meta(
        tmp.path(),
        provider,
        &base,
        &[
            ("scores_fg", "score", "score", "DataTypeFP64", "-1"),
            ("tier_fg", "tier", "tier", "DataTypeString", "none"),
        ],
    );
    let args = option_args(store, &real_secret(store));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, run) = run_with(&meta, &[], &args);
    assert_eq!(run.code, 0, "{scheme}: {}", run.stderr);
    let pass = &report_of(&out)["jobs"][0]["passes"][0];
    assert_eq!(pass["sources"][0]["format"], "delta", "{pass:#}");
    assert_eq!(pass["sources"][0]["partition"], "2", "{pass:#}");
    assert_eq!(row_count(&messages_in(&out_of(&out))), 30);
}

#[test]
fn delta_on_s3() {
    delta_on(Store::S3, "s3");
}

#[test]
fn delta_on_azure() {
    delta_on(Store::Azure, "abfss");
}

#[test]
fn delta_on_gcs() {
    delta_on(Store::Gcs, "gs");
}

/// A PARQUET_S3 source: the newest `ts=` folder holding `_SUCCESS` is read, a newer one
/// without it is skipped.
#[test]
fn parquet_source_takes_the_newest_complete_folder_on_s3() {
    let base = format!("{}/{}/events", root(Store::S3, "s3"), unique("success"));
    let orders = pipeline().join("tables").join(ORDERS);
    let tmp = tempfile::tempdir().unwrap();
    // ts=1 and ts=2 complete, ts=3 without _SUCCESS.
    for (ts, from, done) in [
        ("1", "process_date=2026-10-30", true),
        ("2", "process_date=2026-10-31", true),
        ("3", "process_date=2026-11-01", false),
    ] {
        let d = tmp.path().join(format!("ts={ts}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(
            orders.join(from).join("part-0.parquet"),
            d.join("part-0.parquet"),
        )
        .unwrap();
        if done {
            std::fs::write(d.join("_SUCCESS"), b"").unwrap();
        }
    }
    upload(Store::S3, tmp.path(), &format!("{base}/"));
    let meta_dir = tempfile::tempdir().unwrap();
    let meta = one_source_meta(
        meta_dir.path(),
        "PARQUET_S3",
        &base,
        &[("orders_fg", "n", "orders_30d", "DataTypeInt64", "0")],
    );
    let args = option_args(Store::S3, &real_secret(Store::S3));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, run) = run_with(&meta, &[], &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let pass = &report_of(&out)["jobs"][0]["passes"][0];
    assert_eq!(pass["sources"][0]["partition"], "2", "{pass:#}");
}

/// Runs the reference job's orders table at `location` with `options`; returns the failed run.
fn failing_run(location: &str, store: Store, secret: &str) -> Run {
    let mut extra = vec![
        "--fgs".to_string(),
        "user_orders_i64".to_string(),
        "--table".to_string(),
        format!("{ORDERS}={location}"),
    ];
    extra.extend(option_args(store, secret));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let (_tmp, run) = run_with(&reference_meta(), &[], &extra);
    assert_ne!(run.code, 0, "{location} should fail");
    assert!(
        !run.all_output().contains(secret),
        "secret shown: {}",
        run.stderr
    );
    run
}

#[test]
fn errors_name_the_url_wrong_key_missing_bucket_missing_prefix() {
    // Put the orders table somewhere real first.
    let base = format!("{}/{}", root(Store::S3, "s3"), unique("errors"));
    upload(
        Store::S3,
        &pipeline().join("tables").join(ORDERS),
        &format!("{base}/{ORDERS}/"),
    );
    let url = format!("{base}/{ORDERS}");

    // A wrong key on Azurite (moto accepts any key): access denied, the URL named.
    let az = format!("{}/{}/{ORDERS}", root(Store::Azure, "az"), unique("errors"));
    let wrong = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc=";
    let run = failing_run(&az, Store::Azure, wrong);
    let text = run.all_output();
    assert!(
        text.contains("access denied") && text.contains(&az),
        "{text}"
    );
    assert_eq!(run.code, 1, "{text}");

    // A missing bucket on moto.
    let missing_bucket = url.replacen(&env("ONFS_TEST_BUCKET"), "no-such-bucket-onfs", 1);
    let run = failing_run(&missing_bucket, Store::S3, &real_secret(Store::S3));
    let text = run.all_output();
    assert!(
        text.contains("does not exist") && text.contains("s3://no-such-bucket-onfs/"),
        "{text}"
    );

    // A missing prefix on moto.
    let missing_prefix = format!("{base}/no_such_table");
    let run = failing_run(&missing_prefix, Store::S3, &real_secret(Store::S3));
    let text = run.all_output();
    assert!(
        text.contains("nothing is stored under") && text.contains("no_such_table"),
        "{text}"
    );

    // No credentials at all (none in the environment, none in the options).
    let (_t, run) = run_with(
        &reference_meta(),
        &[],
        &[
            "--fgs",
            "user_orders_i64",
            "--table",
            &format!("{ORDERS}={url}"),
            "--storage-option",
            &format!("aws_endpoint={}", env("ONFS_S3_ENDPOINT")),
            "--storage-option",
            "aws_allow_http=true",
            "--storage-option",
            "aws_region=us-east-1",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no credentials found") && run.stderr.contains(&url),
        "{}",
        run.stderr
    );

    // An option no store knows: a usage error naming it.
    let (_t, run) = run_with(
        &reference_meta(),
        &[],
        &[
            "--table",
            &format!("{ORDERS}={url}"),
            "--storage-option",
            "aws_no_such=1",
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("aws_no_such"), "{}", run.stderr);
}

/// The push ledger on an object store: read back by the next run, and locked by a create-only
/// put (a conditional put on the store).
fn ledger_on(store: Store, scheme: &str) {
    use crate::state::{base, counts, Fixture};
    let f = Fixture::new();
    let state = format!("{}/{}", root(store, scheme), unique("ledger"));
    let opts = option_args(store, &real_secret(store));
    let mut extra: Vec<&str> = vec!["--changed-only"];
    extra.extend(opts.iter().map(String::as_str));
    f.day("2026-11-01", &base());
    let run = f.run_at(&state, "out1", &extra);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(f.sent("out1").len(), 10);
    f.day("2026-11-02", &base());
    let run = f.run_at(&state, "out2", &extra);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(f.sent("out2").is_empty());
    assert_eq!(counts(&f.report("out2"), "orders"), (0, 0, 10, 0));
    assert!(
        !run.all_output().contains(&real_secret(store)),
        "secret leaked"
    );

    // Another run holds the job: the lock is an object beside the ledger.
    let job = onfs_state::job_key(
        p(&f.path("metadata.json")),
        &["orders".to_string(), "profile".to_string()],
    );
    let url = url::Url::parse(&format!("{state}/")).unwrap();
    let os = onfs_sources::stores::build_store(&url, &storage(store)).unwrap();
    let lock =
        StorePath::from(format!("{}/{job}/LOCK.json", url.path().trim_matches('/')).as_str());
    let holder = serde_json::json!({"run": "elsewhere-1", "host": "another-host", "pid": 1, "started": "2026-11-30T00:00:00Z"});
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(os.put(&lock, PutPayload::from(holder.to_string().into_bytes())))
        .unwrap();
    f.day("2026-11-03", &base());
    let run = f.run_at(&state, "out3", &extra);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("being pushed by another run") && run.stderr.contains("elsewhere-1"),
        "{}",
        run.stderr
    );
    rt.block_on(os.delete(&lock)).unwrap();
    let run = f.run_at(&state, "out3", &extra);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn ledger_on_s3() {
    ledger_on(Store::S3, "s3");
}

#[test]
fn ledger_on_azure() {
    ledger_on(Store::Azure, "az");
}
