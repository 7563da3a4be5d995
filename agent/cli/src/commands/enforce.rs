//! `venturalitica enforce`.

use std::io::Write;

use anyhow::Context;
use serde_json::json;
use venturalitica_engine::{evaluate, open_data, DataSet, Mapping, Results};
use venturalitica_evidence::{EventKind, Store};
use venturalitica_policy::{load_policy, SourceFile};

use crate::args::{EnforceArgs, Format};
use crate::output::{junit, table};
use crate::Outcome;

pub fn run(args: EnforceArgs) -> anyhow::Result<Outcome> {
    let policy = load_policy(&args.policy)?;
    let frame = open_data(&args.data)?;
    let mut mapping = Mapping::new();
    if let Some(t) = &args.target {
        mapping = mapping.with("target", t);
    }
    if let Some(p) = &args.prediction {
        mapping = mapping.with("prediction", p);
    }
    for (var, col) in &args.mapping {
        mapping = mapping.with(var, col);
    }
    let data = DataSet {
        frame,
        source: args.data.display().to_string(),
        streaming: args.streaming || is_large(&args.data),
    };
    let results = evaluate(&policy, data, &mapping)?;

    if let Some(path) = &args.junit {
        std::fs::write(path, junit::render(&results))
            .with_context(|| format!("cannot write the JUnit report to {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&results)?)?,
        Format::Table => write!(out, "{}", table::render(&results, table::use_colour()))?,
    }
    drop(out);
    // Recorded after printing, so a store that cannot be written (a
    // read-only checkout) still shows the results, then fails with exit 2.
    if !args.no_record {
        let root = super::project_root(args.root.as_deref())?;
        record(&root, &policy.sources, &results, "cli")
            .context("cannot record the evaluation in the evidence trail")?;
    }
    Ok(if results.passed {
        Outcome::Passed
    } else {
        Outcome::Failed
    })
}

/// Files above this size are streamed rather than read into memory.
const STREAM_ABOVE_BYTES: u64 = 2 << 30;

fn is_large(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.len() > STREAM_ABOVE_BYTES)
}

/// Appends an `enforce` event (with the policy's text saved) and updates
/// `trace_latest.json` and the SDK-shaped `results.json`; the evidence chart
/// goes to `charts/<seq>.svg`. `origin` says who asked: `cli` or `kernel`.
pub fn record(
    root: &std::path::Path,
    sources: &[SourceFile],
    results: &Results,
    origin: &str,
) -> anyhow::Result<()> {
    let store = Store::open(root)?;
    for source in sources {
        store.save_policy(&source.sha256, &source.text)?;
    }
    let document = serde_json::to_value(results)?;
    let appended = store.append(
        EventKind::Enforce,
        json!({ "origin": origin, "results": document }),
    )?;
    let chart = venturalitica_chart::render(results)
        .map(|svg| store.save_chart(appended.seq, &svg))
        .with_context(|| "cannot draw the evidence chart")?
        .with_context(|| "cannot save the evidence chart")?;
    store.write_latest(&json!({
        "kind": "enforce",
        "passed": results.passed,
        "evidence": { "seq": appended.seq, "hash": appended.hash, "anchor": appended.head().to_string(), "chart": chart },
        "results": document,
    }))?;
    store.write_results_copy(&sdk_results(results, appended.seq))?;
    Ok(())
}

/// The results as the Venturalitica SDK writes `.venturalitica/results.json`:
/// one object per control with its `ComplianceResult` fields (`severity`
/// `low` where the policy sets none, as the SDK's default); ours go in
/// `metadata`, with the evidence event they come from.
fn sdk_results(results: &Results, seq: u64) -> serde_json::Value {
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
                "policy": results.policy.title.as_deref().unwrap_or(&results.policy.path),
                "evidence_seq": seq,
            },
        })
    });
    serde_json::Value::Array(controls.collect())
}
