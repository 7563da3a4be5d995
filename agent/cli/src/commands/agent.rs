//! The agent's answers to code running in a kernel or script, and
//! `venturalitica agent`, which serves them outside a proxy.
//!
//! Ops (docs/agent-protocol.md): `columns` (which columns a policy reads),
//! `enforce` (an Arrow IPC frame, or metric values computed elsewhere),
//! `enforce_counts` (count tables computed where the data lives, round by
//! round: docs/engines.md),
//! `chart` (the SVG of a results document), `policy` (a policy as loaded),
//! `monitor_start` / `monitor_stop`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Value};
use venturalitica_energy::{EnergyConfig, Meter, Window};
use venturalitica_engine::binding::SYNONYMS;
use venturalitica_engine::counts::{ColumnType, Kind};
use venturalitica_engine::remote::{request_key, Answers};
use venturalitica_engine::sql::Dialect;
use venturalitica_engine::{
    columns_needed, evaluate, evaluate_counts, evaluate_metrics, read_ipc_bytes, Counted,
    DataError, DataSet, Mapping,
};
use venturalitica_evidence::artifact::Artifact;
use venturalitica_evidence::{EventKind, PublicKey, Store, VerifyOptions};
use venturalitica_kernel::agent::{
    serve_until_stdin_closes, AgentError, AgentHandler, AgentRequest, ErrorKind,
};
use venturalitica_kernel::proxy::Energy;
use venturalitica_metrics::catalog::COMMON_PARAMS;
use venturalitica_metrics::{Family, MetricKey};
use venturalitica_policy::{load_policy_with, Leniency, Metric, Operator, Policy, SourceFile};

use crate::args::AgentArgs;
use crate::Outcome;

/// `venturalitica agent`: prints `{"endpoint", "key", "pid"}` as one JSON
/// line, then serves until standard input closes.
pub fn run(args: AgentArgs) -> anyhow::Result<Outcome> {
    let (root, energy) = match args.root {
        Some(root) => (Root::Session(root.clone()), energy_setting(&root)),
        None => {
            let here = super::project_root(None)?;
            (Root::Caller, energy_setting(&here))
        }
    };
    let handler = Arc::new(EngineHandler::new(root, "python", energy));
    serve_until_stdin_closes(handler, |endpoint| {
        let mut out = std::io::stdout().lock();
        let line = json!({
            "endpoint": endpoint.address(),
            "key": endpoint.key(),
            "pid": std::process::id(),
        });
        writeln!(out, "{line}")?;
        out.flush()
    })?;
    Ok(Outcome::Passed)
}

/// The energy settings of the project at `root`. Bad settings must not cost
/// the user their kernel: they are reported in the log and on every cell.
pub fn energy_setting(root: &Path) -> Energy {
    match EnergyConfig::load(root) {
        Ok(config) if config.enabled => Energy::On(config),
        Ok(_) => Energy::Off,
        Err(e) => {
            tracing::error!(%e, "energy settings; cells are not metered");
            Energy::Broken(e.to_string())
        }
    }
}

/// Where a request's evidence goes.
#[derive(Debug, Clone)]
pub enum Root {
    /// The proxy's project: one trail per notebook session.
    Session(PathBuf),
    /// A script's own agent: the project of the caller's working directory
    /// (its `cwd` field), so a script that changes directory records where
    /// it works, as the CLI would.
    Caller,
}

/// Open `monitor` windows by token.
type Windows = HashMap<String, OpenWindow>;

/// A `monitor` block being measured: what `monitor_start` was told, the
/// inputs' fingerprints taken then, and the outputs to fingerprint at the end.
#[derive(Debug)]
struct OpenWindow {
    name: String,
    label: Option<String>,
    inputs: Vec<Artifact>,
    outputs: Vec<PathBuf>,
    window: Window,
}

/// Answers requests with the policy engine, the chart renderer and the
/// energy meter.
#[derive(Debug)]
pub struct EngineHandler {
    root: Root,
    /// Who asked, as recorded in events: `kernel` (through the proxy) or
    /// `python` (a script's own agent).
    origin: &'static str,
    energy: Energy,
    meter: OnceLock<Arc<Meter>>,
    windows: Mutex<Windows>,
}

