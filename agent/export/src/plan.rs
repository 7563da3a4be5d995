//! What an export sends: events grouped into runs, and each event's
//! metrics. Pure functions of the evidence trail, so they are tested
//! without a server.
//!
//! One run per process that wrote events (its pid): a proxied kernel
//! session (its cells, and the `enforce` / `monitor` calls made from it), a
//! CLI `enforce`, a `monitor`. Metrics:
//!
//! | event | step | metrics |
//! |---|---|---|
//! | `cell` | execution count | `cell.duration_s`, `energy.total_j`, `energy.cpu_j`, `energy.ram_j`, `energy.gpu_j`, `energy.co2e_g`, `energy.peak_rss_mb` |
//! | `enforce` | event seq | `compliance.<control>.value`, `compliance.<control>.passed`, `compliance_score` |
//! | `monitor` | event seq | `monitor.<name>.energy_j`, `monitor.<name>.co2e_g`, `monitor.<name>.wall_s` |
//! | `scan` | event seq | `scan.compliance_score` |
//!
//! Timestamps are the event's own (milliseconds), so sending a point twice
//! sends the identical point.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use venturalitica_evidence::chain::Event;
use venturalitica_evidence::{EventKind, Indexed};
use venturalitica_vocab::energy::{Component, Measured};
use venturalitica_vocab::events::{CellPayload, Payload};
use venturalitica_vocab::results::{Decision, Status};

/// One metric point, as MLflow's `log-batch` takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

/// An event with its parsed body, and its payload typed by its kind.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub seq: u64,
    /// The event's hash in the chain (hex).
    pub hash: String,
    /// The body as written: the run's `compliance_trace.json` keeps it.
    pub body: Value,
    pub kind: Option<EventKind>,
    pub ts: Option<String>,
    /// `None` for a kind this version does not write; the reason for a
    /// payload that is not of its kind's shape (it gives no metric or span).
    pub payload: Option<Result<Payload, String>>,
}

impl Parsed {
    pub fn new(seq: u64, hash: String, body: Value) -> Parsed {
        let head = Head::deserialize(&body).unwrap_or_default();
        let kind = head.kind.as_deref().and_then(EventKind::parse);
        // Decoded from the body in place: the payload is not copied first.
        let payload = kind.map(|k| {
            let payload = body.get("payload").unwrap_or(&Value::Null);
            Payload::decode(k, payload).map_err(|e| format!("event {seq}: {e}"))
        });
        Parsed {
            seq,
            hash,
            kind,
            ts: head.ts,
            payload,
            body,
        }
    }

    /// The payload, when it is of its kind's shape.
    pub fn typed(&self) -> Option<&Payload> {
        self.payload.as_ref()?.as_ref().ok()
    }

    /// The event's time in milliseconds since the epoch; 0 if absent.
    pub fn millis(&self) -> i64 {
        self.ts.as_deref().map_or(0, millis)
    }

    /// The cell's notebook and kernel, as the recorder names them.
    pub fn cell(&self) -> Option<&CellPayload> {
        match self.typed()? {
            Payload::Cell(c) => Some(c),
            _ => None,
        }
    }
}

/// What an event body says besides its payload.
#[derive(Debug, Default, Deserialize)]
struct Head {
    kind: Option<String>,
    ts: Option<String>,
}

/// Events grouped by the process that wrote them, in trail order.
pub fn group_by_process<'a>(
    events: impl IntoIterator<Item = &'a Indexed>,
) -> BTreeMap<u64, Vec<&'a Indexed>> {
    let mut groups: BTreeMap<u64, Vec<&Indexed>> = BTreeMap::new();
    for e in events {
        groups.entry(e.pid.unwrap_or(0)).or_default().push(e);
    }
    groups
}

/// The events whose bodies are JSON, parsed.
pub fn parsed(events: Vec<Event>) -> Vec<Parsed> {
    events
        .into_iter()
        .filter_map(|e| Some(Parsed::new(e.seq, e.hash.clone(), e.json()?)))
        .collect()
}

