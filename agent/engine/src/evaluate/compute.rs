//! One control computed: its count tables (shared between controls that
//! read the same columns), its value and interval, and its result.

use std::collections::{BTreeMap, HashMap};

use venturalitica_metrics::bootstrap::{bootstrap_ci, bootstrap_classes};
use venturalitica_metrics::compute::{self, MetricValue};
use venturalitica_metrics::multiclass::{self, Aggregation};
use venturalitica_metrics::privacy::{self, DEFAULT_SENSITIVE_COLUMNS};
use venturalitica_metrics::score::{self, ScoreStat};
use venturalitica_metrics::{BinaryCounts, Family, GroupTable, MetricKey, OutcomeCounts, Slot};
use venturalitica_policy::{Control, Decision, Operator};

use crate::counts::Counter;
use crate::reference::References;
use crate::results::{Binding, ControlResult, Status};
use crate::tables::{self, Grouping};
use venturalitica_vocab::results::DriftInfo;

use super::plan::Plan;

pub(super) struct Computed {
    pub(super) value: MetricValue,
    pub(super) ci: Option<venturalitica_metrics::ConfidenceInterval>,
    /// For a drift control: the reference it was compared with.
    pub(super) drift: Option<DriftInfo>,
}

/// What a confusion table was built from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BinaryKey {
    grouping: Option<Grouping>,
    target: String,
    prediction: String,
    label: Option<String>,
}

/// Count tables shared by controls that read the same columns.
#[derive(Default)]
pub(super) struct TableCache {
    outcome: HashMap<String, Result<GroupTable<OutcomeCounts>, String>>,
    binary: Vec<(BinaryKey, Result<GroupTable<BinaryCounts>, String>)>,
}

impl TableCache {
    /// Selection rates of `prediction` by `grouping`, from a confusion table
    /// already built over the same prediction, grouping and label.
    fn outcome_from_binary(
        &self,
        grouping: Option<&Grouping>,
        prediction: &str,
        label: Option<&str>,
    ) -> Option<GroupTable<OutcomeCounts>> {
        self.binary.iter().find_map(|(k, t)| {
            let same = k.grouping.as_ref() == grouping
                && k.prediction == prediction
                && k.label.as_deref() == label;
            t.as_ref()
                .ok()
                .filter(|_| same)
                .map(GroupTable::selection_counts)
        })
    }
}

