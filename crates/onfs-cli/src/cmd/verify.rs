//! `onfs-push verify`: a sample of a message folder's entities read back from the online store's
//! retrieval API and compared with what was sent; a table, a summary, a JSON report.

use std::io::Write;
use std::path::Path;

use onfs_verify::{Sample, SampleSize, Sampler, TlsOptions, VerifyOptions, VerifyReport};

use crate::args::{seconds, StoreArgs, VerifyArgs};
use crate::error::{failed, usage, CliResult};
use crate::metadata::load_plan;

pub fn run(args: &VerifyArgs) -> CliResult<()> {
    let opts = options(&args.store)?;
    let plan = load_plan(&args.metadata)?;
    let sample = sample_messages(&args.path, args.sample, &args.store)?;
    if sample.entities.is_empty() {
        tracing::warn!(
            "{}: no message holds a row; nothing to verify",
            args.path.display()
        );
    }
    let report = onfs_verify::verify(&plan, &sample, &opts)?;
    finish(&report, args.report.as_deref())
}

/// The read-back options, checked before anything is read; the token is registered as a secret.
pub fn options(args: &StoreArgs) -> CliResult<VerifyOptions> {
    let Some(store) = args.store.clone() else {
        return Err(usage(anyhow::anyhow!(
            "no store: pass --store HOST:PORT (the online store's gRPC retrieval API)"
        )));
    };
    let Some(caller_id) = args.caller_id.clone() else {
        return Err(usage(anyhow::anyhow!(
            "no caller id: pass --caller-id ID (and its token in ONFS_CALLER_TOKEN)"
        )));
    };
    if let Some(token) = &args.caller_token {
        crate::logging::register_secret(token);
    }
    let mut opts = VerifyOptions::new(store, caller_id);
    opts.token = args.caller_token.clone().filter(|t| !t.is_empty());
    opts.tls = TlsOptions {
        enabled: args.store_tls,
        ca_file: args.store_ca.clone(),
        domain: args.store_tls_domain.clone(),
    };
    opts.wait = seconds("wait", args.wait, true)?;
    opts.connect_timeout = seconds("store-connect-timeout", args.store_connect_timeout, false)?;
    opts.request_timeout = seconds("store-timeout", args.store_timeout, false)?;
    opts.keys_per_request = args.keys_per_request as usize;
    Ok(opts)
}

/// The entities to check, chosen from a message folder or file.
pub fn sample_messages(path: &Path, size: SampleSize, args: &StoreArgs) -> CliResult<Sample> {
    let mut sampler = Sampler::new(size, seed(args));
    for message in onfs_file::read_messages(path)? {
        let message = message?;
        sampler.add_message(&message.value).map_err(|e| {
            failed(anyhow::anyhow!(
                "{}: {e} (intra_batch_id {})",
                path.display(),
                message.intra_batch_id
            ))
        })?;
    }
    Ok(sampler.finish())
}

/// `--seed`, or a new one.
pub fn seed(args: &StoreArgs) -> u64 {
    args.seed.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        nanos ^ ((std::process::id() as u64) << 32)
    })
}

/// Prints the table (stdout) and the summary (stderr), writes the JSON report, and fails (exit
/// 1) when something differs or came back as the defaults.
pub fn finish(report: &VerifyReport, report_path: Option<&Path>) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(report.table().as_bytes());
    let _ = out.flush();
    eprintln!("{}", report.summary());
    if let Some(path) = report_path {
        let json = serde_json::to_string_pretty(report).expect("the report serializes") + "\n";
        std::fs::write(path, json).map_err(|e| {
            failed(anyhow::anyhow!(
                "cannot write the report {}: {e}",
                path.display()
            ))
        })?;
    }
    if report.ok() {
        return Ok(());
    }
    let t = &report.totals;
    Err(failed(anyhow::anyhow!(
        "the store does not hold what was sent: {} of {} entity-groups differ, {} came back as the defaults",
        t.differs,
        t.checked,
        t.defaults
    )))
}
