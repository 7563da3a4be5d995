//! The pipeline: bind every control, read the columns they use once,
//! fingerprint them, build count tables, compute, compare, bootstrap.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use serde_json::Value;
use venturalitica_metrics::bootstrap::{bootstrap_ci, bootstrap_classes};
use venturalitica_metrics::compute::{self, MetricValue};
use venturalitica_metrics::multiclass::{self, Aggregation};
use venturalitica_metrics::privacy::{self, DEFAULT_SENSITIVE_COLUMNS};
use venturalitica_metrics::score::{self, ScoreStat};
use venturalitica_metrics::{BinaryCounts, Family, GroupTable, MetricKey, OutcomeCounts, Slot};
use venturalitica_policy::{Control, EnforcementMode, Metric, Policy};

use crate::binding::{bind, BoundBy, Mapping};
use crate::counts::{Counter, Request};
use crate::data::DataError;
use crate::params::{self, Params};
use crate::remote::{rowset_fingerprint, Answers};
use crate::results::{
    ControlResult, DataInfo, EngineInfo, PolicyInfo, Results, SourceInfo, Status, Summary,
    SCHEMA_VERSION,
};
use crate::source::Source;
use crate::tables::{self, Grouping};

/// Data to evaluate: a lazy frame and a description of where it came from.
pub struct DataSet {
    pub frame: LazyFrame,
    /// Stream the file through each query instead of reading the used
    /// columns into memory once: for data larger than memory.
    pub streaming: bool,
    pub source: String,
}

impl std::fmt::Debug for DataSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSet")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// A control with its columns bound and its parameters parsed.
#[derive(Debug)]
struct Plan {
    /// The metric, known (a control with an unknown one has no plan).
    key: MetricKey,
    /// Slot → columns.
    columns: BTreeMap<Slot, Vec<String>>,
    params: Params,
    /// Shown as warnings on the result.
    notes: Vec<String>,
}

impl Plan {
    fn one(&self, slot: Slot) -> Option<&str> {
        self.columns
            .get(&slot)
            .and_then(|c| c.first())
            .map(String::as_str)
    }
}

/// The variable a slot reads when the control does not name one.
fn default_variable(slot: Slot) -> Option<&'static str> {
    match slot {
        Slot::Target => Some("target"),
        Slot::Prediction => Some("prediction"),
        Slot::Score => Some("score"),
        _ => None,
    }
}

/// The variables a control names for a slot. A score falls back to the
/// target's (older SDK controls bind the per-case score as `input.target`);
/// `worst_cell_score` names its cells in the `dimensions` parameter.
fn declared_variables(control: &Control, params: &Params, slot: Slot) -> Option<Vec<String>> {
    match (slot, control.inputs.get(&slot)) {
        (_, Some(v)) => Some(v.clone()),
        (Slot::Score, None) => control.inputs.get(&Slot::Target).cloned(),
        (Slot::Cells, None) => params.cells.clone(),
        _ => None,
    }
}

fn plan(
    control: &Control,
    mapping: &Mapping,
    columns: &[String],
    bound: &mut BTreeMap<String, String>,
) -> Result<Plan, String> {
    let key = match &control.metric {
        Metric::Known(key) => *key,
        Metric::Unknown { reason } => return Err(reason.clone()),
    };
    let params = params::parse(key, &control.params)?;
    let mut slots: BTreeSet<Slot> = key.required_slots().iter().copied().collect();
    slots.extend(control.inputs.keys().copied());
    // Outcome-rate metrics read the prediction only when the control binds one.
    if key.family() == Family::OutcomeRate && !control.inputs.contains_key(&Slot::Prediction) {
        slots.remove(&Slot::Prediction);
    }
    let mut out = BTreeMap::new();
    let mut notes = Vec::new();
    for slot in slots {
        let vars: Vec<String> = match declared_variables(control, &params, slot) {
            // The loader refuses an empty input; a policy built in code is
            // not checked by it, so an empty list is an error result here.
            Some(v) if v.is_empty() => {
                return Err(format!("input.{slot} names no variable"));
            }
            Some(v) => v,
            None => match default_variable(slot) {
                Some(v) => vec![v.to_string()],
                None => {
                    return Err(format!(
                        "metric {key} needs input.{slot}, which the control does not declare"
                    ))
                }
            },
        };
        let mut cols = Vec::new();
        for var in vars {
            let (column, how) = bind(&var, mapping, columns)?;
            if how == BoundBy::Synonym {
                // A synonym is a guess: say so, so an auditor can confirm it.
                notes.push(format!(
                    "variable {var:?} was bound to column {column:?} by synonym; map it explicitly ({var}={column}) to confirm"
                ));
            }
            bound.insert(var, column.clone());
            cols.push(column);
        }
        out.insert(slot, cols);
    }
    Ok(Plan {
        key,
        columns: out,
        params,
        notes,
    })
}

