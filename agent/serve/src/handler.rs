//! [`EngineHandler`]: the answer to each typed request (docs/agent-protocol.md).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::{json, Value};
use venturalitica_engine::counts::{ColumnType, Kind};
use venturalitica_engine::remote::{request_key, Answers};
use venturalitica_engine::results::now_rfc3339;
use venturalitica_engine::sql::Dialect;
use venturalitica_engine::{
    build_reference, build_reference_counts, columns_needed, evaluate, evaluate_counts,
    evaluate_metrics, read_ipc_bytes, Counted, DataError, DataSet, Mapping, Reference, References,
    Results,
};
use venturalitica_evidence::{Head, PublicKey, Store, VerifyOptions};
use venturalitica_kernel::agent::{AgentError, AgentHandler, AgentRequest, ErrorKind};
use venturalitica_kernel::protocol::{
    Answer, Column, Evaluation, Need, PolicyRef, Reply, Request, Snapshot,
};
use venturalitica_kernel::proxy::Energy;
use venturalitica_policy::{load_policy_with, Leniency, Policy, SourceFile};

use crate::monitor::{Opening, Windows};
use crate::{record, reference, views};

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

/// Answers requests with the policy engine, the chart renderer, the energy
/// meter, the scan and the evidence store.
#[derive(Debug)]
pub struct EngineHandler {
    root: Root,
    /// Who asked, as recorded in events: `kernel` (through the proxy) or
    /// `python` (a script's own agent).
    origin: &'static str,
    windows: Windows,
}

impl AgentHandler for EngineHandler {
    fn handle(&self, request: AgentRequest) -> Result<Reply, AgentError> {
        let AgentRequest {
            request,
            cwd,
            payload,
        } = request;
        let root = || self.root(cwd.as_deref());
        match request {
            Request::Ping => Ok(Reply::Ping {
                agent: concat!("venturalitica ", env!("CARGO_PKG_VERSION")).to_string(),
                pid: std::process::id(),
            }),
            Request::Columns {
                policy,
                mapping,
                columns,
            } => columns_read(&policy, &mapping, &columns),
            Request::Enforce {
                policy,
                evaluation,
                metrics,
            } => {
                let loaded = match load(&policy) {
                    Err(e) if unloadable_is_a_result(&policy, &e) => {
                        return self.unloadable(&policy, &evaluation, e, root)
                    }
                    loaded => loaded?,
                };
                let references = references(&loaded, &evaluation, root)?;
                let results = enforce(&loaded, &evaluation, &references, metrics, &payload)?;
                self.record(&evaluation, &loaded.sources, &results, root)
            }
            Request::EnforceCounts {
                policy,
                evaluation,
                columns,
                engine,
                answers,
            } => {
                let loaded = match load(&policy) {
                    Err(e) if unloadable_is_a_result(&policy, &e) => {
                        return self.unloadable(&policy, &evaluation, e, root)
                    }
                    loaded => loaded?,
                };
                let references = references(&loaded, &evaluation, root)?;
                let counted = counts(
                    &loaded,
                    &evaluation,
                    &references,
                    (&columns, &engine),
                    &answers,
                    &payload,
                )?;
                match counted {
                    Round::Need(need) => Ok(Reply::Need { need }),
                    Round::Done(results) => {
                        self.record(&evaluation, &loaded.sources, &results, root)
                    }
                }
            }
            Request::Chart { results } => {
                let svg =
                    venturalitica_chart::render_json(&results).map_err(AgentError::request)?;
                Ok(Reply::Chart { svg })
            }
            Request::Policy { policy } => Ok(Reply::Document(views::policy(&load(&policy)?))),
            Request::Catalog => Ok(Reply::Document(views::catalog())),
            Request::ThresholdCheck {
                metric_key,
                operator,
                threshold,
            } => Ok(Reply::Reason {
                reason: views::threshold_misreading(&metric_key, &operator, threshold),
            }),
            Request::Scan { root } => scan(&root),
            Request::Verify {
                root,
                trusted_keys,
                heads,
                full,
            } => verify(&root, &trusted_keys, &heads, full),
            Request::MonitorStart {
                name,
                pid,
                label,
                inputs,
                outputs,
            } => {
                let token = self.windows.start(Opening {
                    name,
                    pid,
                    label,
                    inputs,
                    outputs,
                })?;
                Ok(Reply::Token { token })
            }
            Request::MonitorStop { token, record } => {
                let root = if record { Some(root()?) } else { None };
                let report = self.windows.stop(&token, self.origin, root)?;
                Ok(Reply::Document(report))
            }
            Request::Reference { snapshot } => {
                let data = payload.first().ok_or_else(|| {
                    AgentError::request("the request carries no data frame (an Arrow IPC file)")
                })?;
                let source = snapshot.source.as_deref().unwrap_or("dataframe");
                let data = DataSet {
                    frame: read_ipc_bytes(data, source).map_err(data_error)?,
                    source: source.to_string(),
                    streaming: false,
                };
                let built =
                    build_reference(data, &snapshot.summarise, &snapshot.name, bins(&snapshot))
                        .map_err(data_error)?;
                self.record_reference(&built, root)
            }
            Request::ReferenceCounts {
                snapshot,
                columns,
                engine,
                answers,
            } => {
                let (answers, dialect) = answers_of(&columns, &engine, &answers, &payload)?;
                let source = snapshot.source.as_deref().unwrap_or(&engine);
                match build_reference_counts(
                    &answers,
                    &snapshot.summarise,
                    &snapshot.name,
                    source,
                    bins(&snapshot),
                ) {
                    Ok(Err(requests)) => Ok(Reply::Need {
                        need: needs(&requests, dialect, &answers),
                    }),
                    Ok(Ok(built)) => self.record_reference(&built, root),
                    Err(reason) => Err(AgentError::new(
                        ErrorKind::Data,
                        format!("{source}: cannot record the reference: {reason}"),
                    )),
                }
            }
        }
    }
}

