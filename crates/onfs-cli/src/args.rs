//! Every flag, defined once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the run failed (data error, unreachable service, failed delivery)
  2  bad usage or configuration";

#[derive(Debug, Parser)]
#[command(
    name = "onfs-push",
    version,
    about = "Push ML features from offline sources to the online feature store through Kafka",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// Log level: error, warn, info (default: onfs-push's own lines; its libraries' only from
    /// warn), debug, trace (every library), or a tracing filter such as onfs_core=debug.
    #[arg(long, global = true, value_name = "LEVEL", env = "ONFS_LOG")]
    pub log_level: Option<String>,

    /// More logs: -v onfs-push at debug and its libraries at info, -vv everything at debug,
    /// -vvv trace.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Warnings and errors only: no progress, no periodic or informational log lines.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// How log lines are written on stderr: text, or json (one object per line) for machines.
    #[arg(long, global = true, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show which offline columns feed which feature groups.
    #[command(after_help = EXIT_CODES)]
    Plan(PlanArgs),
    /// Run the whole job: read the offline sources (newest partition), join, fill defaults,
    /// encode, and send to Kafka or write files.
    #[command(after_help = EXIT_CODES)]
    Run(Box<RunArgs>),
    /// Check everything `run` needs without reading data: the metadata service and token, each
    /// source (resolved, listed, newest partition, columns), the brokers and the topic (exists,
    /// partitions, writable), the store's retrieval API when --store is given. Takes run's flags.
    #[command(after_help = CHECK_EXIT_CODES)]
    Check(Box<RunArgs>),
    /// Encode a Parquet input (entity + renamed feature columns) into messages.
    #[command(after_help = EXIT_CODES)]
    Encode(Box<EncodeArgs>),
    /// Send a folder of messages (an --out or --failed-out folder) to Kafka.
    #[command(after_help = EXIT_CODES)]
    Send(SendArgs),
    /// Show messages: on a terminal a table (rows, bytes, groups, the first rows in short);
    /// otherwise, or with --format json, JSON lines (intra_batch_id, value_hex, decoded query).
    #[command(after_help = EXIT_CODES)]
    Inspect(InspectArgs),
    /// Read a sample of the sent entities back from the online store (gRPC retrieval API) and
    /// compare them with a message folder.
    #[command(after_help = VERIFY_EXIT_CODES)]
    Verify(Box<VerifyArgs>),
    /// Keep running: poll every job's sources and push each new complete partition once (with
    /// the ledger of --state), retrying failures with backoff; metrics and health over HTTP
    /// with --listen. Takes run's flags. SIGTERM or SIGINT: finish the run in flight, exit 0.
    #[command(after_help = EXIT_CODES)]
    Watch(Box<WatchArgs>),
    /// Show what a push ledger (--state) holds: per job its keys, the partitions pushed, the
    /// last runs and the run holding it now.
    #[command(after_help = EXIT_CODES)]
    Status(StatusArgs),
    /// Print a shell completion script: onfs-push completions bash > ~/.local/share/bash-completion/completions/onfs-push
    Completions(CompletionsArgs),
    /// Print the manual page (roff): onfs-push man > onfs-push.1
    Man,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The ledger's location (as given to `run --state`).
    #[arg(long = "state", value_name = "URL")]
    pub location: String,

    /// An object store option, repeatable: KEY=VALUE (as `run --storage-option`).
    #[arg(long = "storage-option", value_name = "KEY=VALUE")]
    pub storage_options: Vec<String>,

    /// Print the jobs as JSON.
    #[arg(long)]
    pub json: bool,

    /// The last runs to show per job.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub runs: usize,

    /// Where `run` spooled its passes (as given to `run --spool-dir`): to show a cut run's
    /// pending delivery when the state location is not a local folder.
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectFormat {
    /// One line per message, its first rows in short, sized to the terminal.
    Table,
    /// One JSON line per message: intra_batch_id, value_hex and the decoded query.
    Json,
}

