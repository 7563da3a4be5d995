//! Metrics computed from contingency tables.
//!
//! The policy engine works in two stages: a data engine (polars here; Spark,
//! DuckDB or a warehouse tomorrow) reduces the rows to per-group counts, and
//! this crate turns those counts into metric values, per-group breakdowns and
//! bootstrap confidence intervals. Nothing here sees a row, so counts computed
//! anywhere feed it unchanged.
//!
//! # Layout
//!
//! - [`table`]: the count tables a data engine produces.
//! - [`catalog`]: every metric key, its aliases, the inputs and parameters it
//!   takes; the one registry the policy loader and the engine consult.
//! - [`compute`]: metric values from tables, with undefined cases as errors.
//! - [`bootstrap`]: multinomial resampling of a table for confidence intervals.
//! - [`privacy`]: k-anonymity, l-diversity, t-closeness, data minimisation.
//! - [`multiclass`]: one-vs-rest fairness over many classes, aggregated.
//! - [`score`]: means, maxima and group disparities of a per-case score.
//! - [`drift`]: PSI, Jensen-Shannon, Wasserstein, Kolmogorov-Smirnov and
//!   chi-squared between a reference's bins and the current data's.
//!
//! Formulas are documented in `docs/metrics.md` and cross-checked against
//! fairlearn and scikit-learn by `tests/test_crosscheck.py`.

pub mod bootstrap;
pub mod catalog;
pub mod compute;
pub mod drift;
pub mod multiclass;
pub mod privacy;
pub mod score;
pub mod table;

pub use bootstrap::{bootstrap_ci, BootstrapSpec, ConfidenceInterval};
pub use catalog::{Family, MetricKey, Slot};
pub use compute::{Average, GroupBreakdown, MetricError, MetricValue};
pub use multiclass::{Aggregation, ConfusionTable};
pub use score::{Measure, ScoreCell};
pub use table::{BinaryCounts, ClassCounts, GroupTable, OutcomeCounts};
