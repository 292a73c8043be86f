//! Fuzz targets of the job file (`run --config FILE`), as property tests over bytes: random
//! bytes, `examples/job.toml` mutated, and documents of the file's shape with one value replaced
//! by one of another type or outside its domain (an unknown key added). Each is read as `run`
//! reads it: parsed, `${VAR}` expanded, resolved into the run's settings, the Kafka options
//! translated. The promise: no panic, and an error that names the file and the key (or, for
//! text that is not TOML, the line and column).
//!
//! `PROPTEST_CASES=N` runs N cases instead of each test's default.

use proptest::prelude::*;

use crate::args::{Cli, Command};
use crate::cmd::run::settings::{resolve, Given};

/// Reads `text` as the job file of `run --config`: Ok, or the error as `run` prints it.
fn load(text: &[u8]) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.toml");
    std::fs::write(&path, text).unwrap();
    let cli = <Cli as clap::Parser>::try_parse_from([
        "onfs-push",
        "run",
        "--config",
        path.to_str().unwrap(),
    ])
    .unwrap();
    let Command::Run(args) = &cli.command else {
        unreachable!("a run")
    };
    let settings = resolve(args, &Given(None)).map_err(|e| e.to_string())?;
    crate::deliver::producer_config(&settings.kafka).map_err(|e| e.to_string())?;
    Ok(())
}

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(default_cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn example() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/job.toml"
    ))
    .unwrap()
}

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Edit {
    Flip(prop::sample::Index, u8),
    Cut(prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        3 => (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, x)| Edit::Flip(i, x)),
        1 => any::<prop::sample::Index>().prop_map(Edit::Cut),
        3 => (
            any::<prop::sample::Index>(),
            prop::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    prop::sample::select(b"[]{}=\"'.,#\n\\$-+_ 0123456789eEtrufalsinf".to_vec())
                ],
                1..6
            )
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
    ];
    prop::collection::vec(edit, 1..4)
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len();
        match e {
            Edit::Flip(i, x) if n > 0 => bytes[i.index(n)] ^= x,
            Edit::Cut(i) => bytes.truncate(i.index(n + 1)),
            Edit::Insert(i, b) => {
                let at = i.index(n + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Edit::Flip(..) => {}
        }
    }
    bytes
}

/// What kind of value a key takes, for the wrong values to put there.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    /// Text with a domain: an enum, a size, a duration, a range, a URL.
    Domain,
    U32,
    Usize,
    F64,
    Bool,
    TextMap,
    LengthMap,
    TextList,
    TableEntry,
}