impl AgentHandler for EngineHandler {
    fn handle(&self, request: &AgentRequest) -> Result<Value, AgentError> {
        match request.op() {
            "columns" => self.columns(request),
            "enforce" => self.enforce(request),
            "enforce_counts" => self.enforce_counts(request),
            "chart" => chart(request),
            "policy" => policy(&request.header).map(|p| policy_view(&p)),
            "catalog" => Ok(catalog()),
            "scan" => scan(&request.header),
            "verify" => verify(&request.header),
            "threshold_check" => threshold_check(&request.header),
            "monitor_start" => self.monitor_start(request),
            "monitor_stop" => self.monitor_stop(request),
            op => Err(AgentError::request(format!(
                "unknown op {op:?} (known: ping, columns, enforce, enforce_counts, chart, policy, catalog, threshold_check, scan, verify, monitor_start, monitor_stop)"
            ))),
        }
    }
}

impl EngineHandler {
    pub fn new(root: Root, origin: &'static str, energy: Energy) -> EngineHandler {
        EngineHandler {
            root,
            origin,
            energy,
            meter: OnceLock::new(),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Which of `columns` the policy reads with `mapping`.
    fn columns(&self, request: &AgentRequest) -> Result<Value, AgentError> {
        let h = &request.header;
        // Not strict, a policy that cannot be loaded needs no column: the
        // `enforce` that follows records and returns its error result.
        let policy = match policy(h) {
            Err(e) if unloadable_is_a_result(h, &e) => return Ok(json!({ "columns": [] })),
            loaded => loaded?,
        };
        let columns: Vec<String> = h["columns"]
            .as_array()
            .ok_or_else(|| AgentError::request("columns needs the frame's \"columns\""))?
            .iter()
            .map(|c| c.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| AgentError::request("\"columns\" must be a list of strings"))?;
        let needed = columns_needed(&policy, &mapping(h)?, &columns);
        Ok(json!({ "columns": needed }))
    }

    /// Evaluates a policy on the Arrow IPC file in the first payload frame,
    /// or on the `metrics` values in the header.
    fn enforce(&self, request: &AgentRequest) -> Result<Value, AgentError> {
        let h = &request.header;
        let policy = match policy(h) {
            Err(e) if unloadable_is_a_result(h, &e) => return self.unloadable(h, e),
            loaded => loaded?,
        };
        let results = if let Some(values) = h.get("metrics").filter(|m| !m.is_null()) {
            evaluate_metrics(&policy, &metric_values(values)?)
        } else {
            let data = request.payload.first().ok_or_else(|| {
                AgentError::request("the request carries no data frame (an Arrow IPC file)")
            })?;
            let source = h["source"].as_str().unwrap_or("dataframe");
            let frame = read_ipc_bytes(data, source).map_err(data_error)?;
            let data = DataSet {
                frame,
                source: source.to_string(),
                streaming: false,
            };
            evaluate(&policy, data, &mapping(h)?).map_err(data_error)?
        };
        self.finish(h, &policy, &results)
    }

    /// Records (unless told not to) and returns a results document.
    fn finish(
        &self,
        h: &Value,
        policy: &Policy,
        results: &venturalitica_engine::Results,
    ) -> Result<Value, AgentError> {
        self.record(h, &policy.sources, results)
    }

    /// The error result of a policy file that cannot be loaded, recorded
    /// with the bytes that were read (none for a missing file), so the
    /// evidence keeps what was evaluated.
    fn unloadable(&self, h: &Value, error: AgentError) -> Result<Value, AgentError> {
        let path = h["policy"].as_str().unwrap_or_default();
        let text = std::fs::read(path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let source = SourceFile::new(Path::new(path), &text);
        let described = h["source"].as_str().unwrap_or("dataframe");
        let results = venturalitica_engine::Results::unloadable_policy(
            path,
            source.sha256.clone(),
            error.message,
            described,
            venturalitica_engine::results::now_rfc3339(),
        );
        self.record(h, &[source], &results)
    }

    fn record(
        &self,
        h: &Value,
        sources: &[SourceFile],
        results: &venturalitica_engine::Results,
    ) -> Result<Value, AgentError> {
        if h["record"].as_bool() != Some(false) {
            super::enforce::record(&self.root(h)?, sources, results, self.origin).map_err(|e| {
                AgentError::new(
                    ErrorKind::Internal,
                    format!("cannot record the evaluation in the evidence trail: {e:#}"),
                )
            })?;
        }
        serde_json::to_value(results).map_err(|e| AgentError::new(ErrorKind::Internal, e))
    }

    /// One round of a policy on counts computed where the data lives: the
    /// header names the dataset's `columns` (with their types), the `engine`
    /// and the `answers` so far (each request's key and the payload frame,
    /// an Arrow IPC file, holding its answer). The reply is either
    /// `{"need": [{"key", "request"}]}` or the results, recorded as for rows.
    fn enforce_counts(&self, request: &AgentRequest) -> Result<Value, AgentError> {
        let h = &request.header;
        let policy = match policy(h) {
            Err(e) if unloadable_is_a_result(h, &e) => return self.unloadable(h, e),
            loaded => loaded?,
        };
        let columns: Vec<(String, ColumnType)> = h["columns"]
            .as_array()
            .ok_or_else(|| AgentError::request("enforce_counts needs the dataset's \"columns\""))?
            .iter()
            .map(|c| {
                let name = c["name"].as_str()?;
                let ty = c["type"].as_str()?;
                Some((name.to_string(), ColumnType::parse(ty)))
            })
            .collect::<Option<_>>()
            .ok_or_else(|| {
                AgentError::request("each of \"columns\" needs a \"name\" and a \"type\"")
            })?;
        let engine = h["engine"].as_str().ok_or_else(|| {
            AgentError::request("enforce_counts needs the \"engine\" that counts")
        })?;
        let dialect = Dialect::parse(engine).ok_or_else(|| {
            AgentError::request(format!(
                "engine {engine:?}: the agent writes SQL for spark and duckdb"
            ))
        })?;
        let kinds: HashMap<String, Kind> = columns
            .iter()
            .map(|(name, ty)| (name.clone(), ty.kind))
            .collect();
        let source = h["source"].as_str().unwrap_or(engine);
        let mut answers = Answers::new(columns);
        for answer in h["answers"].as_array().into_iter().flatten() {
            let key = answer["key"].as_str();
            let frame = answer["frame"]
                .as_u64()
                .and_then(|i| request.payload.get(usize::try_from(i).ok()?));
            let (Some(key), Some(frame)) = (key, frame) else {
                return Err(AgentError::request(
                    "each answer needs its request's \"key\" and the index of its \"frame\"",
                ));
            };
            let table = read_ipc_bytes(frame, "an engine's answer")
                .and_then(|lf| lf.collect().map_err(DataError::from))
                .map_err(data_error)?;
            answers.insert(key.to_string(), table);
        }
        match evaluate_counts(&policy, &answers, &mapping(h)?, engine, source)
            .map_err(AgentError::request)?
        {
            Counted::Need(requests) => {
                let need: Vec<Value> = requests
                    .iter()
                    .map(|r| {
                        json!({
                            "key": request_key(r),
                            "request": r,
                            "sql": dialect.query(r, &kinds),
                        })
                    })
                    .collect();
                Ok(json!({ "need": need }))
            }
            Counted::Done(results) => self.finish(h, &policy, &results),
        }
    }

    /// Opens a window over `pid` (the kernel's, as the caller says).
    fn monitor_start(&self, request: &AgentRequest) -> Result<Value, AgentError> {
        let h = &request.header;
        let name = h["name"]
            .as_str()
            .ok_or_else(|| AgentError::request("monitor_start needs a \"name\""))?;
        let pid = h["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| AgentError::request("monitor_start needs the \"pid\" to measure"))?;
        let config = match &self.energy {
            Energy::On(config) => config.clone(),
            Energy::Off => {
                return Err(AgentError::request(
                    "energy measurement is off for this kernel",
                ))
            }
            Energy::Broken(why) => {
                return Err(AgentError::request(format!("energy settings: {why}")))
            }
        };
        let label = match &h["label"] {
            Value::Null => None,
            Value::String(label) => Some(label.clone()),
            other => {
                return Err(AgentError::request(format!(
                    "monitor_start: \"label\" must be a string, not {other}"
                )))
            }
        };
        let inputs = paths(h, "inputs")?;
        let outputs = paths(h, "outputs")?;
        let meter = self.meter.get_or_init(|| Arc::new(Meter::new(config)));
        let token = window_token();
        // Inputs are fingerprinted before the window opens, so hashing a
        // large data set is not counted as the block's energy.
        let inputs = inputs.iter().map(|p| Artifact::read(p)).collect();
        let window = meter.start(pid);
        self.windows()?.insert(
            token.clone(),
            OpenWindow {
                name: name.to_string(),
                label,
                inputs,
                outputs,
                window,
            },
        );
        Ok(json!({ "token": token }))
    }

    /// Closes a window, records a `monitor` event and returns its report.
    fn monitor_stop(&self, request: &AgentRequest) -> Result<Value, AgentError> {
        let token = request.header["token"].as_str().ok_or_else(|| {
            AgentError::request("monitor_stop needs the \"token\" monitor_start gave")
        })?;
        let open = self
            .windows()?
            .remove(token)
            .ok_or_else(|| AgentError::request(format!("no open monitor window {token:?}")))?;
        let internal = |e: &dyn std::fmt::Display| AgentError::new(ErrorKind::Internal, e);
        let mut report = serde_json::to_value(open.window.finish()).map_err(|e| internal(&e))?;
        let outputs: Vec<Artifact> = open.outputs.iter().map(|p| Artifact::read(p)).collect();
        let artifacts = json!({ "inputs": open.inputs, "outputs": outputs });
        if request.header["record"].as_bool() != Some(false) {
            let mut payload = json!({ "name": open.name, "origin": self.origin, "energy": report });
            if let Some(label) = &open.label {
                payload["label"] = json!(label);
            }
            if !open.inputs.is_empty() || !outputs.is_empty() {
                payload["artifacts"] = artifacts.clone();
            }
            Store::open(&self.root(&request.header)?)
                .and_then(|store| store.append(EventKind::Monitor, payload))
                .map_err(|e| internal(&e))?;
        }
        // The reply is the energy report with the artifacts beside it.
        report["artifacts"] = artifacts;
        Ok(report)
    }

    fn root(&self, header: &Value) -> Result<PathBuf, AgentError> {
        match &self.root {
            Root::Session(root) => Ok(root.clone()),
            Root::Caller => {
                let cwd = header["cwd"].as_str().ok_or_else(|| {
                    AgentError::request("the request has no \"cwd\" to find the project in")
                })?;
                Ok(venturalitica_evidence::find_root(Path::new(cwd)))
            }
        }
    }

    fn windows(&self) -> Result<std::sync::MutexGuard<'_, Windows>, AgentError> {
        self.windows
            .lock()
            .map_err(|_| AgentError::new(ErrorKind::Internal, "monitor windows lock poisoned"))
    }
}

/// The header's list of file paths under `key` (absent or null: none).
fn paths(header: &Value, key: &str) -> Result<Vec<PathBuf>, AgentError> {
    match &header[key] {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str().map(PathBuf::from).ok_or_else(|| {
                    AgentError::request(format!(
                        "monitor_start: \"{key}\" must list file paths, not {item}"
                    ))
                })
            })
            .collect(),
        other => Err(AgentError::request(format!(
            "monitor_start: \"{key}\" must be a list of file paths, not {other}"
        ))),
    }
}

