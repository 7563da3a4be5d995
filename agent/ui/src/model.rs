//! What the pages show, derived from the trail's events: evaluations and
//! their controls, the latest status of each control with its history, and
//! energy per cell, per window and per notebook session.

use std::collections::BTreeMap;

use venturalitica_vocab::results::{latest_per_control, ControlResult, Results, Status};

use crate::trail::{Entry, Snapshot};
use venturalitica_evidence::EventKind;
use venturalitica_vocab::events::Payload;

/// An `enforce` event.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation<'a> {
    pub entry: &'a Entry,
    pub results: &'a Results,
}

impl<'a> Evaluation<'a> {
    pub fn seq(&self) -> u64 {
        self.entry.seq
    }

    pub fn policy_title(&self) -> &'a str {
        self.results.policy.name()
    }

    pub fn policy_sha(&self) -> &'a str {
        &self.results.policy.sha256
    }

    pub fn policy_version(&self) -> Option<&'a str> {
        self.results.policy.version.as_deref()
    }

    /// Identifies a policy across its versions: its uuid, else its path.
    pub fn policy_key(&self) -> &'a str {
        self.results.policy.key()
    }

    pub fn fingerprint(&self) -> Option<&'a str> {
        self.results.data.fingerprint.as_deref()
    }

    pub fn source(&self) -> &'a str {
        &self.results.data.source
    }

    pub fn passed(&self) -> bool {
        self.results.passed
    }

    /// Who asked: `cli` or `kernel` ("" for an event that does not say).
    pub fn origin(&self) -> &'a str {
        match &self.entry.typed {
            Some(Ok(Payload::Enforce(p))) => p.origin.as_deref().unwrap_or(""),
            _ => "",
        }
    }

    pub fn controls(&self) -> impl Iterator<Item = &'a ControlResult> {
        self.results.controls.iter()
    }
}

/// Every `enforce` event whose payload is an evaluation; [`unreadable`]
/// lists the others.
pub fn evaluations(s: &Snapshot) -> Vec<Evaluation<'_>> {
    s.entries
        .iter()
        .filter_map(|entry| {
            Some(Evaluation {
                entry,
                results: entry.results()?,
            })
        })
        .collect()
}

/// Events of a kind this version writes whose payload is not of that
/// kind's shape, with why: shown on the overview, never skipped silently.
pub fn unreadable(s: &Snapshot) -> Vec<(&Entry, &str)> {
    s.entries
        .iter()
        .filter_map(|e| match &e.typed {
            Some(Err(why)) => Some((e, why.as_str())),
            _ => None,
        })
        .collect()
}

/// One point of a control's history.
#[derive(Debug, Clone)]
pub struct Point {
    pub value: Option<f64>,
    pub status: Status,
    /// The value's interval, when it has one.
    pub interval: Option<(f64, f64)>,
    /// A drift control's value per feature (its groups), when it has
    /// several: one line each.
    pub features: Vec<(String, f64)>,
}

/// A drift control's value per feature, when it compares several.
fn feature_values(control: &venturalitica_vocab::results::ControlResult) -> Vec<(String, f64)> {
    if control.drift.is_none() || control.groups.len() < 2 {
        return Vec::new();
    }
    control
        .groups
        .iter()
        .filter_map(|g| {
            let value = g
                .rates
                .iter()
                .find(|(name, _)| name.as_ref() != "drifted")
                .and_then(|(_, v)| *v)?;
            Some((g.group.clone(), value))
        })
        .collect()
}

/// A control's latest result, with everything before it.
#[derive(Debug, Clone)]
pub struct ControlStatus<'a> {
    pub latest: Evaluation<'a>,
    pub control: &'a ControlResult,
    pub history: Vec<Point>,
    /// Policy versions (sha256) this control was evaluated under, oldest first.
    pub versions: Vec<&'a str>,
}

impl ControlStatus<'_> {
    pub fn id(&self) -> &str {
        &self.control.id
    }

    pub fn status(&self) -> Status {
        self.control.status
    }
}

