//! An evaluation recorded in the evidence store: the `enforce` event with
//! the policy's text kept by hash, the evidence chart, `trace_latest.json`
//! and the SDK-shaped `results.json`.

use std::path::Path;

use serde_json::{json, Value};
use venturalitica_engine::Results;
use venturalitica_evidence::{Appended, EventKind, Store};
use venturalitica_policy::SourceFile;
use venturalitica_vocab::events::{EnforcePayload, TrackerRun};

/// Why an evaluation could not be recorded: what was being done, and the
/// store's or the chart's error.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct RecordError {
    what: &'static str,
    reason: String,
}

impl RecordError {
    /// The error of `what`, for `map_err`.
    pub(crate) fn because<E: std::fmt::Display>(
        what: &'static str,
    ) -> impl FnOnce(E) -> RecordError {
        move |e| RecordError {
            what,
            reason: e.to_string(),
        }
    }
}

fn because(what: &'static str) -> impl FnOnce(&dyn std::fmt::Display) -> RecordError {
    move |e| RecordError {
        what,
        reason: e.to_string(),
    }
}

/// Appends an `enforce` event (with the policy's text saved) and updates
/// `trace_latest.json` and `results.json`; the evidence chart goes to
/// `charts/<seq>.svg`. `origin` says who asked: `cli`, `kernel` or `python`.
pub fn evaluation(
    root: &Path,
    sources: &[SourceFile],
    results: &Results,
    origin: &str,
    tracker_runs: &[TrackerRun],
) -> Result<Appended, RecordError> {
    let store = Store::open(root).map_err(|e| because("cannot open the evidence store")(&e))?;
    for source in sources {
        store
            .save_policy(&source.sha256, &source.text)
            .map_err(|e| because("cannot keep the policy's text")(&e))?;
    }
    let payload = EnforcePayload {
        origin: Some(origin.to_string()),
        results: results.clone(),
        tracker_runs: tracker_runs.to_vec(),
    };
    let payload = serde_json::to_value(&payload).map_err(|e| because("the results")(&e))?;
    let appended = store
        .append(EventKind::Enforce, payload)
        .map_err(|e| because("cannot append the event")(&e))?;
    let svg = venturalitica_chart::render(results)
        .map_err(|e| because("cannot draw the evidence chart")(&e))?;
    let chart = store
        .save_chart(appended.seq, &svg)
        .map_err(|e| because("cannot save the evidence chart")(&e))?;
    store
        .write_latest(&json!({
            "kind": "enforce",
            "passed": results.passed,
            // As `scan`'s snapshot has it: 1.0 when every blocking control passed.
            "compliance_score": if results.passed { 1.0 } else { 0.0 },
            "evidence": { "seq": appended.seq, "hash": appended.hash, "anchor": appended.head().to_string(), "chart": chart },
            "results": results,
        }))
        .map_err(|e| because("cannot write trace_latest.json")(&e))?;
    store
        .write_results_copy(&sdk_results(results, appended.seq))
        .map_err(|e| because("cannot write results.json")(&e))?;
    Ok(appended)
}

/// The results as the Venturalitica SDK writes `.venturalitica/results.json`:
/// one object per control with its `ComplianceResult` fields (`severity`
/// `low` where the policy sets none, as the SDK's default); ours go in
/// `metadata`, with the evidence event they come from.
fn sdk_results(results: &Results, seq: u64) -> Value {
    let controls = results.controls.iter().map(|c| {
        json!({
            "control_id": c.id,
            "description": c.description.as_deref().unwrap_or_default(),
            "metric_key": c.metric_key,
            "threshold": c.threshold,
            "actual_value": c.actual_value,
            "operator": c.operator,
            "passed": c.passed,
            "severity": c.severity.as_deref().unwrap_or("low"),
            "metadata": {
                "status": c.status,
                "reason": c.reason,
                "enforcement_mode": c.enforcement_mode,
                "policy": results.policy.name(),
                "evidence_seq": seq,
            },
        })
    });
    Value::Array(controls.collect())
}
