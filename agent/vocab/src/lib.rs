//! The vocabulary the agent's crates share, without polars: what one crate
//! writes and another reads is defined here once.
//!
//! - [`energy`]: an energy report's totals, summed by every reader.
//! - [`project`]: the project's `pyproject.toml`, read with one error policy.
//! - [`results`]: the words of a results document (a control's status).

pub mod energy;
pub mod project;
pub mod results;