/// The latest result of every control, keyed by policy and control id, in
/// the order they were first seen, with its history.
pub fn control_status<'a>(evals: &[Evaluation<'a>]) -> Vec<ControlStatus<'a>> {
    let latest = latest_per_control(evals.iter().map(|e| (*e, e.results)));
    let mut rows: Vec<ControlStatus<'a>> = latest
        .into_iter()
        .map(|(latest, _, control)| ControlStatus {
            latest,
            control,
            history: Vec::new(),
            versions: Vec::new(),
        })
        .collect();
    let index: BTreeMap<(&str, &str), usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.latest.policy_key(), r.control.id.as_str()), i))
        .collect();
    for eval in evals {
        for control in eval.controls() {
            let Some(&i) = index.get(&(eval.policy_key(), control.id.as_str())) else {
                continue;
            };
            let row = &mut rows[i];
            row.history.push(Point {
                value: control.actual_value,
                status: control.status,
                interval: control.ci.as_ref().map(|ci| (ci.lower, ci.upper)),
                features: feature_values(control),
            });
            if !row.versions.contains(&eval.policy_sha()) {
                row.versions.push(eval.policy_sha());
            }
        }
    }
    rows
}

pub use venturalitica_vocab::energy::EnergyTotals as Energy;

/// A metered cell.
#[derive(Debug, Clone)]
pub struct Cell<'a> {
    pub entry: &'a Entry,
    pub execution_count: Option<u64>,
    pub duration_s: f64,
    pub energy: Option<&'a Energy>,
}

/// A `monitor` window.
#[derive(Debug, Clone)]
pub struct Window<'a> {
    pub entry: &'a Entry,
    pub name: &'a str,
    pub energy: &'a Energy,
}

/// All cells of one kernel (one proxy process).
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub pid: u64,
    pub notebook: Option<String>,
    pub first_ts: String,
    pub cells: usize,
    pub duration_s: f64,
    pub energy: Energy,
}

#[derive(Debug, Default)]
pub struct EnergyView<'a> {
    pub cells: Vec<Cell<'a>>,
    pub windows: Vec<Window<'a>>,
    pub sessions: Vec<Session>,
}

impl EnergyView<'_> {
    pub fn total(&self) -> Energy {
        let mut t = Energy::default();
        let cells = self.cells.iter().filter_map(|c| c.energy);
        for e in cells.chain(self.windows.iter().map(|w| w.energy)) {
            t.add(e);
        }
        t
    }
}