/// MLflow keys allow letters, digits and `_ - . space : /`; one bad key
/// fails a whole batch, so anything else becomes `_`.
pub fn metric_key(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-. :/".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An RFC 3339 timestamp in nanoseconds since the epoch.
pub fn nanos(ts: &str) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    u64::try_from(t.timestamp_nanos_opt()?).ok()
}

/// An RFC 3339 timestamp in milliseconds since the epoch; 0 if it is not one.
pub fn millis(ts: &str) -> i64 {
    nanos(ts).map_or(0, |n| i64::try_from(n / 1_000_000).unwrap_or(i64::MAX))
}

/// The metric points of one event.
pub fn metrics(event: &Parsed) -> Vec<Metric> {
    let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
    let mut out = Vec::new();
    let mut push = |key: String, value: Option<f64>, timestamp: i64, step: i64| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            out.push(Metric {
                key: metric_key(&key),
                value,
                timestamp,
                step,
            });
        }
    };
    let joules = |c: &Option<Component>| c.as_ref().map(|c| c.joules);
    match event.typed() {
        Some(Payload::Cell(p)) => {
            let ts = p.end.as_deref().map_or_else(|| event.millis(), millis);
            let step = p
                .execution_count
                .and_then(|n| i64::try_from(n).ok())
                .unwrap_or(seq);
            push("cell.duration_s".into(), p.duration_s, ts, step);
            if let Some(e) = p.energy.as_ref().and_then(Measured::report) {
                push("energy.total_j".into(), Some(e.total_j), ts, step);
                push("energy.total_low_j".into(), e.total_low_j, ts, step);
                push("energy.total_high_j".into(), e.total_high_j, ts, step);
                push("energy.cpu_j".into(), joules(&e.cpu), ts, step);
                push("energy.ram_j".into(), joules(&e.ram), ts, step);
                push("energy.gpu_j".into(), joules(&e.gpu), ts, step);
                push("energy.co2e_g".into(), e.co2e_g, ts, step);
                let mb = e.peak_rss_bytes.map(|b| b as f64 / 1e6);
                push("energy.peak_rss_mb".into(), mb, ts, step);
            }
        }
        Some(Payload::Enforce(p)) => {
            let ts = event.millis();
            let one = |yes: bool| if yes { 1.0 } else { 0.0 };
            for c in &p.results.controls {
                let id = &c.id;
                push(format!("compliance.{id}.value"), c.actual_value, ts, seq);
                let passed = one(c.status == Status::Pass);
                push(format!("compliance.{id}.passed"), Some(passed), ts, seq);
                // Decided on the interval: its ends, and whether (and what
                // would) settle it, as steps beside the value.
                if c.decision == Decision::Interval {
                    let inconclusive = one(c.status == Status::Inconclusive);
                    push(
                        format!("compliance.{id}.inconclusive"),
                        Some(inconclusive),
                        ts,
                        seq,
                    );
                    let ci = c.ci.as_ref();
                    push(
                        format!("compliance.{id}.ci_lower"),
                        ci.map(|ci| ci.lower),
                        ts,
                        seq,
                    );
                    push(
                        format!("compliance.{id}.ci_upper"),
                        ci.map(|ci| ci.upper),
                        ts,
                        seq,
                    );
                    let needed = c.rows_needed.map(|n| n as f64);
                    push(format!("compliance.{id}.rows_needed"), needed, ts, seq);
                }
            }
            push(
                "compliance_score".into(),
                Some(one(p.results.passed)),
                ts,
                seq,
            );
        }
        Some(Payload::Monitor(p)) => {
            let ts = event.millis();
            let (name, e) = (&p.name, &p.energy);
            push(format!("monitor.{name}.energy_j"), Some(e.total_j), ts, seq);
            push(
                format!("monitor.{name}.energy_low_j"),
                e.total_low_j,
                ts,
                seq,
            );
            push(
                format!("monitor.{name}.energy_high_j"),
                e.total_high_j,
                ts,
                seq,
            );
            push(format!("monitor.{name}.co2e_g"), e.co2e_g, ts, seq);
            push(format!("monitor.{name}.wall_s"), Some(e.wall_s), ts, seq);
        }
        Some(Payload::Scan(p)) => {
            let score = if p.passed { 1.0 } else { 0.0 };
            push(
                "scan.compliance_score".into(),
                Some(score),
                event.millis(),
                seq,
            );
        }
        Some(Payload::Export(_) | Payload::Approval(_) | Payload::Reference(_)) | None => {}
    }
    out
}

