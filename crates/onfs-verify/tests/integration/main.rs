//! onfs-verify against the test store over real gRPC on 127.0.0.1: messages encoded by
//! onfs-core's encoder, stored as the consumer would, read back and compared.

mod support;

mod failures;
mod read_back;
mod tls;
