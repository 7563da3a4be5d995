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
//!   basis/<sha>.json     an energy report's basis, kept once per session
//!   checkpoint.bin       a signed checkpoint: what readers need of the events
//!                        up to one of them (see [`checkpoint`])
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
//! - [`index`], [`checkpoint`], [`read`]: what readers need of each event, a
//!   signed checkpoint of it, and reading the trail from the last one.
//! - [`store`]: appending under a file lock, recovering torn lines, policy
//!   copies, the latest snapshot, and verification of a consistent view.

pub mod approval;
pub mod artifact;
pub mod chain;
pub mod checkpoint;
pub mod index;
pub mod key;
pub mod kind;
pub mod read;
pub mod root;
pub mod store;
pub mod verify;

pub use chain::{Event, GENESIS};
pub use checkpoint::CheckpointPolicy;
pub use index::{CellFacts, Indexed};
pub use key::{EvidenceKey, KeyError, PublicKey};
pub use kind::EventKind;
pub use read::{Covered, ReadEvent, ReadOptions, Source, TrailRead};
pub use root::find_root;
pub use store::{Appended, CopyError, EvidenceError, Signing, Store};
pub use verify::{
    ChainChecker, ChainState, Checked, Finding, Head, HeadFile, VerifyOptions, VerifyReport,
};
