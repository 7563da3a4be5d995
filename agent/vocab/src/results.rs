//! The results document: one evaluation of one policy on one dataset, as
//! `enforce --format json` prints it, `vl.enforce(...).to_dict()` returns
//! it and an `enforce` event keeps it. The engine writes these types and
//! every reader (chart, scan, dashboard, Annex IV, export) reads them back;
//! `schemas/results.schema.json` is generated from them.
//!
//! Fields added after version 1 first shipped read as their default from an
//! older record, so an old trail stays readable.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of this shape; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// A name the engine writes from a constant and a reader owns.
pub type Name = Cow<'static, str>;

/// `PolicyInfo::shape` of a policy file that could not be loaded.
pub const UNLOADABLE_SHAPE: &str = "unloadable";

/// A control's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    /// The control could not be evaluated (unbound column, undefined
    /// metric, bad parameter). Never counts as passed.
    Error,
    /// Decided on the interval (`decision: interval`), which straddles the
    /// threshold: the data cannot tell pass from fail. Never counts as
    /// passed; `rows_needed` says how many rows would settle it.
    Inconclusive,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pass,
        Status::Fail,
        Status::Error,
        Status::Inconclusive,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Inconclusive => "inconclusive",
        }
    }

    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a control's value decides its status (the prop `decision`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The point value against the threshold (the SDK's rule, the default).
    #[default]
    Point,
    /// The confidence interval: pass when all of it satisfies the rule, fail
    /// when none of it does, else `inconclusive` (docs/metrics.md).
    Interval,
}

impl Decision {
    pub fn parse(s: &str) -> Option<Decision> {
        match s.trim().to_ascii_lowercase().as_str() {
            "point" => Some(Decision::Point),
            "interval" => Some(Decision::Interval),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Decision::Point => "point",
            Decision::Interval => "interval",
        }
    }

    fn is_point(&self) -> bool {
        *self == Decision::Point
    }
}

/// What a failing control does to the overall verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EnforcementMode {
    /// Recorded only.
    Monitor,
    /// Reported as a warning; does not fail the run.
    Warn,
    /// Fails the run (the default).
    #[default]
    Block,
}

impl EnforcementMode {
    /// A policy's spelling of a mode, synonyms included.
    pub fn parse(s: &str) -> Option<EnforcementMode> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "monitor" | "observe" | "audit" => EnforcementMode::Monitor,
            "warn" | "warning" => EnforcementMode::Warn,
            "block" | "enforce" | "blocking" => EnforcementMode::Block,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            EnforcementMode::Monitor => "monitor",
            EnforcementMode::Warn => "warn",
            EnforcementMode::Block => "block",
        }
    }
}

impl fmt::Display for EnforcementMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a control's outcome fails its evaluation: anything but a pass,
/// in `block` mode (`warn` and `monitor` only record). The one rule behind
/// a results document's `passed`, `scan`'s verdict and its exit code.
pub fn blocks(status: Status, mode: EnforcementMode) -> bool {
    status != Status::Pass && mode == EnforcementMode::Block
}

/// One evaluation of one policy on one dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Venturalitica policy evaluation results", deny_unknown_fields)]
pub struct Results {
    #[schemars(range(min = 1, max = 1))]
    pub schema_version: u32,
    /// True when every control whose enforcement_mode is block has status
    /// pass.
    pub passed: bool,
    pub summary: Summary,
    #[schemars(extend("format" = "date-time"))]
    pub evaluated_at: String,
    pub engine: EngineInfo,
    pub policy: PolicyInfo,
    pub data: DataInfo,
    pub controls: Vec<ControlResult>,
    /// Controls without a metric: listed, never evaluated.
    #[serde(default)]
    pub manual_controls: Vec<String>,
}