/// Where the metadata comes from.
#[derive(Debug, Clone, Args)]
pub struct MetadataArgs {
    /// The metadata service URL (POST <url>?jobId=..&jobToken=..).
    #[arg(
        long,
        value_name = "URL",
        requires = "job_id",
        conflicts_with = "metadata_file"
    )]
    pub metadata_url: Option<String>,

    /// The job id sent to the metadata service.
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,

    /// The job token sent to the metadata service (prefer the environment variable).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "ONFS_JOB_TOKEN",
        hide_env_values = true
    )]
    pub job_token: Option<String>,

    /// Read the metadata service's JSON answer from a file instead.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

    /// CA certificates (PEM) to trust for an https:// metadata URL, instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub metadata_ca: Option<PathBuf>,

    /// Seconds to wait for a connection to the metadata service.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub metadata_connect_timeout: f64,

    /// Seconds one metadata request may take in all.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub metadata_timeout: f64,

    /// Only these feature groups (comma-separated).
    #[arg(long, value_name = "GROUPS", value_delimiter = ',')]
    pub fgs: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub metadata: MetadataArgs,

    /// Print the plan as JSON (the original client's view of the metadata).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct EncodeOptions {
    /// Rows per message (the original's intra_batch_size). The online store keeps or drops a
    /// message whole: one bad row loses every row of its message.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,

    /// Send values outside their declared type (e.g. 300 as Int8) as the original client did,
    /// instead of failing; the online store corrupts them.
    #[arg(long)]
    pub allow_out_of_range: bool,

    /// Close messages before they grow past this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,

    /// A vector feature's length as the online store registered it, repeatable: FEATURE=N, the
    /// feature named GROUP.FEATURE, by its renamed column or by its source column. The store
    /// keeps one length per feature and drops a whole message holding a vector of another.
    #[arg(long = "vector-length", value_name = "FEATURE=N", value_parser = parse_length)]
    pub vector_lengths: Vec<(String, usize)>,

    /// Vectors of another length: check (an error before sending; undeclared features must
    /// have one length across the run), pad (shorter rows padded with zeros to the declared
    /// length), truncate (longer rows cut), pad-truncate (both), keep (no check, as the
    /// original client).
    #[arg(long, value_enum, default_value_t = VectorFitArg::Check)]
    pub vector_fit: VectorFitArg,

    /// Fail, instead of warning, when the plan holds features the online store cannot keep
    /// (bool vectors).
    #[arg(long)]
    pub strict_store: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VectorFitArg {
    Check,
    Pad,
    Truncate,
    PadTruncate,
    Keep,
}

impl From<VectorFitArg> for onfs_core::VectorFit {
    fn from(v: VectorFitArg) -> Self {
        match v {
            VectorFitArg::Check => onfs_core::VectorFit::Check,
            VectorFitArg::Pad => onfs_core::VectorFit::Pad,
            VectorFitArg::Truncate => onfs_core::VectorFit::Truncate,
            VectorFitArg::PadTruncate => onfs_core::VectorFit::PadTruncate,
            VectorFitArg::Keep => onfs_core::VectorFit::Keep,
        }
    }
}

fn parse_length(s: &str) -> Result<(String, usize), String> {
    let (k, v) = parse_kv(s).map_err(|_| "expected FEATURE=N".to_string())?;
    let n = v
        .trim()
        .parse::<usize>()
        .map_err(|_| format!("{k}: the length {v:?} is not a whole number"))?;
    Ok((k, n))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormatArg {
    /// Framed message files plus manifest.json (docs/message-files.md).
    Frames,
    /// The original's proto_df as Parquet: value binary, intra_batch_id long.
    Parquet,
}

#[derive(Debug, Clone, Args)]
pub struct FileOutArgs {
    /// Write the messages to this folder (new or empty).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// What --out writes.
    #[arg(long, value_enum, default_value_t = OutFormatArg::Frames, requires = "out")]
    pub out_format: OutFormatArg,

    /// Replace the messages an earlier run wrote to --out.
    #[arg(long, requires = "out")]
    pub overwrite: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyMode {
    /// Null keys, as the original client sends.
    None,
    /// Rows grouped by a hash of their entity key into per-partition messages, keyed by the
    /// first row's key: an entity always lands on the same partition.
    Entity,
}

/// A flag's seconds as a duration: positive (or also zero with `zero_ok`), else a usage error
/// naming the flag.
pub fn seconds(flag: &str, v: f64, zero_ok: bool) -> crate::error::CliResult<std::time::Duration> {
    if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) {
        Ok(std::time::Duration::from_secs_f64(v))
    } else {
        Err(crate::error::usage(anyhow::anyhow!(
            "--{flag} must be a {} number of seconds, not {v}",
            if zero_ok { "non-negative" } else { "positive" }
        )))
    }
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err("expected KEY=VALUE".to_string()),
    }
}

