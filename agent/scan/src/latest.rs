//! The latest result of every control of every policy in the evidence trail.
//!
//! A policy is identified by its OSCAL uuid when it has one, else by its
//! path; a control by its id within the policy. The latest `enforce` event
//! that evaluated a control gives its current status. The project passes
//! when every latest control passed, or failed only in a non-blocking
//! enforcement mode (`warn`, `monitor`) — the same rule as `enforce`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use venturalitica_evidence::read::Covered;
use venturalitica_evidence::{EventKind, ReadOptions, Store};
use venturalitica_vocab::results::{blocks, policy_key, Status};

use crate::ScanError;

/// One control's latest outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatestControl {
    pub policy: String,
    pub policy_title: Option<String>,
    pub policy_sha256: String,
    pub control_id: String,
    pub metric_key: String,
    pub status: Status,
    pub actual_value: Option<f64>,
    pub operator: String,
    pub threshold: Option<f64>,
    pub enforcement_mode: String,
    pub reason: Option<String>,
    pub evaluated_at: String,
    /// The evidence event it came from.
    pub seq: u64,
    /// Risk-treatment fields, with those of the risk register it links to.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub risk: BTreeMap<String, String>,
}

impl LatestControl {
    /// Whether this control makes the project fail.
    pub fn blocks(&self) -> bool {
        blocks(self.status, &self.enforcement_mode)
    }
}

/// The latest controls, sorted by policy then control id.
pub fn latest_controls(store: Option<&Store>) -> Result<Vec<LatestControl>, ScanError> {
    let Some(store) = store else {
        return Ok(Vec::new());
    };
    let mut latest: BTreeMap<(String, String), LatestControl> = BTreeMap::new();
    // From the last checkpoint on: only the evaluations' lines are read.
    let read = store.read_trail(&ReadOptions {
        payloads: true,
        covered: Covered::NotCells,
        ..ReadOptions::default()
    })?;
    read.complete(store)?;
    for event in &read.events {
        if event.indexed.kind() != Some(EventKind::Enforce) {
            continue;
        }
        let Some(payload) = &event.payload else {
            continue;
        };
        let results = &payload["results"];
        let policy = &results["policy"];
        let key = policy_key(policy).unwrap_or("?").to_string();
        for c in results["controls"].as_array().into_iter().flatten() {
            let text = |v: &Value| v.as_str().unwrap_or("").to_string();
            let row = LatestControl {
                policy: key.clone(),
                policy_title: policy["title"].as_str().map(str::to_string),
                policy_sha256: text(&policy["sha256"]),
                control_id: text(&c["id"]),
                metric_key: text(&c["metric_key"]),
                // A status this version does not know is not a pass.
                status: c["status"]
                    .as_str()
                    .and_then(Status::parse)
                    .unwrap_or(Status::Error),
                actual_value: c["actual_value"].as_f64(),
                operator: text(&c["operator"]),
                threshold: c["threshold"].as_f64(),
                enforcement_mode: text(&c["enforcement_mode"]),
                reason: c["reason"].as_str().map(str::to_string),
                evaluated_at: text(&results["evaluated_at"]),
                seq: event.indexed.seq,
                risk: c["risk"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect(),
            };
            latest.insert((key.clone(), row.control_id.clone()), row);
        }
    }
    Ok(latest.into_values().collect())
}