impl Results {
    /// The policy file that could not be loaded (missing, unreadable,
    /// malformed), outside strict mode: one `error` control that carries
    /// the reason, so the run is recorded and fails instead of passing
    /// silently. `sha256` is that of the bytes read (none for a missing
    /// file).
    pub fn unloadable_policy(
        path: &str,
        sha256: String,
        reason: String,
        source: &str,
        evaluated_at: String,
    ) -> Results {
        let control = ControlResult {
            id: "policy".into(),
            description: Some(format!("the policy file {path} is loaded and evaluated")),
            metric_key: "policy".into(),
            operator: Name::Borrowed("=="),
            threshold: 0.0,
            actual_value: None,
            status: Status::Error,
            passed: false,
            severity: None,
            enforcement_mode: EnforcementMode::Block,
            enforcement_declared: false,
            inputs: BTreeMap::new(),
            params: BTreeMap::new(),
            groups: vec![],
            ci: None,
            risk: BTreeMap::new(),
            reason: Some(reason),
            warnings: vec![],
            decision: Decision::Point,
            rows_needed: None,
            drift: None,
        };
        Results {
            schema_version: SCHEMA_VERSION,
            passed: false,
            summary: Summary {
                total: 1,
                passed: 0,
                failed: 0,
                errors: 1,
                inconclusive: 0,
            },
            evaluated_at,
            engine: EngineInfo::THIS,
            policy: PolicyInfo {
                path: path.to_string(),
                title: None,
                version: None,
                uuid: None,
                shape: Name::Borrowed(UNLOADABLE_SHAPE),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    /// Controls decided on an interval that straddles the threshold
    /// (written only when there are some).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inconclusive: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct EngineInfo {
    pub name: Name,
    pub version: Name,
}

impl EngineInfo {
    /// This agent.
    pub const THIS: EngineInfo = EngineInfo {
        name: Name::Borrowed("venturalitica"),
        version: Name::Borrowed(env!("CARGO_PKG_VERSION")),
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PolicyInfo {
    pub path: String,
    pub title: Option<String>,
    pub version: Option<String>,
    pub uuid: Option<String>,
    #[schemars(extend("enum" = [
        "component-definition", "catalog", "profile", "system-security-plan",
        "assessment-plan", "control-list", "unloadable"
    ]))]
    pub shape: Name,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
    /// Imported files (profiles), each with its hash.
    #[serde(default)]
    pub imports: Vec<SourceInfo>,
    /// What was read leniently, as the SDK reads it (a key written twice in
    /// one mapping: the last value wins), each naming the file and lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl PolicyInfo {
    /// What to call the policy: its title, else its path.
    pub fn name(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.path)
    }

    /// What identifies a policy across its versions: its OSCAL uuid, else
    /// its path.
    pub fn key(&self) -> &str {
        self.uuid.as_deref().unwrap_or(&self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct SourceInfo {
    pub path: String,
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DataInfo {
    /// File path, or a description of an in-memory frame.
    pub source: String,
    /// SHA-256 of the columns used (fingerprint_method); see
    /// docs/metrics.md and docs/engines.md.
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub fingerprint: Option<String>,
    pub rows: Option<u64>,
    #[serde(default)]
    pub columns_used: Vec<String>,
    /// Policy variable → column it was bound to.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
    /// The engine that reduced the rows to count tables: polars (the
    /// agent), spark, duckdb; see docs/engines.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_by: Option<String>,
    /// How the fingerprint was computed: `columns-sha256-v1` (the rows in
    /// order) or `rowset-md5-v1` (order-independent, where the data lives);
    /// see docs/metrics.md and docs/engines.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["columns-sha256-v1", "rowset-xxhash64-v1", "rowset-md5-v1"]))]
    pub fingerprint_method: Option<Name>,
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

/// The column, or columns, a policy variable was bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Binding {
    Column(String),
    Columns(Vec<String>),
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Binding::Column(c) => f.write_str(c),
            Binding::Columns(cs) => f.write_str(&cs.join(", ")),
        }
    }
}

/// One control's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    extend("allOf" = [
        {"if": {"properties": {"status": {"const": "error"}}},
         "then": {"properties": {"reason": {"type": "string"}, "passed": {"const": false}}}},
        {"if": {"properties": {"status": {"const": "pass"}}},
         "then": {"properties": {"actual_value": {"type": "number"}, "passed": {"const": true}}}},
        {"if": {"properties": {"status": {"const": "inconclusive"}}},
         "then": {"required": ["ci", "decision"],
                  "properties": {"actual_value": {"type": "number"}, "passed": {"const": false},
                                 "ci": {"type": "object"}, "decision": {"const": "interval"}}}}
    ])
)]
pub struct ControlResult {
    pub id: String,
    pub description: Option<String>,
    pub metric_key: String,
    #[schemars(extend("enum" = ["<", "<=", ">", ">=", "==", "!="]))]
    pub operator: Name,
    pub threshold: f64,
    pub actual_value: Option<f64>,
    pub status: Status,
    pub passed: bool,
    pub severity: Option<String>,
    #[serde(default)]
    pub enforcement_mode: EnforcementMode,
    /// False when the policy did not write enforcement_mode and block is
    /// the default.
    #[serde(default)]
    pub enforcement_declared: bool,
    /// Slot → column(s) it was bound to.
    #[serde(default)]
    pub inputs: BTreeMap<String, Binding>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub groups: Vec<GroupBreakdown>,
    #[serde(default)]
    pub ci: Option<ConfidenceInterval>,
    /// Risk-treatment props from the policy, untouched.
    #[serde(default)]
    pub risk: BTreeMap<String, String>,
    /// Why the control is an error, a fail or inconclusive.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
    /// How the status was decided; written when not `point`.
    #[serde(default, skip_serializing_if = "Decision::is_point")]
    pub decision: Decision,
    /// For an `inconclusive` control: the rows that would settle it at the
    /// observed rates (docs/metrics.md); absent when no number of rows
    /// would (the value is at the threshold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_needed: Option<u64>,
    /// For a drift control: the reference it was compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftInfo>,
}

