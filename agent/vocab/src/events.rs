//! What an event records: its kind, and the payload each kind carries,
//! shared by every writer and reader of the trail (`schemas/event.schema.json`
//! is generated from these types).
//!
//! A payload reads leniently where the trail has history (a field added
//! later reads as its default from an older event), and strictly where a
//! reader must not guess: an `enforce` event without a results document is
//! an error, not an empty evaluation.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::energy::{EnergyReport, Measured};
use crate::results::Results;

/// The `kind` of an event body.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A notebook cell run through the kernel proxy (timing, energy).
    Cell,
    /// A policy evaluated on data (`enforce`, `vl.enforce`, `%vl_enforce`).
    Enforce,
    /// A measured window (`monitor`, `vl.monitor`, `%%vl_monitor`).
    Monitor,
    /// A project scan (BOM, latest status).
    Scan,
    /// An export to an experiment tracker.
    Export,
    /// A person's approval of the trail up to its head, signed with their
    /// SSH key (`venturalitica approve`).
    Approval,
    /// A reference dataset recorded for drift (`venturalitica reference`,
    /// `vl.reference`).
    Reference,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Cell,
        EventKind::Enforce,
        EventKind::Monitor,
        EventKind::Scan,
        EventKind::Export,
        EventKind::Approval,
        EventKind::Reference,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Cell => "cell",
            EventKind::Enforce => "enforce",
            EventKind::Monitor => "monitor",
            EventKind::Scan => "scan",
            EventKind::Export => "export",
            EventKind::Approval => "approval",
            EventKind::Reference => "reference",
        }
    }

    /// The kind named in an event body; `None` for a name we do not write.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The kind of a parsed event body (`{"kind": ..., "payload": ...}`).
    pub fn of(body: &serde_json::Value) -> Option<EventKind> {
        body.get("kind")?.as_str().and_then(EventKind::parse)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `enforce` event's payload: one evaluation and who asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EnforcePayload {
    /// `cli` or `kernel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub results: Results,
    /// The user's tracker runs the evaluation was also logged to (the
    /// Python API inside an active MLflow or W&B run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracker_runs: Vec<TrackerRun>,
}

/// A run of the user's own tracker that an evaluation was logged to: the
/// MLflow export links its session run to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TrackerRun {
    /// `mlflow` or `wandb`.
    pub tracker: String,
    pub run_id: String,
    /// MLflow's tracking URI, where the run lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_uri: Option<String>,
}

/// A `monitor` event's payload: a measured window, from the kernel
/// (`vl.monitor`, `%%vl_monitor`) or around a command (`monitor -- cmd`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorPayload {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The command measured, for `monitor -- cmd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// What the block was called in the notebook (`%%vl_monitor`'s label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub energy: EnergyReport,
    /// The files it read and wrote, fingerprinted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<Artifacts>,
}

/// The files a monitored block names: inputs fingerprinted when it starts,
/// outputs when it ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Artifacts {
    pub inputs: Vec<Artifact>,
    pub outputs: Vec<Artifact>,
}

/// One file's fingerprint, or why there is none (never skipped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Artifact {
    pub path: PathBuf,
    #[serde(flatten)]
    pub fingerprint: Fingerprint,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Fingerprint {
    Hashed { sha256: String, bytes: u64 },
    Unreadable { error: String },
}

/// A `scan` event's payload: the project's verdict when it was scanned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScanPayload {
    pub passed: bool,
    /// How many controls the verdict covers.
    pub controls: usize,
    /// The ids of those that did not pass.
    #[serde(default)]
    pub failing: Vec<String>,
    #[serde(default)]
    pub bom_serial: Option<String>,
    /// Components in the bill of materials.
    #[serde(default)]
    pub components: usize,
}

/// An `approval` event's payload: what a person signed, with their SSH
/// key, about the trail up to `head` (docs/evidence.md, "Approvals").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalPayload {
    /// The exact text signed (`ssh-keygen -Y verify` reads it on stdin).
    pub statement: String,
    /// The armored SSHSIG, namespace `venturalitica-approval`.
    pub signature: String,
    /// Who signed, as `allowed_signers` names them.
    pub principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The head approved, `SEQ:HASH`.
    pub head: String,
    /// When it was signed (RFC 3339), as the statement says.
    pub date: String,
    /// The signing key's `SHA256:` fingerprint, as `ssh-keygen -l` prints it.
    pub key: String,
}

