//! onfs-core integration tests: reference cases, the metadata client against a real HTTP
//! server, every encoder error, property tests of the encoder (`encode_props`) and byte-level
//! fuzz targets of the metadata parser and inspect's decoder (`bad_bytes`).

mod support;

mod bad_bytes;
/// Shared with onfs-file's bad-input tests: the allocation probe and the case count.
#[path = "../../../onfs-file/tests/integration/harness.rs"]
mod harness;

mod encode_props;
mod encoder_errors;
mod metadata_http;
mod reference;
mod round_trip;
mod store_rules;
