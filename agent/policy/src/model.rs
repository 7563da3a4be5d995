//! The loaded policy: what the engine evaluates and results record.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use venturalitica_metrics::{MetricKey, Slot};

use crate::error::Location;

/// Which OSCAL model the policy was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyShape {
    ComponentDefinition,
    Catalog,
    Profile,
    SystemSecurityPlan,
    AssessmentPlan,
    ControlList,
}

impl PolicyShape {
    pub fn name(self) -> &'static str {
        match self {
            PolicyShape::ComponentDefinition => "component-definition",
            PolicyShape::Catalog => "catalog",
            PolicyShape::Profile => "profile",
            PolicyShape::SystemSecurityPlan => "system-security-plan",
            PolicyShape::AssessmentPlan => "assessment-plan",
            PolicyShape::ControlList => "control-list",
        }
    }
}

/// A file the policy was read from, kept byte for byte for the evidence store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    pub sha256: String,
    pub text: String,
}

/// A policy: its identity and its evaluable controls.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The policy file itself, then any catalog a profile imports.
    pub sources: Vec<SourceFile>,
    pub shape: PolicyShape,
    pub uuid: Option<String>,
    pub title: Option<String>,
    pub version: Option<String>,
    pub controls: Vec<Control>,
    /// Controls with no metric at all (prose requirements): listed in results
    /// as not automatable, never evaluated and never counted as passed.
    pub manual_controls: Vec<String>,
    /// What was read leniently, as the SDK reads it (a key written twice in
    /// one mapping: the last value wins), each naming the lines.
    pub warnings: Vec<String>,
}

impl Policy {
    /// Every control decided `how`, whatever its `decision` prop says
    /// (`enforce --decision`, `vl.enforce(..., decision=...)`).
    pub fn decide_every_control(&mut self, how: Decision) {
        for control in &mut self.controls {
            control.decision = how;
        }
    }

    /// The file the user named.
    pub fn main_source(&self) -> &SourceFile {
        &self.sources[0]
    }
}

/// How a load treats a control whose `metric_key` is unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Leniency {
    /// The whole policy is refused, naming the file, line and column.
    #[default]
    Strict,
    /// The control loads with [`Metric::Unknown`] and evaluates to an
    /// `error` result (the Python API's non-strict mode, as the SDK reads
    /// policies). Every other problem still refuses the policy.
    UnknownMetricsAsErrors,
}

/// A control's metric: one the engine computes, or, in a lenient load
/// ([`crate::Leniency::UnknownMetricsAsErrors`]), a key it does not know,
/// kept so that the control is reported as an `error` result, never dropped.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    Known(MetricKey),
    /// Why the key is not known: the loader's located message.
    Unknown {
        reason: String,
    },
}

impl Metric {
    pub fn known(&self) -> Option<MetricKey> {
        match self {
            Metric::Known(key) => Some(*key),
            Metric::Unknown { .. } => None,
        }
    }
}

/// One evaluable control.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub id: String,
    pub description: Option<String>,
    pub metric: Metric,
    /// The key as written (an alias, say), for messages.
    pub metric_as_written: String,
    pub operator: Operator,
    pub threshold: f64,
    pub severity: Option<String>,
    pub enforcement_mode: EnforcementMode,
    /// Whether the policy wrote `enforcement_mode` (else it is the default,
    /// block). The Python API raises only for a block the policy declared.
    pub enforcement_declared: bool,
    /// How the value decides the status (prop `decision`; `point` when
    /// absent, so SDK policies keep their meaning).
    pub decision: Decision,
    /// Slot → variable names (one, or several for list slots).
    pub inputs: BTreeMap<Slot, Vec<String>>,
    /// Risk-treatment props, passed through to results untouched.
    pub risk: BTreeMap<String, String>,
    /// Every other prop: parameters for the metric.
    pub params: BTreeMap<String, String>,
    pub location: Location,
}

impl Control {
    /// The canonical metric key, or the key as written when it is unknown.
    pub fn metric_name(&self) -> &str {
        match self.metric {
            Metric::Known(key) => key.name(),
            Metric::Unknown { .. } => &self.metric_as_written,
        }
    }
}

/// How a metric value is compared with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Operator {
    /// Every spelling the design allows.
    pub fn parse(s: &str) -> Option<Operator> {
        Some(match s.trim() {
            "<" | "lt" => Operator::Lt,
            "<=" | "le" | "lte" => Operator::Le,
            ">" | "gt" => Operator::Gt,
            ">=" | "ge" | "gte" => Operator::Ge,
            "==" | "=" | "eq" => Operator::Eq,
            "!=" | "ne" => Operator::Ne,
            _ => return None,
        })
    }

    /// Whether the rule bounds the value from below (`>`, `>=`) and from
    /// above (`<`, `<=`): what the catalogue's orientation check needs.
    pub fn bounds(self) -> (bool, bool) {
        (
            matches!(self, Operator::Gt | Operator::Ge),
            matches!(self, Operator::Lt | Operator::Le),
        )
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Lt => "<",
            Operator::Le => "<=",
            Operator::Gt => ">",
            Operator::Ge => ">=",
            Operator::Eq => "==",
            Operator::Ne => "!=",
        }
    }

    /// Whether `actual <op> threshold` holds. Equality allows a relative
    /// tolerance of 1e-9 so that a value printed as 0.8 equals 0.8.
    pub fn holds(self, actual: f64, threshold: f64) -> bool {
        let equal = (actual - threshold).abs() <= 1e-9 * threshold.abs().max(1.0);
        match self {
            Operator::Lt => actual < threshold,
            Operator::Le => actual <= threshold || equal,
            Operator::Gt => actual > threshold,
            Operator::Ge => actual >= threshold || equal,
            Operator::Eq => equal,
            Operator::Ne => !equal,
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

pub use venturalitica_vocab::results::{Decision, EnforcementMode};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operator_spelling_parses() {
        for (s, op) in [
            ("<", Operator::Lt),
            ("lt", Operator::Lt),
            (">", Operator::Gt),
            ("gt", Operator::Gt),
            ("<=", Operator::Le),
            ("le", Operator::Le),
            ("lte", Operator::Le),
            (">=", Operator::Ge),
            ("ge", Operator::Ge),
            ("gte", Operator::Ge),
            ("==", Operator::Eq),
            ("eq", Operator::Eq),
            ("!=", Operator::Ne),
            ("ne", Operator::Ne),
        ] {
            assert_eq!(Operator::parse(s), Some(op), "{s}");
        }
        assert_eq!(Operator::parse("=>"), None);
    }

    #[test]
    fn comparisons() {
        assert!(Operator::Gt.holds(0.81, 0.8));
        assert!(!Operator::Gt.holds(0.8, 0.8));
        assert!(Operator::Ge.holds(0.1 + 0.7, 0.8));
        assert!(Operator::Eq.holds(0.1 + 0.2, 0.3));
        assert!(!Operator::Lt.holds(f64::NAN, 1.0));
    }
}
