//! The run pass of onfs-push as a library, in the order the data flows:
//!
//! sources (`onfs_sources`: catalog, newest partition, read, full outer join on the entity key)
//! -> transform (`onfs_core::transform`: rows with a null key dropped, exact duplicates and
//! duplicate keys, defaults filled) -> encode (`onfs_core::Encoder`) -> messages handed to the
//! caller, one at a time, with the pass's counts.
//!
//! Where the messages go (message files, Kafka, nowhere) is the caller's: the command line's
//! `run` hands them to its output; a front end shows progress from [`Counters`].

mod changes;
mod counters;
mod error;
mod job;
mod pass;
mod report;

pub use changes::{Changes, GroupCounts};
pub use counters::Counters;
pub use error::PipelineError;
pub use job::{EngineOptions, Job};
pub use pass::PreparedPass;
pub use report::PassReport;
