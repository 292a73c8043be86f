//! `onfs-push status --state URL`: what the push ledger holds, job by job.

use onfs_sources::StorageOptions;
use onfs_state::{JobStatus, StateLocation};

use crate::args::StatusArgs;
use crate::error::{failed, usage, CliResult};

pub fn run(args: &StatusArgs) -> CliResult<()> {
    let mut storage = StorageOptions::default();
    for o in &args.storage_options {
        storage.add_arg(o)?;
    }
    let location = StateLocation::open(&args.location, &storage).map_err(usage)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(failed)?;
    let jobs = runtime
        .block_on(location.status(args.spool_dir.as_deref()))
        .map_err(failed)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&jobs).expect("status serializes")
        );
        return Ok(());
    }
    println!(
        "state {}: {} job{}",
        args.location,
        jobs.len(),
        if jobs.len() == 1 { "" } else { "s" }
    );
    for job in &jobs {
        print_job(job, args.runs);
    }
    Ok(())
}

fn print_job(job: &JobStatus, runs: usize) {
    match &job.head {
        Some(h) => {
            println!("\n{} ({})", h.job, job.folder);
            println!("  groups: {}", h.groups.join(", "));
            match &h.ledger {
                Some(file) => println!(
                    "  ledger: {} keys, {} bytes ({file})",
                    h.keys, h.ledger_bytes
                ),
                None => println!("  ledger: none (no --changed-only run yet)"),
            }
            println!("  partitions pushed: {} passes", h.pushed.len());
            if let Some(last) = h.pushed.last() {
                let parts: Vec<String> = last
                    .sources
                    .iter()
                    .map(|(s, p)| format!("{s} {}", p.as_deref().unwrap_or("(all rows)")))
                    .collect();
                println!("    last: {} (run {})", parts.join(", "), last.run);
            }
            println!("  runs (newest first):");
            for r in h.runs.iter().rev().take(runs) {
                println!(
                    "    {}  finished {}  {} rows, {} messages, {} bytes to {}",
                    r.id, r.finished, r.rows, r.messages, r.bytes, r.output
                );
            }
        }
        None => println!("\n{}: no run committed yet", job.folder),
    }
    if let Some(lock) = &job.lock {
        println!("  held now by {lock}");
    }
    if let Some(p) = &job.pending {
        let parts: Vec<String> = p
            .pass
            .sources
            .iter()
            .map(|(s, part)| format!("{s} {}", part.as_deref().unwrap_or("(all rows)")))
            .collect();
        println!(
            "  pending: run {} was cut delivering {}: {} of {} messages acknowledged; the same command again sends the other {} and commits",
            p.pass.run,
            parts.join(", "),
            p.acknowledged,
            p.pass.messages,
            p.pass.messages - p.acknowledged.min(p.pass.messages)
        );
    }
}