/// The reference a drift control compared with, and what the binned value
/// says of the raw samples' (docs/metrics.md, "Drift").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct DriftInfo {
    /// The reference's name.
    pub reference: String,
    /// Its snapshot's SHA-256 (`references/<sha256>.json`; `verify`
    /// checks the copy).
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub reference_sha256: String,
    /// The features that drifted, by the control's own rule (each
    /// feature's value against the threshold; for `drifted_share` each
    /// feature's test at `alpha`).
    #[serde(default)]
    pub drifted: Vec<String>,
    /// Where the statistic of the raw samples lies, for a statistic the
    /// bins only bound (`ks_statistic`, `wasserstein_distance` on one
    /// feature): `[lower, upper]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_bounds: Option<[f64; 2]>,
}

impl ControlResult {
    /// Whether this outcome fails its evaluation ([`blocks`]).
    pub fn blocks(&self) -> bool {
        blocks(self.status, self.enforcement_mode)
    }
}

/// Confusion counts of a binary label against a binary prediction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct BinaryCounts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl BinaryCounts {
    pub fn n(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }
    /// Rows whose label is positive.
    pub fn label_positives(&self) -> u64 {
        self.tp + self.fn_
    }
    /// Rows whose label is negative.
    pub fn label_negatives(&self) -> u64 {
        self.fp + self.tn
    }
    /// Rows predicted positive.
    pub fn predicted_positives(&self) -> u64 {
        self.tp + self.fp
    }
    /// The four cells in a fixed order, for resampling.
    pub fn cells(&self) -> [u64; 4] {
        [self.tp, self.fp, self.tn, self.fn_]
    }
    pub fn from_cells(c: [u64; 4]) -> Self {
        Self {
            tp: c[0],
            fp: c[1],
            tn: c[2],
            fn_: c[3],
        }
    }
}

/// One group's counts and the rates derived from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct GroupBreakdown {
    pub group: String,
    pub n: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positives: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<BinaryCounts>,
    /// Named rates; null where the rate is 0/0 for this group.
    pub rates: BTreeMap<Name, Option<f64>>,
}

