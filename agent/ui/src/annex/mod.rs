//! The technical documentation of the EU AI Act (Article 11, Annex IV),
//! filled from the evidence: one document, rendered as Markdown (the CLI),
//! as HTML (the CLI, the dashboard's Report page, and through Chromium as
//! PDF).
//!
//! Every statement drawn from the evidence names the events it rests on
//! (sequence number and hash). What the evidence cannot say is listed as
//! missing, never invented: the prose only a person can write (intended
//! purpose, provider, human oversight, standards, the declaration of
//! conformity, the post-market plan) comes from `[tool.venturalitica.annex-iv]`
//! in the project's `pyproject.toml`.

//!
//! - [`facts`]: what is read from files (the project's prose, the BOM).
//! - [`build`]: the document, from the trail and those facts, reading nothing.
//! - [`render`]: the document as Markdown and as HTML.

mod build;
mod facts;
pub(crate) mod md;
mod render;

pub use build::build;
pub use facts::{bom, FactsError, ProjectFacts};

use crate::trail::Entry;

/// An event a statement rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub seq: u64,
    pub hash: String,
}

impl Ref {
    fn of(e: &Entry) -> Ref {
        Ref {
            seq: e.seq,
            hash: e.hash.clone(),
        }
    }
}

/// One statement and its evidence (none for the project's own prose).
#[derive(Debug, Clone)]
pub struct Statement {
    pub text: String,
    pub evidence: Vec<Ref>,
    /// From `pyproject.toml`, written by a person, not derived.
    pub declared: bool,
}

#[derive(Debug, Clone)]
pub struct Section {
    /// The point of Annex IV, 1 to 9.
    pub number: u8,
    pub title: &'static str,
    pub statements: Vec<Statement>,
    /// What this point asks for that neither the evidence nor the project
    /// file supplies.
    pub missing: Vec<String>,
}

/// The whole document.
#[derive(Debug, Clone)]
pub struct Document {
    pub system: String,
    pub generated_at: String,
    pub integrity: Statement,
    pub sections: Vec<Section>,
    /// The approvals recorded (`venturalitica approve`), for the sign-off.
    pub approvals: Vec<SignOff>,
}

/// One row of the sign-off: a recorded approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOff {
    pub role: String,
    pub principal: String,
    pub date: String,
    /// The key's fingerprint and the event the approval covers.
    pub signature: String,
    pub evidence: Ref,
}
