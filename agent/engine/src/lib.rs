//! Policy evaluation on data: binds each control's inputs to columns,
//! reduces the data to count tables with polars, and turns the tables into
//! results with the metrics crate.
//!
//! # Layout
//!
//! - [`data`]: opening CSV, Parquet and Arrow IPC files lazily.
//! - [`binding`]: variable → column mapping (keywords, the name itself,
//!   the synonym table) and the error that lists the columns that exist.
//! - [`counts`]: the count tables stage one needs, as requests any engine can answer.
//! - `tables`: asks for them and shapes the answers into tables.
//! - [`reference`]: reference snapshots, what drift is measured against.
//! - [`remote`]: the answers of an engine where the data lives (Spark, DuckDB).
//! - `source`: the used columns in memory, or streamed for data larger than
//!   memory; polars answers the requests there.
//! - `fingerprint`: SHA-256 of the columns a policy used.
//! - [`results`]: the one JSON shape of results used everywhere.
//! - [`evaluate`]: the whole pipeline, control by control.

pub mod binding;
pub mod counts;
pub mod data;
pub mod evaluate;
mod fingerprint;
mod params;
pub mod reference;
pub mod remote;
pub mod results;
mod sorted;
mod source;
pub mod sql;
mod tables;

pub use binding::Mapping;
pub use data::{open_data, read_ipc_bytes, DataError};
pub use evaluate::{
    build_reference, build_reference_counts, columns_needed, evaluate, evaluate_counts,
    evaluate_metrics, Counted, DataSet,
};
pub use reference::{Reference, References};
pub use results::{ControlResult, Results, Status};
