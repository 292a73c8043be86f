#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

pub fn case(name: &str) -> PathBuf {
    testdata().join("reference").join(name)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn onfs(args: &[&str]) -> Run {
    onfs_env(args, &[])
}

/// The command line, made to reach no host but this one: with no credentials, the cloud
/// clients look for a cloud's instance metadata service (169.254.169.254 and its names); here it
/// is a closed port on loopback, so the probe fails at once and nothing leaves the machine.
pub fn onfs_command() -> Command {
    const CLOSED: &str = "127.0.0.1:9";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_onfs-push"));
    cmd.env("AWS_METADATA_ENDPOINT", format!("http://{CLOSED}"))
        .env("GCE_METADATA_HOST", CLOSED)
        .env("GCE_METADATA_IP", CLOSED)
        .env(
            "AZURE_MSI_ENDPOINT",
            format!("http://{CLOSED}/metadata/identity/oauth2/token"),
        )
        .env_remove("IDENTITY_ENDPOINT")
        .env_remove("MSI_ENDPOINT")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    cmd
}

pub fn onfs_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = onfs_command();
    cmd.args(args)
        .env_remove("ONFS_JOB_TOKEN")
        .env_remove("ONFS_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run onfs-push");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `onfs-push encode` of a reference case's input and metadata, `rest` giving the output.
pub fn encode_reference(name: &str, batch: &str, rest: &[&str]) -> Run {
    encode_reference_env(name, batch, rest, &[])
}

/// [`encode_reference`] with environment variables.
pub fn encode_reference_env(name: &str, batch: &str, rest: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = case(name);
    let meta = dir.join("metadata.json");
    let input = dir.join("input.parquet");
    let mut args = vec![
        "encode",
        // The reference case is the original's output: ragged vectors, sent as they are.
        "--vector-fit",
        "keep",
        "--metadata-file",
        p(&meta),
        "--input",
        p(&input),
        "--batch-size",
        batch,
    ];
    args.extend(rest);
    onfs_env(&args, env)
}

/// `onfs-push encode` of the sample job (examples/user-features) into `out`, `rest` added.
pub fn encode_sample(out: &Path, rest: &[&str]) -> Run {
    let dir = repo().join("examples/user-features");
    let meta = dir.join("metadata.json");
    let input = dir.join("features.parquet");
    let mut args = vec![
        "encode",
        "--metadata-file",
        p(&meta),
        "--input",
        p(&input),
        "--out",
        p(out),
    ];
    args.extend(rest);
    onfs(&args)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The test broker: from the ONFS_KAFKA_* variables of its env file when ONFS_KAFKA_BOOTSTRAP is
/// set, else started (once) with `scripts/kafka-test-broker.sh` and automatic topic creation off.
pub struct Broker {
    pub bootstrap: String,
    pub sasl: String,
    /// SSL, server verification only.
    pub ssl: String,
    /// SSL with a client certificate required.
    pub mtls: String,
    /// SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
    pub sasl_ssl: String,
    /// SSL whose certificate names another host.
    pub other_name: String,
    /// PLAINTEXT, advertised as `proxied`: where a fault proxy listening on `proxied` forwards.
    pub proxied_listener: String,
    /// The port the broker advertises for `proxied_listener` (a test's fault proxy listens there).
    pub proxied: String,
    /// The private CA and the client stores.
    pub tls_dir: PathBuf,
    pub tls_password: String,
    pub tls_key_password: String,
    /// The Kerberos listener and its realm, when the broker script could set up a KDC.
    pub kerberos: Option<Kerberos>,
}

/// SASL_PLAINTEXT with GSSAPI against the test KDC (realm ONFS.TEST, on 127.0.0.1).
pub struct Kerberos {
    pub bootstrap: String,
    /// The client's principal and its keytab.
    pub principal: String,
    pub keytab: PathBuf,
    /// The keytab of another principal.
    pub other_keytab: PathBuf,
    /// The realm's krb5.conf (KRB5_CONFIG).
    pub krb5_config: PathBuf,
    /// A folder holding kinit, for PATH.
    pub bin: PathBuf,
}

impl Broker {
    /// The Kerberos listener; a test needing it fails, naming why, when the broker has none.
    pub fn kerberos(&self) -> &Kerberos {
        self.kerberos.as_ref().unwrap_or_else(|| {
            panic!(
                "the test broker has no Kerberos listener (ONFS_KAFKA_KERBEROS_BOOTSTRAP is not \
                 set): scripts/kerberos.sh could not unpack MIT Kerberos (see \
                 <state dir>/kerberos-tools.log), or ONFS_KAFKA_KERBEROS=off"
            )
        })
    }
}

pub fn broker() -> &'static Broker {
    static BROKER: std::sync::OnceLock<Broker> = std::sync::OnceLock::new();
    BROKER.get_or_init(|| {
        let env = if std::env::var_os("ONFS_KAFKA_BOOTSTRAP").is_some() {
            std::env::vars()
                .filter(|(k, _)| k.starts_with("ONFS_KAFKA_"))
                .collect()
        } else {
            start_broker(None)
        };
        let get = |name: &str| {
            env.get(name).cloned().unwrap_or_else(|| {
                panic!("{name} is not set: export every variable of the broker's env file")
            })
        };
        Broker {
            bootstrap: get("ONFS_KAFKA_BOOTSTRAP"),
            sasl: get("ONFS_KAFKA_SASL_BOOTSTRAP"),
            ssl: get("ONFS_KAFKA_SSL_BOOTSTRAP"),
            mtls: get("ONFS_KAFKA_MTLS_BOOTSTRAP"),
            sasl_ssl: get("ONFS_KAFKA_SASL_SSL_BOOTSTRAP"),
            other_name: get("ONFS_KAFKA_OTHER_NAME_BOOTSTRAP"),
            proxied_listener: get("ONFS_KAFKA_PROXIED_LISTENER"),
            proxied: get("ONFS_KAFKA_PROXIED_BOOTSTRAP"),
            tls_dir: PathBuf::from(get("ONFS_KAFKA_TLS_DIR")),
            tls_password: get("ONFS_KAFKA_TLS_PASSWORD"),
            tls_key_password: get("ONFS_KAFKA_TLS_KEY_PASSWORD"),
            kerberos: env
                .contains_key("ONFS_KAFKA_KERBEROS_BOOTSTRAP")
                .then(|| Kerberos {
                    bootstrap: get("ONFS_KAFKA_KERBEROS_BOOTSTRAP"),
                    principal: get("ONFS_KAFKA_KERBEROS_PRINCIPAL"),
                    keytab: PathBuf::from(get("ONFS_KAFKA_KERBEROS_KEYTAB")),
                    other_keytab: PathBuf::from(get("ONFS_KAFKA_KERBEROS_OTHER_KEYTAB")),
                    krb5_config: PathBuf::from(get("ONFS_KAFKA_KRB5_CONFIG")),
                    bin: PathBuf::from(get("ONFS_KAFKA_KERBEROS_BIN")),
                }),
        }
    })
}

/// Runs the broker script (`start`, `restart`, `kill9`, `stop`) on a state dir; returns its env file.
pub fn broker_script(cmd: &str, state: Option<&Path>) -> std::collections::HashMap<String, String> {
    let mut c = Command::new("bash");
    c.arg(repo().join("scripts/kafka-test-broker.sh"))
        .arg(cmd)
        .env("ONFS_KAFKA_AUTO_CREATE", "false");
    if let Some(dir) = state {
        // A test's own broker (crash and restart tests) needs no Kerberos listener and no KDC.
        c.env("ONFS_KAFKA_DIR", dir)
            .env("ONFS_KAFKA_KERBEROS", "off");
    }
    let out = c.output().expect("run the broker script");
    assert!(
        out.status.success(),
        "kafka-test-broker.sh {cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = state.map(Path::to_path_buf).unwrap_or_else(|| {
        PathBuf::from(
            std::env::var("ONFS_KAFKA_DIR").unwrap_or_else(|_| "/tmp/onfs-kafka-test".into()),
        )
    });
    let text = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

pub fn start_broker(state: Option<&Path>) -> std::collections::HashMap<String, String> {
    broker_script("start", state)
}

/// A topic name no other test uses.
pub fn unique_topic(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drives a future to completion on this thread.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(std::time::Duration::from_millis(50));
    }
}

pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let results = block_on(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
        &AdminOptions::new().operation_timeout(Some(std::time::Duration::from_secs(30))),
    ))
    .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// Every record of a topic.
pub fn read_topic(bootstrap: &str, topic: &str) -> Vec<onfs_kafka::topic::Record> {
    let mut out = Vec::new();
    onfs_kafka::topic::read_topic(bootstrap, topic, &[], None, |r| {
        out.push(r);
        true
    })
    .expect("read topic");
    out
}

/// The reference case's messages as `inspect` prints them (all-types, batches of 7).
pub fn reference_lines() -> String {
    std::fs::read_to_string(case("all-types").join("expected/messages.jsonl")).unwrap()
}

/// The records are the reference case's messages, byte for byte, with null keys as the original.
pub fn assert_reference_records(records: &[onfs_kafka::topic::Record]) {
    let want: Vec<serde_json::Value> = reference_lines()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), want.len());
    for (r, w) in records.iter().zip(&want) {
        let hex: String = r.value.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, w["value_hex"].as_str().unwrap());
        assert_eq!(r.intra_batch_id, w["intra_batch_id"].as_i64());
        assert_eq!(r.key, None, "null keys, as the original");
    }
}

/// `plan --json` printed the tables-pipeline case's expected plan.
pub fn assert_tables_pipeline_plan(stdout: &str) {
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(case("tables-pipeline").join("expected/plan.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(stdout).unwrap(),
        want
    );
}

pub fn decode(value: &[u8]) -> onfs_core::proto::Query {
    use prost::Message;
    onfs_core::proto::Query::decode(value).expect("a persist.Query")
}

/// Writes `rows` rows of `user_id` (0..rows) and one Int64 feature `3 * user_id` to a Parquet
/// file, with metadata for them; returns (metadata path, input path).
pub fn int_dataset(dir: &Path, rows: i64) -> (PathBuf, PathBuf) {
    use std::sync::Arc;
    let meta = r#"{"keys": {"user": ["user_id"]}, "data": [{"storage-provider": "TABLE", "base-path": [{"source-base-path": "db.t", "data-paths": [
        {"entity-label": "user", "feature-group-label": "g", "feature-label": "f", "source-data-column": "f", "default-value": "0", "data-type": "DataTypeInt64"}]}]}]}"#;
    let meta_path = dir.join("metadata.json");
    std::fs::write(&meta_path, meta).unwrap();
    let ids: arrow_array::ArrayRef = Arc::new(arrow_array::Int64Array::from_iter_values(0..rows));
    let vals: arrow_array::ArrayRef = Arc::new(arrow_array::Int64Array::from_iter_values(
        (0..rows).map(|i| i * 3),
    ));
    let batch =
        arrow_array::RecordBatch::try_from_iter([("user_id", ids), ("t___g___f", vals)]).unwrap();
    let input = dir.join("input.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&input).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    (meta_path, input)
}

/// Decoded `(key, value)` rows of an `int_dataset` run read back from a topic.
pub fn int_rows(records: &[onfs_kafka::topic::Record]) -> Vec<(i64, i64)> {
    let mut rows = Vec::new();
    for r in records {
        let q = decode(&r.value);
        assert_eq!(Some(q.data.len() as u32), r.rows, "rows header");
        for d in q.data {
            let k: i64 = d.key_values[0].parse().unwrap();
            rows.push((
                k,
                d.feature_values[0].values.as_ref().unwrap().int64_values[0],
            ));
        }
    }
    rows
}
