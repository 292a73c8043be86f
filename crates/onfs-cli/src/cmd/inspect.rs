//! `onfs-push inspect`

use std::io::{BufWriter, Write};

use onfs_core::inspect::message_json_line;

use crate::args::InspectArgs;
use crate::error::{failed, CliResult};

pub fn run(args: &InspectArgs) -> CliResult<()> {
    let messages = onfs_file::read_messages(&args.path)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
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
