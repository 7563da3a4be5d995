//! Exporting the evidence trail to experiment trackers.
//!
//! # Layout
//!
//! - [`plan`]: events grouped into runs, and their metrics and tags.
//! - [`client`]: the MLflow REST calls, with retries and backoff.
//! - this file: the MLflow export itself and its resumable state.
//!
//! An export is idempotent and resumable: `.venturalitica/exports/mlflow.json`
//! records, per tracking server and experiment, each run's id and the last
//! event whose metrics the server acknowledged. A second export sends only
//! newer events; one cut short by a failing server resumes where it stopped.
//! A batch the server stored but whose answer was lost is sent again with
//! the same keys, values, steps and timestamps, which MLflow stores once.

pub mod client;
pub mod plan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use venturalitica_evidence::{EvidenceError, Store};

pub use client::{Auth, Client};

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{url}: the server answered {status}: {message}")]
    Server {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: no answer after retries ({last}); run the export again to resume")]
    Unreachable { url: String, last: String },
    #[error("unexpected answer from MLflow: {0}")]
    Protocol(String),
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    #[error("{}: {source}", path.display())]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where to export.
#[derive(Debug, Clone)]
pub struct Target {
    pub tracking_uri: String,
    pub experiment: String,
    pub auth: Auth,
    /// Only the run of this writer pid (a notebook session), if set.
    pub session: Option<u64>,
}

/// What an export did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    pub experiment_id: String,
    pub runs: Vec<RunSummary>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub name: String,
    pub new_events: usize,
    pub metrics_sent: usize,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// Keyed by `tracking_uri|experiment`.
    targets: BTreeMap<String, TargetState>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TargetState {
    experiment_id: String,
    /// Keyed by writer pid.
    runs: BTreeMap<String, RunState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    run_id: String,
    /// The last event whose metrics the server acknowledged.
    exported_seq: u64,
}

fn state_path(store: &Store) -> PathBuf {
    store.dir().join("exports").join("mlflow.json")
}

fn load_state(path: &Path) -> State {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_state(path: &Path, state: &State) -> Result<(), ExportError> {
    let io = |source| ExportError::State {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // A temporary file of its own per write: two exports at once never
    // rename each other's half-written state.
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(
        &mut tmp,
        &serde_json::to_vec_pretty(state).unwrap_or_default(),
    )
    .map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Exports every event not yet exported to `target`; `progress(done, total)`
/// is called as events are acknowledged.
pub fn export_mlflow(
    store: &Store,
    target: &Target,
    mut progress: impl FnMut(usize, usize),
) -> Result<Summary, ExportError> {
    let client = Client::new(&target.tracking_uri, target.auth.clone());
    let path = state_path(store);
    let mut state = load_state(&path);
    let key = format!("{}|{}", target.tracking_uri, target.experiment);
    let experiment_id = client.experiment_id(&target.experiment)?;
    let ts = state.targets.entry(key.clone()).or_default();
    if ts.experiment_id != experiment_id {
        // A different (or recreated) experiment: nothing of ours is there.
        *ts = TargetState {
            experiment_id: experiment_id.clone(),
            runs: BTreeMap::new(),
        };
    }
    save_state(&path, &state)?;

    let events = store.events()?;
    // The anchor: the trail's head as exported, kept on the tracking server
    // where the project cannot change it; `verify --head` checks against it.
    let anchor = events.last().map(|e| {
        [
            (
                "venturalitica.head".to_string(),
                format!("{}:{}", e.seq, e.hash),
            ),
            ("venturalitica.head_seq".to_string(), e.seq.to_string()),
            (
                "venturalitica.head_signer".to_string(),
                e.seal
                    .as_ref()
                    .and_then(|s| venturalitica_evidence::PublicKey::from_hex(&s.key))
                    .map_or_else(|| "unsigned".to_string(), |k| k.id()),
            ),
        ]
    });
    let mut groups = plan::group_by_process(&events);
    if let Some(pid) = target.session {
        groups.retain(|p, _| *p == pid);
    }
    let total: usize = groups
        .iter()
        .map(|(pid, evs)| {
            let done = state.targets[&key]
                .runs
                .get(&pid.to_string())
                .map_or(0, |r| r.exported_seq);
            evs.iter().filter(|e| e.seq > done).count()
        })
        .sum();
    let mut acknowledged = 0;
    let mut summary = Summary {
        experiment_id: experiment_id.clone(),
        runs: Vec::new(),
    };
    for (pid, evs) in &groups {
        let (name, mut tags) = plan::run_identity(*pid, evs);
        tags.extend(anchor.iter().flatten().cloned());
        let known = state.targets[&key].runs.get(&pid.to_string()).cloned();
        let run = match known {
            Some(r) if client.run_exists(&r.run_id)? => r,
            _ => {
                let start = evs.first().map_or(0, |e| plan::millis(&e.body["ts"]));
                let run_id = client.create_run(&experiment_id, &name, start, &tags)?;
                let r = RunState {
                    run_id,
                    exported_seq: 0,
                };
                // Saved before any metric goes out, so a crash cannot
                // lead to a second run for the same process.
                state
                    .targets
                    .get_mut(&key)
                    .map(|t| t.runs.insert(pid.to_string(), r.clone()));
                save_state(&path, &state)?;
                r
            }
        };
        let new: Vec<&plan::Parsed> = evs.iter().filter(|e| e.seq > run.exported_seq).collect();
        let mut rs = RunSummary {
            run_id: run.run_id.clone(),
            name: name.clone(),
            new_events: new.len(),
            metrics_sent: 0,
        };
        // Batches end on event boundaries, so the acknowledged seq is exact.
        let mut batch: Vec<plan::Metric> = Vec::new();
        let mut batch_events = 0;
        let mut last_seq = run.exported_seq;
        let mut flush = |batch: &mut Vec<plan::Metric>,
                         batch_events: &mut usize,
                         last_seq: u64|
         -> Result<(), ExportError> {
            client.log_batch(&run.run_id, batch, &[])?;
            rs.metrics_sent += batch.len();
            acknowledged += *batch_events;
            progress(acknowledged, total);
            batch.clear();
            *batch_events = 0;
            if let Some(r) = state
                .targets
                .get_mut(&key)
                .and_then(|t| t.runs.get_mut(&pid.to_string()))
            {
                r.exported_seq = last_seq;
            }
            save_state(&path, &state)
        };
        for e in &new {
            let m = plan::metrics(e);
            if !batch.is_empty() && batch.len() + m.len() > client::MAX_METRICS_PER_BATCH {
                flush(&mut batch, &mut batch_events, last_seq)?;
            }
            // An event with more points than one batch holds is sent alone, in pieces.
            for piece in m.chunks(client::MAX_METRICS_PER_BATCH) {
                if batch.len() + piece.len() > client::MAX_METRICS_PER_BATCH {
                    flush(&mut batch, &mut batch_events, last_seq)?;
                }
                batch.extend_from_slice(piece);
            }
            batch_events += 1;
            last_seq = e.seq;
        }
        if batch_events > 0 {
            flush(&mut batch, &mut batch_events, last_seq)?;
        }
        // Tags (refreshed each export), the trace and the policies.
        for chunk in tags.chunks(client::MAX_TAGS_PER_BATCH) {
            client.log_batch(&run.run_id, &[], chunk)?;
        }
        let trace: Vec<&serde_json::Value> = evs.iter().map(|e| &e.body).collect();
        let trace = serde_json::to_vec_pretty(&trace).unwrap_or_default();
        client.put_artifact(&experiment_id, &run.run_id, "compliance_trace.json", &trace)?;
        for sha in evs
            .iter()
            .filter_map(|e| e.body["payload"]["results"]["policy"]["sha256"].as_str())
            .collect::<std::collections::BTreeSet<_>>()
        {
            if let Ok(text) =
                std::fs::read(store.dir().join("policies").join(format!("{sha}.yaml")))
            {
                client.put_artifact(
                    &experiment_id,
                    &run.run_id,
                    &format!("policies/{sha}.yaml"),
                    &text,
                )?;
            }
        }
        let end = evs.last().map_or(0, |e| plan::millis(&e.body["ts"]));
        client.finish_run(&run.run_id, end)?;
        summary.runs.push(rs);
    }
    Ok(summary)
}
