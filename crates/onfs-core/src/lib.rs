//! onfs-push core: the metadata client, the plan, and the Arrow-to-protobuf encoder.
//!
//! This crate depends on arrow alone (no query engine, no Kafka client), so the command line
//! and the Python extension share it.

pub mod datatype;
pub mod encode;
pub mod frame;
pub mod hashed;
pub mod inspect;
pub mod metadata;
pub mod partition;
pub mod partition_order;
pub mod plan;
pub mod prefetch;
pub mod proto;
pub mod sample;
pub mod store;
pub mod text;
pub mod transform;

pub use datatype::{DataType, Element};
pub use encode::{
    EncodeError, EncodeStats, EncodedMessage, Encoder, EncoderOptions, GroupSetEncoder,
};
pub use metadata::{Metadata, MetadataError, MetadataRequest, SourceKind};
pub use plan::Plan;
pub use proto::count_rows as proto_rows;
pub use store::{StoreError, StoreRules, VectorFit};
