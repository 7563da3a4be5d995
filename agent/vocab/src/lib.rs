//! The vocabulary the agent's crates share, without polars: what one crate
//! writes and another reads is defined here once, Serialize and
//! Deserialize, and the JSON schemas in `schemas/` are generated from it.
//!
//! - [`results`]: the results document of an evaluation, its status and
//!   enforcement mode, the blocking rule and the latest result per control.
//! - [`events`]: the kinds of evidence event and the payload of each.
//! - [`energy`]: an energy report's totals, summed by every reader.
//! - [`project`]: the project's `pyproject.toml`, read with one error policy.
//! - [`schema`]: the generated schemas.

pub mod energy;
pub mod events;
pub mod project;
pub mod results;
pub mod schema;