/// The columns, of those that exist, that evaluating `policy` with
/// `mapping` reads: a caller holding a frame in memory sends only these.
/// Controls that cannot be bound read nothing (they become `error` results).
pub fn columns_needed(policy: &Policy, mapping: &Mapping, columns: &[String]) -> Vec<String> {
    let (plans, _) = plans(policy, mapping, columns);
    used_columns(&plans, columns)
}

/// Every control's plan (or why it cannot be bound), and variable → column
/// as bound.
fn plans(
    policy: &Policy,
    mapping: &Mapping,
    columns: &[String],
) -> (Vec<Result<Plan, String>>, BTreeMap<String, String>) {
    let mut bound = BTreeMap::new();
    let plans = policy
        .controls
        .iter()
        .map(|c| plan(c, mapping, columns, &mut bound))
        .collect();
    (plans, bound)
}

fn used_columns(plans: &[Result<Plan, String>], columns: &[String]) -> Vec<String> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    for plan in plans {
        let Ok(plan) = plan else { continue };
        used.extend(plan.columns.values().flatten().cloned());
        // Completeness over "all columns" reads every one of them.
        if plan.key == MetricKey::DataCompleteness && !plan.columns.contains_key(&Slot::Columns) {
            used.extend(columns.iter().cloned());
        }
    }
    used.into_iter().collect()
}

/// Evaluates a policy on a dataset.
///
/// Errors here are about the data as a whole (unreadable file); everything
/// about a single control becomes that control's `error` result.
pub fn evaluate(policy: &Policy, data: DataSet, mapping: &Mapping) -> Result<Results, DataError> {
    let source = data.source.clone();
    // A file that opened but fails while it is read (a ragged CSV row, bad
    // UTF-8 further down) is named in the error, as at opening.
    crate::data::guard(&source, || evaluate_unguarded(policy, data, mapping)).map_err(|e| match e {
        DataError::Polars(source_error) => DataError::Read {
            path: source.clone().into(),
            source: source_error,
        },
        other => other,
    })
}

fn evaluate_unguarded(
    policy: &Policy,
    mut data: DataSet,
    mapping: &Mapping,
) -> Result<Results, DataError> {
    let schema = data.frame.collect_schema()?;
    let columns: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
    let (plans, bound) = plans(policy, mapping, &columns);
    let used = used_columns(&plans, &columns);
    let selected = data
        .frame
        .select(used.iter().map(|c| col(c.as_str())).collect::<Vec<_>>());
    let src = if data.streaming {
        Source::Stream(Box::new(selected))
    } else {
        // Read the used columns once; every table below scans them in memory.
        Source::Memory(selected.collect()?)
    };
    let rows = src.rows()?;

    // The fingerprint is one sequential pass; hash while polars counts.
    let (fingerprint, controls) = std::thread::scope(|scope| {
        let hashing = scope.spawn(|| {
            (!used.is_empty())
                .then(|| src.fingerprint(&used))
                .transpose()
        });
        let controls = run_controls(policy, plans, &src, &columns);
        let fingerprint = hashing.join().unwrap_or_else(|_| {
            Err(PolarsError::ComputeError(
                "fingerprint thread panicked".into(),
            ))
        });
        (fingerprint, controls)
    });
    let fingerprint = fingerprint?;

    Ok(assemble(
        policy,
        controls,
        DataInfo {
            source: data.source,
            fingerprint,
            rows: Some(rows),
            columns_used: used,
            mapping: bound,
            counted_by: Some("polars".into()),
            fingerprint_method: Some("columns-sha256-v1"),
        },
    ))
}

/// Every control's result, in the policy's order.
fn run_controls(
    policy: &Policy,
    plans: Vec<Result<Plan, String>>,
    src: &dyn Counter,
    columns: &[String],
) -> Vec<ControlResult> {
    // Error-rate controls first: their confusion tables also give the
    // selection rates that outcome-rate controls on the prediction need.
    let mut planned: Vec<(usize, Result<Plan, String>)> = plans.into_iter().enumerate().collect();
    planned.sort_by_key(|(_, plan)| {
        !plan
            .as_ref()
            .is_ok_and(|p| p.key.family() == Family::ErrorRate)
    });
    let mut cache = TableCache::default();
    let mut controls: Vec<(usize, ControlResult)> = planned
        .into_iter()
        .map(|(i, plan)| {
            let control = &policy.controls[i];
            let outcome = plan.map(|p| {
                let result = compute(control, &p, src, columns, &mut cache);
                (p, result)
            });
            (i, control_result(control, outcome))
        })
        .collect();
    controls.sort_by_key(|(i, _)| *i);
    controls.into_iter().map(|(_, c)| c).collect()
}

