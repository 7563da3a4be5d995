//! Any bytes as a .parquet data file: results or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|bytes: &[u8]| common::run(bytes, "parquet"));