/// The SVG chart of the results document in the header's `results`.
fn chart(request: &AgentRequest) -> Result<Value, AgentError> {
    let results = request
        .header
        .get("results")
        .ok_or_else(|| AgentError::request("chart needs the \"results\" to draw"))?;
    let svg = venturalitica_chart::render_json(results).map_err(AgentError::request)?;
    Ok(json!({ "svg": svg }))
}

/// The header's `policy`, loaded strictly unless the header says
/// `"strict": false`: then a control whose metric is unknown is kept and
/// evaluates to an `error` result (the Python API's default, as the SDK's).
fn policy(header: &Value) -> Result<Policy, AgentError> {
    let path = header["policy"]
        .as_str()
        .ok_or_else(|| AgentError::request("the request has no \"policy\" path"))?;
    let leniency = match header["strict"] {
        Value::Bool(false) => Leniency::UnknownMetricsAsErrors,
        _ => Leniency::Strict,
    };
    load_policy_with(Path::new(path), leniency).map_err(|e| AgentError::new(ErrorKind::Policy, e))
}

/// A loaded policy as the engine reads it: identity, and every control with
/// its metric (canonical key, or as written when unknown), rule, inputs,
/// parameters and risk props (`venturalitica.loader` in Python).
fn policy_view(policy: &Policy) -> Value {
    let controls: Vec<Value> = policy
        .controls
        .iter()
        .map(|c| {
            let inputs: BTreeMap<&str, &Vec<String>> = c
                .inputs
                .iter()
                .map(|(slot, vars)| (slot.name(), vars))
                .collect();
            let unknown = match &c.metric {
                Metric::Known(_) => None,
                Metric::Unknown { reason } => Some(reason),
            };
            json!({
                "id": c.id,
                "description": c.description,
                "metric_key": c.metric_name(),
                "metric_as_written": c.metric_as_written,
                "unknown_metric": unknown,
                "operator": c.operator.symbol(),
                "threshold": c.threshold,
                "severity": c.severity,
                "enforcement_mode": c.enforcement_mode.name(),
                "inputs": inputs,
                "params": c.params,
                "risk": c.risk,
            })
        })
        .collect();
    json!({
        "path": policy.main_source().path,
        "sha256": policy.main_source().sha256,
        "shape": policy.shape.name(),
        "uuid": policy.uuid,
        "title": policy.title,
        "version": policy.version,
        "controls": controls,
        "manual_controls": policy.manual_controls,
        "warnings": policy.warnings,
    })
}

