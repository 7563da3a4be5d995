//! What the Python package reads of the engine: a policy as loaded
//! (`venturalitica.loader`), the metric catalog (`venturalitica.metrics`,
//! `venturalitica.binding`) and the threshold check
//! (`check_threshold_orientation`).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use venturalitica_engine::binding::SYNONYMS;
use venturalitica_metrics::catalog::COMMON_PARAMS;
use venturalitica_metrics::{Family, MetricKey};
use venturalitica_policy::{Metric, Operator, Policy};

/// A loaded policy as the engine reads it: identity, and every control with
/// its metric (canonical key, or as written when unknown), rule, inputs,
/// parameters and risk props.
pub fn policy(policy: &Policy) -> Value {
    let controls: Vec<Value> = policy
        .controls
        .iter()
        .map(|c| {
            let inputs: BTreeMap<&str, &Vec<String>> = c
                .inputs
                .iter()
                .map(|(slot, vars)| (slot.name(), vars))
                .collect();
            let unknown = match &c.metric {
                Metric::Known(_) => None,
                Metric::Unknown { reason } => Some(reason),
            };
            json!({
                "id": c.id,
                "description": c.description,
                "metric_key": c.metric_name(),
                "metric_as_written": c.metric_as_written,
                "unknown_metric": unknown,
                "operator": c.operator.symbol(),
                "threshold": c.threshold,
                "severity": c.severity,
                "enforcement_mode": c.enforcement_mode.name(),
                "inputs": inputs,
                "params": c.params,
                "risk": c.risk,
            })
        })
        .collect();
    json!({
        "path": policy.main_source().path,
        "sha256": policy.main_source().sha256,
        "shape": policy.shape.name(),
        "uuid": policy.uuid,
        "title": policy.title,
        "version": policy.version,
        "controls": controls,
        "manual_controls": policy.manual_controls,
        "warnings": policy.warnings,
    })
}

/// Every metric key with what it reads and means, and the variables'
/// column synonyms.
pub fn catalog() -> Value {
    let metrics: Vec<Value> = MetricKey::ALL
        .iter()
        .map(|k| {
            let slots: Vec<&str> = k.required_slots().iter().map(|s| s.name()).collect();
            json!({
                "key": k.name(),
                "aliases": k.aliases(),
                "family": k.family().name(),
                "summary": k.summary(),
                "required_inputs": slots,
                "params": k.own_params(),
                "computed_from_data": k.family() != Family::External,
                "sense": k.sense().map(|s| json!({
                    "unit": s.unit,
                    "lower_is_better": s.lower_is_better,
                    // JSON has no infinity: an open end is null.
                    "bounds": s.bounds.map(|(lo, hi)| [lo, hi].map(|x| x.is_finite().then_some(x))),
                })),
            })
        })
        .collect();
    let synonyms: BTreeMap<&str, &[&str]> = SYNONYMS.iter().copied().collect();
    json!({ "metrics": metrics, "common_params": COMMON_PARAMS, "synonyms": synonyms })
}

/// Why `metric_key operator threshold` reads the wrong way, or `None`. An
/// operator that bounds neither side (`==`, or one the loader would refuse)
/// leaves only the range check, as the SDK's check does.
pub fn threshold_misreading(metric_key: &str, operator: &str, threshold: f64) -> Option<String> {
    let (at_least, at_most) = Operator::parse(operator).map_or((false, false), Operator::bounds);
    MetricKey::parse(metric_key).and_then(|k| k.threshold_misreading(at_least, at_most, threshold))
}
