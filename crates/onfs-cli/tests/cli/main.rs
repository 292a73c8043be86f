//! onfs-push end to end: the real binary, real files, a real HTTP server.

mod support;

mod encode;
mod hive;
mod kafka;
mod metadata;
mod plan;
mod run;
mod store;
mod stores;
mod verify;