/// The outcome of one round of evaluating counts an engine computed.
#[derive(Debug)]
pub enum Counted {
    /// The engine must answer these first.
    Need(Vec<Request>),
    Done(Box<Results>),
}

/// Evaluates a policy on counts computed where the data lives: the same
/// controls, tables and metrics as for rows, asked of `answers`. Until every
/// table it needs is answered, it says which (results are never made of a
/// partial set of answers). An answer that cannot be read is an error.
pub fn evaluate_counts(
    policy: &Policy,
    answers: &Answers,
    mapping: &Mapping,
    engine: &str,
    source: &str,
) -> Result<Counted, String> {
    let columns = answers.column_names();
    let (plans, bound) = plans(policy, mapping, &columns);
    let mut used = used_columns(&plans, &columns);
    let rows = tables::rows(answers);
    let controls = run_controls(policy, plans, answers, &columns);
    used.sort();
    let fingerprint = (!used.is_empty()).then(|| rowset_fingerprint(answers, &used));
    let missing = answers.missing();
    if !missing.is_empty() {
        return Ok(Counted::Need(missing));
    }
    // An answer that cannot be read is the caller's error, not a result.
    let (fingerprint, method) = match fingerprint.transpose()? {
        Some((f, m)) => (Some(f), Some(m)),
        None => (None, None),
    };
    let rows = rows?;
    Ok(Counted::Done(Box::new(assemble(
        policy,
        controls,
        DataInfo {
            source: source.to_string(),
            fingerprint,
            rows: Some(rows),
            columns_used: used,
            mapping: bound,
            counted_by: Some(engine.to_string()),
            fingerprint_method: method,
        },
    ))))
}

/// Checks metric values computed elsewhere (`vl.enforce(metrics={...})`):
/// each control takes the value given under its id, its metric key, or the
/// key as the policy wrote it.
pub fn evaluate_metrics(policy: &Policy, values: &BTreeMap<String, f64>) -> Results {
    let controls = policy
        .controls
        .iter()
        .map(|c| {
            let outcome = match &c.metric {
                Metric::Unknown { reason } => Err(reason.clone()),
                Metric::Known(key) => {
                    let value = [c.id.as_str(), key.name(), c.metric_as_written.as_str()]
                        .iter()
                        .find_map(|k| values.get(*k).copied());
                    match value {
                        Some(v) if v.is_finite() => Ok((
                            Plan {
                                key: *key,
                                columns: BTreeMap::new(),
                                params: Params::default(),
                                notes: vec![],
                            },
                            Ok(Computed {
                                value: MetricValue {
                                    value: v,
                                    groups: vec![],
                                },
                                ci: None,
                            }),
                        )),
                        Some(v) => Err(format!("value {v} given for {key} is not a finite number")),
                        None => Err(format!(
                            "no value given for control {:?} (metric {key})",
                            c.id
                        )),
                    }
                }
            };
            let mut r = control_result(c, outcome);
            r.params = c.params.clone();
            r
        })
        .collect();
    let data = DataInfo {
        source: "precomputed metrics".into(),
        fingerprint: None,
        rows: None,
        columns_used: vec![],
        mapping: BTreeMap::new(),
        counted_by: None,
        fingerprint_method: None,
    };
    assemble(policy, controls, data)
}

