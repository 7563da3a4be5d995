//! The agent protocol's words: each request by its `op`, typed, and each
//! reply (docs/agent-protocol.md). A header that is not one of these is a
//! `request` error naming the op and the field, before any handler runs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::AgentError;

/// What a request asks, by its header's `op`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is the agent there, and which is it.
    Ping,
    /// Which of a frame's columns a policy reads.
    Columns {
        #[serde(flatten)]
        policy: PolicyRef,
        #[serde(default)]
        mapping: BTreeMap<String, String>,
        columns: Vec<String>,
    },
    /// A policy on the Arrow IPC frame in the first payload frame, or on
    /// metric values computed elsewhere.
    Enforce {
        #[serde(flatten)]
        policy: PolicyRef,
        #[serde(flatten)]
        evaluation: Evaluation,
        /// Control id or metric key → value; null for a value that is not
        /// a number (JSON has no NaN), which evaluates to an `error`.
        #[serde(default)]
        metrics: Option<BTreeMap<String, Option<f64>>>,
    },
    /// One round of a policy on counts computed where the data lives.
    EnforceCounts {
        #[serde(flatten)]
        policy: PolicyRef,
        #[serde(flatten)]
        evaluation: Evaluation,
        /// The dataset's columns and their types.
        columns: Vec<Column>,
        /// The engine that counts: `spark` or `duckdb`.
        engine: String,
        /// The answers so far, each in a payload frame.
        #[serde(default)]
        answers: Vec<Answer>,
    },
    /// The SVG chart of a results document.
    Chart { results: Value },
    /// A policy as the engine loads it.
    Policy {
        #[serde(flatten)]
        policy: PolicyRef,
    },
    /// Every metric key and the variables' column synonyms.
    Catalog,
    /// Why a threshold reads the wrong way for its metric.
    ThresholdCheck {
        metric_key: String,
        operator: String,
        threshold: f64,
    },
    /// `vl.scan`: the project's bill of materials and latest results.
    Scan { root: PathBuf },
    /// `vl.verify`: the project's evidence trail checked.
    Verify {
        root: PathBuf,
        /// Public key files whose signatures are trusted.
        #[serde(default)]
        trusted_keys: Vec<PathBuf>,
        /// `SEQ:HASH` anchors recorded earlier.
        #[serde(default)]
        heads: Vec<String>,
        /// Every event from the first, not from the checkpoint.
        #[serde(default)]
        full: bool,
    },
    /// Opens an energy window over a process.
    MonitorStart {
        name: String,
        pid: u32,
        #[serde(default)]
        label: Option<String>,
        /// Files fingerprinted before the window opens.
        #[serde(default)]
        inputs: Vec<PathBuf>,
        /// Files fingerprinted when it closes.
        #[serde(default)]
        outputs: Vec<PathBuf>,
    },
    /// Closes a window and records it.
    MonitorStop {
        token: String,
        #[serde(default = "yes")]
        record: bool,
    },
    /// `vl.reference`: a reference snapshot of the Arrow IPC frame in the
    /// first payload frame, recorded under `name`.
    Reference {
        #[serde(flatten)]
        snapshot: Snapshot,
    },
    /// One round of a reference snapshot of data counted where it lives.
    ReferenceCounts {
        #[serde(flatten)]
        snapshot: Snapshot,
        /// The dataset's columns and their types.
        columns: Vec<Column>,
        /// The engine that counts: `spark` or `duckdb`.
        engine: String,
        #[serde(default)]
        answers: Vec<Answer>,
    },
}

/// What a reference snapshot records, and how.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Snapshot {
    /// The name drift controls give as `input.reference`.
    pub name: String,
    /// The columns to summarise; every column when empty.
    #[serde(default)]
    pub summarise: Vec<String>,
    /// Quantile bins per numeric column.
    #[serde(default)]
    pub bins: Option<usize>,
    /// A description of the data, for the snapshot's `source`.
    #[serde(default)]
    pub source: Option<String>,
}

fn yes() -> bool {
    true
}

/// The policy file a request names, and how strictly to load it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PolicyRef {
    pub policy: PathBuf,
    /// Not strict (`false`, the Python API's default, as the SDK's), an
    /// unknown metric, or a file that cannot be loaded, is an `error`
    /// result instead of a refusal.
    #[serde(default = "yes")]
    pub strict: bool,
    /// Every control decided this way (`point` or `interval`), whatever the
    /// policy's `decision` props say; absent, as the policy says.
    #[serde(default)]
    pub decision: Option<venturalitica_vocab::results::Decision>,
}