/// Every metric key with what it reads and means, and the variables'
/// column synonyms (`venturalitica.metrics` and `venturalitica.binding`).
fn catalog() -> Value {
    let metrics: Vec<Value> = MetricKey::ALL
        .iter()
        .map(|k| {
            let slots: Vec<&str> = k.required_slots().iter().map(|s| s.name()).collect();
            json!({
                "key": k.name(),
                "aliases": k.aliases(),
                "family": k.family().name(),
                "summary": k.summary(),
                "required_inputs": slots,
                "params": k.own_params(),
                "computed_from_data": k.family() != Family::External,
                "sense": k.sense().map(|s| json!({
                    "unit": s.unit,
                    "lower_is_better": s.lower_is_better,
                    // JSON has no infinity: an open end is null.
                    "bounds": s.bounds.map(|(lo, hi)| [lo, hi].map(|x| x.is_finite().then_some(x))),
                })),
            })
        })
        .collect();
    let synonyms: BTreeMap<&str, &[&str]> = SYNONYMS.iter().copied().collect();
    json!({ "metrics": metrics, "common_params": COMMON_PARAMS, "synonyms": synonyms })
}

/// The project root a `scan` or `verify` request names.
fn request_root(header: &Value) -> Result<PathBuf, AgentError> {
    header["root"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| AgentError::request("the request has no project \"root\""))
}

