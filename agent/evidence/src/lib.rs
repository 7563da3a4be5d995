//! The evidence store: `.venturalitica/` at the project root.
//!
//! ```text
//! .venturalitica/
//!   trace.jsonl          append-only events, each chained to the previous by
//!                        SHA-256 and signed with the writer's Ed25519 key
//!   chain_head           seq and hash of the last commit, so a cut tail shows
//!   policies/<sha>.yaml  every policy version ever evaluated, byte for byte
//!   trace_latest.json    snapshot of the latest results, for CI and artifacts
//!   results.json         the last results in the SDK's shape (a convenience
//!                        copy for SDK tools, not evidence)
//!   trace.torn-*.jsonl   partial lines left by a killed writer, kept aside
//! ```
//!
//! `docs/evidence.md` states what the chain, the signatures and the anchors
//! each prove.
//!
//! # Layout
//!
//! - [`root`]: finding the project root.
//! - [`artifact`]: fingerprints of the files a monitored block names.
//! - [`kind`]: the kinds of event.
//! - [`chain`]: the line format, its hashes and signatures.
//! - [`key`]: the signing key (outside the project) and trusted public keys.
//! - [`verify`]: the chain checker every reader uses, and its report.
//! - [`store`]: appending under a file lock, recovering torn lines, policy
//!   copies, the latest snapshot, and verification of a consistent view.

pub mod artifact;
pub mod chain;
pub mod key;
pub mod kind;
pub mod root;
pub mod store;
pub mod verify;

pub use chain::{Event, GENESIS};
pub use key::{EvidenceKey, KeyError, PublicKey};
pub use kind::EventKind;
pub use root::find_root;
pub use store::{Appended, EvidenceError, Signing, Store};
pub use verify::{ChainChecker, Checked, Finding, Head, HeadFile, VerifyOptions, VerifyReport};
