//! The metadata service: its answer and the client that asks for it.

mod client;
mod model;

pub use client::{fetch_metadata, read_metadata_file, scrub, MetadataError, MetadataRequest};
pub use model::{BasePath, DataPath, Metadata, MetadataFormatError, SourceEntry, SourceKind};