fn assemble(policy: &Policy, controls: Vec<ControlResult>, data: DataInfo) -> Results {
    let count = |s: Status| controls.iter().filter(|c| c.status == s).count();
    let summary = Summary {
        total: controls.len(),
        passed: count(Status::Pass),
        failed: count(Status::Fail),
        errors: count(Status::Error),
    };
    let passed = controls
        .iter()
        .all(|c| c.status == Status::Pass || c.enforcement_mode != EnforcementMode::Block.name());
    let main = policy.main_source();
    Results {
        schema_version: SCHEMA_VERSION,
        passed,
        summary,
        evaluated_at: now_rfc3339(),
        engine: EngineInfo {
            name: "venturalitica",
            version: env!("CARGO_PKG_VERSION"),
        },
        policy: PolicyInfo {
            path: main.path.display().to_string(),
            title: policy.title.clone(),
            version: policy.version.clone(),
            uuid: policy.uuid.clone(),
            shape: policy.shape.name(),
            sha256: main.sha256.clone(),
            imports: policy.sources[1..]
                .iter()
                .map(|s| SourceInfo {
                    path: s.path.display().to_string(),
                    sha256: s.sha256.clone(),
                })
                .collect(),
            warnings: policy.warnings.clone(),
        },
        data,
        controls,
        manual_controls: policy.manual_controls.clone(),
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

struct Computed {
    value: MetricValue,
    ci: Option<venturalitica_metrics::ConfidenceInterval>,
}

/// What a confusion table was built from.
#[derive(Debug, Clone, PartialEq)]
struct BinaryKey {
    grouping: Option<Grouping>,
    target: String,
    prediction: String,
    label: Option<String>,
}

/// Count tables shared by controls that read the same columns.
#[derive(Default)]
struct TableCache {
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

fn compute(
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

fn control_result(
    control: &Control,
    outcome: Result<(Plan, Result<Computed, String>), String>,
) -> ControlResult {
    let mut r = ControlResult {
        id: control.id.clone(),
        description: control.description.clone(),
        metric_key: control.metric_name().to_string(),
        operator: control.operator.symbol(),
        threshold: control.threshold,
        actual_value: None,
        status: Status::Error,
        passed: false,
        severity: control.severity.clone(),
        enforcement_mode: control.enforcement_mode.name(),
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
                Some(first) if !slot.is_list() => Value::from(first.clone()),
                _ => Value::from(cols.clone()),
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use venturalitica_policy::parse_policy;

    use super::*;

    fn design_frame() -> LazyFrame {
        df!(
            "sex" => [1i64, 1, 1, 1, 1, 0, 0, 0, 0, 0],
            "y" => [1i64, 1, 0, 0, 1, 1, 0, 0, 0, 1],
            "yhat" => [1i64, 1, 1, 0, 1, 0, 0, 1, 0, 1],
        )
        .unwrap()
        .lazy()
    }

    fn run(policy: &str, mapping: &Mapping) -> Results {
        let policy = parse_policy(Path::new("p.yaml"), policy).unwrap();
        evaluate(
            &policy,
            DataSet {
                frame: design_frame(),
                streaming: false,
                source: "test".into(),
            },
            mapping,
        )
        .unwrap()
    }

    const MODEL_POLICY: &str = "
- id: dpr
  metric_key: disparate_impact
  operator: '>='
  threshold: 0.8
  input.dimension: sex
  input.prediction: prediction
- id: eod
  metric_key: equalized_odds_diff
  operator: '<'
  threshold: 0.1
  input.dimension: sex
  input.prediction: prediction
";

    #[test]
    fn design_vector_through_the_whole_pipeline() {
        let mapping = Mapping::new()
            .with("target", "y")
            .with("prediction", "yhat");
        let r = run(MODEL_POLICY, &mapping);
        let values: Vec<Option<f64>> = r.controls.iter().map(|c| c.actual_value).collect();
        assert_eq!(values, [Some(0.5), Some(0.5)]);
        assert_eq!(r.controls[0].status, Status::Fail);
        assert!(!r.passed);
        assert_eq!(r.data.rows, Some(10));
        assert_eq!(r.data.columns_used, ["sex", "y", "yhat"]);
        assert_eq!(r.data.fingerprint.as_ref().map(String::len), Some(64));
    }

    #[test]
    fn selection_rates_from_the_confusion_table_equal_a_direct_count() {
        let mapping = Mapping::new()
            .with("target", "y")
            .with("prediction", "yhat");
        let with_eod = run(MODEL_POLICY, &mapping);
        let alone = run(
            &MODEL_POLICY[..MODEL_POLICY.find("- id: eod").unwrap()],
            &mapping,
        );
        assert_eq!(with_eod.controls[0].groups, alone.controls[0].groups);
        assert_eq!(with_eod.controls[0].ci, alone.controls[0].ci);
    }

    #[test]
    fn unbound_and_undefined_controls_are_errors_and_fail_the_run() {
        let policy = "
- id: unbound
  metric_key: disparate_impact
  operator: '>'
  threshold: 0.5
  input.dimension: race
- id: no-dimension
  metric_key: equal_opportunity_diff
  operator: '<'
  threshold: 0.5
";
        let r = run(
            policy,
            &Mapping::new()
                .with("target", "y")
                .with("prediction", "yhat"),
        );
        assert!(r
            .controls
            .iter()
            .all(|c| c.status == Status::Error && !c.passed));
        assert!(r.controls[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("columns: sex, y, yhat"));
        assert!(r.controls[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("needs input.dimension"));
        assert!(!r.passed);
        assert_eq!(r.summary.errors, 2);
    }

    #[test]
    fn precomputed_metrics_are_compared_and_missing_ones_are_errors() {
        let policy = parse_policy(Path::new("p.yaml"), MODEL_POLICY).unwrap();
        let values = BTreeMap::from([("disparate_impact".to_string(), 0.9)]);
        let r = evaluate_metrics(&policy, &values);
        assert_eq!(r.controls[0].status, Status::Pass);
        assert_eq!(r.controls[1].status, Status::Error);
        assert!(r.controls[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("no value given for control \"eod\""));
        assert!(!r.passed);
    }
}