/// Where and how to send to Kafka.
#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers: send the messages there instead of writing files.
    #[arg(long, value_name = "HOST:PORT,...", requires = "topic")]
    pub kafka_brokers: Option<String>,

    /// The Kafka topic the online feature store consumes.
    #[arg(long, value_name = "TOPIC", requires = "kafka_brokers")]
    pub topic: Option<String>,

    /// A producer option, repeatable: the Spark form (kafka.acks=all, kafka.linger.ms=10,
    /// kafka.sasl.jaas.config=...) or a librdkafka property by its own name. Defaults: acks=all,
    /// enable.idempotence=true, compression.type=lz4, linger.ms=5.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub kafka_options: Vec<(String, String)>,

    /// Send in N rounds, the messages with intra_batch_id % N == i in round i, each round
    /// delivered before the next (the original's kafka_num_batches).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub kafka_num_batches: u32,

    /// At most this many rows per second, on average.
    #[arg(long, value_name = "ROWS_PER_SEC")]
    pub max_rate: Option<f64>,

    /// Message keys.
    #[arg(long, value_enum, default_value_t = KeyMode::None)]
    pub key: KeyMode,

    /// Write the messages that were not delivered to this folder (send them later with `send`).
    #[arg(long, value_name = "DIR")]
    pub failed_out: Option<PathBuf>,

    /// Seconds to wait for the brokers' first answer.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub kafka_connect_timeout: f64,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// A folder of messages (or one message file).
    #[arg(value_name = "DIR")]
    pub path: PathBuf,

    #[command(flatten)]
    pub kafka: KafkaArgs,
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub metadata: MetadataArgs,

    /// A Parquet file, or a folder of Parquet files as Spark writes it.
    #[arg(long, value_name = "PATH")]
    pub input: PathBuf,

    #[command(flatten)]
    pub encode: EncodeOptions,

    /// Threads decoding and encoding the input, each a range of its rows (default: every
    /// core). The messages and their order are the same for any number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,

    #[command(flatten)]
    pub file_out: FileOutArgs,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub spool: SpoolArgs,
}

/// How Kafka output is staged.
#[derive(Debug, Clone, Args)]
pub struct SpoolArgs {
    /// With Kafka output: send while encoding instead of encoding everything first. Faster start
    /// and no spool on disk, but a data error found late leaves the earlier messages sent.
    #[arg(long)]
    pub stream: bool,

    /// Where Kafka output is encoded before it is sent (default: the system temp folder).
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DuplicateKeyArg {
    /// Fail before sending anything.
    Error,
    /// Count them, show examples, send every row (what the original does, silently).
    Warn,
    /// Keep one row per key.
    KeepAny,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The push ledger's location: a local folder or an object store URL (s3, s3a, gs, az,
    /// abfss; with --storage-option). Per job it records what each entity's groups held when
    /// sent, the partitions pushed and the runs; committed only once everything was delivered.
    /// One run per job at a time. A pass whose partitions a successful run pushed is skipped.
    #[arg(long = "state", value_name = "URL")]
    pub location: Option<String>,

    /// Send only the feature groups whose values differ from the ledger (or are new): a row
    /// carries just those groups. Needs --state.
    #[arg(long)]
    pub changed_only: bool,

    /// With --changed-only, also send groups last sent longer ago than this (30m, 12h, 7d;
    /// `never`), for stores that expire values. Default 7d.
    #[arg(long, value_name = "DURATION")]
    pub refresh_after: Option<String>,

    /// Push partitions the ledger says were pushed already.
    #[arg(long)]
    pub force: bool,

    /// Push a partition the ledger says was pushed again when its files changed since (a
    /// rewritten `_SUCCESS` folder, a Delta version adding to or replacing its files). Without
    /// it such a partition is skipped with a warning.
    #[arg(long)]
    pub repush_on_change: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub metadata: MetadataArgs,

    /// A job configuration file (TOML): every setting, several entity jobs; flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// A TABLE source's location in the built-in catalog, repeatable: NAME=LOCATION (Delta when
    /// the location holds _delta_log/, else Parquet).
    #[arg(long = "table", value_name = "NAME=LOCATION")]
    pub tables: Vec<String>,

    /// A Hive Metastore (thrift://HOST:PORT) resolving the TABLE names the built-in catalog
    /// lacks: location, format (Parquet or Delta) and partition column.
    #[arg(long, value_name = "URI")]
    pub hive_metastore: Option<String>,

    /// An object store option for every source, repeatable: KEY=VALUE with object_store's key
    /// names (aws_endpoint, aws_region, aws_allow_http, azure_storage_account_name,
    /// azure_storage_use_emulator, google_service_account ...); over the cloud's own environment
    /// variables (AWS_*, AZURE_STORAGE_*, GOOGLE_*) and the config's [storage].
    #[arg(long = "storage-option", value_name = "KEY=VALUE")]
    pub storage_options: Vec<String>,

    /// The partition column of a kind of source, repeatable: KIND=COL with KIND table (default
    /// process_date), parquet (default ts) or delta (default ts).
    #[arg(long = "partition-column", value_name = "KIND=COL")]
    pub partition_columns: Vec<String>,

    /// Read this partition value of every source instead of the newest.
    #[arg(long, value_name = "VALUE", conflicts_with_all = ["partition_range", "all_partitions"])]
    pub partition: Option<String>,

    /// Backfill: one pass per partition value from FROM to TO (inclusive), in order.
    #[arg(long, value_name = "FROM..TO", conflicts_with = "all_partitions")]
    pub partition_range: Option<String>,

    /// Read every row of every source, whatever its partition.
    #[arg(long)]
    pub all_partitions: bool,

    /// At most this many rows after the join.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// What to do when an entity key appears more than once after the join.
    #[arg(long, value_enum, default_value_t = DuplicateKeyArg::Warn)]
    pub on_duplicate_key: DuplicateKeyArg,

    /// Memory the query engine may use before spilling to disk (e.g. 2GB; default: half of RAM).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,

    /// Where the query engine spills (default: the system temp folder).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,

    /// Read, join, fill and encode everything, and send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Write the run's summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Write the run's metrics in Prometheus' text format to this file (for node_exporter's
    /// textfile collector), replaced whole at the end of the run, failed or not.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,

    #[command(flatten)]
    pub state: StateArgs,

    /// After the push is delivered, read a sample of its entities back from the online store
    /// and compare (as `verify`; --store, --caller-id, --wait ...): --verify (1000 entities),
    /// --verify=N or --verify=all. Exit 1 when anything differs or is lost.
    #[arg(long, value_name = "N|all", num_args = 0..=1, require_equals = true, default_missing_value = "1000", value_parser = parse_sample)]
    pub verify: Option<onfs_verify::SampleSize>,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub encode: EncodeOptions,

    #[command(flatten)]
    pub file_out: FileOutArgs,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub spool: SpoolArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub run: RunArgs,

    /// How often each job's sources are looked at (a tenth of it added at random): 30s, 5m, 1h.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub interval: String,

    /// The longest wait before a failed job is tried again (the wait doubles from --interval).
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub max_backoff: String,

    /// Serve /metrics (Prometheus' text format), /healthz and /readyz at this address.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A message folder or file (framed or proto_df Parquet), or kafka://HOST:PORT/TOPIC.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// Kafka client option for kafka:// (security settings), as for --kafka-option.
    #[arg(long = "kafka-option", value_name = "KEY=VALUE", value_parser = parse_kv)]
    pub kafka_options: Vec<(String, String)>,

    /// At most this many messages (a table shows the first 5 and counts the rest).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,

    /// table or json (default: table on a terminal, JSON lines otherwise).
    #[arg(long, value_enum)]
    pub format: Option<InspectFormat>,
}

pub const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0  every check passed
  1  a check failed (each failure has its line)
  2  bad usage or configuration";

pub const VERIFY_EXIT_CODES: &str = "\
Exit codes:
  0  every entity read back matches what was sent (or cannot be told from the defaults)
  1  something differs or came back as the defaults (lost, or not consumed within --wait), or
     the store could not be read
  2  bad usage or configuration (a refused caller id or token included)";

/// `N` or `all`.
fn parse_sample(s: &str) -> Result<onfs_verify::SampleSize, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(onfs_verify::SampleSize::All);
    }
    match s.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(onfs_verify::SampleSize::Count(n)),
        _ => Err("expected a number of entities (at least 1) or all".to_string()),
    }
}

