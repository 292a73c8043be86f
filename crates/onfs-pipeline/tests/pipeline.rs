//! The run pass as a library, on the reference case `tables-pipeline` (two partitioned Parquet
//! tables, run through the original client): the same rows as the original, the pass's counts,
//! and the errors of each step.

use std::path::PathBuf;

use onfs_core::transform::OnDuplicateKey;
use onfs_core::{EncodedMessage, EncoderOptions, Metadata, Plan};
use onfs_pipeline::{Counters, EngineOptions, Job, PipelineError};
use onfs_sources::{Catalog, PartitionColumns, PartitionSelection, TableEntry, TableFormat};
use prost::Message;

const ORDERS: &str = "fs.user_orders";
const EMBEDDINGS: &str = "fs.user_embeddings";

fn case() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/reference/tables-pipeline")
}

fn plan_from(text: &str) -> Plan {
    Plan::build(&Metadata::from_json(text).unwrap(), &[]).unwrap()
}

fn plan() -> Plan {
    plan_from(&std::fs::read_to_string(case().join("metadata.json")).unwrap())
}

fn catalog() -> Catalog {
    let mut c = Catalog::default();
    for name in [ORDERS, EMBEDDINGS] {
        c.insert(
            name,
            TableEntry {
                format: TableFormat::Parquet,
                location: case().join("tables").join(name).display().to_string(),
                partition_keys: Vec::new(),
            },
        );
    }
    c
}

fn job<'a>(plan: &'a Plan, catalog: &'a Catalog, selection: PartitionSelection) -> Job<'a> {
    Job {
        name: "test job",
        plan,
        catalog,
        partition_columns: PartitionColumns::default(),
        selection,
        limit: None,
        on_duplicate_key: OnDuplicateKey::Warn,
        count_sources: true,
        engine: EngineOptions {
            memory_limit: 256 << 20,
            target_partitions: 2,
            ..EngineOptions::default()
        },
        changes: None,
    }
}

