//! `onfs-push send`: a folder of messages to Kafka.

use crate::args::SendArgs;
use crate::deliver;
use crate::error::CliResult;

pub fn run(args: &SendArgs) -> CliResult<()> {
    deliver::check_offline(&args.kafka)?;
    let files = onfs_file::messages::message_files(&args.path)?;
    tracing::debug!(files = files.len(), "sending {}", args.path.display());
    let producer = deliver::producer_config(&args.kafka)?;
    let mut deliverer = deliver::connect(&args.kafka, producer)?;
    deliver::deliver_folder(
        &mut deliverer,
        &args.path,
        args.kafka.kafka_num_batches,
        None,
    )?;
    deliver::finish(deliverer, "sent")?;
    Ok(())
}
