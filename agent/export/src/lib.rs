//! Exporting the evidence trail to experiment trackers.
//!
//! # Layout
//!
//! - [`plan`]: events grouped into runs, and their metrics and tags.
//! - [`spans`]: a run's events as one trace (OpenTelemetry spans).
//! - [`client`]: the MLflow REST and OTLP calls, with retries and backoff.
//! - [`send`]: several requests in flight, acknowledged in order.
//! - this file: the MLflow export itself and its resumable state.
//!
//! Each run (a notebook session, a script, a CLI call) becomes an MLflow
//! run with its metrics and artifacts, and an MLflow trace linked to it:
//! a root span for the session, a span per cell, `enforce` (with a span per
//! control) and `monitor` window.
//!
//! An export is idempotent and resumable: `.venturalitica/exports/mlflow.json`
//! records, per tracking server and experiment, each run's id and the last
//! event whose metrics, and whose spans, the server acknowledged. A second
//! export sends only newer events; one cut short by a failing server
//! resumes where it stopped. A batch the server stored but whose answer was
//! lost is sent again with the same keys, values, steps and timestamps,
//! which MLflow stores once, or with the same span ids, which it upserts.

pub mod client;
pub mod plan;
pub mod send;
pub mod spans;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use venturalitica_evidence::read::read_events;
use venturalitica_evidence::{CopyError, EvidenceError, Indexed, ReadOptions, Store};

pub use client::{Auth, Client, Ingest};

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
    /// A tracking URI that is not a server (`file:`, `sqlite:`, ...).
    #[error("{0}: the export speaks MLflow's REST API and needs a tracking server (http:// or https://); for a local store run `mlflow server --backend-store-uri {0}` and pass its http:// address")]
    NotAServer(String),
    /// The server cannot store traces; the run and its metrics are exported.
    #[error("traces not exported: {0}")]
    TracesUnsupported(String),
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    /// An event's line no longer matches the trail as it was read.
    #[error("the evidence trail changed while it was read ({0}); run `venturalitica verify`")]
    Changed(String),
    #[error("{}: {source}", path.display())]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The export state cannot be read: going on would export every run
    /// again as a new one.
    #[error("{}: the export state is not valid ({reason}); move it away to export everything again as new runs", path.display())]
    CorruptState { path: PathBuf, reason: String },
    /// A policy copy the run used cannot be uploaded as the one evaluated.
    #[error("policy copy: {0}")]
    PolicyCopy(#[from] CopyError),
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
    /// Runs with nothing new since the last export, left as they are
    /// (their events are not read again).
    pub up_to_date: usize,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub name: String,
    pub new_events: usize,
    pub metrics_sent: usize,
    /// MLflow's id of the run's trace (`tr-…`); `None` if it has no spans.
    pub trace_id: Option<String>,
    pub spans_sent: usize,
    /// Why the trace was not sent, where the server cannot take traces.
    pub trace_skipped: Option<String>,
}

/// What an export is sending, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Metrics,
    Spans,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Metrics => "metrics",
            Stage::Spans => "spans",
        }
    }
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
    /// The last event whose spans the server acknowledged.
    #[serde(default)]
    trace_seq: u64,
    /// The run's last event when its root span was last acknowledged.
    #[serde(default)]
    trace_root_seq: u64,
    /// The run's last event when its artifacts were last uploaded.
    #[serde(default)]
    artifacts_seq: u64,
}

impl RunState {
    /// Whether everything up to `head` is on the server: metrics, spans,
    /// the root span and the artifacts.
    fn covers(&self, head: u64) -> bool {
        [
            self.exported_seq,
            self.trace_seq,
            self.trace_root_seq,
            self.artifacts_seq,
        ]
        .iter()
        .all(|s| *s >= head)
    }
}

fn state_path(store: &Store) -> PathBuf {
    store.export_state_path("mlflow")
}

