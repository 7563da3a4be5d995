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

use serde::Serialize;
use serde_json::Value;
use venturalitica_evidence::chain::Event;
use venturalitica_evidence::{EventKind, Indexed};

/// One metric point, as MLflow's `log-batch` takes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
}

/// An event with its parsed body.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub seq: u64,
    /// The event's hash in the chain (hex).
    pub hash: String,
    pub body: Value,
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
        .filter_map(|e| {
            Some(Parsed {
                body: e.json()?,
                seq: e.seq,
                hash: e.hash,
            })
        })
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
pub fn nanos(ts: &Value) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(ts.as_str()?).ok()?;
    u64::try_from(t.timestamp_nanos_opt()?).ok()
}

/// An event timestamp (RFC 3339) in milliseconds since the epoch; 0 if absent.
pub fn millis(ts: &Value) -> i64 {
    nanos(ts).map_or(0, |n| i64::try_from(n / 1_000_000).unwrap_or(i64::MAX))
}

/// The metric points of one event.
pub fn metrics(event: &Parsed) -> Vec<Metric> {
    let b = &event.body;
    let p = &b["payload"];
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
    match EventKind::of(b) {
        Some(EventKind::Cell) => {
            let ts = p["end"]
                .as_str()
                .map_or_else(|| millis(&b["ts"]), |_| millis(&p["end"]));
            let step = p["execution_count"].as_i64().unwrap_or(seq);
            push("cell.duration_s".into(), p["duration_s"].as_f64(), ts, step);
            let e = &p["energy"];
            push("energy.total_j".into(), e["total_j"].as_f64(), ts, step);
            push(
                "energy.total_low_j".into(),
                e["total_low_j"].as_f64(),
                ts,
                step,
            );
            push(
                "energy.total_high_j".into(),
                e["total_high_j"].as_f64(),
                ts,
                step,
            );
            push("energy.cpu_j".into(), e["cpu"]["joules"].as_f64(), ts, step);
            push("energy.ram_j".into(), e["ram"]["joules"].as_f64(), ts, step);
            push("energy.gpu_j".into(), e["gpu"]["joules"].as_f64(), ts, step);
            push("energy.co2e_g".into(), e["co2e_g"].as_f64(), ts, step);
            let mb = e["peak_rss_bytes"].as_f64().map(|b| b / 1e6);
            push("energy.peak_rss_mb".into(), mb, ts, step);
        }
        Some(EventKind::Enforce) => {
            let ts = millis(&b["ts"]);
            let results = &p["results"];
            for c in results["controls"].as_array().into_iter().flatten() {
                let id = c["id"].as_str().unwrap_or("control");
                push(
                    format!("compliance.{id}.value"),
                    c["actual_value"].as_f64(),
                    ts,
                    seq,
                );
                let passed = c["status"]
                    .as_str()
                    .map(|s| if s == "pass" { 1.0 } else { 0.0 });
                push(format!("compliance.{id}.passed"), passed, ts, seq);
            }
            let score = results["passed"]
                .as_bool()
                .map(|p| if p { 1.0 } else { 0.0 });
            push("compliance_score".into(), score, ts, seq);
        }
        Some(EventKind::Monitor) => {
            let ts = millis(&b["ts"]);
            let name = p["name"].as_str().unwrap_or("monitor");
            let e = &p["energy"];
            push(
                format!("monitor.{name}.energy_j"),
                e["total_j"].as_f64(),
                ts,
                seq,
            );
            for end in ["low", "high"] {
                push(
                    format!("monitor.{name}.energy_{end}_j"),
                    e[format!("total_{end}_j")].as_f64(),
                    ts,
                    seq,
                );
            }
            push(
                format!("monitor.{name}.co2e_g"),
                e["co2e_g"].as_f64(),
                ts,
                seq,
            );
            push(
                format!("monitor.{name}.wall_s"),
                e["wall_s"].as_f64(),
                ts,
                seq,
            );
        }
        Some(EventKind::Scan) => {
            let score = p["passed"].as_bool().map(|p| if p { 1.0 } else { 0.0 });
            push("scan.compliance_score".into(), score, millis(&b["ts"]), seq);
        }
        _ => {}
    }
    out
}

/// The run's name and tags, from its events.
pub fn run_identity(pid: u64, events: &[Parsed]) -> (String, Vec<(String, String)>) {
    let notebook = events
        .iter()
        .find_map(|e| e.body["payload"]["notebook"].as_str().map(str::to_string));
    // Sorted by name, as run names and tags have always been.
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| EventKind::of(&e.body))
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
    let mut policies: Vec<&str> = events
        .iter()
        .filter_map(|e| e.body["payload"]["results"]["policy"]["sha256"].as_str())
        .collect();
    policies.sort_unstable();
    policies.dedup();
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
    if let Some(kernel) = events
        .iter()
        .find_map(|e| e.body["payload"]["kernel"].as_str())
    {
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
    fn keys_are_made_safe_for_mlflow() {
        assert_eq!(
            metric_key("compliance.gender<di>.value"),
            "compliance.gender_di_.value"
        );
        assert_eq!(metric_key("a b:c/d-e_f.g"), "a b:c/d-e_f.g");
    }

    #[test]
    fn a_cell_event_gives_its_metrics_at_its_execution_count() {
        let e = Parsed {
            seq: 9,
            hash: String::new(),
            body: json!({"kind": "cell", "ts": "2026-01-01T00:00:01.000Z", "pid": 1, "payload": {
                "execution_count": 3, "duration_s": 0.5, "end": "2026-01-01T00:00:00.500Z",
                "energy": {"total_j": 2.0, "cpu": {"joules": 1.5}, "ram": {"joules": 0.5}, "co2e_g": 0.1, "peak_rss_bytes": 2e6}
            }}),
        };
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
