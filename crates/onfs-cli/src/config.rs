//! `--config job.toml`: every setting of `run`, several entity jobs run in order (the original's
//! `entities_configs`). Unknown keys are errors naming them; `${ENV_VAR}` in any string is
//! replaced from the environment (for secrets); flags given on the command line win.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{usage, CliResult};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    #[serde(default)]
    pub metadata: MetadataSection,
    /// Table names (`db.table`) to `{ format, location }`.
    #[serde(default)]
    pub tables: BTreeMap<String, onfs_sources::TableEntry>,
    /// Object store options for every source (object_store's key names, `${ENV}` for secrets).
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
    #[serde(default)]
    pub source: SourceSection,
    #[serde(default)]
    pub encode: EncodeSection,
    /// Declared vector lengths: `"GROUP.FEATURE" = N` (or a renamed or source column).
    #[serde(default)]
    pub vector_lengths: BTreeMap<String, usize>,
    #[serde(default)]
    pub output: OutputSection,
    pub kafka: Option<KafkaSection>,
    #[serde(default)]
    pub state: StateSection,
    #[serde(default)]
    pub jobs: Vec<EntityJob>,
}

/// `[state]`: the push ledger (see `--state`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    pub location: Option<String>,
    pub changed_only: Option<bool>,
    pub refresh_after: Option<String>,
    pub repush_on_change: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataSection {
    pub url: Option<String>,
    pub connect_timeout: Option<f64>,
    pub timeout: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionColumnsSection {
    pub table: Option<String>,
    pub parquet: Option<String>,
    pub delta: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    /// `thrift://HOST:PORT` of a Hive Metastore for TABLE names not in `[tables]`.
    pub hive_metastore: Option<String>,
    #[serde(default)]
    pub partition_columns: PartitionColumnsSection,
    pub partition: Option<String>,
    pub partition_range: Option<String>,
    pub all_partitions: Option<bool>,
    pub memory_limit: Option<String>,
    pub on_duplicate_key: Option<String>,
    pub spill_dir: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodeSection {
    pub batch_size: Option<u32>,
    pub allow_out_of_range: Option<bool>,
    pub max_message_bytes: Option<usize>,
    /// check, pad, truncate, pad-truncate or keep.
    pub vector_fit: Option<String>,
    pub strict_store: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    pub out: Option<PathBuf>,
    pub out_format: Option<String>,
    pub overwrite: Option<bool>,
    pub report: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    pub brokers: Option<String>,
    pub topic: Option<String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub num_batches: Option<u32>,
    pub max_rate: Option<f64>,
    pub key: Option<String>,
    pub failed_out: Option<PathBuf>,
    pub connect_timeout: Option<f64>,
    pub stream: Option<bool>,
}

/// One `[[jobs]]` entry.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityJob {
    pub name: Option<String>,
    pub job_id: Option<String>,
    pub job_token: Option<String>,
    pub metadata_url: Option<String>,
    pub metadata_file: Option<PathBuf>,
    pub fgs: Option<Vec<String>>,
    pub partition_columns: Option<PartitionColumnsSection>,
    pub limit: Option<usize>,
    pub batch_size: Option<u32>,
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> CliResult<JobConfig> {
    let bytes = std::fs::read(path)
        .map_err(|e| usage(anyhow::anyhow!("--config {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..at];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = at
            - before
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        usage(anyhow::anyhow!(
            "--config {}: not UTF-8 text: byte {at} (line {line}, column {column}) is 0x{:02x}",
            path.display(),
            e.as_bytes()[at]
        ))
    })?;
    parse(&text, &|name| std::env::var(name).ok())
        .map_err(|e| usage(anyhow::anyhow!("--config {}: {e}", path.display())))
}

/// Parses config text, interpolating `${NAME}` with `env`.
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<JobConfig, String> {
    // Checked as written first: an error then has the line, the column and the line itself (so
    // the key), and shows `${NAME}`, never a value put in its place. Expanding keeps every
    // value's type, so what passes here deserializes below.
    toml::from_str::<JobConfig>(text).map_err(|e| e.to_string())?;
    let mut value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
    interpolate(&mut value, "", env)?;
    JobConfig::deserialize(value).map_err(|e| e.to_string())
}

fn interpolate(
    v: &mut toml::Value,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match v {
        toml::Value::String(s) => {
            *s = expand(s, path, env)?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{path}[{i}]"), env)?;
            }
        }
        toml::Value::Table(t) => {
            for (k, item) in t.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                interpolate(item, &p, env)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `${NAME}` replaced by the variable, `$$` by `$`.
fn expand(s: &str, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r
                .find('}')
                .ok_or_else(|| format!("{path}: unterminated ${{...}}"))?;
            let name = &r[..end];
            let value = env(name)
                .ok_or_else(|| format!("{path}: the environment variable {name} is not set"))?;
            if path.contains("token") || path.contains("options") {
                crate::logging::register_secret(&value);
            }
            out.push_str(&value);
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Bytes from `2GB`, `512MiB`, `1.5G`, `1000000`.
pub fn parse_bytes(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 2GB or 512MiB"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use B, KB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    Ok((n * mult) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TOKEN").then(|| "s3cret".to_string())
    }

    #[test]
    fn full_config_parses_and_interpolates() {
        let c = parse(
            r#"
            [metadata]
            url = "http://m/api"
            [tables]
            "fs.a" = { format = "delta", location = "/d/a" }
            [source]
            partition_columns = { table = "dt" }
            memory_limit = "2GB"
            [kafka]
            brokers = "b:9092"
            topic = "t"
            options = { "kafka.acks" = "1" }
            [[jobs]]
            job_id = "j1"
            job_token = "${TOKEN}"
            fgs = ["g1"]
            limit = 10
            [[jobs]]
            job_id = "j2"
            job_token = "pre$${TOKEN}"
            "#,
            &env,
        )
        .unwrap();
        assert_eq!(c.jobs.len(), 2);
        assert_eq!(c.jobs[0].job_token.as_deref(), Some("s3cret"));
        assert_eq!(c.jobs[1].job_token.as_deref(), Some("pre${TOKEN}"));
        assert_eq!(c.tables["fs.a"].format, onfs_sources::TableFormat::Delta);
        assert_eq!(c.kafka.unwrap().options["kafka.acks"], "1");
    }

    #[test]
    fn unknown_keys_and_missing_variables_are_named() {
        let e = parse("[kafka]\nbrokerz = \"x\"\n", &env).unwrap_err();
        assert!(e.contains("brokerz"), "{e}");
        let e = parse("[[jobs]]\njob_token = \"${NOPE}\"\n", &env).unwrap_err();
        assert!(e.contains("jobs[0].job_token") && e.contains("NOPE"), "{e}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1000").unwrap(), 1000);
        assert!(parse_bytes("lots").is_err());
    }
}