pub(super) fn compute(
    control: &Control,
    plan: &Plan,
    src: &dyn Counter,
    all_columns: &[String],
    cache: &mut TableCache,
    references: &References,
) -> Result<Computed, String> {
    let key = plan.key;
    let label = plan.params.positive_label.as_deref();
    let grouping = match plan.one(Slot::Dimension) {
        None => None,
        Some(c) => Some(match plan.params.quantile_buckets {
            Some(q) => Grouping {
                column: c.to_string(),
                bins: Some(tables::quantile_edges(src, c, q)?),
                right_closed: true,
            },
            None => Grouping {
                column: c.to_string(),
                bins: plan.params.bins.clone(),
                right_closed: false,
            },
        }),
    };
    let metric_err = |e: compute::MetricError| e.to_string();
    match key.family() {
        Family::OutcomeRate => {
            let column = plan
                .one(Slot::Prediction)
                .or(plan.one(Slot::Target))
                .unwrap_or_default();
            // selection_rate may have no attribute: then one group of every row.
            let grouping = grouping.filter(|_| plan.one(Slot::Dimension).is_some());
            let cache_key = format!("{grouping:?}|{column}|{label:?}");
            let derived = if plan.one(Slot::Prediction).is_some() {
                cache.outcome_from_binary(grouping.as_ref(), column, label)
            } else {
                None
            };
            let table = match derived {
                Some(t) => t,
                None => cache
                    .outcome
                    .entry(cache_key)
                    .or_insert_with(|| {
                        let positive = tables::positive(src, column, label)?;
                        tables::outcome_table(src, grouping.as_ref(), &positive)
                    })
                    .clone()?,
            };
            let value = compute::outcome_metric(key, &table).map_err(metric_err)?;
            let ci = plan.params.bootstrap.and_then(|spec| {
                bootstrap_ci(&table, spec, |t| compute::outcome_value(key, t).ok())
            });
            Ok(Computed { value, ci, drift: None })
        }
        Family::ErrorRate | Family::Performance => {
            let target = plan.one(Slot::Target).unwrap_or_default();
            let prediction = plan.one(Slot::Prediction).unwrap_or_default();
            let grouping = if key.family() == Family::ErrorRate {
                grouping
            } else {
                None
            };
            let table_key = BinaryKey {
                grouping: grouping.clone(),
                target: target.to_string(),
                prediction: prediction.to_string(),
                label: label.map(str::to_string),
            };
            let table = match cache.binary.iter().find(|(k, _)| *k == table_key) {
                Some((_, t)) => t.clone()?,
                None => {
                    let built = (|| {
                        // Both checks before either error: an engine that
                        // counts elsewhere is asked for both in one round.
                        let (y, p) = (
                            tables::positive(src, target, label),
                            tables::positive(src, prediction, label),
                        );
                        tables::binary_table(src, grouping.as_ref(), &y?, &p?)
                    })();
                    cache.binary.push((table_key, built.clone()));
                    built?
                }
            };
            let average = plan.params.average;
            let value = MetricValue {
                value: compute::averaged_value(key, average, &table).map_err(metric_err)?,
                groups: compute::binary_breakdown(&table),
            };
            let ci = plan.params.bootstrap.and_then(|spec| {
                bootstrap_ci(&table, spec, |t| {
                    compute::averaged_value(key, average, t).ok()
                })
            });
            Ok(Computed { value, ci, drift: None })
        }
        Family::ClassBalance => {
            let target = plan.one(Slot::Target).unwrap_or_default();
            let classes = tables::class_table(src, target)?;
            let value = compute::class_imbalance(&classes).map_err(metric_err)?;
            let ci = plan.params.bootstrap.and_then(|spec| {
                bootstrap_classes(&classes, spec, |c| compute::class_imbalance_value(c).ok())
            });
            Ok(Computed { value, ci, drift: None })
        }
        Family::Completeness => {
            let cols = plan
                .columns
                .get(&Slot::Columns)
                .cloned()
                .unwrap_or_else(|| all_columns.to_vec());
            let counts = tables::null_counts(src, &cols)?;
            Ok(Computed {
                value: privacy::completeness(&counts).map_err(metric_err)?,
                ci: None,
                drift: None,
            })
        }
        Family::Privacy => {
            let qis = plan
                .columns
                .get(&Slot::QuasiIdentifiers)
                .cloned()
                .unwrap_or_default();
            let sensitive = plan.one(Slot::Sensitive);
            let rows = tables::equivalence_classes(src, &qis, sensitive)?;
            let value = match key {
                MetricKey::KAnonymity => {
                    let sizes: Vec<(String, u64)> =
                        rows.into_iter().map(|(c, _, n)| (c, n)).collect();
                    privacy::k_anonymity(&sizes)
                }
                MetricKey::LDiversity => privacy::l_diversity(&rows),
                _ => privacy::t_closeness(&rows),
            }
            .map_err(metric_err)?;
            Ok(Computed { value, ci: None, drift: None })
        }
        Family::External => Err(format!(
            "{key} is not computed from data here: {}; compute it yourself and check it with enforce(metrics={{{:?}: value}})",
            key.summary(),
            control.id
        )),
        Family::Score => {
            let score = plan.one(Slot::Score).unwrap_or_default();
            let overall = ScoreStat::of(key).is_some_and(ScoreStat::is_overall);
            let groupings: Vec<Grouping> = match plan.columns.get(&Slot::Cells) {
                _ if overall => vec![],
                Some(cells) => cells.iter().map(|c| Grouping::by_value(c)).collect(),
                None => vec![grouping.ok_or("a group score metric needs input.dimension")?],
            };
            let table = tables::score_table(src, &groupings, score)?;
            let value =
                score::score_metric(key, plan.params.measure, &table).map_err(metric_err)?;
            Ok(Computed { value, ci: None, drift: None })
        }
        Family::MultiClass => {
            let target = plan.one(Slot::Target).unwrap_or_default();
            let prediction = plan.one(Slot::Prediction).unwrap_or_default();
            let grouping = grouping.ok_or("a multi-class metric needs input.dimension")?;
            let table = tables::confusion_table(src, &grouping, target, prediction)?;
            let aggregation = plan
                .params
                .aggregation
                .unwrap_or_else(|| Aggregation::default_for(key));
            let value =
                multiclass::multiclass_metric(key, aggregation, &table).map_err(metric_err)?;
            let ci = plan.params.bootstrap.and_then(|spec| {
                multiclass::bootstrap_confusion(key, aggregation, &table, spec)
            });
            Ok(Computed { value, ci, drift: None })
        }
        Family::Drift => super::drift::compute(control, plan, src, references),
        Family::Schema => {
            let sensitive: Vec<String> =
                plan.params.sensitive_columns.clone().unwrap_or_else(|| {
                    DEFAULT_SENSITIVE_COLUMNS
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                });
            Ok(Computed {
                value: privacy::data_minimization(all_columns, &sensitive).map_err(metric_err)?,
                ci: None,
                drift: None,
            })
        }
    }
}