impl EngineHandler {
    pub fn new(root: Root, origin: &'static str, energy: Energy) -> EngineHandler {
        EngineHandler {
            root,
            origin,
            windows: Windows::new(energy),
        }
    }

    /// The error result of a policy file that cannot be loaded, recorded
    /// with the bytes that were read (none for a missing file), so the
    /// evidence keeps what was evaluated.
    fn unloadable(
        &self,
        policy: &PolicyRef,
        evaluation: &Evaluation,
        error: AgentError,
        root: impl FnOnce() -> Result<PathBuf, AgentError>,
    ) -> Result<Reply, AgentError> {
        let text = std::fs::read(&policy.policy)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        let source = SourceFile::new(&policy.policy, &text);
        let results = Results::unloadable_policy(
            &policy.policy.to_string_lossy(),
            source.sha256.clone(),
            error.message,
            evaluation.source.as_deref().unwrap_or("dataframe"),
            now_rfc3339(),
        );
        self.record(evaluation, &[source], &results, root)
    }

    /// Records the evaluation (unless told not to) and returns it.
    fn record(
        &self,
        evaluation: &Evaluation,
        sources: &[SourceFile],
        results: &Results,
        root: impl FnOnce() -> Result<PathBuf, AgentError>,
    ) -> Result<Reply, AgentError> {
        let appended = if evaluation.record {
            Some(
                record::evaluation(
                    &root()?,
                    sources,
                    results,
                    self.origin,
                    &evaluation.tracker_runs,
                )
                .map_err(|e| {
                    AgentError::new(
                        ErrorKind::Internal,
                        format!("cannot record the evaluation in the evidence trail: {e}"),
                    )
                })?,
            )
        } else {
            None
        };
        let mut document =
            serde_json::to_value(results).map_err(|e| AgentError::new(ErrorKind::Internal, e))?;
        // Where the evaluation sits in the trail (`SEQ:HASH`), for a tracker
        // run to name: beside the results, which the client takes off.
        if let (Some(appended), Some(fields)) = (appended, document.as_object_mut()) {
            fields.insert(
                "evidence".into(),
                json!({
                    "seq": appended.seq,
                    "hash": appended.hash,
                    "anchor": appended.head().to_string(),
                }),
            );
        }
        Ok(Reply::Document(document))
    }

    /// Records a reference snapshot; its event and digest as the reply.
    fn record_reference(
        &self,
        built: &Reference,
        root: impl FnOnce() -> Result<PathBuf, AgentError>,
    ) -> Result<Reply, AgentError> {
        let (appended, sha) = reference::record(&root()?, built, self.origin).map_err(|e| {
            AgentError::new(
                ErrorKind::Internal,
                format!("cannot record the reference in the evidence trail: {e}"),
            )
        })?;
        let columns: serde_json::Map<String, Value> = built
            .columns
            .iter()
            .map(|(name, c)| (name.clone(), json!(c.kind_name())))
            .collect();
        Ok(Reply::Document(json!({
            "reference": built.name,
            "reference_sha256": sha,
            "source": built.source,
            "rows": built.rows,
            "columns": columns,
            "skipped": built.skipped,
            "evidence": {"seq": appended.seq, "hash": appended.hash, "anchor": appended.head().to_string()},
        })))
    }