fn encoder() -> EncoderOptions {
    EncoderOptions {
        batch_size: 6,
        ..EncoderOptions::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Each row's `Data` re-encoded, sorted: the rows as a multiset, whatever message holds them.
fn rows(values: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut rows: Vec<Vec<u8>> = values
        .into_iter()
        .flat_map(|v| onfs_core::proto::Query::decode(v.as_slice()).unwrap().data)
        .map(|d| d.encode_to_vec())
        .collect();
    rows.sort();
    rows
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn reference_values() -> Vec<Vec<u8>> {
    std::fs::read_to_string(case().join("expected/messages.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            unhex(v["value_hex"].as_str().unwrap())
        })
        .collect()
}

fn run(
    job: &Job<'_>,
    selection: &PartitionSelection,
) -> Result<(onfs_pipeline::PassReport, Vec<EncodedMessage>), PipelineError> {
    let rt = runtime();
    let counters = Counters::default();
    let mut out = Vec::new();
    let (report, stats) = job.run_pass(&rt, selection, &encoder(), &counters, |m| {
        out.push(m);
        Ok::<_, PipelineError>(())
    })?;
    assert_eq!(stats.messages, out.len() as u64);
    assert_eq!(
        counters.messages.load(std::sync::atomic::Ordering::Relaxed),
        out.len() as u64
    );
    Ok((report, out))
}

#[test]
fn newest_partitions_joined_make_the_original_rows() {
    let (plan, catalog) = (plan(), catalog());
    let job = job(&plan, &catalog, PartitionSelection::Newest);
    assert_eq!(
        job.passes(&runtime()).unwrap(),
        vec![PartitionSelection::Newest]
    );
    let (report, messages) = run(&job, &PartitionSelection::Newest).unwrap();
    assert_eq!(
        rows(messages.iter().map(|m| m.value.clone())),
        rows(reference_values())
    );
    // Each source's newest partition, counted.
    let read: Vec<(&str, Option<&str>)> = report
        .sources
        .iter()
        .map(|s| (s.source.as_str(), s.partition.as_deref()))
        .collect();
    assert_eq!(
        read,
        vec![
            (ORDERS, Some("2026-11-01")),
            (EMBEDDINGS, Some("2026-11-02"))
        ]
    );
    assert!(report.sources.iter().all(|s| s.rows.unwrap() > 0));
    assert_eq!(report.messages, messages.len() as u64);
    assert_eq!(
        report.rows,
        messages.iter().map(|m| m.rows as u64).sum::<u64>()
    );
    assert!(report.max_rows_per_message <= 6);
    // The full outer join leaves nulls: some were filled with the metadata's defaults.
    assert!(report.defaults_filled.values().sum::<u64>() > 0);
}

#[test]
fn a_range_is_one_pass_per_value() {
    let (plan, catalog) = (plan(), catalog());
    let range = PartitionSelection::Range("2026-10-31".into(), "2026-11-01".into());
    let job = job(&plan, &catalog, range);
    let passes = job.passes(&runtime()).unwrap();
    assert_eq!(
        passes,
        vec![
            PartitionSelection::Value("2026-10-31".into()),
            PartitionSelection::Value("2026-11-01".into()),
        ]
    );
    let empty = job_with_range(&plan, &catalog, "2027-01-01", "2027-12-31");
    match empty.passes(&runtime()) {
        Err(e @ PipelineError::EmptyRange { .. }) => {
            assert!(e.to_string().contains("test job"), "{e}");
            assert!(!e.is_usage());
        }
        other => panic!("expected an empty range, got {other:?}"),
    }
}

fn job_with_range<'a>(plan: &'a Plan, catalog: &'a Catalog, from: &str, to: &str) -> Job<'a> {
    job(
        plan,
        catalog,
        PartitionSelection::Range(from.into(), to.into()),
    )
}

#[test]
fn a_default_that_does_not_parse_fails_before_a_row_is_read() {
    let text = std::fs::read_to_string(case().join("metadata.json")).unwrap();
    // The Int64 feature's default made unparseable.
    let bad = text.replacen("\"default-value\": \"0\"", "\"default-value\": \"zero\"", 1);
    assert_ne!(bad, text, "the case has an Int64 default of 0");
    let (plan, catalog) = (plan_from(&bad), catalog());
    let job = job(&plan, &catalog, PartitionSelection::Newest);
    let mut sent = 0;
    let err = job
        .run_pass(
            &runtime(),
            &PartitionSelection::Newest,
            &encoder(),
            &Counters::default(),
            |_| {
                sent += 1;
                Ok::<_, PipelineError>(())
            },
        )
        .unwrap_err();
    assert_eq!(sent, 0);
    assert!(matches!(err, PipelineError::Fill(_)), "{err:?}");
    assert!(err.is_usage());
    assert!(err.to_string().contains("\"zero\""), "{err}");
}

#[test]
fn an_unknown_table_names_itself_and_is_usage() {
    let plan = plan();
    let catalog = Catalog::default();
    let job = job(&plan, &catalog, PartitionSelection::Newest);
    let err = run(&job, &PartitionSelection::Newest).unwrap_err();
    assert!(matches!(err, PipelineError::Source(_)), "{err:?}");
    assert!(err.is_usage());
    assert!(err.to_string().contains(ORDERS), "{err}");
}

#[test]
fn the_callers_error_stops_the_pass() {
    #[derive(Debug)]
    #[allow(dead_code)] // the cause is read through Debug only
    enum Mine {
        Full,
        Pipeline(PipelineError),
    }
    impl From<PipelineError> for Mine {
        fn from(e: PipelineError) -> Self {
            Mine::Pipeline(e)
        }
    }
    let (plan, catalog) = (plan(), catalog());
    let job = job(&plan, &catalog, PartitionSelection::Newest);
    let mut seen = 0;
    let err = job
        .run_pass(
            &runtime(),
            &PartitionSelection::Newest,
            &encoder(),
            &Counters::default(),
            |_| {
                seen += 1;
                Err(Mine::Full)
            },
        )
        .unwrap_err();
    assert!(matches!(err, Mine::Full), "{err:?}");
    assert_eq!(seen, 1);
}

#[test]
fn keys_with_two_rows_fail_with_on_duplicate_key_error() {
    let (plan, catalog) = (plan(), catalog());
    // Every partition of every source: a key holds rows of several days.
    let mut job = job(&plan, &catalog, PartitionSelection::All);
    job.on_duplicate_key = OnDuplicateKey::Error;
    let err = run(&job, &PartitionSelection::All).unwrap_err();
    assert!(matches!(err, PipelineError::DuplicateKey(_)), "{err:?}");
    job.on_duplicate_key = OnDuplicateKey::Warn;
    let (report, _) = run(&job, &PartitionSelection::All).unwrap();
    assert!(report.duplicate_keys > 0);
    assert!(!report.duplicate_key_examples.is_empty());
}