pub(super) fn control_result(
    control: &Control,
    outcome: Result<(Plan, Result<Computed, String>), String>,
) -> ControlResult {
    let mut r = ControlResult {
        id: control.id.clone(),
        description: control.description.clone(),
        metric_key: control.metric_name().to_string(),
        operator: control.operator.symbol().into(),
        threshold: control.threshold,
        actual_value: None,
        status: Status::Error,
        passed: false,
        severity: control.severity.clone(),
        enforcement_mode: control.enforcement_mode,
        enforcement_declared: control.enforcement_declared,
        inputs: BTreeMap::new(),
        params: control.params.clone(),
        groups: vec![],
        ci: None,
        risk: control.risk.clone(),
        reason: None,
        warnings: vec![],
        decision: Decision::Point,
        rows_needed: None,
        drift: None,
    };
    let (plan, computed) = match outcome {
        Ok(x) => x,
        Err(reason) => {
            r.reason = Some(reason);
            return r;
        }
    };
    r.inputs = plan
        .columns
        .iter()
        .map(|(slot, cols)| {
            let v = match cols.first() {
                Some(first) if !slot.is_list() => Binding::Column(first.clone()),
                _ => Binding::Columns(cols.clone()),
            };
            (slot.name().to_string(), v)
        })
        .collect();
    r.warnings = plan
        .params
        .unused
        .iter()
        .map(|p| format!("parameter {p:?} is not used by metric {}", plan.key))
        .chain(plan.notes.iter().cloned())
        .collect();
    match computed {
        Err(reason) => r.reason = Some(reason),
        Ok(c) => {
            r.actual_value = Some(c.value.value);
            r.groups = c.value.groups;
            r.ci = c.ci;
            r.drift = c.drift;
            decide(&mut r, control, plan.key.name(), c.value.value);
            // Which features moved, where every reader shows the reason.
            if let (Some(reason), Some(drift)) = (&mut r.reason, &r.drift) {
                if !drift.drifted.is_empty() {
                    reason.push_str(&format!("; moved: {}", drift.drifted.join(", ")));
                }
            }
        }
    }
    r
}

/// The status from the value (and, for `decision: interval`, its interval);
/// see docs/metrics.md, "Decisions on the interval".
fn decide(r: &mut ControlResult, control: &Control, key: &str, value: f64) {
    let (op, threshold) = (control.operator, control.threshold);
    let interval = match (control.decision, &r.ci) {
        (Decision::Point, _) => None,
        (Decision::Interval, Some(ci)) => Some((ci.lower, ci.upper, ci.level)),
        (Decision::Interval, None) => {
            r.warnings.push(format!(
                "decision: interval, but {key} has no interval here (not a sampling statistic, \
                 or bootstrap_resamples: 0): decided on the value"
            ));
            None
        }
    };
    let Some((lower, upper, level)) = interval else {
        r.passed = op.holds(value, threshold);
        r.status = if r.passed { Status::Pass } else { Status::Fail };
        if !r.passed {
            r.reason = Some(format!("{key} = {value} does not satisfy {op} {threshold}"));
        }
        return;
    };
    r.decision = Decision::Interval;
    r.status = interval_status(op, lower, upper, threshold);
    r.passed = r.status == Status::Pass;
    let shown = format!(
        "{key} = {value} with {:.0}% interval [{lower}, {upper}]",
        level * 100.0
    );
    r.reason = match r.status {
        Status::Pass => None,
        Status::Fail => Some(format!("{shown}: none of it satisfies {op} {threshold}")),
        _ => Some(format!("{shown} straddles {op} {threshold}")),
    };
}

