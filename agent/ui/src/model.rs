//! What the pages show, derived from the trail's events: evaluations and
//! their controls, the latest status of each control with its history, and
//! energy per cell, per window and per notebook session.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::trail::{Entry, Snapshot};
use venturalitica_evidence::EventKind;

/// An `enforce` event.
#[derive(Debug, Clone, Copy)]
pub struct Evaluation<'a> {
    pub entry: &'a Entry,
    pub results: &'a Value,
}

impl<'a> Evaluation<'a> {
    pub fn seq(&self) -> u64 {
        self.entry.seq
    }

    pub fn policy_title(&self) -> &'a str {
        venturalitica_vocab::results::policy_name(&self.results["policy"])
    }

    pub fn policy_sha(&self) -> &'a str {
        self.results["policy"]["sha256"].as_str().unwrap_or("")
    }

    pub fn policy_version(&self) -> Option<&'a str> {
        self.results["policy"]["version"].as_str()
    }

    /// Identifies a policy across its versions: its uuid, else its path.
    pub fn policy_key(&self) -> &'a str {
        venturalitica_vocab::results::policy_key(&self.results["policy"]).unwrap_or("")
    }

    pub fn fingerprint(&self) -> Option<&'a str> {
        self.results["data"]["fingerprint"].as_str()
    }

    pub fn source(&self) -> &'a str {
        self.results["data"]["source"].as_str().unwrap_or("")
    }

    pub fn passed(&self) -> bool {
        self.results["passed"].as_bool().unwrap_or(false)
    }

    pub fn origin(&self) -> &'a str {
        self.entry.payload["origin"].as_str().unwrap_or("")
    }

    pub fn controls(&self) -> impl Iterator<Item = &'a Value> {
        self.results["controls"].as_array().into_iter().flatten()
    }
}

pub fn evaluations(s: &Snapshot) -> Vec<Evaluation<'_>> {
    s.entries
        .iter()
        .filter(|e| e.kind == Some(EventKind::Enforce))
        .map(|entry| Evaluation {
            entry,
            results: &entry.payload["results"],
        })
        .collect()
}

/// One point of a control's history.
#[derive(Debug, Clone)]
pub struct Point {
    pub value: Option<f64>,
    pub status: String,
}

/// A control's latest result, with everything before it.
#[derive(Debug, Clone)]
pub struct ControlStatus<'a> {
    pub latest: Evaluation<'a>,
    pub control: &'a Value,
    pub history: Vec<Point>,
    /// Policy versions (sha256) this control was evaluated under, oldest first.
    pub versions: Vec<&'a str>,
}

impl ControlStatus<'_> {
    pub fn id(&self) -> &str {
        self.control["id"].as_str().unwrap_or("?")
    }

    pub fn status(&self) -> &str {
        self.control["status"].as_str().unwrap_or("error")
    }
}

/// The latest result of every control, keyed by policy and control id, in
/// the order they were first seen.
pub fn control_status<'a>(evals: &[Evaluation<'a>]) -> Vec<ControlStatus<'a>> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by_key: BTreeMap<(String, String), ControlStatus<'a>> = BTreeMap::new();
    for eval in evals {
        for control in eval.controls() {
            let id = control["id"].as_str().unwrap_or("?").to_string();
            let key = (eval.policy_key().to_string(), id);
            let point = Point {
                value: control["actual_value"].as_f64(),
                status: control["status"].as_str().unwrap_or("error").to_string(),
            };
            match by_key.get_mut(&key) {
                Some(row) => {
                    row.latest = *eval;
                    row.control = control;
                    row.history.push(point);
                    if !row.versions.contains(&eval.policy_sha()) {
                        row.versions.push(eval.policy_sha());
                    }
                }
                None => {
                    order.push(key.clone());
                    by_key.insert(
                        key,
                        ControlStatus {
                            latest: *eval,
                            control,
                            history: vec![point],
                            versions: vec![eval.policy_sha()],
                        },
                    );
                }
            }
        }
    }
    order
        .into_iter()
        .filter_map(|k| by_key.remove(&k))
        .collect()
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
                if let Some(energy) = entry.energy.as_deref() {
                    view.windows.push(Window {
                        entry,
                        name: entry.payload["name"].as_str().unwrap_or("?"),
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
