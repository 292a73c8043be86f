//! The online store's rules at the command line's edge: the plan-time checks, the warning for
//! types the store cannot keep, and the flag hints added to the library's errors.

use onfs_core::store::{FirstLengths, StoreError, VectorTally};
use onfs_core::{EncodeStats, EncoderOptions, Plan, VectorFit};

use crate::args::EncodeOptions;
use crate::error::{failed, usage, CliError, CliResult};

/// Checks the store rules against a plan before anything is read: declared names, vector
/// defaults of another length, and types the store cannot keep (a warning, or an error with
/// `--strict-store`). With `streaming`, every encoder of the run shares the first length seen.
pub fn prepare(
    plan: &Plan,
    flags: &EncodeOptions,
    opts: &mut EncoderOptions,
    streaming: bool,
) -> CliResult<()> {
    opts.store.check_plan(plan)?;
    if let Some(e) = onfs_core::StoreRules::unkept(plan) {
        if flags.strict_store {
            return Err(usage(anyhow::anyhow!(
                "{e}; every message holding them is dropped by the store. Leave these groups out with --fgs (--strict-store is on)"
            )));
        }
        tracing::warn!(
            "{e}; every message holding them is dropped by the store (leave these groups out with --fgs; --strict-store makes this an error)"
        );
    }
    opts.first_lengths = (streaming && opts.store.vector_fit != VectorFit::Keep)
        .then(|| std::sync::Arc::new(FirstLengths::new(plan)));
    Ok(())
}

/// After encoding, before sending: every vector feature has one length.
pub fn check_lengths(stats: &EncodeStats) -> CliResult<()> {
    stats.check_vector_lengths().map_err(CliError::from)
}

/// The rows fitted to declared lengths, for the summary.
pub fn fitted_summary(vectors: &[VectorTally]) -> Option<String> {
    let parts: Vec<String> = vectors
        .iter()
        .filter(|t| t.padded_rows + t.truncated_rows > 0)
        .map(|t| {
            format!(
                "{} to {}: {} padded, {} truncated",
                t.feature,
                t.expected.unwrap_or_default(),
                t.padded_rows,
                t.truncated_rows
            )
        })
        .collect();
    (!parts.is_empty()).then(|| format!("vectors fitted to their length: {}", parts.join("; ")))
}

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        let hint = match &e {
            StoreError::Ragged(_) => {
                "--vector-length GROUP.FEATURE=N declares a feature's registered length (with --vector-fit pad, truncate or pad-truncate to fit the rows to it); --vector-fit keep sends them as they are, for a store without this rule"
            }
            StoreError::WrongLength { .. } => {
                "--vector-fit pad, truncate or pad-truncate fits rows to the declared length (--vector-length); --vector-fit keep turns the check off"
            }
            StoreError::UnknownFeature { .. } | StoreError::DefaultLength { .. } => {
                return usage(anyhow::anyhow!("{e} (--vector-length, [vector_lengths])"));
            }
            StoreError::Unkept { .. } => return usage(e),
            StoreError::TooManyGroups { .. } => {
                return usage(anyhow::anyhow!("{e} (--fgs)"));
            }
        };
        failed(anyhow::anyhow!("{e}\nhint: {hint}"))
    }
}
