//! The latest result of every control of every policy in the evidence trail.
//!
//! A policy is identified by its OSCAL uuid when it has one, else by its
//! path; a control by its id within the policy. The latest `enforce` event
//! that evaluated a control gives its current status. The project passes
//! when every latest control passed, or failed only in a non-blocking
//! enforcement mode (`warn`, `monitor`) — the same rule as `enforce`.

use std::collections::BTreeMap;

use serde::Serialize;
use venturalitica_evidence::read::Covered;
use venturalitica_evidence::{EventKind, ReadOptions, Source, Store};
use venturalitica_vocab::events::EnforcePayload;
use venturalitica_vocab::results::{blocks, latest_per_control, EnforcementMode, Status};

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
    pub enforcement_mode: EnforcementMode,
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
        blocks(self.status, self.enforcement_mode)
    }
}

/// The latest controls, sorted by policy then control id, and where the
/// trail was read from. An `enforce` event whose results cannot be read is
/// an error: the verdict would otherwise pass over what it does not
/// understand.
pub fn latest_controls(store: &Store) -> Result<(Vec<LatestControl>, Source), ScanError> {
    // From the last checkpoint on: only the evaluations' lines are read.
    let read = store.read_trail(&ReadOptions {
        payloads: true,
        covered: Covered::NotCells,
        ..ReadOptions::default()
    })?;
    read.complete(store)?;
    let source = read.source;
    let mut evaluations = Vec::new();
    for event in read.events {
        if event.indexed.kind() != Some(EventKind::Enforce) {
            continue;
        }
        let Some(payload) = event.payload else {
            continue;
        };
        // From the payload as read, moved rather than copied.
        let enforce: EnforcePayload =
            serde_json::from_value(payload).map_err(|e| ScanError::Unreadable {
                seq: event.indexed.seq,
                reason: e.to_string(),
            })?;
        evaluations.push((event.indexed.seq, enforce.results));
    }
    let mut latest: Vec<LatestControl> =
        latest_per_control(evaluations.iter().map(|(seq, r)| (*seq, r)))
            .into_iter()
            .map(|(seq, results, c)| LatestControl {
                policy: results.policy.key().to_string(),
                policy_title: results.policy.title.clone(),
                policy_sha256: results.policy.sha256.clone(),
                control_id: c.id.clone(),
                metric_key: c.metric_key.clone(),
                status: c.status,
                actual_value: c.actual_value,
                operator: c.operator.to_string(),
                threshold: Some(c.threshold),
                enforcement_mode: c.enforcement_mode,
                reason: c.reason.clone(),
                evaluated_at: results.evaluated_at.clone(),
                seq,
                risk: c.risk.clone(),
            })
            .collect();
    latest.sort_by(|a, b| (&a.policy, &a.control_id).cmp(&(&b.policy, &b.control_id)));
    Ok((latest, source))
}