/// Where the online store's retrieval API is and how to read from it.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The online store's gRPC retrieval API (the api-server): HOST:PORT, http://HOST:PORT or
    /// https://HOST:PORT.
    #[arg(long, value_name = "ADDR")]
    pub store: Option<String>,

    /// The caller id sent with every read (its token from ONFS_CALLER_TOKEN).
    #[arg(long, value_name = "ID")]
    pub caller_id: Option<String>,

    /// The caller's token (set ONFS_CALLER_TOKEN instead: a flag shows in process lists).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "ONFS_CALLER_TOKEN",
        hide_env_values = true,
        hide = true
    )]
    pub caller_token: Option<String>,

    /// Use TLS (implied by an https:// address and by --store-ca).
    #[arg(long)]
    pub store_tls: bool,

    /// PEM file of the CA certificates to trust instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub store_ca: Option<PathBuf>,

    /// Check the store's certificate against this name instead of the address's host.
    #[arg(long, value_name = "NAME")]
    pub store_tls_domain: Option<String>,

    /// Seed of the random sample (default: a new one each run).
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,

    /// Seconds to keep re-reading the entities that do not match yet (the store's consumer may
    /// lag behind Kafka); 0 reads once.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub wait: f64,

    /// Seconds to wait for a connection to the store.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub store_connect_timeout: f64,

    /// Seconds one read may take.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub store_timeout: f64,

    /// Entity keys per read.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub keys_per_request: u32,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The messages that were sent: a folder (an --out or --failed-out folder) or one message
    /// file.
    #[arg(value_name = "DIR")]
    pub path: PathBuf,

    #[command(flatten)]
    pub metadata: MetadataArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Entities to read back, chosen at random across the messages (every message is checked
    /// when N is at least their number): a number, or all.
    #[arg(long, value_name = "N|all", default_value = "1000", value_parser = parse_sample)]
    pub sample: onfs_verify::SampleSize,

    /// Write the comparison as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}
