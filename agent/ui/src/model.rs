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
