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
    /// Log level: error, warn, info, debug, trace (or a tracing filter such as onfs_core=debug).
    #[arg(long, global = true, default_value = "info", env = "ONFS_LOG")]
    pub log_level: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show which offline columns feed which feature groups.
    #[command(after_help = EXIT_CODES)]
    Plan(PlanArgs),
    /// Encode a Parquet input (entity + renamed feature columns) into messages.
    #[command(after_help = EXIT_CODES)]
    Encode(EncodeArgs),
    /// Print messages as JSON lines (intra_batch_id, value_hex, decoded query).
    #[command(after_help = EXIT_CODES)]
    Inspect(InspectArgs),
}

/// Where the metadata comes from.
#[derive(Debug, Clone, Args)]
pub struct MetadataArgs {
    /// The metadata service URL (POST <url>?jobId=..&jobToken=..).
    #[arg(long, value_name = "URL", requires = "job_id", conflicts_with = "metadata_file")]
    pub metadata_url: Option<String>,

    /// The job id sent to the metadata service.
    #[arg(long, value_name = "ID")]
    pub job_id: Option<String>,

    /// The job token sent to the metadata service (prefer the environment variable).
    #[arg(long, value_name = "TOKEN", env = "ONFS_JOB_TOKEN", hide_env_values = true)]
    pub job_token: Option<String>,

    /// Read the metadata service's JSON answer from a file instead.
    #[arg(long, value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,

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
    /// Rows per message (the original's intra_batch_size).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,

    /// Send values outside their declared type (e.g. 300 as Int8) as the original client did,
    /// instead of failing; the online store corrupts them.
    #[arg(long)]
    pub allow_out_of_range: bool,

    /// Close messages before they grow past this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub max_message_bytes: Option<usize>,
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

#[derive(Debug, Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub metadata: MetadataArgs,

    /// A Parquet file, or a folder of Parquet files as Spark writes it.
    #[arg(long, value_name = "PATH")]
    pub input: PathBuf,

    #[command(flatten)]
    pub encode: EncodeOptions,

    #[command(flatten)]
    pub file_out: FileOutArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A message folder or file (framed or proto_df Parquet).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,

    /// At most this many messages.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
}
