//! onfs-file integration tests: message files and folders read back from bad input (cut,
//! corrupted, random), with the largest allocation each case makes measured; Parquet inputs
//! encoded in row ranges on several threads.

mod bad_files;
mod harness;
mod ranges;
