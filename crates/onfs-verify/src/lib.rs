//! Reads pushed features back from the online feature store (its gRPC retrieval API) and
//! compares them with what was sent, after the store's own conversions.
//!
//! ```no_run
//! # fn demo(plan: &onfs_core::Plan, messages: &[Vec<u8>]) -> Result<(), onfs_verify::VerifyError> {
//! use onfs_verify::{verify, SampleSize, Sampler, VerifyOptions};
//! let mut sampler = Sampler::new(SampleSize::Count(1000), 42);
//! for m in messages {
//!     sampler.add_message(m)?;
//! }
//! let sample = sampler.finish();
//! let mut opts = VerifyOptions::new("onfs-api:8089", "my-job");
//! opts.token = std::env::var("ONFS_CALLER_TOKEN").ok();
//! let report = verify(plan, &sample, &opts)?;
//! print!("{}", report.table());
//! assert!(report.ok());
//! # Ok(()) }
//! ```

mod client;
mod compare;
pub mod convert;
pub mod decode;
mod error;
pub mod proto;
mod report;
mod sample;
#[cfg(feature = "testing")]
pub mod testing;
mod verify;

pub use client::{TlsOptions, VerifyOptions, AUTH_TOKEN_HEADER, CALLER_ID_HEADER};
pub use error::VerifyError;
pub use report::{Class, Counts, Example, GroupReport, VerifyReport, MAX_EXAMPLES};
pub use sample::{Sample, SampleSize, SampledEntity, Sampler, Schema, Sent};
pub use verify::{check_store, verify, verify_async};
