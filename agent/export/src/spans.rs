//! A run's events as one MLflow Trace: OpenTelemetry spans built from the
//! evidence, sent as OTLP/JSON. Pure functions, tested without a server.
//!
//! One trace per run (the process that wrote the events: a notebook
//! session, a script, a CLI call). Its root span is the session; each event
//! is a child span:
//!
//! | event | span name | span type | start – end |
//! |---|---|---|---|
//! | `cell` | `cell [n]` | `TASK` | the cell's `start` – `end` |
//! | `enforce` | `enforce <policy title>` | `GUARDRAIL` | `evaluated_at` (an instant) |
//! | — each control | the control id | `EVALUATOR` | as its evaluation |
//! | `monitor` | `monitor <name>` | `TASK` | `ts − wall_s` – `ts` |
//! | `scan` | `scan` | `TASK` | `ts` |
//!
//! An `enforce`, `monitor` or `scan` made from a notebook cell (it happened
//! between the cell's start and end) is a child of that cell's span;
//! otherwise a child of the root. Export events are not spans (they record
//! the export itself).
//!
//! Ids come from the evidence: the trace id from the destination experiment
//! and the run's first event hash (MLflow keys traces by id across
//! experiments, so the same session exported to two experiments needs two),
//! a span id from the trace id and the event's sequence number. A span
//! sent twice is the same span, which MLflow's store upserts by
//! `(trace id, span id)`; that is what makes the trace export idempotent.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::plan::{nanos, Parsed};
use venturalitica_evidence::EventKind;
use venturalitica_vocab::energy::{EnergyReport, Measured};
use venturalitica_vocab::events::{EnforcePayload, Payload};
use venturalitica_vocab::results::{ControlResult, Status as ResultStatus};

/// The ids of one run's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTrace {
    /// 16 bytes, hex (OTLP's trace id).
    pub trace_id: String,
    /// The root span's id, 8 bytes, hex.
    pub root_span_id: String,
}

impl SessionTrace {
    /// The trace, in `experiment_id`, of the run whose first event is `first`.
    pub fn of(experiment_id: &str, first: &Parsed) -> SessionTrace {
        let trace_id = digest_hex(&["venturalitica.trace", experiment_id, &first.hash], 16);
        let root_span_id = digest_hex(&["venturalitica.session", &trace_id], 8);
        SessionTrace {
            trace_id,
            root_span_id,
        }
    }

    /// The id MLflow gives a trace received over OTLP.
    pub fn mlflow_id(&self) -> String {
        format!("tr-{}", self.trace_id)
    }

    fn span_id(&self, seq: u64, part: &str) -> String {
        digest_hex(
            &["venturalitica.span", &self.trace_id, &seq.to_string(), part],
            8,
        )
    }
}

/// The first `bytes` bytes of SHA-256 over `parts` (each NUL-terminated),
/// hex. An all-zero id (invalid in OTLP) has probability 2^-64.
fn digest_hex(parts: &[&str], bytes: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..bytes])
}

/// A span's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok,
    Error(String),
}

/// One span, ready for OTLP.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub span_id: String,
    /// `None` for the root span.
    pub parent: Option<String>,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    pub status: Status,
    /// Attribute values as JSON; nulls are left out when sent.
    pub attributes: Map<String, Value>,
}

impl Span {
    /// The span in OTLP/JSON (ids hex, as the OTLP spec writes them).
    pub fn to_otlp(&self, trace_id: &str) -> Value {
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
            .collect();
        let status = match &self.status {
            Status::Ok => json!({ "code": 1 }),
            Status::Error(message) => json!({ "code": 2, "message": message }),
        };
        let mut span = json!({
            "traceId": trace_id,
            "spanId": self.span_id,
            "name": self.name,
            "kind": 1,
            "startTimeUnixNano": self.start_ns.to_string(),
            "endTimeUnixNano": self.end_ns.to_string(),
            "attributes": attributes,
            "status": status,
        });
        if let Some(parent) = &self.parent {
            span["parentSpanId"] = Value::String(parent.clone());
        }
        span
    }
}

