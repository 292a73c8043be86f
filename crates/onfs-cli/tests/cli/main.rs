//! onfs-push end to end: the real binary, real files, a real HTTP server.

mod support;

mod encode;
mod faults;
mod metadata;
mod plan;
mod run;
mod shell;
mod state;
mod store;
mod verify;

// Tests that need services (scripts/test.sh starts them and passes --features service-tests):
// a Kafka broker, the object store emulators, a Hive Metastore.
#[cfg(feature = "service-tests")]
mod check;
#[cfg(feature = "service-tests")]
mod hive;
#[cfg(feature = "service-tests")]
mod kafka;
#[cfg(feature = "service-tests")]
mod kafka_security;
#[cfg(feature = "service-tests")]
mod metadata_tls;
#[cfg(feature = "service-tests")]
mod resume;
#[cfg(feature = "service-tests")]
mod stores;
#[cfg(feature = "service-tests")]
mod watch;
