//! The evidence store: `.venturalitica/` at the project root.
//!
//! ```text
//! .venturalitica/
//!   trace.jsonl          append-only events, each chained to the previous by SHA-256
//!   chain_head           seq and hash of the last event, so a cut tail shows
//!   policies/<sha>.yaml  every policy version ever evaluated, byte for byte
//!   trace_latest.json    snapshot of the latest results, for CI and artifacts
//!   trace.torn-*.jsonl   partial lines left by a killed writer, kept aside
//! ```
//!
//! # Layout
//!
//! - [`root`]: finding the project root.
//! - [`chain`]: the line format and its hashes.
//! - [`store`]: appending under a file lock, recovering torn lines, policy
//!   copies, the latest snapshot, and verification.

pub mod chain;
pub mod root;
pub mod store;

pub use chain::{Event, GENESIS};
pub use root::find_root;
pub use store::{Appended, EvidenceError, Finding, Store, VerifyReport};