/// Every key of the job file: (section, key, kind, a good value). `jobs` is the first
/// `[[jobs]]` entry; an empty section is the top level.
const KEYS: &[(&str, &str, Kind, &str)] = &[
    ("metadata", "url", Kind::Text, r#""http://127.0.0.1:9/m""#),
    ("metadata", "connect_timeout", Kind::F64, "5.0"),
    ("metadata", "timeout", Kind::F64, "30.0"),
    (
        "",
        "tables",
        Kind::TableEntry,
        r#"{ "fs.a" = { format = "parquet", location = "/d/a" } }"#,
    ),
    (
        "",
        "storage",
        Kind::TextMap,
        r#"{ aws_region = "us-east-1" }"#,
    ),
    ("", "vector_lengths", Kind::LengthMap, r#"{ "g.f" = 3 }"#),
    (
        "source",
        "hive_metastore",
        Kind::Domain,
        r#""thrift://127.0.0.1:9083""#,
    ),
    // `partition` wins over `partition_range` when both are given: only the range here.
    (
        "source",
        "partition_range",
        Kind::Domain,
        r#""2026-11-01..2026-11-02""#,
    ),
    (
        "source",
        "partition_columns",
        Kind::TextMap,
        r#"{ table = "dt" }"#,
    ),
    ("source", "memory_limit", Kind::Domain, r#""2GB""#),
    ("source", "on_duplicate_key", Kind::Domain, r#""warn""#),
    ("source", "spill_dir", Kind::Text, r#""/tmp/spill""#),
    ("source", "all_partitions", Kind::Bool, "false"),
    ("encode", "batch_size", Kind::U32, "6"),
    ("encode", "allow_out_of_range", Kind::Bool, "false"),
    ("encode", "max_message_bytes", Kind::Usize, "1000000"),
    ("encode", "vector_fit", Kind::Domain, r#""check""#),
    ("encode", "strict_store", Kind::Bool, "true"),
    ("output", "out_format", Kind::Domain, r#""frames""#),
    ("output", "overwrite", Kind::Bool, "true"),
    ("output", "report", Kind::Text, r#""/tmp/r.json""#),
    ("kafka", "brokers", Kind::Text, r#""127.0.0.1:9092""#),
    ("kafka", "topic", Kind::Domain, r#""features""#),
    (
        "kafka",
        "options",
        Kind::TextMap,
        r#"{ "kafka.acks" = "all" }"#,
    ),
    ("kafka", "num_batches", Kind::U32, "1"),
    ("kafka", "max_rate", Kind::F64, "1000.0"),
    ("kafka", "key", Kind::Domain, r#""entity""#),
    ("kafka", "failed_out", Kind::Text, r#""/tmp/failed""#),
    ("kafka", "connect_timeout", Kind::F64, "10.0"),
    ("kafka", "stream", Kind::Bool, "false"),
    ("state", "location", Kind::Text, r#""/tmp/state""#),
    ("state", "changed_only", Kind::Bool, "true"),
    ("state", "refresh_after", Kind::Domain, r#""7d""#),
    ("state", "repush_on_change", Kind::Bool, "true"),
    ("jobs", "name", Kind::Text, r#""j""#),
    ("jobs", "job_id", Kind::Text, r#""j1""#),
    ("jobs", "job_token", Kind::Text, r#""t0ken""#),
    (
        "jobs",
        "metadata_url",
        Kind::Text,
        r#""http://127.0.0.1:9/m""#,
    ),
    (
        "jobs",
        "partition_columns",
        Kind::TextMap,
        r#"{ delta = "ts" }"#,
    ),
    ("jobs", "metadata_file", Kind::Text, r#""/tmp/m.json""#),
    ("jobs", "fgs", Kind::TextList, r#"["g1", "g2"]"#),
    ("jobs", "limit", Kind::Usize, "10"),
    ("jobs", "batch_size", Kind::U32, "5"),
];

/// Values no key of `kind` takes.
fn wrong_values(kind: Kind) -> Vec<&'static str> {
    let mut v = match kind {
        Kind::Text => vec!["5", "true", "[1]", "{ a = 1 }", "1.5"],
        Kind::Domain => vec!["5", "[\"x\"]", "\"\"", "\"bogus value!\"", "{ s = \"x\" }"],
        Kind::U32 => vec!["\"6\"", "-1", "1.5", "4294967296", "true", "[6]"],
        Kind::Usize => vec!["\"6\"", "-1", "1.5", "true", "{ n = 1 }"],
        Kind::F64 => vec!["\"5\"", "true", "[1.0]", "{ s = 1 }"],
        Kind::Bool => vec!["\"yes\"", "1", "[true]"],
        Kind::TextMap => vec!["\"x\"", "{ k = 1 }", "{ k = [\"v\"] }", "[1]"],
        Kind::LengthMap => vec!["{ \"g.f\" = -3 }", "{ \"g.f\" = \"3\" }", "3"],
        Kind::TextList => vec!["\"g1\"", "[1, 2]", "[[\"g\"]]"],
        Kind::TableEntry => vec![
            "{ \"fs.a\" = { format = \"nope\", location = \"/d\" } }",
            "{ \"fs.a\" = { format = \"delta\" } }",
            "{ \"fs.a\" = \"/d/a\" }",
            "[1]",
        ],
    };
    if !matches!(kind, Kind::LengthMap | Kind::TextMap | Kind::TableEntry) {
        v.push("{ unknown_key_x = 1 }");
    }
    v
}

/// Written in the section of a key: a key the file does not have.
const UNKNOWN: &str = "unknown_key_x = 1\nvalue_after = 2";

/// A job file holding every key with a good value, but `bad` at key `at`.
fn document(at: usize, bad: &str) -> String {
    let mut sections: Vec<&str> = Vec::new();
    for (s, ..) in KEYS {
        if !sections.contains(s) {
            sections.push(s);
        }
    }
    let mut text = String::new();
    for section in sections {
        match section {
            "" => {}
            "jobs" => text.push_str("[[jobs]]\n"),
            s => text.push_str(&format!("[{s}]\n")),
        }
        for (i, (s, key, _, good)) in KEYS.iter().enumerate() {
            if *s == section {
                if i == at && bad == UNKNOWN {
                    text.push_str(&format!("{key} = {good}\n{UNKNOWN}\n"));
                } else {
                    let value = if i == at { bad } else { good };
                    text.push_str(&format!("{key} = {value}\n"));
                }
            }
        }
    }
    // Top-level keys are written first: move them before any section header.
    let (top, rest): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| {
        KEYS.iter()
            .any(|(s, k, ..)| s.is_empty() && l.starts_with(&format!("{k} = ")))
    });
    format!("{}\n{}\n", top.join("\n"), rest.join("\n"))
}

#[test]
fn every_key_with_a_good_value_loads() {
    assert_eq!(load(document(usize::MAX, "").as_bytes()), Ok(()));
    assert_eq!(load(&example()), Ok(()));
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn random_bytes_as_a_job_file_are_an_error_naming_it(
        bytes in prop::collection::vec(any::<u8>(), 0..300)
    ) {
        if let Err(e) = load(&bytes) {
            prop_assert!(e.contains("--config ") && e.contains("job.toml"), "{e}");
        }
    }

    #[test]
    fn a_mutated_job_file_loads_or_names_the_file_and_where(edits in edits()) {
        let text = apply(example(), &edits);
        if let Err(e) = load(&text) {
            // Read errors name the file and the line (or the key); a value refused later names
            // its key (`encode.vector_fit = ...`), a table, or the Kafka option.
            let read = e.contains("--config ")
                && (e.contains("line ") || e.contains("environment variable"));
            let key = KEYS.iter().any(|(s, k, ..)| e.contains(&format!("{s}.{k}")))
                || e.contains("table ")
                || e.contains("kafka");
            prop_assert!(read || key, "{e}\n{}", String::from_utf8_lossy(&text));
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_value_of_the_wrong_type_or_domain_is_an_error_naming_its_key(
        at in 0..KEYS.len(),
        pick in any::<prop::sample::Index>(),
    ) {
        let (section, key, kind, _) = KEYS[at];
        let mut values = wrong_values(kind);
        values.push(UNKNOWN);
        let bad = values[pick.index(values.len())];
        let text = document(at, bad);
        match load(text.as_bytes()) {
            Ok(()) => prop_assert!(false, "{section}.{key} = {bad} loaded:\n{text}"),
            Err(e) => {
                let names = if bad == UNKNOWN { "unknown_key_x" } else { key };
                prop_assert!(e.contains(names), "{section}.{key} = {bad}: {e}");
            }
        }
    }
}
