//! onfs-core integration tests: reference cases, the metadata client against a real HTTP
//! server, and every encoder error.

mod support;

#[path = "../../../onfs-file/tests/integration/alloc_probe.rs"]
mod alloc_probe;
mod bad_bytes;

mod encode_props;
mod encoder_errors;
mod metadata_http;
mod reference;
mod round_trip;
mod store_rules;