/// `vl.scan`: what `venturalitica scan --format json` prints.
fn scan(header: &Value) -> Result<Value, AgentError> {
    let root = request_root(header)?;
    let scan = venturalitica_scan::scan(&root).map_err(|e| {
        AgentError::new(
            ErrorKind::Internal,
            format!("cannot scan {}: {e}", root.display()),
        )
    })?;
    Ok(super::scan::report(&scan))
}

/// `vl.verify`: what `venturalitica verify --json` prints; `trusted_keys`
/// are public key files, `heads` `SEQ:HASH` anchors.
fn verify(header: &Value) -> Result<Value, AgentError> {
    let root = request_root(header)?;
    let store = Store::existing(&root).ok_or_else(|| {
        AgentError::new(
            ErrorKind::Internal,
            format!("{}: no .venturalitica/ evidence store here", root.display()),
        )
    })?;
    let trusted = paths(header, "trusted_keys")?
        .iter()
        .map(|path| {
            PublicKey::read(path).map_err(|e| AgentError::request(format!("trusted key: {e:#}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let anchors = header["heads"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            h.as_str()
                .and_then(venturalitica_evidence::Head::parse)
                .ok_or_else(|| {
                    AgentError::request(format!(
                        "heads: {h} is not SEQ:HASH (a sequence number and a SHA-256)"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let report = store
        .verify(&VerifyOptions {
            trusted,
            anchors,
            full: header["full"].as_bool().unwrap_or(false),
        })
        .map_err(|e| AgentError::new(ErrorKind::Internal, format!("{e:#}")))?;
    serde_json::to_value(report).map_err(|e| AgentError::new(ErrorKind::Internal, e))
}

/// Outside strict mode (`"strict": false`), a policy file that cannot be
/// loaded is an error result, as the SDK's default mode goes on.
fn unloadable_is_a_result(header: &Value, error: &AgentError) -> bool {
    header["strict"] == Value::Bool(false) && error.kind == ErrorKind::Policy
}

/// `check_threshold_orientation`: why a threshold reads the wrong way, or null.
fn threshold_check(header: &Value) -> Result<Value, AgentError> {
    let name = header["metric_key"]
        .as_str()
        .ok_or_else(|| AgentError::request("\"metric_key\" must be a string"))?;
    let op = header["operator"]
        .as_str()
        .ok_or_else(|| AgentError::request("\"operator\" must be a string"))?;
    let threshold = header["threshold"]
        .as_f64()
        .ok_or_else(|| AgentError::request("\"threshold\" must be a number"))?;
    // An operator that bounds neither side (`==`, or one the loader would
    // refuse) leaves only the range check, as the SDK's check does.
    let (at_least, at_most) = Operator::parse(op).map_or((false, false), Operator::bounds);
    let reason =
        MetricKey::parse(name).and_then(|k| k.threshold_misreading(at_least, at_most, threshold));
    Ok(json!({ "reason": reason }))
}

fn mapping(header: &Value) -> Result<Mapping, AgentError> {
    let mut mapping = Mapping::new();
    if let Some(map) = header["mapping"].as_object() {
        for (var, col) in map {
            let col = col.as_str().ok_or_else(|| {
                AgentError::request(format!("mapping {var:?}: the column must be a string"))
            })?;
            mapping = mapping.with(var, col);
        }
    }
    Ok(mapping)
}

fn metric_values(values: &Value) -> Result<BTreeMap<String, f64>, AgentError> {
    let map = values.as_object().ok_or_else(|| {
        AgentError::request("\"metrics\" must map control ids or metric keys to numbers")
    })?;
    map.iter()
        .map(|(k, v)| {
            // JSON has no NaN: a client sends null, which the engine then
            // reports as an `error` result ("not a finite number").
            v.as_f64()
                .or_else(|| v.is_null().then_some(f64::NAN))
                .map(|v| (k.clone(), v))
                .ok_or_else(|| {
                    AgentError::new(
                        ErrorKind::Data,
                        format!("metric {k:?}: {v} is not a number"),
                    )
                })
        })
        .collect()
}

fn data_error(e: DataError) -> AgentError {
    AgentError::new(ErrorKind::Data, e)
}

/// A token naming a monitor window. Access is guarded by the endpoint's key,
/// so a counter is enough.
fn window_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "w{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