/// A `reference` event's payload: a reference dataset recorded by name,
/// its per-column summaries kept as `references/<reference_sha256>.json`
/// (docs/metrics.md, "Drift").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReferencePayload {
    /// The name drift controls give as `input.reference`.
    pub name: String,
    /// The snapshot's SHA-256: `verify` checks the copy against it.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub reference_sha256: String,
    /// Where the reference data came from.
    pub source: String,
    pub rows: u64,
    /// The columns summarised.
    pub columns: Vec<String>,
    /// Who recorded it: `cli`, `kernel` or `python`.
    #[serde(default)]
    pub origin: Option<String>,
}

/// A `cell` event's payload: one execution through the kernel proxy (or
/// seen by `kernel attach`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CellPayload {
    /// JupyterLab's cell id, when the frontend sent one.
    #[serde(default)]
    pub cell_id: Option<String>,
    #[serde(default)]
    pub msg_id: Option<String>,
    /// The frontend session that sent it.
    #[serde(default)]
    pub session: Option<String>,
    #[serde(default)]
    pub execution_count: Option<u64>,
    /// SHA-256 of the code: the code itself stays in the notebook.
    #[serde(default)]
    pub code_sha256: Option<String>,
    #[serde(default)]
    pub silent: bool,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// `ok`, `error`, `aborted` or `died`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ename: Option<String>,
    /// The energy report, when a meter ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<Measured>,
    /// `proxy` or `attached`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The notebook, as jupyter_server names the kernel's session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notebook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

/// An event's payload, by its kind; an event body writes the kind as its
/// tag (`{"kind": …, "payload": …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", content = "payload", rename_all = "lowercase")]
pub enum Payload {
    Cell(Box<CellPayload>),
    Enforce(Box<EnforcePayload>),
    Monitor(Box<MonitorPayload>),
    Scan(ScanPayload),
    Approval(Box<ApprovalPayload>),
    Reference(Box<ReferencePayload>),
    /// Written by no version yet: kept as it is.
    Export(BTreeMap<String, Value>),
}

impl Payload {
    /// The payload of an event of `kind`; an error names what is missing
    /// or malformed.
    pub fn decode(kind: EventKind, payload: &Value) -> Result<Payload, serde_json::Error> {
        use serde::de::Deserialize as _;
        Ok(match kind {
            EventKind::Cell => Payload::Cell(Box::new(CellPayload::deserialize(payload)?)),
            EventKind::Enforce => Payload::Enforce(Box::new(EnforcePayload::deserialize(payload)?)),
            EventKind::Monitor => Payload::Monitor(Box::new(MonitorPayload::deserialize(payload)?)),
            EventKind::Scan => Payload::Scan(ScanPayload::deserialize(payload)?),
            EventKind::Export => Payload::Export(BTreeMap::deserialize(payload)?),
            EventKind::Approval => {
                Payload::Approval(Box::new(ApprovalPayload::deserialize(payload)?))
            }
            EventKind::Reference => {
                Payload::Reference(Box::new(ReferencePayload::deserialize(payload)?))
            }
        })
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Payload::Cell(_) => EventKind::Cell,
            Payload::Enforce(_) => EventKind::Enforce,
            Payload::Monitor(_) => EventKind::Monitor,
            Payload::Scan(_) => EventKind::Scan,
            Payload::Export(_) => EventKind::Export,
            Payload::Approval(_) => EventKind::Approval,
            Payload::Reference(_) => EventKind::Reference,
        }
    }

    /// The evaluation of an `enforce` event.
    pub fn results(&self) -> Option<&Results> {
        match self {
            Payload::Enforce(p) => Some(&p.results),
            _ => None,
        }
    }
}

/// The event body's schema: `kind`, when, which process and tool, and the
/// payload of that kind (for `schemas/event.schema.json`).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Venturalitica evidence event")]
pub struct EventBody {
    pub ts: String,
    pub pid: Option<u64>,
    pub tool: Option<String>,
    #[serde(flatten)]
    pub payload: Payload,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).expect("serialises"), k.as_str());
        }
        assert_eq!(EventKind::parse("Cell"), None);
    }

    #[test]
    fn an_enforce_event_without_results_is_an_error_not_an_empty_evaluation() {
        let e = Payload::decode(EventKind::Enforce, &serde_json::json!({"origin": "cli"}))
            .expect_err("no results");
        assert!(e.to_string().contains("results"), "{e}");
    }

    #[test]
    fn a_cell_from_an_older_agent_reads_with_what_it_has() {
        let p = Payload::decode(
            EventKind::Cell,
            &serde_json::json!({"duration_s": 0.5, "status": "ok"}),
        )
        .expect("a cell");
        let Payload::Cell(cell) = p else {
            panic!("a cell")
        };
        assert_eq!(
            (cell.duration_s, cell.status.as_deref(), cell.energy),
            (Some(0.5), Some("ok"), None)
        );
    }
}