/// The SHA-256 of every policy the events evaluated, sorted, once each.
pub fn policies(events: &[Parsed]) -> Vec<&str> {
    let mut policies: Vec<&str> = events
        .iter()
        .filter_map(|e| Some(e.typed()?.results()?.policy.sha256.as_str()))
        .collect();
    policies.sort_unstable();
    policies.dedup();
    policies
}

/// The user's own MLflow runs on the server at `tracking_uri` that the
/// events' evaluations were logged to (the Python API inside an active
/// run), once each in the order first seen; the most recent 100 (a tag
/// holds at most 5,000 characters).
pub fn user_runs<'a>(events: &'a [Parsed], tracking_uri: &str) -> Vec<&'a str> {
    let same_server = |uri: &Option<String>| {
        uri.as_deref()
            .is_some_and(|u| u.trim_end_matches('/') == tracking_uri.trim_end_matches('/'))
    };
    let mut runs: Vec<&str> = Vec::new();
    for event in events {
        let Some(Payload::Enforce(p)) = event.typed() else {
            continue;
        };
        for run in &p.tracker_runs {
            if run.tracker == "mlflow"
                && same_server(&run.tracking_uri)
                && !runs.contains(&run.run_id.as_str())
            {
                runs.push(&run.run_id);
            }
        }
    }
    let skip = runs.len().saturating_sub(100);
    runs.split_off(skip)
}