/// Holds the export lock of `state`'s directory until dropped; waits for
/// another export of the same project to finish.
fn lock_state(state: &Path) -> Result<std::fs::File, ExportError> {
    let path = state.with_extension("lock");
    let io = |source| ExportError::State {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    if file.try_lock().is_err() {
        tracing::info!(path = %path.display(), "another export of this project is running; waiting for it");
        file.lock().map_err(io)?;
    }
    Ok(file)
}

/// The saved state; a fresh one when there is none yet.
fn load_state(path: &Path) -> Result<State, ExportError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(source) => {
            return Err(ExportError::State {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_str(&text).map_err(|e| ExportError::CorruptState {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
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

/// Spans per OTLP request: a few hundred keep a request near half a megabyte.
const SPANS_PER_REQUEST: usize = 500;

/// The export state and where it is saved; saved after every change.
struct Ledger {
    path: PathBuf,
    state: State,
    key: String,
}

impl Ledger {
    fn run(&self, pid: u64) -> Option<&RunState> {
        self.state
            .targets
            .get(&self.key)?
            .runs
            .get(&pid.to_string())
    }

    fn put(&mut self, pid: u64, run: RunState) -> Result<(), ExportError> {
        self.state
            .targets
            .entry(self.key.clone())
            .or_default()
            .runs
            .insert(pid.to_string(), run);
        save_state(&self.path, &self.state)
    }

    fn update(&mut self, pid: u64, change: impl FnOnce(&mut RunState)) -> Result<(), ExportError> {
        if let Some(r) = self
            .state
            .targets
            .get_mut(&self.key)
            .and_then(|t| t.runs.get_mut(&pid.to_string()))
        {
            change(r);
        }
        save_state(&self.path, &self.state)
    }
}

/// Items of consecutive events sent in one request.
struct Batch<T> {
    items: Vec<T>,
    /// Events that end in this batch.
    events: usize,
    /// Once acknowledged, every event up to this one is on the server.
    last_seq: u64,
}

/// Packs the items of `events` (all after `from_seq`) into batches of at
/// most `limit` that end on event boundaries, so the acknowledged seq is
/// exact; an event with more items than one batch holds is sent alone, in
/// pieces, and counts as done with its last piece.
fn pack<T: Clone>(
    events: &[&plan::Parsed],
    limit: usize,
    from_seq: u64,
    items_of: impl Fn(&plan::Parsed) -> Vec<T>,
) -> Vec<Batch<T>> {
    let mut out = Vec::new();
    let empty = |last_seq| Batch {
        items: Vec::new(),
        events: 0,
        last_seq,
    };
    let mut batch = empty(from_seq);
    for e in events {
        let items = items_of(e);
        if !batch.items.is_empty() && batch.items.len() + items.len() > limit {
            let last_seq = batch.last_seq;
            out.push(std::mem::replace(&mut batch, empty(last_seq)));
        }
        for piece in items.chunks(limit) {
            if batch.items.len() + piece.len() > limit {
                let last_seq = batch.last_seq;
                out.push(std::mem::replace(&mut batch, empty(last_seq)));
            }
            batch.items.extend_from_slice(piece);
        }
        batch.events += 1;
        batch.last_seq = e.seq;
    }
    if batch.events > 0 {
        out.push(batch);
    }
    out
}

/// Events acknowledged so far, per stage, for the progress callback.
struct Tally<'p> {
    totals: [usize; 2],
    done: [usize; 2],
    progress: &'p mut dyn FnMut(Stage, usize, usize),
}

impl Tally<'_> {
    fn add(&mut self, stage: Stage, events: usize) {
        let i = stage as usize;
        self.done[i] += events;
        (self.progress)(stage, self.done[i], self.totals[i]);
    }
}

/// Exports every event not yet exported to `target`;
/// `progress(stage, done, total)` is called as events are acknowledged.
pub fn export_mlflow(
    store: &Store,
    target: &Target,
    mut progress: impl FnMut(Stage, usize, usize),
) -> Result<Summary, ExportError> {
    let scheme = target.tracking_uri.split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some("http" | "https")) {
        return Err(ExportError::NotAServer(target.tracking_uri.clone()));
    }
    let client = Client::new(&target.tracking_uri, target.auth.clone());
    let path = state_path(store);
    // One export of a project at a time (a kernel's export at shutdown may
    // meet one run by hand): each saves the whole state, so two at once
    // would drop each other's runs and send them again as new ones.
    let _lock = lock_state(&path)?;
    let mut state = load_state(&path)?;
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
    let mut ledger = Ledger { path, state, key };

    // The index tells which events each run has; only the runs with
    // something new are read whole, one at a time.
    let read = store.read_trail(&ReadOptions::default())?;
    read.complete(store)?;
    let trace = store.trace_path();
    let changed =
        |e: venturalitica_evidence::checkpoint::Refused| ExportError::Changed(e.to_string());
    // The anchor: the trail's head as exported, kept on the tracking server
    // where the project cannot change it; `verify --head` checks against it.
    let anchor: Vec<(String, String)> = match read.events.last() {
        None => Vec::new(),
        Some(last) => {
            let e = read_events(&trace, [&last.indexed])
                .map_err(changed)?
                .pop()
                .ok_or_else(|| ExportError::Changed("the last event is gone".into()))?;
            vec![
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
        }
    };
    let mut groups = plan::group_by_process(read.events.iter().map(|e| &e.indexed));
    if let Some(pid) = target.session {
        groups.retain(|p, _| *p == pid);
    }
    let pending = |pid: &u64, evs: &[&Indexed], seq: fn(&RunState) -> u64| {
        let done = ledger.run(*pid).map_or(0, seq);
        evs.iter().filter(|e| e.seq > done).count()
    };
    let totals = [
        groups
            .iter()
            .map(|(p, e)| pending(p, e, |r| r.exported_seq))
            .sum(),
        groups
            .iter()
            .map(|(p, e)| pending(p, e, |r| r.trace_seq))
            .sum(),
    ];
    let mut tally = Tally {
        totals,
        done: [0, 0],
        progress: &mut progress,
    };
    let mut summary = Summary {
        experiment_id: experiment_id.clone(),
        runs: Vec::new(),
        up_to_date: 0,
    };
    let run_export = RunExport {
        client: &client,
        store,
        experiment_id: &experiment_id,
        anchor: &anchor,
    };
    for (pid, indexed) in &groups {
        let head = indexed.last().map_or(0, |e| e.seq);
        if let Some(run) = ledger.run(*pid) {
            if run.covers(head) && client.run_exists(&run.run_id)? {
                summary.up_to_date += 1;
                continue;
            }
        }
        let evs = plan::parsed(read_events(&trace, indexed.iter().copied()).map_err(changed)?);
        let rs = run_export.export(&mut ledger, &mut tally, *pid, &evs)?;
        summary.runs.push(rs);
    }
    Ok(summary)
}

/// What every run's export shares.
struct RunExport<'a> {
    client: &'a Client,
    store: &'a Store,
    experiment_id: &'a str,
    anchor: &'a [(String, String)],
}

impl RunExport<'_> {
    /// Exports one run's new events: metrics, spans and artifacts together,
    /// then tags, then the root span.
    fn export(
        &self,
        ledger: &mut Ledger,
        tally: &mut Tally,
        pid: u64,
        evs: &[plan::Parsed],
    ) -> Result<RunSummary, ExportError> {
        let client = self.client;
        let (name, mut tags) = plan::run_identity(pid, evs);
        tags.extend(self.anchor.iter().cloned());
        // The user's runs these evaluations were also logged to: the two
        // views of one evaluation, linked (docs/mlflow.md).
        let user_runs = plan::user_runs(evs, self.client.tracking_uri());
        if !user_runs.is_empty() {
            tags.push(("venturalitica.user_runs".to_string(), user_runs.join(",")));
        }
        let trace = evs
            .first()
            .map(|first| spans::SessionTrace::of(self.experiment_id, first));
        let root = trace
            .as_ref()
            .and_then(|t| spans::root_span(t, &name, pid, evs));
        if let (Some(t), Some(_)) = (&trace, &root) {
            tags.push(("venturalitica.trace_id".to_string(), t.mlflow_id()));
        }
        let run = match ledger.run(pid).cloned() {
            Some(r) if client.run_exists(&r.run_id)? => r,
            _ => {
                let start = evs.first().map_or(0, plan::Parsed::millis);
                let run_id = client.create_run(self.experiment_id, &name, start, &tags)?;
                let r = RunState {
                    run_id,
                    exported_seq: 0,
                    trace_seq: 0,
                    trace_root_seq: 0,
                    artifacts_seq: 0,
                };
                // Saved before any metric goes out, so a crash cannot
                // lead to a second run for the same process.
                ledger.put(pid, r.clone())?;
                r
            }
        };
        let run_id = run.run_id.as_str();
        let new: Vec<&plan::Parsed> = evs.iter().filter(|e| e.seq > run.exported_seq).collect();
        let mut rs = RunSummary {
            run_id: run.run_id.clone(),
            name: name.clone(),
            new_events: new.len(),
            ..RunSummary::default()
        };

        // Metrics, spans and the trail's artifact go out together, so the
        // server overlaps its database waits for one with the work of another.
        let metric_batches = pack(
            &new,
            client::MAX_METRICS_PER_BATCH,
            run.exported_seq,
            plan::metrics,
        );
        let span_batches = match (&trace, &root) {
            (Some(t), Some(_)) => {
                let cells = spans::Cells::of(t, evs);
                let unsent: Vec<&plan::Parsed> =
                    evs.iter().filter(|e| e.seq > run.trace_seq).collect();
                pack(&unsent, SPANS_PER_REQUEST, run.trace_seq, |e| {
                    spans::event_spans(t, &cells, e)
                })
            }
            _ => Vec::new(),
        };
        let head = evs.last().map_or(0, |e| e.seq);
        let mut jobs = Vec::new();
        // The trail's artifact when the run has grown since it was uploaded
        // (an export cut short after its metrics still uploads it next time).
        if run.artifacts_seq != head {
            jobs.push(Job::Artifacts);
        }
        jobs.extend(interleave(
            metric_batches.into_iter().map(Job::Metrics).collect(),
            span_batches.into_iter().map(Job::Spans).collect(),
        ));
        // Set when the server cannot store traces: the run goes on without.
        let unsupported = std::sync::OnceLock::new();
        send::in_order(
            &jobs,
            send::IN_FLIGHT,
            |job| match (job, &trace) {
                (Job::Artifacts, _) => self.put_artifacts(run_id, evs),
                (Job::Metrics(b), _) => client.log_batch(run_id, &b.items, &[]),
                (Job::Spans(b), Some(t)) if !b.items.is_empty() && unsupported.get().is_none() => {
                    match self.log_spans(t, run_id, &b.items) {
                        Err(ExportError::TracesUnsupported(why)) => {
                            let _ = unsupported.set(why);
                            Ok(())
                        }
                        other => other,
                    }
                }
                (Job::Spans(_), _) => Ok(()),
            },
            |i| match &jobs[i] {
                Job::Artifacts => ledger.update(pid, |r| r.artifacts_seq = head),
                Job::Metrics(b) => {
                    rs.metrics_sent += b.items.len();
                    tally.add(Stage::Metrics, b.events);
                    ledger.update(pid, |r| r.exported_seq = b.last_seq)
                }
                Job::Spans(_) if unsupported.get().is_some() => Ok(()),
                Job::Spans(b) => {
                    rs.spans_sent += b.items.len();
                    tally.add(Stage::Spans, b.events);
                    ledger.update(pid, |r| r.trace_seq = b.last_seq)
                }
            },
        )?;

        // Tags (refreshed each export: the anchor moves).
        for chunk in tags.chunks(client::MAX_TAGS_PER_BATCH) {
            client.log_batch(run_id, &[], chunk)?;
        }
        // The root span last, after every child, when the run has grown: it
        // closes the trace, gives it its extent and links it to the run.
        if let (Some(t), Some(root)) = (&trace, root) {
            let root_sent = ledger.run(pid).map_or(0, |r| r.trace_root_seq);
            let result = match unsupported.into_inner() {
                Some(why) => Err(ExportError::TracesUnsupported(why)),
                None if root_sent == head => Ok(()),
                None => self.log_spans(t, run_id, &[root]).and_then(|()| {
                    rs.spans_sent += 1;
                    ledger.update(pid, |r| r.trace_root_seq = head)
                }),
            };
            match result {
                Ok(()) => rs.trace_id = Some(t.mlflow_id()),
                Err(ExportError::TracesUnsupported(why)) => rs.trace_skipped = Some(why),
                Err(e) => return Err(e),
            }
        }
        let end = evs.last().map_or(0, plan::Parsed::millis);
        client.finish_run(run_id, end)?;
        Ok(rs)
    }

    /// The run's trail as `compliance_trace.json` and the policies it used.
    fn put_artifacts(&self, run_id: &str, evs: &[plan::Parsed]) -> Result<(), ExportError> {
        let trail: Vec<&serde_json::Value> = evs.iter().map(|e| &e.body).collect();
        let trail = serde_json::to_vec_pretty(&trail).unwrap_or_default();
        self.client
            .put_artifact(self.experiment_id, run_id, "compliance_trace.json", &trail)?;
        for sha in plan::policies(evs) {
            // An altered copy is not the policy that was evaluated: the
            // export stops rather than upload it; a missing one is said.
            let text = match self.store.read_policy(sha) {
                Ok(text) => text,
                Err(CopyError::Unreadable { path, source }) => {
                    tracing::warn!("policy copy {} not uploaded: {source}", path.display());
                    continue;
                }
                Err(e) => return Err(ExportError::PolicyCopy(e)),
            };
            self.client.put_artifact(
                self.experiment_id,
                run_id,
                &format!("policies/{sha}.yaml"),
                &text,
            )?;
        }
        Ok(())
    }

    /// One OTLP request with `spans` of `trace`, into the run.
    fn log_spans(
        &self,
        trace: &spans::SessionTrace,
        run_id: &str,
        spans: &[spans::Span],
    ) -> Result<(), ExportError> {
        let request = spans::request(&trace.trace_id, spans);
        match self
            .client
            .log_spans(self.experiment_id, run_id, &request)?
        {
            Ingest::Stored => Ok(()),
            Ingest::Unsupported(why) => Err(ExportError::TracesUnsupported(why)),
        }
    }
}

/// One request of a run's export.
enum Job {
    Artifacts,
    Metrics(Batch<plan::Metric>),
    Spans(Batch<spans::Span>),
}

/// `a` and `b` merged, each spread evenly over the whole, in its own order.
fn interleave<T>(a: Vec<T>, b: Vec<T>) -> Vec<T> {
    let (na, nb) = (a.len(), b.len());
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(na + nb);
    while i < na || j < nb {
        // a's next item goes first when its place in a is not after b's in b.
        let take_a = j >= nb || (i < na && (i + 1) * nb <= (j + 1) * na);
        out.extend(if take_a { a.next() } else { b.next() });
        if take_a {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_export_state_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mlflow.json");
        assert!(load_state(&path)
            .expect("no state yet is a fresh one")
            .targets
            .is_empty());
        std::fs::write(&path, "{\"targets\": {").expect("write");
        let err = load_state(&path).expect_err("corrupt");
        let message = err.to_string();
        assert!(matches!(err, ExportError::CorruptState { .. }), "{message}");
        assert!(
            message.contains("mlflow.json") && message.contains("line 1"),
            "{message}"
        );
    }

    #[test]
    fn interleave_spreads_both_and_keeps_each_order() {
        let out = interleave(vec![1, 2, 3, 4, 5, 6], vec![10, 20]);
        assert_eq!(out, [1, 2, 3, 10, 4, 5, 6, 20]);
        assert_eq!(interleave(vec![], vec![1, 2]), [1, 2]);
        assert_eq!(interleave(vec![1, 2], vec![]), [1, 2]);
        let out = interleave((0..80).collect(), (100..120).collect());
        assert_eq!(out.len(), 100);
        assert!(out.iter().filter(|x| **x < 100).is_sorted());
        assert!(out.iter().filter(|x| **x >= 100).is_sorted());
        // Spread: no more than five of `a` in a row for 80 against 20.
        assert!(out.windows(6).all(|w| w.iter().any(|x| *x >= 100)));
    }

    #[test]
    fn pack_ends_batches_on_event_boundaries() {
        let events: Vec<plan::Parsed> = (1..=5)
            .map(|seq| plan::Parsed::new(seq, String::new(), serde_json::Value::Null))
            .collect();
        let refs: Vec<&plan::Parsed> = events.iter().collect();
        // Event 3 has more items than a batch holds: alone, in pieces.
        let batches = pack(&refs, 4, 0, |e| vec![e.seq; if e.seq == 3 { 9 } else { 2 }]);
        let shape: Vec<(usize, usize, u64)> = batches
            .iter()
            .map(|b| (b.items.len(), b.events, b.last_seq))
            .collect();
        assert_eq!(
            shape,
            [(4, 2, 2), (4, 0, 2), (4, 0, 2), (3, 2, 4), (2, 1, 5)]
        );
    }
}