    fn root(&self, cwd: Option<&Path>) -> Result<PathBuf, AgentError> {
        match &self.root {
            Root::Session(root) => Ok(root.clone()),
            Root::Caller => {
                let cwd = cwd.ok_or_else(|| {
                    AgentError::request("the request has no \"cwd\" to find the project in")
                })?;
                Ok(venturalitica_evidence::find_root(cwd))
            }
        }
    }
}

/// The policy a request names, loaded strictly unless it says
/// `"strict": false`: then a control whose metric is unknown is kept and
/// evaluates to an `error` result (the Python API's default, as the SDK's).
fn load(policy: &PolicyRef) -> Result<Policy, AgentError> {
    let leniency = if policy.strict {
        Leniency::Strict
    } else {
        Leniency::UnknownMetricsAsErrors
    };
    let mut loaded = load_policy_with(&policy.policy, leniency)
        .map_err(|e| AgentError::new(ErrorKind::Policy, e))?;
    if let Some(how) = policy.decision {
        loaded.decide_every_control(how);
    }
    Ok(loaded)
}

/// Outside strict mode, a policy file that cannot be loaded is an error
/// result, as the SDK's default mode goes on.
fn unloadable_is_a_result(policy: &PolicyRef, error: &AgentError) -> bool {
    !policy.strict && error.kind == ErrorKind::Policy
}

/// The references `policy`'s drift controls name, found in the project's
/// trail; none read when it has no drift control.
fn references(
    policy: &Policy,
    evaluation: &Evaluation,
    root: impl FnOnce() -> Result<PathBuf, AgentError>,
) -> Result<References, AgentError> {
    let default = evaluation.reference.as_deref();
    let needed = reference::names_needed(policy, default);
    if needed.is_empty() {
        return Ok(References {
            default: default.map(str::to_string),
            ..References::none()
        });
    }
    reference::resolve(&root()?, &needed, default).map_err(|e| AgentError::new(ErrorKind::Data, e))
}

fn bins(snapshot: &Snapshot) -> usize {
    snapshot
        .bins
        .unwrap_or(venturalitica_engine::reference::DEFAULT_BINS)
}

/// A policy on the frame in the first payload frame, or on metric values
/// computed elsewhere.
fn enforce(
    policy: &Policy,
    evaluation: &Evaluation,
    references: &References,
    metrics: Option<BTreeMap<String, Option<f64>>>,
    payload: &[Bytes],
) -> Result<Results, AgentError> {
    if let Some(values) = metrics {
        // JSON has no NaN: a client sends null, which the engine reports as
        // an `error` result ("not a finite number").
        let values: BTreeMap<String, f64> = values
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
            .collect();
        return Ok(evaluate_metrics(policy, &values));
    }
    let data = payload.first().ok_or_else(|| {
        AgentError::request("the request carries no data frame (an Arrow IPC file)")
    })?;
    let source = evaluation.source.as_deref().unwrap_or("dataframe");
    let frame = read_ipc_bytes(data, source).map_err(data_error)?;
    let data = DataSet {
        frame,
        source: source.to_string(),
        streaming: false,
    };
    evaluate(policy, data, &mapping(&evaluation.mapping), references).map_err(data_error)
}

/// Which of `columns` the policy reads with `mapping`. Not strict, a
/// policy that cannot be loaded needs no column: the `enforce` that follows
/// records and returns its error result.
fn columns_read(
    policy: &PolicyRef,
    variables: &BTreeMap<String, String>,
    columns: &[String],
) -> Result<Reply, AgentError> {
    let loaded = match load(policy) {
        Err(e) if unloadable_is_a_result(policy, &e) => {
            return Ok(Reply::Columns { columns: vec![] })
        }
        loaded => loaded?,
    };
    Ok(Reply::Columns {
        columns: columns_needed(&loaded, &mapping(variables), columns),
    })
}

/// A round of counts: the requests still to answer, or the results.
#[derive(Debug)]
enum Round {
    Need(Vec<Need>),
    Done(Box<Results>),
}

