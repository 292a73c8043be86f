//! `onfs-push check`: a preflight of everything a run needs, reading no data: the metadata (and
//! the job token), each source (resolved, listed, its partition chosen, its columns present),
//! the brokers and the topic (an idempotent producer's start), and the store's retrieval API
//! when one is given. One line per item; exit 1 if any fails. The checks are the libraries'
//! (`onfs_pipeline::Job::check_sources`, `onfs_kafka::check`, `onfs_verify::check_store`);
//! this prints them.

use std::io::Write;

use onfs_kafka::DeliveryConfig;

use crate::args::RunArgs;
use crate::cmd::run::settings::{self, Given, Settings};
use crate::error::{failed, CliError, CliResult};
use crate::metadata::load_plan;

/// The checklist as it is printed.
#[derive(Default)]
struct Checklist {
    passed: usize,
    failed: usize,
}

impl Checklist {
    fn pass(&mut self, what: &str, detail: &str) {
        self.passed += 1;
        println!("ok    {what:<9} {detail}");
    }

    fn fail(&mut self, what: &str, e: &CliError) {
        self.failed += 1;
        let text = crate::logging::redact(&e.to_string());
        let mut lines = text.lines();
        println!("FAIL  {what:<9} {}", lines.next().unwrap_or_default());
        for line in lines {
            println!("      {:<9} {line}", "");
        }
    }
}

pub fn run(args: &RunArgs, given: &Given<'_>) -> CliResult<()> {
    let s: Settings = settings::resolve(args, given)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(failed)?;
    let mut list = Checklist::default();
    let mut entity_label = None;
    for spec in &s.jobs {
        let plan = match load_plan(&spec.metadata) {
            Ok(plan) => {
                list.pass(
                    "metadata",
                    &format!(
                        "{}: entity {}, {} feature groups from {} sources ({})",
                        spec.name,
                        plan.entity_label,
                        plan.feature_groups.len(),
                        plan.feature_mapping.len(),
                        metadata_source(spec)
                    ),
                );
                plan
            }
            Err(e) => {
                list.fail("metadata", &e);
                continue;
            }
        };
        entity_label.get_or_insert_with(|| plan.entity_label.clone());
        match s.job(spec, &plan, None).check_sources(&runtime) {
            Ok(sources) => {
                for source in sources {
                    match source {
                        Ok(read) => {
                            let partition = match (&read.partition_column, &read.partition) {
                                (Some(c), Some(p)) => format!("partition {c}={p}"),
                                _ => "every partition".to_string(),
                            };
                            let rows = read.rows.map(|r| format!(", {r} rows")).unwrap_or_default();
                            list.pass(
                                "source",
                                &format!(
                                    "{}: {} at {}, {partition}{rows}",
                                    read.source, read.format, read.location
                                ),
                            );
                        }
                        Err(e) => list.fail("source", &e.into()),
                    }
                }
            }
            Err(e) => list.fail("source", &e.into()),
        }
    }
    check_kafka(&s, &mut list);
    if args.store.store.is_some() {
        match crate::cmd::verify::options(&args.store) {
            Ok(opts) => {
                match onfs_verify::check_store(&opts, entity_label.as_deref().unwrap_or_default()) {
                    Ok(()) => list.pass(
                        "store",
                        &format!(
                            "{}: answers and accepts caller {}",
                            opts.store, opts.caller_id
                        ),
                    ),
                    Err(e) => list.fail("store", &e.into()),
                }
            }
            Err(e) => list.fail("store", &e),
        }
    }
    let _ = std::io::stdout().flush();
    if list.failed > 0 {
        return Err(failed(anyhow::anyhow!(
            "{} of {} checks failed",
            list.failed,
            list.failed + list.passed
        )));
    }
    println!("all {} checks passed", list.passed);
    Ok(())
}

fn metadata_source(spec: &settings::JobSpec) -> String {
    match (&spec.metadata.metadata_file, &spec.metadata.metadata_url) {
        (Some(f), _) => f.display().to_string(),
        (None, Some(url)) => url.clone(),
        _ => String::new(),
    }
}

/// The brokers and the topic, when the run sends to Kafka.
fn check_kafka(s: &Settings, list: &mut Checklist) {
    let (Some(brokers), Some(topic)) = (&s.kafka.kafka_brokers, &s.kafka.topic) else {
        return;
    };
    let checked = crate::deliver::producer_config(&s.kafka).and_then(|producer| {
        let mut cfg = DeliveryConfig::new(brokers.clone(), topic.clone(), producer);
        cfg.connect_timeout = s.kafka.kafka_connect_timeout;
        let sink = cfg.check().map_err(crate::deliver::kafka_error)?;
        onfs_kafka::check::check_destination(&sink).map_err(crate::deliver::kafka_error)
    });
    match checked {
        Ok(t) => list.pass(
            "kafka",
            &format!(
                "topic {topic} on {brokers}: {} partitions, writable (idempotent producer id {})",
                t.partitions, t.producer_id
            ),
        ),
        Err(e) => list.fail("kafka", &e),
    }
}
