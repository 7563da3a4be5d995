//! Reference snapshots in the evidence store: recorded as a `reference`
//! event with the snapshot kept under its SHA-256, and found again by name
//! from the trail, so drift is measured against what the signed trail says
//! the name meant (docs/metrics.md, "Drift").

use std::collections::BTreeMap;
use std::path::Path;

use venturalitica_engine::{Reference, References};
use venturalitica_evidence::{Appended, Covered, EventKind, ReadOptions, Store};
use venturalitica_policy::Policy;
use venturalitica_vocab::events::{Payload, ReferencePayload};

use crate::record::RecordError;

/// Keeps `reference` and appends its `reference` event; the snapshot's
/// SHA-256 with the event.
pub fn record(
    root: &Path,
    reference: &Reference,
    origin: &str,
) -> Result<(Appended, String), RecordError> {
    let store =
        Store::open(root).map_err(RecordError::because("cannot open the evidence store"))?;
    let sha = store
        .save_reference(&reference.to_bytes())
        .map_err(RecordError::because("cannot keep the reference snapshot"))?;
    let payload = ReferencePayload {
        name: reference.name.clone(),
        reference_sha256: sha.clone(),
        source: reference.source.clone(),
        rows: reference.rows,
        columns: reference.columns.keys().cloned().collect(),
        origin: Some(origin.to_string()),
    };
    let payload =
        serde_json::to_value(&payload).map_err(RecordError::because("the reference event"))?;
    let appended = store
        .append(EventKind::Reference, payload)
        .map_err(RecordError::because("cannot append the event"))?;
    Ok((appended, sha))
}

/// The names of the references `policy`'s drift controls ask for, and
/// `default` (given with the evaluation) when one of them names none.
pub fn names_needed(policy: &Policy, default: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for control in &policy.controls {
        let venturalitica_policy::Metric::Known(key) = control.metric else {
            continue;
        };
        if key.family() != venturalitica_metrics::Family::Drift {
            continue;
        }
        match control
            .params
            .get("reference")
            .map(|n| n.trim().to_string())
        {
            Some(name) if !name.is_empty() => names.push(name),
            _ => names.extend(default.map(str::to_string)),
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The latest snapshot recorded under each of `names` in the project at
/// `root`, read from the trail and checked against its digest. A name
/// never recorded is left out (its controls say so); a snapshot that is
/// missing or altered is an error: drift against it would mean nothing.
pub fn resolve(root: &Path, names: &[String], default: Option<&str>) -> Result<References, String> {
    let mut references = References {
        by_name: BTreeMap::new(),
        default: default.map(str::to_string),
    };
    if names.is_empty() {
        return Ok(references);
    }
    let Some(store) = Store::existing(root) else {
        return Ok(references);
    };
    let read = store
        .read_trail(&ReadOptions {
            payloads: true,
            covered: Covered::NotCells,
            ..ReadOptions::default()
        })
        .map_err(|e| format!("cannot read the evidence trail for references: {e}"))?;
    let mut latest: BTreeMap<String, String> = BTreeMap::new();
    for event in &read.events {
        if event.indexed.kind() != Some(EventKind::Reference) {
            continue;
        }
        let Some(payload) = &event.payload else {
            continue;
        };
        if let Ok(Payload::Reference(p)) = Payload::decode(EventKind::Reference, payload) {
            if names.contains(&p.name) {
                latest.insert(p.name.clone(), p.reference_sha256.clone());
            }
        }
    }
    for (name, sha) in latest {
        let bytes = store
            .read_reference(&sha)
            .map_err(|e| format!("reference {name:?}: {e}"))?;
        let what = format!("reference {name:?} (references/{sha}.json)");
        let snapshot = Reference::from_bytes(&bytes, &what)?;
        references.by_name.insert(name, (sha, snapshot));
    }
    Ok(references)
}
