//! The results shape, shared by the CLI's `--format json`, the Python
//! package and the evidence store. `schemas/results.schema.json` documents it
//! and the tests validate output against it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use venturalitica_metrics::{ConfidenceInterval, GroupBreakdown};

/// Version of this shape; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

pub use venturalitica_vocab::results::Status;

/// The result of evaluating one policy on one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub schema_version: u32,
    /// True when every control in `block` mode passed.
    pub passed: bool,
    pub summary: Summary,
    pub evaluated_at: String,
    pub engine: EngineInfo,
    pub policy: PolicyInfo,
    pub data: DataInfo,
    pub controls: Vec<ControlResult>,
    /// Controls without a metric (prose requirements): not evaluated.
    pub manual_controls: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    pub path: String,
    pub title: Option<String>,
    pub version: Option<String>,
    pub uuid: Option<String>,
    pub shape: &'static str,
    pub sha256: String,
    /// Imported files (profiles), each with its hash.
    pub imports: Vec<SourceInfo>,
    /// What was read leniently (a duplicated key), naming the lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl EngineInfo {
    /// This agent.
    pub const THIS: EngineInfo = EngineInfo {
        name: "venturalitica",
        version: env!("CARGO_PKG_VERSION"),
    };
}

/// Now, as results stamp `evaluated_at`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceInfo {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataInfo {
    /// File path, or a description of an in-memory frame.
    pub source: String,
    /// SHA-256 of the columns used (see `docs/metrics.md`, "Fingerprint").
    pub fingerprint: Option<String>,
    pub rows: Option<u64>,
    pub columns_used: Vec<String>,
    /// Variable → column, as bound.
    pub mapping: BTreeMap<String, String>,
    /// The engine that counted the rows: `polars` (here), `spark`, `duckdb`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted_by: Option<String>,
    /// How `fingerprint` was computed: `columns-sha256-v1` (the rows in
    /// order) or `rowset-md5-v1` (order-independent, where the data lives).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint_method: Option<&'static str>,
}

impl DataInfo {
    /// An evaluation that read no rows (values given, or no policy).
    pub fn without_rows(source: &str) -> DataInfo {
        DataInfo {
            source: source.to_string(),
            fingerprint: None,
            rows: None,
            columns_used: vec![],
            mapping: BTreeMap::new(),
            counted_by: None,
            fingerprint_method: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlResult {
    pub id: String,
    pub description: Option<String>,
    pub metric_key: String,
    pub operator: &'static str,
    pub threshold: f64,
    pub actual_value: Option<f64>,
    pub status: Status,
    pub passed: bool,
    pub severity: Option<String>,
    pub enforcement_mode: &'static str,
    /// False when the policy did not write a mode and `block` is the default.
    pub enforcement_declared: bool,
    /// Slot → column(s) it was bound to.
    pub inputs: BTreeMap<String, Value>,
    pub params: BTreeMap<String, String>,
    pub groups: Vec<GroupBreakdown>,
    pub ci: Option<ConfidenceInterval>,
    /// Risk-treatment props from the policy, untouched.
    pub risk: BTreeMap<String, String>,
    /// Why the control is an error (or, for a fail, nothing).
    pub reason: Option<String>,
    pub warnings: Vec<String>,
}

/// `PolicyInfo::shape` of a policy file that could not be loaded.
pub const UNLOADABLE_SHAPE: &str = "unloadable";

impl Results {
    /// The result of a policy file that could not be loaded (missing,
    /// unreadable, malformed), outside strict mode: one `error` control
    /// that carries the reason, so the run is recorded and fails instead
    /// of passing silently. `sha256` is that of the bytes read (none for a
    /// missing file).
    pub fn unloadable_policy(path: &str, sha256: String, reason: String, source: &str) -> Results {
        let control = ControlResult {
            id: "policy".into(),
            description: Some(format!("the policy file {path} is loaded and evaluated")),
            metric_key: "policy".into(),
            operator: "==",
            threshold: 0.0,
            actual_value: None,
            status: Status::Error,
            passed: false,
            severity: None,
            enforcement_mode: "block",
            enforcement_declared: false,
            inputs: BTreeMap::new(),
            params: BTreeMap::new(),
            groups: vec![],
            ci: None,
            risk: BTreeMap::new(),
            reason: Some(reason),
            warnings: vec![],
        };
        Results {
            schema_version: SCHEMA_VERSION,
            passed: false,
            summary: Summary {
                total: 1,
                passed: 0,
                failed: 0,
                errors: 1,
            },
            evaluated_at: now_rfc3339(),
            engine: EngineInfo::THIS,
            policy: PolicyInfo {
                path: path.to_string(),
                title: None,
                version: None,
                uuid: None,
                shape: UNLOADABLE_SHAPE,
                sha256,
                imports: vec![],
                warnings: vec![],
            },
            data: DataInfo::without_rows(source),
            controls: vec![control],
            manual_controls: vec![],
        }
    }
}
