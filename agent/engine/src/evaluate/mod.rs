//! The pipeline: bind every control (`plan`), read the columns they use
//! once, fingerprint them, then compute, compare and bootstrap each control
//! over count tables shared between controls (`compute`); the results
//! document is assembled here.

use std::collections::BTreeMap;

use polars::prelude::*;
use venturalitica_metrics::compute::MetricValue;
use venturalitica_metrics::Family;
use venturalitica_policy::{Metric, Policy};

use crate::binding::Mapping;
use crate::counts::{Counter, Request};
use crate::data::DataError;
use crate::params::Params;
use crate::reference::{Reference, References};
use crate::remote::{rowset_fingerprint, Answers};
use crate::results::{
    now_rfc3339, ControlResult, DataInfo, EngineInfo, PolicyInfo, Results, SourceInfo, Status,
    Summary, SCHEMA_VERSION,
};
use crate::source::Source;
use crate::tables::{self};

mod compute;
mod drift;
mod plan;

use self::compute::{compute, control_result, Computed, TableCache};
use plan::{plans, used_columns, Plan};

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

/// The columns, of those that exist, that evaluating `policy` with
/// `mapping` reads: a caller holding a frame in memory sends only these.
/// Controls that cannot be bound read nothing (they become `error` results).
pub fn columns_needed(policy: &Policy, mapping: &Mapping, columns: &[String]) -> Vec<String> {
    let (plans, _) = plans(policy, mapping, columns);
    used_columns(&plans, columns)
}

/// Evaluates a policy on a dataset.
///
/// Errors here are about the data as a whole (unreadable file); everything
/// about a single control becomes that control's `error` result.
pub fn evaluate(
    policy: &Policy,
    data: DataSet,
    mapping: &Mapping,
    references: &References,
) -> Result<Results, DataError> {
    let source = data.source.clone();
    // A file that opened but fails while it is read (a ragged CSV row, bad
    // UTF-8 further down) is named in the error, as at opening.
    crate::data::guard(&source, || {
        evaluate_unguarded(policy, data, mapping, references)
    })
    .map_err(|e| match e {
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
    references: &References,
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
        let controls = run_controls(policy, plans, &src, &columns, references);
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
            fingerprint_method: Some("columns-sha256-v1".into()),
        },
    ))
}

/// Every control's result, in the policy's order.
fn run_controls(
    policy: &Policy,
    plans: Vec<Result<Plan, String>>,
    src: &dyn Counter,
    columns: &[String],
    references: &References,
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
                let result = compute(control, &p, src, columns, &mut cache, references);
                (p, result)
            });
            (i, control_result(control, outcome))
        })
        .collect();
    controls.sort_by_key(|(i, _)| *i);
    controls.into_iter().map(|(_, c)| c).collect()
}

/// A reference snapshot of `columns` (every column when empty) of `data`,
/// named `name`, with `bins` quantile bins per numeric column.
pub fn build_reference(
    data: DataSet,
    columns: &[String],
    name: &str,
    bins: usize,
) -> Result<Reference, DataError> {
    let source = data.source.clone();
    crate::data::guard(&source, || {
        let mut frame = data.frame;
        let schema = frame.collect_schema()?;
        let all: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
        let chosen: Vec<String> = if columns.is_empty() {
            all.clone()
        } else {
            columns
                .iter()
                .filter(|c| all.contains(c))
                .cloned()
                .collect()
        };
        let selected = frame.select(chosen.iter().map(|c| col(c.as_str())).collect::<Vec<_>>());
        let src = Source::Memory(selected.collect()?);
        crate::reference::build(&src, &all, columns, name, &source, bins).map_err(|reason| {
            DataError::Reference {
                source_name: source.clone(),
                reason,
            }
        })
    })
}

/// A round of building a reference from counts computed where the data
/// lives: the requests still to answer, or the snapshot.
pub fn build_reference_counts(
    answers: &Answers,
    columns: &[String],
    name: &str,
    source: &str,
    bins: usize,
) -> Result<Result<Reference, Vec<Request>>, String> {
    let built = crate::reference::build(
        answers,
        &answers.column_names(),
        columns,
        name,
        source,
        bins,
    );
    let missing = answers.missing();
    if !missing.is_empty() {
        return Ok(Err(missing));
    }
    built.map(Ok)
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
    references: &References,
    engine: &str,
    source: &str,
) -> Result<Counted, String> {
    let columns = answers.column_names();
    let (plans, bound) = plans(policy, mapping, &columns);
    let mut used = used_columns(&plans, &columns);
    let rows = tables::rows(answers);
    let controls = run_controls(policy, plans, answers, &columns, references);
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
            fingerprint_method: method.map(Into::into),
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
                                drift: None,
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
    assemble(
        policy,
        controls,
        DataInfo::without_rows("precomputed metrics"),
    )
}

fn assemble(policy: &Policy, mut controls: Vec<ControlResult>, data: DataInfo) -> Results {
    if let Some(rows) = data.rows {
        for c in &mut controls {
            settle(c, rows);
        }
    }
    let count = |s: Status| controls.iter().filter(|c| c.status == s).count();
    let summary = Summary {
        total: controls.len(),
        passed: count(Status::Pass),
        failed: count(Status::Fail),
        errors: count(Status::Error),
        inconclusive: count(Status::Inconclusive),
    };
    let passed = controls
        .iter()
        .all(|c| !venturalitica_vocab::results::blocks(c.status, c.enforcement_mode));
    let main = policy.main_source();
    Results {
        schema_version: SCHEMA_VERSION,
        passed,
        summary,
        evaluated_at: now_rfc3339(),
        engine: EngineInfo::THIS,
        policy: PolicyInfo {
            path: main.path.display().to_string(),
            title: policy.title.clone(),
            version: policy.version.clone(),
            uuid: policy.uuid.clone(),
            shape: policy.shape.name().into(),
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

/// An inconclusive control's `rows_needed`, from the rows evaluated, said
/// in its reason too.
fn settle(c: &mut ControlResult, rows: u64) {
    let (Status::Inconclusive, Some(value), Some(ci)) = (c.status, c.actual_value, &c.ci) else {
        return;
    };
    c.rows_needed = compute::rows_needed(rows, value, ci.lower, ci.upper, c.threshold);
    let said = match c.rows_needed {
        Some(n) => {
            format!("; about {n} rows at the observed rates would settle it ({rows} evaluated)")
        }
        None => "; the value is at the threshold: no number of rows settles it".to_string(),
    };
    if let Some(reason) = &mut c.reason {
        reason.push_str(&said);
    }
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
            &References::none(),
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