/// Pass when the rule holds over the whole interval, fail when it holds
/// nowhere in it, else inconclusive. For `<`, `<=`, `>`, `>=` the ends
/// decide; `==` holds over an interval only when it is the threshold
/// itself, `!=` nowhere only then.
pub(crate) fn interval_status(op: Operator, lower: f64, upper: f64, threshold: f64) -> Status {
    let at = |x: f64| op.holds(x, threshold);
    let inside = lower <= threshold && threshold <= upper;
    let (everywhere, nowhere) = match op {
        Operator::Eq => (at(lower) && at(upper), !inside && !at(lower) && !at(upper)),
        Operator::Ne => (!inside && at(lower) && at(upper), !at(lower) && !at(upper)),
        _ => (at(lower) && at(upper), !at(lower) && !at(upper)),
    };
    if everywhere {
        Status::Pass
    } else if nowhere {
        Status::Fail
    } else {
        Status::Inconclusive
    }
}

/// The rows that would settle an inconclusive control at the observed
/// rates: the interval's reach toward the threshold, `h`, shrinks as
/// `1/sqrt(n)`; it clears the threshold, at distance `d` from the value,
/// once `h * sqrt(n / n') < d`, so `n' = ceil(n (h / d)^2)`. None when the
/// value is at the threshold (no sample size settles it).
pub(crate) fn rows_needed(
    rows: u64,
    value: f64,
    lower: f64,
    upper: f64,
    threshold: f64,
) -> Option<u64> {
    let d = (threshold - value).abs();
    let h = if threshold <= value {
        value - lower
    } else {
        upper - value
    };
    if !(d > 0.0 && h > 0.0 && d.is_finite() && h.is_finite()) {
        return None;
    }
    // Less a rounding error's worth, so an exact ratio (2.0000000000000004
    // for 0.2 / 0.1) does not round up a whole row.
    let exact = rows as f64 * (h / d).powi(2);
    let needed = (exact - exact * 1e-12).ceil();
    (needed.is_finite() && needed < u64::MAX as f64).then_some(needed as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_passes_fails_or_straddles_for_each_operator() {
        use Operator::*;
        use Status::*;
        // [0.6896, 0.8940] is German Credit's age control; [0.8177, 0.9783] its gender control.
        let cases = [
            (Ge, 0.8177, 0.9783, 0.8, Pass),
            (Ge, 0.6896, 0.8940, 0.8, Inconclusive),
            (Ge, 0.60, 0.79, 0.8, Fail),
            (Gt, 0.80, 0.90, 0.8, Inconclusive), // the lower end is not > 0.8
            (Le, 0.05, 0.09, 0.1, Pass),
            (Lt, 0.05, 0.12, 0.1, Inconclusive),
            (Le, 0.11, 0.2, 0.1, Fail),
            (Eq, 0.5, 0.5, 0.5, Pass),
            (Eq, 0.4, 0.6, 0.5, Inconclusive), // both ends miss, the middle holds
            (Eq, 0.6, 0.7, 0.5, Fail),
            (Ne, 0.6, 0.7, 0.5, Pass),
            (Ne, 0.4, 0.6, 0.5, Inconclusive),
            (Ne, 0.5, 0.5, 0.5, Fail),
        ];
        for (op, lower, upper, threshold, want) in cases {
            assert_eq!(
                interval_status(op, lower, upper, threshold),
                want,
                "{op} {threshold} on [{lower}, {upper}]"
            );
        }
    }

    #[test]
    fn rows_needed_scale_the_rows_by_the_squared_reach_over_the_distance() {
        // Age on German Credit: 0.7948 in [0.6896, 0.8940] against 0.8, 1000 rows.
        let h: f64 = 0.8940 - 0.7948;
        let d: f64 = 0.8 - 0.7948;
        let want = (1000.0 * (h / d) * (h / d)).ceil() as u64;
        assert_eq!(rows_needed(1000, 0.7948, 0.6896, 0.8940, 0.8), Some(want));
        // Below the value the lower end's reach counts.
        assert_eq!(rows_needed(400, 0.9, 0.7, 0.95, 0.8), Some(1600));
        // At the threshold no number of rows settles it.
        assert_eq!(rows_needed(1000, 0.8, 0.7, 0.9, 0.8), None);
    }
}