/// A group's named rates, from the names a metric writes.
pub fn rates<const N: usize>(
    named: [(&'static str, Option<f64>); N],
) -> BTreeMap<Name, Option<f64>> {
    named
        .into_iter()
        .map(|(k, v)| (Name::Borrowed(k), v))
        .collect()
}

/// A percentile interval, with how many resamples had no defined value
/// (a group vanished, a denominator became zero) and were left out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ConfidenceInterval {
    pub lower: f64,
    pub upper: f64,
    #[schemars(extend("exclusiveMinimum" = 0, "exclusiveMaximum" = 1))]
    pub level: f64,
    pub method: Name,
    #[schemars(range(min = 1))]
    pub resamples: u32,
    pub seed: u64,
    pub undefined_resamples: u32,
}

/// The latest outcome of each control across evaluations given oldest
/// first, keyed by (policy key, control id), in the order first seen: what
/// the scan's verdict and the dashboard's status table both read. `T` is
/// what the caller keeps of the evaluation it came from (its event, say).
pub fn latest_per_control<'a, T: Copy>(
    evaluations: impl IntoIterator<Item = (T, &'a Results)>,
) -> Vec<(T, &'a Results, &'a ControlResult)> {
    let mut order: Vec<(&'a str, &'a str)> = Vec::new();
    let mut latest: BTreeMap<(&'a str, &'a str), (T, &'a Results, &'a ControlResult)> =
        BTreeMap::new();
    for (from, results) in evaluations {
        for control in &results.controls {
            let key = (results.policy.key(), control.id.as_str());
            if latest.insert(key, (from, results, control)).is_none() {
                order.push(key);
            }
        }
    }
    order
        .into_iter()
        .filter_map(|k| latest.remove(&k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(policy: serde_json::Value, controls: serde_json::Value) -> Results {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "passed": false,
            "summary": {"total": 1, "passed": 0, "failed": 1, "errors": 0},
            "evaluated_at": "2026-01-01T00:00:00.000Z",
            "engine": {"name": "venturalitica", "version": "0"},
            "policy": policy,
            "data": {"source": "d.csv", "fingerprint": null, "rows": 3},
            "controls": controls,
        }))
        .expect("a results document")
    }

    fn control(id: &str, status: &str) -> serde_json::Value {
        serde_json::json!({"id": id, "description": null, "metric_key": "m", "operator": ">",
            "threshold": 0.5, "actual_value": 0.4, "status": status, "passed": status == "pass",
            "severity": null})
    }

    #[test]
    fn only_a_blocking_control_that_did_not_pass_blocks() {
        for s in Status::ALL {
            assert_eq!(blocks(s, EnforcementMode::Block), s != Status::Pass);
            assert!(!blocks(s, EnforcementMode::Warn) && !blocks(s, EnforcementMode::Monitor));
        }
    }

    #[test]
    fn a_policy_is_named_by_title_then_path_and_keyed_by_uuid_then_path() {
        let p = |v| results(v, serde_json::json!([])).policy;
        let full = p(
            serde_json::json!({"title": "Loans", "path": "p.yaml", "uuid": "u-1",
            "version": null, "shape": "catalog", "sha256": "0"}),
        );
        assert_eq!((full.name(), full.key()), ("Loans", "u-1"));
        let bare = p(
            serde_json::json!({"title": null, "path": "p.yaml", "uuid": null,
            "version": null, "shape": "catalog", "sha256": "0"}),
        );
        assert_eq!((bare.name(), bare.key()), ("p.yaml", "p.yaml"));
    }

    #[test]
    fn an_older_record_without_the_later_fields_reads_with_their_defaults() {
        let r = results(
            serde_json::json!({"title": null, "path": "p.yaml", "uuid": null, "version": null,
                "shape": "control-list", "sha256": "0"}),
            serde_json::json!([control("a", "fail")]),
        );
        let c = &r.controls[0];
        assert_eq!(c.enforcement_mode, EnforcementMode::Block);
        assert!(
            c.blocks() && c.groups.is_empty() && c.ci.is_none() && r.manual_controls.is_empty()
        );
    }

    #[test]
    fn the_latest_result_of_a_control_is_its_last_evaluation_in_first_seen_order() {
        let policy = |uuid: &str| {
            serde_json::json!({"title": null, "path": "p.yaml", "uuid": uuid, "version": null,
                "shape": "catalog", "sha256": "0"})
        };
        let first = results(
            policy("u"),
            serde_json::json!([control("b", "fail"), control("a", "pass")]),
        );
        let second = results(policy("u"), serde_json::json!([control("b", "pass")]));
        let other = results(policy("v"), serde_json::json!([control("b", "error")]));
        let latest = latest_per_control([(1, &first), (2, &other), (3, &second)]);
        let seen: Vec<_> = latest
            .iter()
            .map(|(n, r, c)| (*n, r.policy.key(), c.id.as_str(), c.status))
            .collect();
        assert_eq!(
            seen,
            [
                (3, "u", "b", Status::Pass),
                (1, "u", "a", Status::Pass),
                (2, "v", "b", Status::Error)
            ]
        );
    }

    #[test]
    fn names_round_trip_through_serde() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.name()), Some(s));
            let json = serde_json::to_value(s).expect("serialises");
            assert_eq!(json, s.name());
            assert_eq!(serde_json::from_value::<Status>(json).expect("parses"), s);
        }
        assert_eq!(Status::parse("PASS"), None);
        for m in [
            EnforcementMode::Monitor,
            EnforcementMode::Warn,
            EnforcementMode::Block,
        ] {
            assert_eq!(serde_json::to_value(m).expect("serialises"), m.name());
            assert_eq!(EnforcementMode::parse(m.name()), Some(m));
        }
    }

    #[test]
    fn a_binding_is_one_column_or_a_list() {
        let inputs: BTreeMap<String, Binding> =
            serde_json::from_value(serde_json::json!({"target": "y", "features": ["a", "b"]}))
                .expect("bindings");
        assert_eq!(inputs["target"], Binding::Column("y".into()));
        assert_eq!(inputs["features"].to_string(), "a, b");
    }
}
