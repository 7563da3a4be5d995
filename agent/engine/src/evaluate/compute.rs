//! One control computed: its count tables (shared between controls that
//! read the same columns), its value and interval, and its result.

use std::collections::{BTreeMap, HashMap};

use venturalitica_metrics::bootstrap::{bootstrap_ci, bootstrap_classes};
use venturalitica_metrics::compute::{self, MetricValue};
use venturalitica_metrics::multiclass::{self, Aggregation};
use venturalitica_metrics::privacy::{self, DEFAULT_SENSITIVE_COLUMNS};
use venturalitica_metrics::score::{self, ScoreStat};
use venturalitica_metrics::{BinaryCounts, Family, GroupTable, MetricKey, OutcomeCounts, Slot};
use venturalitica_policy::Control;

use crate::counts::Counter;
use crate::results::{Binding, ControlResult, Status};
use crate::tables::{self, Grouping};

use super::plan::Plan;

pub(super) struct Computed {
    pub(super) value: MetricValue,
    pub(super) ci: Option<venturalitica_metrics::ConfidenceInterval>,
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
            Ok(Computed { value, ci })
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
            Ok(Computed { value, ci })
        }
        Family::ClassBalance => {
            let target = plan.one(Slot::Target).unwrap_or_default();
            let classes = tables::class_table(src, target)?;
            let value = compute::class_imbalance(&classes).map_err(metric_err)?;
            let ci = plan.params.bootstrap.and_then(|spec| {
                bootstrap_classes(&classes, spec, |c| compute::class_imbalance_value(c).ok())
            });
            Ok(Computed { value, ci })
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
            Ok(Computed { value, ci: None })
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
            Ok(Computed { value, ci: None })
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
            Ok(Computed { value, ci })
        }
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
            r.passed = control.operator.holds(c.value.value, control.threshold);
            r.status = if r.passed { Status::Pass } else { Status::Fail };
            if !r.passed {
                r.reason = Some(format!(
                    "{} = {} does not satisfy {} {}",
                    plan.key, c.value.value, control.operator, control.threshold
                ));
            }
        }
    }
    r
}