/// One round of a policy on counts computed where the data lives: either
/// the count requests still to answer, each with its SQL, or the results.
fn counts(
    policy: &Policy,
    evaluation: &Evaluation,
    references: &References,
    (columns, engine): (&[Column], &str),
    answered: &[Answer],
    payload: &[Bytes],
) -> Result<Round, AgentError> {
    let (answers, dialect) = answers_of(columns, engine, answered, payload)?;
    let source = evaluation.source.as_deref().unwrap_or(engine);
    let counted = evaluate_counts(
        policy,
        &answers,
        &mapping(&evaluation.mapping),
        references,
        engine,
        source,
    )
    .map_err(AgentError::request)?;
    Ok(match counted {
        Counted::Need(requests) => Round::Need(needs(&requests, dialect, &answers)),
        Counted::Done(results) => Round::Done(results),
    })
}

/// The answers an engine gave so far, read from their payload frames, and
/// the engine's SQL dialect.
fn answers_of(
    columns: &[Column],
    engine: &str,
    answered: &[Answer],
    payload: &[Bytes],
) -> Result<(Answers, Dialect), AgentError> {
    let dialect = Dialect::parse(engine).ok_or_else(|| {
        AgentError::request(format!(
            "engine {engine:?}: the agent writes SQL for spark and duckdb"
        ))
    })?;
    let columns: Vec<(String, ColumnType)> = columns
        .iter()
        .map(|c| (c.name.clone(), ColumnType::parse(&c.type_name)))
        .collect();
    let mut answers = Answers::new(columns);
    for answer in answered {
        let frame = payload.get(answer.frame).ok_or_else(|| {
            AgentError::request(format!(
                "answer {:?} names frame {}, which the request does not carry",
                answer.key, answer.frame
            ))
        })?;
        let table = read_ipc_bytes(frame, "an engine's answer")
            .and_then(|lf| lf.collect().map_err(DataError::from))
            .map_err(data_error)?;
        answers.insert(answer.key.clone(), table);
    }
    Ok((answers, dialect))
}

/// The requests still to answer, each with its SQL in `dialect`.
fn needs(
    requests: &[venturalitica_engine::counts::Request],
    dialect: Dialect,
    answers: &Answers,
) -> Vec<Need> {
    let kinds: HashMap<String, Kind> = answers
        .columns
        .iter()
        .map(|(name, ty)| (name.clone(), ty.kind))
        .collect();
    requests
        .iter()
        .map(|r| Need {
            key: request_key(r),
            request: serde_json::to_value(r).unwrap_or(Value::Null),
            sql: serde_json::to_value(dialect.query(r, &kinds)).unwrap_or(Value::Null),
        })
        .collect()
}

/// `vl.scan`: what `venturalitica scan --format json` prints.
fn scan(root: &Path) -> Result<Reply, AgentError> {
    let scan = venturalitica_scan::scan(root).map_err(|e| {
        AgentError::new(
            ErrorKind::Internal,
            format!("cannot scan {}: {e}", root.display()),
        )
    })?;
    Ok(Reply::Document(scan.report()))
}

/// `vl.verify`: what `venturalitica verify --json` prints; `trusted_keys`
/// are public key files, `heads` `SEQ:HASH` anchors.
fn verify(
    root: &Path,
    trusted_keys: &[PathBuf],
    heads: &[String],
    full: bool,
) -> Result<Reply, AgentError> {
    let store = Store::existing(root).ok_or_else(|| {
        AgentError::new(
            ErrorKind::Internal,
            format!("{}: no .venturalitica/ evidence store here", root.display()),
        )
    })?;
    let trusted = trusted_keys
        .iter()
        .map(|path| {
            PublicKey::read(path).map_err(|e| AgentError::request(format!("trusted key: {e:#}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let anchors = heads
        .iter()
        .map(|h| {
            Head::parse(h).ok_or_else(|| {
                AgentError::request(format!(
                    "heads: {h:?} is not SEQ:HASH (a sequence number and a SHA-256)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let report = store
        .verify(&VerifyOptions {
            trusted,
            anchors,
            full,
        })
        .map_err(|e| AgentError::new(ErrorKind::Internal, format!("{e:#}")))?;
    serde_json::to_value(report)
        .map(Reply::Document)
        .map_err(|e| AgentError::new(ErrorKind::Internal, e))
}

fn mapping(variables: &BTreeMap<String, String>) -> Mapping {
    variables
        .iter()
        .fold(Mapping::new(), |mapping, (var, col)| mapping.with(var, col))
}

fn data_error(e: DataError) -> AgentError {
    AgentError::new(ErrorKind::Data, e)
}
