//! `run`'s settings: the config file, then the flags given on the command line over it.

use std::path::PathBuf;

use onfs_core::transform::OnDuplicateKey;
use onfs_pipeline::EngineOptions;
use onfs_sources::{Catalog, PartitionColumns, PartitionSelection};

use crate::args::{
    DuplicateKeyArg, EncodeOptions, FileOutArgs, KafkaArgs, KeyMode, MetadataArgs, OutFormatArg,
    RunArgs, SpoolArgs, VectorFitArg,
};
use crate::config::{self, JobConfig, PartitionColumnsSection};
use crate::error::{usage, CliResult};

/// Which arguments were given on the command line (or by their environment variable), as
/// opposed to left at their defaults.
pub struct Given<'m>(pub Option<&'m clap::ArgMatches>);

impl Given<'_> {
    pub fn has(&self, id: &str) -> bool {
        use clap::parser::ValueSource::*;
        self.0.is_some_and(|m| {
            matches!(
                m.try_get_raw(id).ok().and_then(|_| m.value_source(id)),
                Some(CommandLine | EnvVariable)
            )
        })
    }
}

/// One entity job.
#[derive(Debug, Clone)]
pub struct JobSpec {
    pub name: String,
    pub metadata: MetadataArgs,
    pub partition_columns: PartitionColumns,
    pub limit: Option<usize>,
    pub batch_size: u32,
}

pub struct Settings {
    pub catalog: Catalog,
    pub selection: PartitionSelection,
    pub on_duplicate_key: OnDuplicateKey,
    /// The query engine's memory limit, spill folder and object store options.
    pub engine: EngineOptions,
    pub encode: EncodeOptions,
    pub file_out: FileOutArgs,
    pub kafka: KafkaArgs,
    pub spool: SpoolArgs,
    pub report: Option<PathBuf>,
    pub dry_run: bool,
    pub quiet: bool,
    /// `--state`: the push ledger.
    pub state: Option<StateSettings>,
    pub jobs: Vec<JobSpec>,
}

pub struct StateSettings {
    pub location: String,
    pub changed_only: bool,
    /// Send unchanged groups again after this long (`None`: never).
    pub refresh_after: Option<std::time::Duration>,
    pub force: bool,
    /// A partition pushed already is pushed again when its files changed since.
    pub repush_on_change: bool,
    /// `--spool-dir`: where a pass is spooled while it is delivered, when the state location
    /// is not a local folder (else in it).
    pub spool_dir: Option<std::path::PathBuf>,
}

pub use onfs_state::parse_duration;

fn resolve_state(args: &RunArgs, cfg: &JobConfig) -> CliResult<Option<StateSettings>> {
    let location = args.state.location.clone().or(cfg.state.location.clone());
    let changed_only = args.state.changed_only || cfg.state.changed_only.unwrap_or(false);
    let repush_on_change =
        args.state.repush_on_change || cfg.state.repush_on_change.unwrap_or(false);
    let Some(location) = location else {
        if changed_only {
            return Err(usage(anyhow::anyhow!(
                "--changed-only compares with the push ledger: give its location with --state URL (or [state] location)"
            )));
        }
        if args.state.force {
            return Err(usage(anyhow::anyhow!(
                "--force pushes partitions the ledger says were pushed: it needs --state URL"
            )));
        }
        if repush_on_change {
            return Err(usage(anyhow::anyhow!(
                "--repush-on-change (repush_on_change) compares a partition's files with those the ledger recorded: it needs --state URL (or [state] location)"
            )));
        }
        return Ok(None);
    };
    let refresh_after = match flag_or_key(
        ("--refresh-after", &args.state.refresh_after),
        ("state.refresh_after =", &cfg.state.refresh_after),
    ) {
        Some((name, t)) => parse_duration(t).map_err(|e| usage(anyhow::anyhow!("{name} {e}")))?,
        None => Some(std::time::Duration::from_secs(7 * 86_400)),
    };
    Ok(Some(StateSettings {
        location,
        changed_only,
        refresh_after,
        force: args.state.force,
        repush_on_change,
        spool_dir: args.spool.spool_dir.clone(),
    }))
}

impl Settings {
    /// One job of the run, with the run's catalog, selection and engine (and with
    /// --changed-only the ledger it compares with).
    pub fn job<'a>(
        &'a self,
        spec: &'a JobSpec,
        plan: &'a onfs_core::Plan,
        changes: Option<&'a onfs_pipeline::Changes>,
    ) -> onfs_pipeline::Job<'a> {
        onfs_pipeline::Job {
            name: &spec.name,
            plan,
            catalog: &self.catalog,
            partition_columns: spec.partition_columns.clone(),
            selection: self.selection.clone(),
            limit: spec.limit,
            on_duplicate_key: self.on_duplicate_key,
            count_sources: self.report.is_some() || self.dry_run,
            engine: self.engine.clone(),
            changes,
        }
    }
}

