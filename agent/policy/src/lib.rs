//! Policy loading: the OSCAL documents Venturalitica users already have,
//! turned into a flat list of evaluable [`Control`]s.
//!
//! # Layout
//!
//! - [`model`]: [`Policy`], [`Control`], [`Metric`], [`Operator`],
//!   [`EnforcementMode`], [`Leniency`].
//! - [`error`]: [`PolicyError`], which always names the file, and the line
//!   and column when the problem is inside it.
//! - `yaml`: span-aware access to the parsed document (JSON is read by the
//!   same parser, since YAML 1.2 is a superset of JSON).
//! - `shapes`: where controls live in each OSCAL shape
//!   (`component-definition`, `catalog`, `profile`, `system-security-plan`,
//!   legacy `assessment-plan`) and in a plain list.
//! - `props`: a control's props (`metric_key`, `threshold`, `operator`,
//!   `input.<slot>`, risk-treatment fields, metric parameters).

pub mod error;
pub mod model;
mod props;
mod shapes;
mod yaml;

pub use error::{Location, PolicyError, PolicyErrorKind};
pub use model::{
    Control, Decision, EnforcementMode, Leniency, Metric, Operator, Policy, PolicyShape, SourceFile,
};
pub use shapes::{load_policy, load_policy_with, parse_policy, parse_policy_with};
