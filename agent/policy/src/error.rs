//! Errors from loading a policy, each naming where the problem is.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// 1-based line and column in a policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A policy that cannot be used, with the file and place that make it so.
#[derive(Debug, Error)]
pub struct PolicyError {
    pub path: PathBuf,
    pub location: Option<Location>,
    /// Boxed: results of every loader function carry this error.
    pub kind: Box<PolicyErrorKind>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(loc) => write!(f, "{}:{}: {}", self.path.display(), loc, self.kind),
            None => write!(f, "{}: {}", self.path.display(), self.kind),
        }
    }
}

/// What is wrong with a policy.
#[derive(Debug, Error)]
pub enum PolicyErrorKind {
    /// The file could not be read.
    #[error("cannot read the policy: {0}")]
    Io(#[from] std::io::Error),
    /// The text is not YAML or JSON.
    #[error("not valid YAML or JSON: {0}")]
    Syntax(String),
    /// The top level is none of the shapes we read.
    #[error("unknown policy shape (top-level keys: {found}); expected one of component-definition, catalog, profile, system-security-plan, assessment-plan, or a list of controls")]
    UnknownShape { found: String },
    /// The policy holds no control.
    #[error("the policy has no controls")]
    Empty,
    /// A risk register with no control to evaluate.
    #[error("the policy has no controls, only a risk register of {risks} risk(s): link controls to them with a risk_id prop (a risk's uuid or legacy-id)")]
    OnlyRisks { risks: usize },
    /// A required field is absent.
    #[error("{context} has no `{field}`")]
    MissingField {
        field: &'static str,
        context: String,
    },
    /// A node has the wrong YAML type.
    #[error("expected {expected} for `{what}`")]
    WrongType {
        what: String,
        expected: &'static str,
    },
    #[error("control {control:?}: unknown operator {found:?}; expected one of < lt > gt <= le lte >= ge gte == eq != ne")]
    UnknownOperator { control: String, found: String },
    #[error("control {control:?}: threshold {found:?} is not a number")]
    BadThreshold { control: String, found: String },
    #[error("control {control:?}: unknown metric_key {found:?}; closest known: {}", suggestions.join(", "))]
    UnknownMetric {
        control: String,
        found: String,
        suggestions: Vec<&'static str>,
    },
    #[error(
        "control {control:?}: unknown enforcement_mode {found:?}; expected monitor, warn or block"
    )]
    BadEnforcementMode { control: String, found: String },
    #[error("control {control:?}: unknown decision {found:?}; expected point or interval")]
    BadDecision { control: String, found: String },
    #[error("control {control:?}: input.{slot} names no variable; give a variable name (or several, comma-separated)")]
    EmptyInput { control: String, slot: String },
    #[error("control {control:?}: {missing} is set but {absent} is not; a control needs metric_key, operator and threshold together")]
    IncompleteControl {
        control: String,
        missing: &'static str,
        absent: String,
    },
    #[error("control {control:?} links to {} inventory items that define a metric ({}); a control evaluates one metric: give each its own control", hrefs.len(), hrefs.join(", "))]
    SeveralLinkedMetrics { control: String, hrefs: Vec<String> },
    #[error("cannot import {href:?}: {source}")]
    Import {
        href: String,
        source: Box<PolicyError>,
    },
    #[error("profile selects control {id:?}, which no imported catalog defines")]
    UnknownImportedControl { id: String },
}