fn pick<T>(given: bool, flag: T, cfg: Option<T>) -> T {
    if given {
        flag
    } else {
        cfg.unwrap_or(flag)
    }
}

fn apply_columns(cols: &mut PartitionColumns, s: &PartitionColumnsSection) {
    if let Some(c) = &s.table {
        cols.table = c.clone();
    }
    if let Some(c) = &s.parquet {
        cols.parquet = c.clone();
    }
    if let Some(c) = &s.delta {
        cols.delta = c.clone();
    }
}

/// The flag's value when given, else the job file's: with the name to show in an error (the
/// flag, or the file's key).
fn flag_or_key<'a>(
    flag: (&'static str, &'a Option<String>),
    key: (&'static str, &'a Option<String>),
) -> Option<(&'static str, &'a str)> {
    flag.1
        .as_deref()
        .map(|v| (flag.0, v))
        .or(key.1.as_deref().map(|v| (key.0, v)))
}

fn enum_value<T: clap::ValueEnum>(key: &str, text: &str) -> CliResult<T> {
    T::from_str(text, true).map_err(|_| {
        let accepted: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        usage(anyhow::anyhow!(
            "{key} = {text:?}: expected one of {}",
            accepted.join(", ")
        ))
    })
}

pub fn resolve(args: &RunArgs, given: &Given<'_>) -> CliResult<Settings> {
    let cfg = match &args.config {
        Some(p) => config::load(p)?,
        None => JobConfig::default(),
    };

    let mut catalog = Catalog::default();
    for (name, entry) in &cfg.tables {
        catalog.insert(name, entry.clone());
    }
    for t in &args.tables {
        catalog.add_arg(t)?;
    }
    if let Some((name, uri)) = flag_or_key(
        ("--hive-metastore", &args.hive_metastore),
        ("source.hive_metastore =", &cfg.source.hive_metastore),
    ) {
        if !uri.starts_with("thrift://") {
            return Err(usage(anyhow::anyhow!(
                "{name} {uri:?}: expected thrift://HOST:PORT"
            )));
        }
        catalog.set_hive_metastore(uri);
    }
    let mut storage = onfs_sources::StorageOptions::default();
    for (k, v) in &cfg.storage {
        storage
            .set(k, v)
            .map_err(|e| usage(anyhow::anyhow!("config [storage]: {e}")))?;
    }
    for o in &args.storage_options {
        storage.add_arg(o)?;
    }

    let mut base_columns = PartitionColumns::default();
    apply_columns(&mut base_columns, &cfg.source.partition_columns);

    let selection = if let Some(v) = args.partition.clone().or(cfg.source.partition.clone()) {
        PartitionSelection::Value(v)
    } else if let Some((name, r)) = flag_or_key(
        ("--partition-range", &args.partition_range),
        ("source.partition_range =", &cfg.source.partition_range),
    ) {
        PartitionSelection::parse_range(r).map_err(|_| {
            usage(anyhow::anyhow!(
                "{name} {r:?}: expected FROM..TO (the first and last partition values)"
            ))
        })?
    } else if args.all_partitions || cfg.source.all_partitions.unwrap_or(false) {
        PartitionSelection::All
    } else {
        PartitionSelection::Newest
    };

    let dup = match cfg.source.on_duplicate_key.as_deref() {
        Some(t) if !given.has("on_duplicate_key") => enum_value("source.on_duplicate_key", t)?,
        _ => args.on_duplicate_key,
    };
    let on_duplicate_key = match dup {
        DuplicateKeyArg::Error => OnDuplicateKey::Error,
        DuplicateKeyArg::Warn => OnDuplicateKey::Warn,
        DuplicateKeyArg::KeepAny => OnDuplicateKey::KeepAny,
    };
    let memory_limit = match flag_or_key(
        ("--memory-limit", &args.memory_limit),
        ("source.memory_limit =", &cfg.source.memory_limit),
    ) {
        Some((name, t)) => {
            config::parse_bytes(t).map_err(|e| usage(anyhow::anyhow!("{name} {e}")))?
        }
        None => EngineOptions::default_memory_limit(),
    };

    let encode = EncodeOptions {
        batch_size: pick(
            given.has("batch_size"),
            args.encode.batch_size,
            cfg.encode.batch_size,
        ),
        allow_out_of_range: args.encode.allow_out_of_range
            || cfg.encode.allow_out_of_range.unwrap_or(false),
        max_message_bytes: args
            .encode
            .max_message_bytes
            .or(cfg.encode.max_message_bytes),
        // The file's lengths, then the flags' (a flag naming the same feature wins).
        vector_lengths: cfg
            .vector_lengths
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .chain(args.encode.vector_lengths.iter().cloned())
            .collect(),
        vector_fit: match cfg.encode.vector_fit.as_deref() {
            Some(t) if !given.has("vector_fit") => {
                enum_value::<VectorFitArg>("encode.vector_fit", t)?
            }
            _ => args.encode.vector_fit,
        },
        strict_store: args.encode.strict_store || cfg.encode.strict_store.unwrap_or(false),
    };
    let out_format = match cfg.output.out_format.as_deref() {
        Some(t) if !given.has("out_format") => enum_value::<OutFormatArg>("output.out_format", t)?,
        _ => args.file_out.out_format,
    };
    let file_out = FileOutArgs {
        out: args.file_out.out.clone().or(cfg.output.out.clone()),
        out_format,
        overwrite: args.file_out.overwrite || cfg.output.overwrite.unwrap_or(false),
    };
    let state = resolve_state(args, &cfg)?;
    let k = cfg.kafka.unwrap_or_default();
    let mut kafka_options: Vec<(String, String)> = k.options.into_iter().collect();
    kafka_options.extend(args.kafka.kafka_options.iter().cloned());
    let key = match k.key.as_deref() {
        Some(t) if !given.has("key") => enum_value::<KeyMode>("kafka.key", t)?,
        _ => args.kafka.key,
    };
    let kafka = KafkaArgs {
        kafka_brokers: args.kafka.kafka_brokers.clone().or(k.brokers),
        topic: args.kafka.topic.clone().or(k.topic),
        kafka_options,
        kafka_num_batches: pick(
            given.has("kafka_num_batches"),
            args.kafka.kafka_num_batches,
            k.num_batches,
        ),
        max_rate: args.kafka.max_rate.or(k.max_rate),
        key,
        failed_out: args.kafka.failed_out.clone().or(k.failed_out),
        kafka_connect_timeout: pick(
            given.has("kafka_connect_timeout"),
            args.kafka.kafka_connect_timeout,
            k.connect_timeout,
        ),
    };
    if kafka.kafka_brokers.is_some() != kafka.topic.is_some() {
        return Err(usage(anyhow::anyhow!(
            "Kafka output needs both the brokers and the topic"
        )));
    }
    // A topic name Kafka refuses is refused here, before any service is asked.
    crate::deliver::check_offline(&kafka)?;
    let spool = SpoolArgs {
        stream: args.spool.stream || k.stream.unwrap_or(false),
        spool_dir: args.spool.spool_dir.clone(),
    };

    // Jobs: the command line's metadata options make one job; else the config's [[jobs]].
    let m = &args.metadata;
    let metadata_on_command_line =
        m.metadata_url.is_some() || m.metadata_file.is_some() || m.job_id.is_some();
    let mut metadata_base = m.clone();
    metadata_base.metadata_url = m.metadata_url.clone().or(cfg.metadata.url.clone());
    metadata_base.metadata_connect_timeout = pick(
        given.has("metadata_connect_timeout"),
        m.metadata_connect_timeout,
        cfg.metadata.connect_timeout,
    );
    metadata_base.metadata_timeout = pick(
        given.has("metadata_timeout"),
        m.metadata_timeout,
        cfg.metadata.timeout,
    );

    let entries = if metadata_on_command_line || cfg.jobs.is_empty() {
        vec![config::EntityJob::default()]
    } else {
        cfg.jobs.clone()
    };
    let mut jobs = Vec::new();
    for (i, job) in entries.iter().enumerate() {
        let mut metadata = metadata_base.clone();
        if !metadata_on_command_line {
            if let Some(u) = &job.metadata_url {
                metadata.metadata_url = Some(u.clone());
            }
            if job.metadata_file.is_some() {
                metadata.metadata_file = job.metadata_file.clone();
                metadata.metadata_url = None;
            }
            if job.job_id.is_some() {
                metadata.job_id = job.job_id.clone();
            }
            if job.job_token.is_some() && !given.has("job_token") {
                metadata.job_token = job.job_token.clone();
            }
        }
        if !given.has("fgs") {
            if let Some(f) = &job.fgs {
                metadata.fgs = f.clone();
            }
        }
        let mut columns = base_columns.clone();
        if let Some(c) = &job.partition_columns {
            apply_columns(&mut columns, c);
        }
        for arg in &args.partition_columns {
            columns.set(arg)?;
        }
        jobs.push(JobSpec {
            name: job
                .name
                .clone()
                .or(metadata.job_id.clone())
                .or(metadata
                    .metadata_file
                    .as_ref()
                    .map(|p| p.display().to_string()))
                .unwrap_or_else(|| format!("job {}", i + 1)),
            metadata,
            partition_columns: columns,
            limit: args.limit.or(job.limit),
            batch_size: if given.has("batch_size") {
                encode.batch_size
            } else {
                job.batch_size.unwrap_or(encode.batch_size)
            },
        });
    }

    Ok(Settings {
        catalog,
        selection,
        on_duplicate_key,
        engine: EngineOptions {
            memory_limit,
            spill_dir: args.spill_dir.clone().or(cfg.source.spill_dir.clone()),
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            storage,
        },
        encode,
        file_out,
        kafka,
        spool,
        report: args.report.clone().or(cfg.output.report.clone()),
        dry_run: args.dry_run,
        quiet: false,
        state,
        jobs,
    })
}