/// The run's name and tags, from its events.
pub fn run_identity(pid: u64, events: &[Parsed]) -> (String, Vec<(String, String)>) {
    let notebook = events.iter().find_map(|e| e.cell()?.notebook.clone());
    // Sorted by name, as run names and tags have always been.
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e.kind)
        .map(EventKind::as_str)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let name = match &notebook {
        Some(nb) => nb.clone(),
        None if kinds.contains(&EventKind::Cell.as_str()) => {
            format!("notebook session (pid {pid})")
        }
        None => format!("venturalitica {} (pid {pid})", kinds.join("+")),
    };
    let policies = policies(events);
    let mut tags = vec![
        ("mlflow.runName".to_string(), name.clone()),
        (
            "mlflow.source.name".to_string(),
            notebook
                .clone()
                .unwrap_or_else(|| "venturalitica".to_string()),
        ),
        ("venturalitica.pid".to_string(), pid.to_string()),
        ("venturalitica.events".to_string(), kinds.join(",")),
    ];
    if let Some(kernel) = events.iter().find_map(|e| e.cell()?.kernel.as_deref()) {
        tags.push(("venturalitica.kernel".to_string(), kernel.to_string()));
    }
    if !policies.is_empty() {
        tags.push((
            "venturalitica.policy_sha256".to_string(),
            policies.join(","),
        ));
    }
    (name, tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_runs_are_the_mlflow_runs_on_this_server_once_each() {
        let enforce = |seq: u64, runs: serde_json::Value| {
            let results = serde_json::json!({
                "schema_version": 1, "passed": true, "evaluated_at": "2026-01-01T00:00:01Z",
                "summary": {"total": 0, "passed": 0, "failed": 0, "errors": 0},
                "engine": {"name": "venturalitica", "version": "0"},
                "policy": {"title": null, "path": "p.yaml", "version": null, "uuid": null,
                           "shape": "control-list", "sha256": "cd"},
                "data": {"source": "d.csv", "fingerprint": "ef", "rows": 0},
                "controls": []
            });
            Parsed::new(
                seq,
                format!("{seq:064x}"),
                serde_json::json!({"kind": "enforce", "payload": {"results": results, "tracker_runs": runs}}),
            )
        };
        let here = "http://127.0.0.1:5000";
        let events = vec![
            enforce(
                1,
                serde_json::json!([{"tracker": "mlflow", "run_id": "a", "tracking_uri": here}]),
            ),
            enforce(
                2,
                serde_json::json!([
                    {"tracker": "mlflow", "run_id": "a", "tracking_uri": format!("{here}/")},
                    {"tracker": "wandb", "run_id": "w"},
                    {"tracker": "mlflow", "run_id": "elsewhere", "tracking_uri": "http://other:5000"},
                    {"tracker": "mlflow", "run_id": "b", "tracking_uri": here},
                ]),
            ),
        ];
        assert!(
            events.iter().all(|e| e.typed().is_some()),
            "{:?}",
            events[0].payload
        );
        assert_eq!(user_runs(&events, here), ["a", "b"]);
        assert!(user_runs(&events, "http://nowhere").is_empty());
    }

    #[test]
    fn an_interval_decision_gives_its_ends_and_whether_it_settled_as_steps() {
        let control = |id: &str, status: &str, decision: &str, rows: serde_json::Value| {
            json!({"id": id, "description": null, "metric_key": "disparate_impact", "operator": ">=",
                   "threshold": 0.8, "actual_value": 0.7948, "status": status, "passed": false,
                   "severity": null, "decision": decision, "rows_needed": rows,
                   "ci": {"lower": 0.6896, "upper": 0.894, "level": 0.95, "method": "m",
                          "resamples": 1000, "seed": 42, "undefined_resamples": 0}})
        };
        let results = json!({
            "schema_version": 1, "passed": false, "evaluated_at": "2026-01-01T00:00:01Z",
            "summary": {"total": 2, "passed": 0, "failed": 1, "errors": 0, "inconclusive": 1},
            "engine": {"name": "venturalitica", "version": "0"},
            "policy": {"title": null, "path": "p.yaml", "version": null, "uuid": null,
                       "shape": "control-list", "sha256": "cd"},
            "data": {"source": "d.csv", "fingerprint": "ef", "rows": 1000},
            "controls": [control("age", "inconclusive", "interval", json!(363_900)),
                         control("point", "fail", "point", json!(null))]
        });
        let e = Parsed::new(
            4,
            String::new(),
            json!({"kind": "enforce", "ts": "2026-01-01T00:00:01.000Z", "payload": {"results": results}}),
        );
        let m = metrics(&e);
        let value = |key: &str| m.iter().find(|m| m.key == key).map(|m| m.value);
        assert_eq!(value("compliance.age.inconclusive"), Some(1.0));
        assert_eq!(value("compliance.age.passed"), Some(0.0));
        assert_eq!(value("compliance.age.ci_lower"), Some(0.6896));
        assert_eq!(value("compliance.age.ci_upper"), Some(0.894));
        assert_eq!(value("compliance.age.rows_needed"), Some(363_900.0));
        // Decided on its point: the metrics as before, nothing added.
        assert_eq!(value("compliance.point.inconclusive"), None);
        assert_eq!(value("compliance.point.ci_lower"), None);
        assert!(m.iter().all(|m| m.step == 4));
    }

    #[test]
    fn keys_are_made_safe_for_mlflow() {
        assert_eq!(
            metric_key("compliance.gender<di>.value"),
            "compliance.gender_di_.value"
        );
        assert_eq!(metric_key("a b:c/d-e_f.g"), "a b:c/d-e_f.g");
    }

    #[test]
    fn a_cell_event_gives_its_metrics_at_its_execution_count() {
        let e = Parsed::new(
            9,
            String::new(),
            json!({"kind": "cell", "ts": "2026-01-01T00:00:01.000Z", "pid": 1, "payload": {
                "execution_count": 3, "duration_s": 0.5, "end": "2026-01-01T00:00:00.500Z",
                "energy": {"wall_s": 0.5, "total_j": 2.0, "cpu": {"joules": 1.5}, "ram": {"joules": 0.5}, "co2e_g": 0.1, "peak_rss_bytes": 2000000}
            }}),
        );
        let m = metrics(&e);
        let keys: Vec<&str> = m.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "cell.duration_s",
                "energy.total_j",
                "energy.cpu_j",
                "energy.ram_j",
                "energy.co2e_g",
                "energy.peak_rss_mb"
            ]
        );
        assert!(m
            .iter()
            .all(|m| m.step == 3 && m.timestamp == 1_767_225_600_500));
    }
}
