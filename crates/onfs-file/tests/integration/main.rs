//! onfs-file integration tests: message files and folders read back from bad input (cut,
//! corrupted, random), with the largest allocation each case makes measured.

mod bad_files;
mod harness;
