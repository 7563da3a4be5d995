//! The vocabulary the agent's crates share, without polars: what one crate
//! writes and another reads is defined here once.
//!
//! - [`project`]: the project's `pyproject.toml`, read with one error policy.

pub mod project;