pub fn energy(s: &Snapshot) -> EnergyView<'_> {
    let mut view = EnergyView::default();
    let mut sessions: BTreeMap<u64, Session> = BTreeMap::new();
    for entry in &s.entries {
        match entry.kind {
            Some(EventKind::Cell) => {
                let cell = Cell {
                    entry,
                    execution_count: entry.execution_count,
                    duration_s: entry.duration_s.unwrap_or(0.0),
                    energy: entry.energy.as_deref(),
                };
                let pid = entry.pid.unwrap_or(0);
                let session = sessions.entry(pid).or_insert_with(|| Session {
                    pid,
                    notebook: entry.text("notebook").map(str::to_string),
                    first_ts: entry.ts.clone(),
                    ..Session::default()
                });
                session.cells += 1;
                session.duration_s += cell.duration_s;
                if let Some(e) = cell.energy {
                    session.energy.add(e);
                }
                view.cells.push(cell);
            }
            Some(EventKind::Monitor) => {
                if let (Some(energy), Some(Ok(Payload::Monitor(m)))) =
                    (entry.energy.as_deref(), &entry.typed)
                {
                    view.windows.push(Window {
                        entry,
                        name: &m.name,
                        energy,
                    });
                }
            }
            _ => {}
        }
    }
    view.sessions = sessions.into_values().collect();
    view
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::trail::Entries;

    fn results(uuid: &str, sha: &str, controls: Value) -> Value {
        json!({
            "schema_version": 1, "passed": false,
            "summary": {"total": 1, "passed": 0, "failed": 1, "errors": 0},
            "evaluated_at": "2026-01-01T00:00:00.000Z",
            "engine": {"name": "venturalitica", "version": "0"},
            "policy": {"title": "Loans", "path": "p.yaml", "uuid": uuid, "version": null,
                       "shape": "catalog", "sha256": sha},
            "data": {"source": "d.csv", "fingerprint": null, "rows": 3},
            "controls": controls,
        })
    }

    fn control(id: &str, value: f64, status: &str) -> Value {
        json!({"id": id, "description": null, "metric_key": "m", "operator": ">",
               "threshold": 0.5, "actual_value": value, "status": status,
               "passed": status == "pass", "severity": null})
    }

    fn entry(seq: u64, kind: EventKind, pid: u64, payload: Value) -> Entry {
        let typed = (kind != EventKind::Cell)
            .then(|| Payload::decode(kind, &payload).map_err(|e| e.to_string()));
        let energy = match (&typed, kind) {
            (Some(Ok(Payload::Monitor(m))), _) => Some(Box::new(Energy::of(&m.energy))),
            (_, EventKind::Cell) => payload["energy"]["total_j"].as_f64().map(|total_j| {
                Box::new(Energy {
                    total_j,
                    ..Energy::default()
                })
            }),
            _ => None,
        };
        Entry {
            seq,
            hash: format!("{seq:064x}"),
            kind: Some(kind),
            kind_name: kind.to_string(),
            ts: format!("2026-01-01T00:00:{seq:02}Z"),
            pid: Some(pid),
            payload,
            typed,
            energy,
            execution_count: Some(seq),
            duration_s: Some(0.5),
            cell: None,
            offset: 0,
            len: 0,
        }
    }

    fn snapshot(entries: Vec<Entry>) -> Snapshot {
        Snapshot {
            entries: Entries::default().extended(entries),
            ..Snapshot::default()
        }
    }

    #[test]
    fn a_controls_latest_result_keeps_its_history_across_policy_versions() {
        let s = snapshot(vec![
            entry(
                1,
                EventKind::Enforce,
                7,
                json!({"results": results("u", "v1", json!([control("a", 0.4, "fail")]))}),
            ),
            entry(
                2,
                EventKind::Enforce,
                7,
                json!({"results": results("other", "w1", json!([control("a", 0.9, "pass")]))}),
            ),
            entry(
                3,
                EventKind::Enforce,
                7,
                json!({"results": results("u", "v2", json!([control("a", 0.6, "pass")]))}),
            ),
        ]);
        let evals = evaluations(&s);
        let rows = control_status(&evals);
        assert_eq!(rows.len(), 2, "one row per policy and control");
        let a = &rows[0];
        assert_eq!(
            (a.latest.seq(), a.status(), a.latest.policy_key()),
            (3, Status::Pass, "u")
        );
        let history: Vec<(Option<f64>, Status)> =
            a.history.iter().map(|p| (p.value, p.status)).collect();
        assert_eq!(
            history,
            [(Some(0.4), Status::Fail), (Some(0.6), Status::Pass)]
        );
        assert_eq!(a.versions, ["v1", "v2"]);
        assert_eq!(rows[1].latest.policy_key(), "other");
    }

    #[test]
    fn an_evaluation_that_cannot_be_read_is_listed_not_counted() {
        let s = snapshot(vec![
            entry(1, EventKind::Enforce, 7, json!({"origin": "cli"})),
            entry(
                2,
                EventKind::Enforce,
                7,
                json!({"origin": "kernel", "results": results("u", "v1", json!([]))}),
            ),
        ]);
        let evals = evaluations(&s);
        assert_eq!(
            evals
                .iter()
                .map(|e| (e.seq(), e.origin()))
                .collect::<Vec<_>>(),
            [(2, "kernel")]
        );
        let unreadable = unreadable(&s);
        assert_eq!(unreadable.len(), 1);
        assert_eq!(unreadable[0].0.seq, 1);
        assert!(unreadable[0].1.contains("results"), "{}", unreadable[0].1);
    }

    #[test]
    fn energy_is_summed_per_session_and_windows_are_named() {
        let s = snapshot(vec![
            entry(1, EventKind::Cell, 7, json!({"energy": {"total_j": 2.0}})),
            entry(2, EventKind::Cell, 8, json!({"energy": {"total_j": 3.0}})),
            entry(3, EventKind::Cell, 7, json!({"energy": {"total_j": 4.0}})),
            entry(
                4,
                EventKind::Monitor,
                7,
                json!({"name": "fit", "energy": {"wall_s": 1.0, "total_j": 5.0}}),
            ),
        ]);
        let view = energy(&s);
        let sessions: Vec<(u64, usize, f64)> = view
            .sessions
            .iter()
            .map(|s| (s.pid, s.cells, s.energy.total_j))
            .collect();
        assert_eq!(sessions, [(7, 2, 6.0), (8, 1, 3.0)]);
        assert_eq!(
            view.windows.iter().map(|w| w.name).collect::<Vec<_>>(),
            ["fit"]
        );
        assert_eq!(view.total().total_j, 14.0);
    }
}
