//! The push ledger: what a job pushed, kept at a state location (a local folder or an object
//! store URL) so that the next run can send only what changed, skip partitions already pushed,
//! and never run twice at once.
//!
//! Per job (its name and the feature groups it pushes), under `<state>/<job>/`:
//! - `HEAD.json`: the ledger file in effect, the partitions pushed, the last runs. Replacing it
//!   is the commit: one put, atomic on every object store and (by rename) on a local folder.
//! - `ledger-<run>-<n>.parquet`: per entity key hash, each group's value hash and the time it
//!   was last sent; and `ledger-<run>-<n>-sends.parquet`, the change files: what runs that
//!   changed few keys sent since (the head lists them; the ledger is the first with each
//!   applied in turn, and written whole again once they are many).
//! - `LOCK.json`: the run holding the job (made with a create-only put).
//!
//! Beside it, in a local folder, each job's resume area (`resume`): the spool of a pass being
//! delivered and the journal of what the brokers acknowledged, for a cut run to resume.

mod duration;
mod error;
pub mod hashing;
mod head;
mod job;
pub mod joined;
pub mod ledger;
pub mod ledger_side;
mod location;
mod lock;
mod resume;
mod sends;
mod sent_times;
mod status;

pub use duration::parse_duration;
pub use error::StateError;
pub use head::{Head, PassSources, Pushed, PushedPass, RunRecord};
pub use job::{job_key, put_sends, JobState, NewLedger};
pub use ledger::{Ledger, Updates, HASH_SCHEME};
pub use ledger_side::{read_ledger_side, LedgerFile, LedgerSideBatches};
pub use location::StateLocation;
pub use lock::LockInfo;
pub use resume::{head_fingerprint, Acked, Journal, PendingPass, ResumeArea};
pub use sends::Sends;
pub use status::{JobStatus, PendingStatus};
