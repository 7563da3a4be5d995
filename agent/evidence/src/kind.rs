//! The kinds of event: defined with their payloads in the vocabulary crate.

pub use venturalitica_vocab::events::EventKind;