/// What an evaluation records, and on what.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Evaluation {
    /// Policy variable → column.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
    /// A description of the frame, for the results' `data.source`.
    #[serde(default)]
    pub source: Option<String>,
    /// Recorded as an `enforce` event unless `false`.
    #[serde(default = "yes")]
    pub record: bool,
    /// The user's tracker runs the client logs the results to, for the event.
    #[serde(default)]
    pub tracker_runs: Vec<venturalitica_vocab::events::TrackerRun>,
    /// The reference drift controls naming none compare with.
    #[serde(default)]
    pub reference: Option<String>,
}

/// A column of a dataset counted elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A count request's answer: its key, and the payload frame holding it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Answer {
    pub key: String,
    pub frame: usize,
}

impl Request {
    pub const OPS: [&'static str; 14] = [
        "ping",
        "columns",
        "enforce",
        "enforce_counts",
        "chart",
        "policy",
        "catalog",
        "threshold_check",
        "scan",
        "verify",
        "monitor_start",
        "monitor_stop",
        "reference",
        "reference_counts",
    ];

    /// The request in a header; an unknown op or a field of the wrong
    /// shape is a `request` error that names it.
    pub fn parse(header: &Value) -> Result<Request, AgentError> {
        let op = match header.get("op") {
            None | Some(Value::Null) => {
                return Err(AgentError::request("the request header has no \"op\""))
            }
            Some(Value::String(op)) => op.as_str(),
            Some(other) => {
                return Err(AgentError::request(format!(
                    "the request's \"op\" must be a string, not {other}"
                )))
            }
        };
        if !Request::OPS.contains(&op) {
            return Err(AgentError::request(format!(
                "unknown op {op:?} (known: {})",
                Request::OPS.join(", ")
            )));
        }
        Request::deserialize(header).map_err(|e| AgentError::request(format!("{op}: {e}")))
    }
}

/// A reply's `result`, by what was asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Ping {
        agent: String,
        pid: u32,
    },
    Columns {
        columns: Vec<String>,
    },
    /// Count requests to answer before the next round.
    Need {
        need: Vec<Need>,
    },
    Chart {
        svg: String,
    },
    /// A monitor window opened.
    Token {
        token: String,
    },
    /// Why a threshold reads the wrong way, or null.
    Reason {
        reason: Option<String>,
    },
    /// A document of its own shape: a results document
    /// (schemas/results.schema.json), a policy as loaded, the catalog, what
    /// `scan --format json` and `verify --json` print, an energy report
    /// with the window's artifacts.
    Document(Value),
}

/// One count request the agent needs answered, with its SQL for the
/// engine that answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Need {
    pub key: String,
    pub request: Value,
    pub sql: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_op_reads_into_its_request_with_its_defaults() {
        let r = Request::parse(&json!({"id": 1, "op": "enforce", "policy": "p.yaml", "metrics": {"a": 0.5, "b": null}}))
            .expect("an enforce");
        let Request::Enforce {
            policy,
            evaluation,
            metrics,
        } = r
        else {
            panic!("not an enforce: {r:?}")
        };
        assert!(policy.strict && evaluation.record && evaluation.mapping.is_empty());
        assert_eq!(metrics.expect("metrics")["b"], None);
        let stop = Request::parse(&json!({"op": "monitor_stop", "token": "w1"})).expect("a stop");
        assert_eq!(
            stop,
            Request::MonitorStop {
                token: "w1".into(),
                record: true
            }
        );
        assert_eq!(
            Request::parse(&json!({"op": "ping", "id": 3})).expect("a ping"),
            Request::Ping
        );
    }

    #[test]
    fn a_wrong_header_is_a_request_error_that_names_it() {
        let message = |h: Value| Request::parse(&h).expect_err("refused").message;
        assert!(message(json!({"id": 1})).contains("no \"op\""));
        assert!(message(json!({"op": "frobnicate"})).contains("unknown op \"frobnicate\""));
        let label = message(json!({"op": "monitor_start", "name": "n", "pid": 1, "label": 3}));
        assert!(
            label.starts_with("monitor_start: ") && label.contains("invalid type"),
            "{label}"
        );
        assert!(message(json!({"op": "columns", "policy": "p.yaml"})).contains("columns"));
        let metric = message(json!({"op": "enforce", "policy": "p", "metrics": {"a": "x"}}));
        assert!(metric.starts_with("enforce: "), "{metric}");
    }

    #[test]
    fn every_op_named_is_one_the_enum_reads() {
        // A header of every known op reaches serde, which names the field
        // it lacks rather than the op.
        for op in Request::OPS {
            let e = Request::parse(&json!({"op": op}));
            if let Err(e) = e {
                assert!(
                    e.message.starts_with(&format!("{op}: ")),
                    "{op}: {}",
                    e.message
                );
            }
        }
    }
}
