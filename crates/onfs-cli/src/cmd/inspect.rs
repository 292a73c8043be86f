//! `onfs-push inspect`: a message folder or file, or a Kafka topic, as a table for people or as
//! JSON lines for programs.

use std::io::{BufWriter, IsTerminal, Write};

use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, ContentArrangement, Table};
use onfs_core::inspect::{message_json_line, message_summary, shorten, MessageSummary};

use crate::args::{InspectArgs, InspectFormat};
use crate::error::{failed, usage, CliResult};

/// Messages a table shows when no --limit is given.
const TABLE_MESSAGES: u64 = 5;
/// Rows of each message a table shows.
const TABLE_ROWS: usize = 2;

/// Where each message goes: a JSON line at once, or a line of the table printed at the end.
enum Printer<W: Write> {
    Json(W),
    Table {
        out: W,
        shown: Vec<(String, MessageSummary)>,
        messages: u64,
        rows: u64,
        bytes: u64,
        width: usize,
        /// Messages shown; the others are counted.
        show: u64,
    },
}

impl<W: Write> Printer<W> {
    /// Takes one message; false when the output is closed (e.g. `| head`).
    fn message(&mut self, label: String, id: i64, value: &[u8]) -> Result<bool, String> {
        match self {
            Printer::Json(out) => {
                let line = message_json_line(id, value).map_err(|e| e.to_string())?;
                Ok(writeln!(out, "{line}").is_ok())
            }
            Printer::Table {
                shown,
                messages,
                rows,
                bytes,
                show,
                ..
            } => {
                let s = message_summary(value, TABLE_ROWS).map_err(|e| e.to_string())?;
                *messages += 1;
                *rows += s.rows as u64;
                *bytes += s.bytes as u64;
                if (shown.len() as u64) < *show {
                    shown.push((label, s));
                }
                Ok(true)
            }
        }
    }

    fn finish(self) -> std::io::Result<()> {
        match self {
            Printer::Json(mut out) => out.flush(),
            Printer::Table {
                mut out,
                shown,
                messages,
                rows,
                bytes,
                width,
                ..
            } => {
                let mut t = Table::new();
                t.load_preset(UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_width(width as u16)
                    .set_header(["message", "rows", "bytes", "groups", "first rows"]);
                // What the four first columns leave to the rows, borders included.
                let label = shown.iter().map(|(l, _)| l.len()).max().unwrap_or(7).max(7);
                let room = width.saturating_sub(label + 32).max(20);
                for (label, s) in &shown {
                    let first: Vec<String> =
                        s.first_rows.iter().map(|r| shorten(r, room)).collect();
                    t.add_row(vec![
                        Cell::new(label),
                        Cell::new(s.rows).set_alignment(CellAlignment::Right),
                        Cell::new(s.bytes).set_alignment(CellAlignment::Right),
                        Cell::new(s.groups.len()).set_alignment(CellAlignment::Right),
                        Cell::new(first.join("\n")),
                    ]);
                }
                writeln!(out, "{t}")?;
                let entity = shown.first().map(|(_, s)| s.entity.as_str()).unwrap_or("");
                if let Some((_, first)) = shown.first() {
                    let groups = format!("groups: {}", first.groups.join(", "));
                    writeln!(out, "{}", shorten(&groups, width))?;
                }
                let more = messages.saturating_sub(shown.len() as u64);
                writeln!(
                    out,
                    "{messages} messages, {rows} rows of {}, {bytes} bytes",
                    if entity.is_empty() {
                        "entities"
                    } else {
                        entity
                    },
                )?;
                if more > 0 {
                    writeln!(out, "{more} more not shown: --limit N, or --format json")?;
                }
                out.flush()
            }
        }
    }
}

fn printer<W: Write>(args: &InspectArgs, out: W) -> Printer<W> {
    let table = match args.format {
        Some(f) => f == InspectFormat::Table,
        None => std::io::stdout().is_terminal(),
    };
    if !table {
        return Printer::Json(out);
    }
    let width = terminal_size::terminal_size()
        .map(|(w, _)| w.0 as usize)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(100)
        .clamp(60, 200);
    Printer::Table {
        out,
        shown: Vec::new(),
        messages: 0,
        rows: 0,
        bytes: 0,
        width,
        show: args.limit.unwrap_or(TABLE_MESSAGES),
    }
}

pub fn run(args: &InspectArgs) -> CliResult<()> {
    let stdout = std::io::stdout();
    let mut out = printer(args, BufWriter::new(stdout.lock()));
    let path = args.path.to_string_lossy().to_string();
    if let Some(rest) = path.strip_prefix("kafka://") {
        inspect_topic(rest, args, &mut out)?;
        return finish(out);
    }
    let limit = args.limit;
    let messages = onfs_file::read_messages(&args.path)?;
    for (n, m) in messages.enumerate() {
        if limit.is_some_and(|l| n as u64 >= l) {
            break;
        }
        let m = m?;
        let label = format!("{n} (batch {})", m.intra_batch_id);
        let open = out
            .message(label, m.intra_batch_id, &m.value)
            .map_err(|e| {
                failed(anyhow::anyhow!(
                    "{}: message {n} (intra_batch_id {}) is not a persist.Query: {e}",
                    args.path.display(),
                    m.intra_batch_id
                ))
            })?;
        if !open {
            return Ok(()); // stdout closed (e.g. `| head`)
        }
    }
    finish(out)
}

fn finish<W: Write>(out: Printer<W>) -> CliResult<()> {
    match out.finish() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(failed),
    }
}

/// `kafka://HOST:PORT[,HOST:PORT]/TOPIC`: the topic from the beginning, partition by partition.
fn inspect_topic<W: Write>(rest: &str, args: &InspectArgs, out: &mut Printer<W>) -> CliResult<()> {
    let Some((brokers, topic)) = rest
        .split_once('/')
        .filter(|(b, t)| !b.is_empty() && !t.is_empty())
    else {
        return Err(usage(anyhow::anyhow!(
            "{}: expected kafka://HOST:PORT/TOPIC",
            args.path.display()
        )));
    };
    onfs_kafka::topic::check_topic_name(topic).map_err(crate::deliver::kafka_error)?;
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
        let label = format!("p{} @{}", rec.partition, rec.offset);
        match out.message(label, id, &rec.value) {
            Ok(open) => {
                n += 1;
                open
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
    Ok(())
}
