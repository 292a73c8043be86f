//! `onfs-push inspect`: a message folder or file, or a Kafka topic, as JSON lines.

use std::io::{BufWriter, Write};

use onfs_core::inspect::message_json_line;

use crate::args::InspectArgs;
use crate::error::{failed, usage, CliResult};

pub fn run(args: &InspectArgs) -> CliResult<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let path = args.path.to_string_lossy().to_string();
    if let Some(rest) = path.strip_prefix("kafka://") {
        return inspect_topic(rest, args, &mut out);
    }
    let messages = onfs_file::read_messages(&args.path)?;
    for (n, m) in messages.enumerate() {
        if args.limit.is_some_and(|l| n as u64 >= l) {
            break;
        }
        let m = m?;
        let line = message_json_line(m.intra_batch_id, &m.value).map_err(|e| {
            failed(anyhow::anyhow!(
                "{}: message {n} (intra_batch_id {}) is not a persist.Query: {e}",
                args.path.display(),
                m.intra_batch_id
            ))
        })?;
        if writeln!(out, "{line}").is_err() {
            return Ok(()); // stdout closed (e.g. `| head`)
        }
    }
    out.flush().map_err(failed)
}

/// `kafka://HOST:PORT[,HOST:PORT]/TOPIC`: the topic from the beginning, partition by partition.
fn inspect_topic(rest: &str, args: &InspectArgs, out: &mut impl Write) -> CliResult<()> {
    let Some((brokers, topic)) = rest
        .split_once('/')
        .filter(|(b, t)| !b.is_empty() && !t.is_empty())
    else {
        return Err(usage(anyhow::anyhow!(
            "{}: expected kafka://HOST:PORT/TOPIC",
            args.path.display()
        )));
    };
    let cfg = onfs_kafka::ProducerConfig::from_options(
        args.kafka_options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(usage)?;
    crate::logging::register_kafka_secrets(&cfg);
    // Only the connection and security settings apply to reading.
    let options: Vec<(String, String)> = cfg
        .entries()
        .filter(|(k, _)| {
            k.starts_with("security.")
                || k.starts_with("sasl.")
                || k.starts_with("ssl.")
                || *k == "client.id"
        })
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut bad = None;
    let mut n = 0u64;
    onfs_kafka::topic::read_topic(brokers, topic, &options, args.limit, |rec| {
        let id = rec.intra_batch_id.unwrap_or(-1);
        match message_json_line(id, &rec.value) {
            Ok(line) => {
                n += 1;
                writeln!(out, "{line}").is_ok()
            }
            Err(e) => {
                bad = Some(format!(
                    "partition {} offset {} is not a persist.Query: {e}",
                    rec.partition, rec.offset
                ));
                false
            }
        }
    })
    .map_err(failed)?;
    if let Some(b) = bad {
        return Err(failed(anyhow::anyhow!("{b}")));
    }
    tracing::debug!(messages = n, "read {topic}");
    out.flush().map_err(failed)
}
