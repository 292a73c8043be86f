//! The metadata options to a plan.

use onfs_core::metadata::{fetch_metadata, read_metadata_file, MetadataRequest};
use onfs_core::Plan;

use crate::args::{seconds, MetadataArgs};
use crate::error::{usage, CliResult};

pub fn load_plan(args: &MetadataArgs) -> CliResult<Plan> {
    let meta = match (&args.metadata_file, &args.metadata_url) {
        (Some(file), _) => read_metadata_file(file)?,
        (None, Some(url)) => {
            let job_id = args.job_id.clone().unwrap_or_default();
            let Some(token) = args.job_token.clone() else {
                return Err(usage(anyhow::anyhow!(
                    "no job token: pass --job-token or set ONFS_JOB_TOKEN"
                )));
            };
            crate::logging::register_secret(&token);
            let mut req = MetadataRequest::new(url.clone(), job_id, token);
            req.connect_timeout = seconds("metadata-connect-timeout", args.metadata_connect_timeout, false)?;
            req.total_timeout = seconds("metadata-timeout", args.metadata_timeout, false)?;
            req.ca_file = args.metadata_ca.clone();
            fetch_metadata(&req)?
        }
        (None, None) => {
            return Err(usage(anyhow::anyhow!(
                "no metadata: pass --metadata-url URL --job-id ID (token in ONFS_JOB_TOKEN), or --metadata-file FILE"
            )))
        }
    };
    Ok(Plan::build(&meta, &args.fgs)?)
}