/// An OTLP `AnyValue` for a JSON value.
fn any_value(v: &Value) -> Value {
    match v {
        Value::Null => json!({}),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) => match n.as_i64() {
            Some(i) => json!({ "intValue": i.to_string() }),
            None => json!({ "doubleValue": n.as_f64().unwrap_or(0.0) }),
        },
        Value::String(s) => json!({ "stringValue": s }),
        Value::Array(items) => {
            json!({ "arrayValue": { "values": items.iter().map(any_value).collect::<Vec<_>>() } })
        }
        Value::Object(map) => json!({ "kvlistValue": { "values": map
            .iter()
            .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
            .collect::<Vec<_>>() } }),
    }
}

/// An OTLP `ExportTraceServiceRequest` carrying `spans` of one trace.
pub fn request(trace_id: &str, spans: &[Span]) -> Value {
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [
                { "key": "service.name", "value": { "stringValue": "venturalitica" } }
            ] },
            "scopeSpans": [{
                "scope": { "name": "venturalitica", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans.iter().map(|s| s.to_otlp(trace_id)).collect::<Vec<_>>(),
            }],
        }],
    })
}

/// `v` without its null fields, as shown in MLflow's inputs and outputs.
fn compact(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

/// When an event's span starts and ends, in nanoseconds.
pub fn bounds(e: &Parsed) -> Option<(u64, u64)> {
    let ts = e.ts.as_deref().and_then(nanos);
    let at = |t: &Option<String>| t.as_deref().and_then(nanos);
    match e.typed()? {
        Payload::Cell(p) => {
            let start = at(&p.start).or(ts)?;
            let end = at(&p.end).or(ts)?.max(start);
            Some((start, end))
        }
        Payload::Enforce(p) => {
            let at = nanos(&p.results.evaluated_at).or(ts)?;
            Some((at, at))
        }
        Payload::Monitor(p) => {
            let end = ts?;
            let wall = Some(p.energy.wall_s).filter(|w| *w >= 0.0);
            // Whole nanoseconds; a wall time beyond u64 nanoseconds is not a real window.
            let wall_ns = wall.map_or(0, |w| (w * 1e9).round().min(end as f64) as u64);
            Some((end - wall_ns, end))
        }
        Payload::Scan(_) | Payload::Approval(_) | Payload::Reference(_) => ts.map(|t| (t, t)),
        Payload::Export(_) => None,
    }
}

/// A run's cells by time, to put what ran inside a cell under its span.
#[derive(Debug, Default)]
pub struct Cells {
    /// (start, end, span id), by start; a kernel runs one cell at a time.
    spans: Vec<(u64, u64, String)>,
}

impl Cells {
    pub fn of(trace: &SessionTrace, events: &[Parsed]) -> Cells {
        let mut spans: Vec<(u64, u64, String)> = events
            .iter()
            .filter(|e| e.kind == Some(EventKind::Cell))
            .filter_map(|e| bounds(e).map(|(s, end)| (s, end, trace.span_id(e.seq, ""))))
            .collect();
        spans.sort_unstable();
        Cells { spans }
    }

    /// The span of the cell that was running at `at`, if one was.
    fn around(&self, at: u64) -> Option<&str> {
        let i = self.spans.partition_point(|(start, _, _)| *start <= at);
        let (start, end, id) = self.spans.get(i.checked_sub(1)?)?;
        (*start <= at && at <= *end).then_some(id.as_str())
    }
}

/// The attributes every event span carries: where it is in the trail.
fn evidence_attributes(e: &Parsed, span_type: &str) -> Map<String, Value> {
    let mut a = Map::new();
    a.insert("mlflow.spanType".into(), span_type.into());
    a.insert(
        "venturalitica.kind".into(),
        e.kind.map(EventKind::as_str).into(),
    );
    a.insert("venturalitica.seq".into(), e.seq.into());
    a.insert("venturalitica.hash".into(), e.hash.clone().into());
    a
}

/// `energy.*` attributes, and the energy object shown as the span's output
/// (the figures without their `basis`, which stays in the evidence).
fn energy_attributes(energy: &EnergyReport, a: &mut Map<String, Value>) -> Value {
    let mut summary = Map::new();
    let peak = energy.peak_rss_bytes.map(Value::from);
    for (key, value) in [
        ("total_j", Some(Value::from(energy.total_j))),
        ("total_low_j", energy.total_low_j.map(Value::from)),
        ("total_high_j", energy.total_high_j.map(Value::from)),
        ("co2e_g", energy.co2e_g.map(Value::from)),
        ("co2e_low_g", energy.co2e_low_g.map(Value::from)),
        ("co2e_high_g", energy.co2e_high_g.map(Value::from)),
        ("wall_s", Some(Value::from(energy.wall_s))),
        ("cpu_s", energy.cpu_s.map(Value::from)),
        ("peak_rss_bytes", peak),
    ] {
        if let Some(value) = value {
            a.insert(format!("energy.{key}"), value.clone());
            summary.insert(key.into(), value);
        }
    }
    for (component, c) in energy.components() {
        let Some(c) = c else { continue };
        a.insert(format!("energy.{component}_j"), c.joules.into());
        a.insert(
            format!("energy.{component}_method"),
            c.method.clone().into(),
        );
        a.insert(format!("energy.{component}_low_j"), c.low_j.into());
        a.insert(format!("energy.{component}_high_j"), c.high_j.into());
        summary.insert(
            component.into(),
            compact(json!({
                "joules": c.joules, "method": c.method, "low_j": c.low_j, "high_j": c.high_j,
                "activity": c.activity,
            })),
        );
    }
    if !energy.notes.is_empty() {
        a.insert("energy.notes".into(), json!(energy.notes));
        summary.insert("notes".into(), json!(energy.notes));
    }
    Value::Object(summary)
}

/// The spans of one event: none for an export event, one per cell, monitor
/// or scan, and one per `enforce` plus one per control under it. `cells`
/// gives the parent of what ran inside a cell.
pub fn event_spans(trace: &SessionTrace, cells: &Cells, e: &Parsed) -> Vec<Span> {
    let (Some((start_ns, end_ns)), Some(payload)) = (bounds(e), e.typed()) else {
        return Vec::new();
    };
    let parent = match payload {
        Payload::Cell(_) => None,
        // The end: a window's start is its millisecond timestamp minus its
        // exact length, which can fall a little before its cell's start.
        _ => cells.around(end_ns),
    }
    .unwrap_or(&trace.root_span_id)
    .to_string();
    let span = |name: String, status: Status, attributes: Map<String, Value>| Span {
        span_id: trace.span_id(e.seq, ""),
        parent: Some(parent.clone()),
        name,
        start_ns,
        end_ns,
        status,
        attributes,
    };
    match payload {
        Payload::Cell(p) => {
            let mut a = evidence_attributes(e, "TASK");
            for (key, value) in [
                ("execution_count", json!(p.execution_count)),
                ("code_sha256", json!(p.code_sha256)),
                ("cell_id", json!(p.cell_id)),
                ("status", json!(p.status)),
                ("ename", json!(p.ename)),
                ("duration_s", json!(p.duration_s)),
                ("silent", json!(p.silent)),
            ] {
                a.insert(format!("cell.{key}"), value);
            }
            let output = match p.energy.as_ref().and_then(Measured::report) {
                Some(report) => energy_attributes(report, &mut a),
                None => Value::Object(Map::new()),
            };
            a.insert(
                "mlflow.spanInputs".into(),
                compact(json!({
                    "execution_count": p.execution_count,
                    "code_sha256": p.code_sha256,
                    "cell_id": p.cell_id,
                })),
            );
            a.insert(
                "mlflow.spanOutputs".into(),
                compact(json!({
                    "status": p.status,
                    "duration_s": p.duration_s,
                    "energy": output,
                })),
            );
            let status = match p.status.as_deref() {
                Some("ok") => Status::Ok,
                Some(s) => Status::Error(p.ename.as_deref().unwrap_or(s).to_string()),
                None => Status::Error("no status recorded".into()),
            };
            let name = match p.execution_count {
                Some(n) => format!("cell [{n}]"),
                None => "cell".to_string(),
            };
            vec![span(name, status, a)]
        }
        Payload::Enforce(p) => enforce_spans(trace, e, p, span),
        Payload::Monitor(p) => {
            let mut a = evidence_attributes(e, "TASK");
            a.insert("monitor.name".into(), p.name.clone().into());
            a.insert("monitor.origin".into(), p.origin.clone().into());
            let output = energy_attributes(&p.energy, &mut a);
            a.insert(
                "mlflow.spanInputs".into(),
                compact(json!({ "name": p.name })),
            );
            a.insert("mlflow.spanOutputs".into(), compact(output));
            let name = format!("monitor {}", p.name);
            vec![span(name.trim_end().to_string(), Status::Ok, a)]
        }
        Payload::Scan(p) => {
            let mut a = evidence_attributes(e, "TASK");
            a.insert("scan.passed".into(), p.passed.into());
            let status = if p.passed {
                Status::Ok
            } else {
                Status::Error("the scan found failing controls".into())
            };
            vec![span("scan".into(), status, a)]
        }
        // Who approved which head, with which key (checked by `verify
        // --allowed-signers`, not here).
        Payload::Approval(p) => {
            let mut a = evidence_attributes(e, "TASK");
            for (key, value) in [
                ("principal", json!(p.principal)),
                ("role", json!(p.role)),
                ("head", json!(p.head)),
                ("key", json!(p.key)),
                ("date", json!(p.date)),
            ] {
                a.insert(format!("approval.{key}"), value);
            }
            vec![span(format!("approval by {}", p.principal), Status::Ok, a)]
        }
        // Which data drift controls are measured against.
        Payload::Reference(p) => {
            let mut a = evidence_attributes(e, "TASK");
            for (key, value) in [
                ("name", json!(p.name)),
                ("sha256", json!(p.reference_sha256)),
                ("source", json!(p.source)),
                ("rows", json!(p.rows)),
                ("columns", json!(p.columns.join(", "))),
            ] {
                a.insert(format!("reference.{key}"), value);
            }
            vec![span(format!("reference {}", p.name), Status::Ok, a)]
        }
        Payload::Export(_) => Vec::new(),
    }
}

fn enforce_spans(
    trace: &SessionTrace,
    e: &Parsed,
    p: &EnforcePayload,
    span: impl Fn(String, Status, Map<String, Value>) -> Span,
) -> Vec<Span> {
    let r = &p.results;
    let mut a = evidence_attributes(e, "GUARDRAIL");
    a.insert("enforce.origin".into(), p.origin.clone().into());
    let policy = &r.policy;
    a.insert("policy.title".into(), policy.title.clone().into());
    a.insert("policy.version".into(), policy.version.clone().into());
    a.insert("policy.sha256".into(), policy.sha256.clone().into());
    a.insert("policy.path".into(), policy.path.clone().into());
    a.insert("data.source".into(), r.data.source.clone().into());
    a.insert("data.fingerprint".into(), r.data.fingerprint.clone().into());
    a.insert("data.rows".into(), r.data.rows.into());
    a.insert("compliance.passed".into(), r.passed.into());
    let s = &r.summary;
    for (key, n) in [
        ("total", s.total),
        ("passed", s.passed),
        ("failed", s.failed),
        ("errors", s.errors),
    ] {
        a.insert(format!("compliance.{key}"), n.into());
    }
    a.insert(
        "mlflow.spanInputs".into(),
        compact(json!({ "policy": policy, "data": r.data })),
    );
    a.insert(
        "mlflow.spanOutputs".into(),
        compact(json!({ "passed": r.passed, "summary": s })),
    );
    let status = if r.passed {
        Status::Ok
    } else {
        Status::Error(format!(
            "{} of {} controls failed, {} could not be evaluated",
            s.failed, s.total, s.errors
        ))
    };
    let parent = span(format!("enforce {}", policy.name()), status, a);
    let mut spans = Vec::new();
    for (i, c) in r.controls.iter().enumerate() {
        spans.push(control_span(trace, e, i, c, &parent));
    }
    spans.insert(0, parent);
    spans
}

fn control_span(
    trace: &SessionTrace,
    e: &Parsed,
    index: usize,
    c: &ControlResult,
    parent: &Span,
) -> Span {
    let mut a = evidence_attributes(e, "EVALUATOR");
    // Numbers as JSON writes them (a threshold of 1 is `1.0`), as before.
    let threshold = Value::from(c.threshold);
    let value = json!(c.actual_value);
    for (key, v) in [
        ("id", json!(c.id)),
        ("metric_key", json!(c.metric_key)),
        ("operator", json!(c.operator)),
        ("threshold", threshold.clone()),
        ("status", json!(c.status)),
        ("passed", json!(c.passed)),
        ("severity", json!(c.severity)),
        ("enforcement_mode", json!(c.enforcement_mode)),
        ("reason", json!(c.reason)),
        ("decision", json!(c.decision)),
        ("rows_needed", json!(c.rows_needed)),
    ] {
        a.insert(format!("control.{key}"), v);
    }
    a.insert("control.value".into(), value.clone());
    let ci = c.ci.as_ref();
    a.insert("control.ci_lower".into(), ci.map(|ci| ci.lower).into());
    a.insert("control.ci_upper".into(), ci.map(|ci| ci.upper).into());
    a.insert(
        "mlflow.spanInputs".into(),
        compact(json!({ "metric_key": c.metric_key, "inputs": c.inputs, "params": c.params })),
    );
    a.insert(
        "mlflow.spanOutputs".into(),
        compact(json!({
            "value": value,
            "rule": format!("{} {threshold}", c.operator),
            "status": c.status,
            "ci": c.ci,
        })),
    );
    let status = match c.status {
        ResultStatus::Pass => Status::Ok,
        ResultStatus::Fail => Status::Error(format!(
            "{} = {value} does not satisfy {} {threshold}",
            c.metric_key, c.operator
        )),
        ResultStatus::Error => Status::Error(
            c.reason
                .as_deref()
                .unwrap_or("the control could not be evaluated")
                .to_string(),
        ),
        // Not a pass: OTLP has no third outcome, so the message says which.
        ResultStatus::Inconclusive => Status::Error(format!(
            "inconclusive: {}",
            c.reason
                .as_deref()
                .unwrap_or("the interval straddles the threshold")
        )),
    };
    Span {
        span_id: trace.span_id(e.seq, &format!("control/{index}")),
        parent: Some(parent.span_id.clone()),
        name: c.id.clone(),
        start_ns: parent.start_ns,
        end_ns: parent.end_ns,
        status,
        attributes: a,
    }
}

/// The root span: the whole run, from its first event's start to its last
/// event's end. Sent again by each export with the run's new extent; MLflow
/// keeps the latest.
pub fn root_span(trace: &SessionTrace, name: &str, pid: u64, events: &[Parsed]) -> Option<Span> {
    let (start_ns, end_ns) = events
        .iter()
        .filter_map(bounds)
        .reduce(|(s0, e0), (s1, e1)| (s0.min(s1), e0.max(e1)))?;
    let count = |kind: EventKind| events.iter().filter(|e| e.kind == Some(kind)).count();
    // The cells' energy, if the run had cells (a script's has none).
    let cells_j: Option<f64> = (count(EventKind::Cell) > 0).then(|| {
        events
            .iter()
            .filter_map(|e| e.cell()?.energy.as_ref()?.report().map(|r| r.total_j))
            .sum()
    });
    let notebook = events.iter().find_map(|e| e.cell()?.notebook.as_deref());
    let kernel = events.iter().find_map(|e| e.cell()?.kernel.as_deref());
    let last = events.last();
    let mut a = Map::new();
    a.insert("mlflow.spanType".into(), "WORKFLOW".into());
    a.insert("venturalitica.pid".into(), pid.into());
    a.insert("venturalitica.notebook".into(), notebook.into());
    a.insert("venturalitica.kernel".into(), kernel.into());
    a.insert("venturalitica.cells".into(), count(EventKind::Cell).into());
    a.insert(
        "venturalitica.evaluations".into(),
        count(EventKind::Enforce).into(),
    );
    a.insert(
        "venturalitica.monitors".into(),
        count(EventKind::Monitor).into(),
    );
    a.insert("venturalitica.head_seq".into(), last.map(|e| e.seq).into());
    a.insert(
        "venturalitica.head_hash".into(),
        last.map(|e| e.hash.clone()).into(),
    );
    a.insert("energy.cells_total_j".into(), json!(cells_j));
    a.insert(
        "mlflow.spanInputs".into(),
        compact(json!({ "notebook": notebook, "kernel": kernel, "pid": pid })),
    );
    a.insert(
        "mlflow.spanOutputs".into(),
        compact(json!({
            "cells": count(EventKind::Cell),
            "evaluations": count(EventKind::Enforce),
            "monitors": count(EventKind::Monitor),
            "cells_energy_j": cells_j,
        })),
    );
    Some(Span {
        span_id: trace.root_span_id.clone(),
        parent: None,
        name: name.to_string(),
        start_ns,
        end_ns,
        status: Status::Ok,
        attributes: a,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(seq: u64, body: Value) -> Parsed {
        Parsed::new(seq, format!("{seq:064x}"), body)
    }

    fn cell(seq: u64, n: u64, start: &str, end: &str, status: &str) -> Parsed {
        parsed(
            seq,
            json!({"kind": "cell", "ts": end, "pid": 7, "payload": {
                "execution_count": n, "code_sha256": "ab", "start": start, "end": end,
                "duration_s": 0.5, "status": status, "ename": if status == "error" { json!("ZeroDivisionError") } else { Value::Null },
                "energy": {"total_j": 2.0, "total_low_j": 1.0, "total_high_j": 3.0, "co2e_g": 0.1,
                           "cpu": {"joules": 1.5, "method": "tdp-model", "low_j": 0.75, "high_j": 2.25},
                           "ram": {"joules": 0.5, "method": "ram-model", "low_j": 0.25, "high_j": 1.0},
                           "basis": {"big": "left out"}}
            }}),
        )
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = cell(1, 1, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "ok");
        let t = SessionTrace::of("1", &a);
        assert_eq!(t, SessionTrace::of("1", &a));
        assert_eq!(t.trace_id.len(), 32);
        assert_eq!(t.root_span_id.len(), 16);
        assert_eq!(t.mlflow_id(), format!("tr-{}", t.trace_id));
        let b = cell(2, 2, "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "ok");
        let (sa, sb) = (
            &event_spans(&t, &Cells::default(), &a)[0],
            &event_spans(&t, &Cells::default(), &b)[0],
        );
        assert_eq!(
            sa.span_id,
            event_spans(&t, &Cells::default(), &a)[0].span_id
        );
        assert_ne!(sa.span_id, sb.span_id);
        assert_ne!(sa.span_id, t.root_span_id);
        assert_ne!(SessionTrace::of("1", &b).trace_id, t.trace_id);
        assert_ne!(
            SessionTrace::of("2", &a).trace_id,
            t.trace_id,
            "one trace per experiment"
        );
    }

    #[test]
    fn a_cell_span_carries_its_timing_status_and_energy() {
        let e = cell(
            3,
            4,
            "2026-01-01T00:00:00.250Z",
            "2026-01-01T00:00:00.750Z",
            "error",
        );
        let t = SessionTrace::of("1", &e);
        let [s] = event_spans(&t, &Cells::default(), &e)
            .try_into()
            .expect("one span");
        assert_eq!(s.name, "cell [4]");
        assert_eq!(s.parent.as_deref(), Some(t.root_span_id.as_str()));
        assert_eq!(s.start_ns, 1_767_225_600_250_000_000);
        assert_eq!(s.end_ns, 1_767_225_600_750_000_000);
        assert_eq!(s.status, Status::Error("ZeroDivisionError".into()));
        assert_eq!(s.attributes["energy.cpu_j"], json!(1.5));
        assert_eq!(s.attributes["energy.cpu_method"], json!("tdp-model"));
        assert_eq!(s.attributes["energy.ram_high_j"], json!(1.0));
        assert_eq!(s.attributes["cell.code_sha256"], json!("ab"));
        assert_eq!(s.attributes["venturalitica.seq"], json!(3));
        assert!(!s.attributes.contains_key("energy.gpu_j"));
        assert!(s.attributes["mlflow.spanOutputs"]["energy"]
            .get("basis")
            .is_none());
    }

    #[test]
    fn an_enforce_span_has_a_child_per_control_with_its_verdict() {
        let e = parsed(
            5,
            json!({"kind": "enforce", "ts": "2026-01-01T00:00:02Z", "pid": 7, "payload": {"origin": "cli", "results": {
            "schema_version": 1, "passed": false, "evaluated_at": "2026-01-01T00:00:01.500Z",
            "summary": {"total": 3, "passed": 1, "failed": 1, "errors": 1},
            "engine": {"name": "venturalitica", "version": "0"},
            "policy": {"title": "Fair lending", "path": "p.yaml", "version": null, "uuid": null, "shape": "control-list", "sha256": "cd"},
            "data": {"source": "d.csv", "fingerprint": "ef", "rows": 4},
            "controls": [
                {"id": "di", "description": null, "metric_key": "disparate_impact", "operator": ">=", "threshold": 0.8, "actual_value": 0.5,
                 "status": "fail", "passed": false, "severity": null},
                {"id": "dp", "description": null, "metric_key": "demographic_parity_diff", "operator": "<=", "threshold": 0.1, "actual_value": 0.0,
                 "status": "pass", "passed": true, "severity": null,
                 "ci": {"lower": 0.0, "upper": 0.2, "level": 0.95, "method": "m", "resamples": 10, "seed": 1, "undefined_resamples": 0}},
                {"id": "acc", "description": null, "metric_key": "accuracy_score", "operator": ">=", "threshold": 0.7, "actual_value": null,
                 "status": "error", "passed": false, "severity": null, "reason": "column 'y' is missing"}
            ]}}}),
        );
        let t = SessionTrace::of("1", &e);
        let spans = event_spans(&t, &Cells::default(), &e);
        assert_eq!(spans.len(), 4);
        let parent = &spans[0];
        assert_eq!(parent.name, "enforce Fair lending");
        assert_eq!(parent.start_ns, parent.end_ns);
        assert!(matches!(&parent.status, Status::Error(m) if m.contains("1 of 3")));
        assert!(spans[1..]
            .iter()
            .all(|s| s.parent.as_deref() == Some(parent.span_id.as_str())));
        assert!(
            matches!(&spans[1].status, Status::Error(m) if m == "disparate_impact = 0.5 does not satisfy >= 0.8")
        );
        assert_eq!(spans[2].status, Status::Ok);
        assert_eq!(spans[2].attributes["control.ci_upper"], json!(0.2));
        assert_eq!(
            spans[3].status,
            Status::Error("column 'y' is missing".into())
        );
        let ids: std::collections::BTreeSet<_> = spans.iter().map(|s| &s.span_id).collect();
        assert_eq!(ids.len(), 4);
    }

    #[test]
    fn an_inconclusive_control_span_is_not_ok_and_says_why() {
        let e = parsed(
            6,
            json!({"kind": "enforce", "ts": "2026-01-01T00:00:02Z", "pid": 7, "payload": {"origin": "cli", "results": {
            "schema_version": 1, "passed": false, "evaluated_at": "2026-01-01T00:00:01.500Z",
            "summary": {"total": 1, "passed": 0, "failed": 0, "errors": 0, "inconclusive": 1},
            "engine": {"name": "venturalitica", "version": "0"},
            "policy": {"title": "Fair lending", "path": "p.yaml", "version": null, "uuid": null, "shape": "control-list", "sha256": "cd"},
            "data": {"source": "d.csv", "fingerprint": "ef", "rows": 1000},
            "controls": [
                {"id": "age", "description": null, "metric_key": "disparate_impact", "operator": ">=", "threshold": 0.8,
                 "actual_value": 0.7948, "status": "inconclusive", "passed": false, "severity": null,
                 "decision": "interval", "rows_needed": 363_900, "reason": "straddles >= 0.8",
                 "ci": {"lower": 0.6896, "upper": 0.894, "level": 0.95, "method": "m", "resamples": 10, "seed": 1, "undefined_resamples": 0}}
            ]}}}),
        );
        let t = SessionTrace::of("1", &e);
        let spans = event_spans(&t, &Cells::default(), &e);
        let control = &spans[1];
        assert_eq!(
            control.status,
            Status::Error("inconclusive: straddles >= 0.8".into())
        );
        assert_eq!(control.attributes["control.status"], json!("inconclusive"));
        assert_eq!(control.attributes["control.decision"], json!("interval"));
        assert_eq!(control.attributes["control.rows_needed"], json!(363_900));
        assert!(matches!(&spans[0].status, Status::Error(_)));
    }

    #[test]
    fn what_ran_inside_a_cell_is_a_child_of_its_span() {
        let events = [
            cell(1, 1, "2026-01-01T00:00:00Z", "2026-01-01T00:00:02Z", "ok"),
            parsed(
                2,
                json!({"kind": "monitor", "ts": "2026-01-01T00:00:01.500Z", "pid": 7, "payload": {
                    "name": "fit", "energy": {"wall_s": 1.0, "total_j": 1.0}}}),
            ),
            parsed(
                3,
                json!({"kind": "monitor", "ts": "2026-01-01T00:00:09Z", "pid": 7, "payload": {
                    "name": "later", "energy": {"wall_s": 1.0, "total_j": 1.0}}}),
            ),
        ];
        let t = SessionTrace::of("1", &events[0]);
        let cells = Cells::of(&t, &events);
        let cell_span = &event_spans(&t, &cells, &events[0])[0];
        assert_eq!(cell_span.parent.as_deref(), Some(t.root_span_id.as_str()));
        let inside = &event_spans(&t, &cells, &events[1])[0];
        assert_eq!(inside.parent.as_deref(), Some(cell_span.span_id.as_str()));
        let outside = &event_spans(&t, &cells, &events[2])[0];
        assert_eq!(outside.parent.as_deref(), Some(t.root_span_id.as_str()));
    }

    #[test]
    fn a_monitor_span_ends_at_its_event_and_lasts_its_wall_time() {
        let e = parsed(
            2,
            json!({"kind": "monitor", "ts": "2026-01-01T00:00:10Z", "pid": 7, "payload": {
                "name": "train", "energy": {"wall_s": 2.5, "total_j": 9.0}}}),
        );
        let [s] = event_spans(&SessionTrace::of("1", &e), &Cells::default(), &e)
            .try_into()
            .expect("one span");
        assert_eq!(s.name, "monitor train");
        assert_eq!(s.end_ns - s.start_ns, 2_500_000_000);
    }

    #[test]
    fn the_root_spans_every_event_and_otlp_json_has_hex_ids() {
        let events = [
            cell(1, 1, "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "ok"),
            cell(2, 2, "2026-01-01T00:00:00Z", "2026-01-01T00:00:03Z", "ok"),
            parsed(
                3,
                json!({"kind": "export", "ts": "2026-01-01T00:09:00Z", "pid": 7, "payload": {}}),
            ),
        ];
        let t = SessionTrace::of("1", &events[0]);
        let root = root_span(&t, "nb.ipynb", 7, &events).expect("a root");
        assert_eq!(root.parent, None);
        assert_eq!(root.end_ns - root.start_ns, 3_000_000_000);
        assert_eq!(root.attributes["venturalitica.cells"], json!(2));
        assert_eq!(root.attributes["energy.cells_total_j"], json!(4.0));
        assert!(event_spans(&t, &Cells::default(), &events[2]).is_empty());

        let req = request(&t.trace_id, &[root]);
        let span = &req["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], json!(t.trace_id));
        assert!(span.get("parentSpanId").is_none());
        let attrs = span["attributes"].as_array().expect("attributes");
        let get = |k: &str| attrs.iter().find(|a| a["key"] == k).map(|a| &a["value"]);
        assert_eq!(get("venturalitica.pid"), Some(&json!({"intValue": "7"})));
        assert_eq!(
            get("energy.cells_total_j"),
            Some(&json!({"doubleValue": 4.0}))
        );
        assert_eq!(get("venturalitica.notebook"), None, "nulls are left out");
    }
}
