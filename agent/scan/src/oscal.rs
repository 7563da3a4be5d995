//! The latest results as an OSCAL `assessment-results` document (JSON),
//! what auditors' tools read: one result, one observation per control (the
//! metric, its value, the rule) and one finding per control whose target
//! status is `satisfied` or `not-satisfied`; and one risk per risk-register
//! entry a control treats, related to that control's finding.

use serde_json::{json, Value};
use venturalitica_vocab::results::Status;

use crate::latest::LatestControl;

/// The namespace of our OSCAL properties.
pub const NS: &str = "https://venturalitica.ai/ns/oscal";

/// OSCAL version the document declares.
pub const OSCAL_VERSION: &str = "1.1.2";

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn prop(name: &str, value: &str) -> Value {
    json!({ "name": name, "ns": NS, "value": value })
}

/// The document for `controls`, titled after the project.
pub fn assessment_results(project: &str, controls: &[LatestControl], now: &str) -> Value {
    let mut observations = Vec::new();
    let mut findings = Vec::new();
    // Register id -> (OSCAL uuid, risk); OSCAL wants UUIDs, registers may not.
    let mut risks: std::collections::BTreeMap<String, (String, Value)> = Default::default();
    for c in controls {
        let obs = uuid();
        let value = c
            .actual_value
            .map_or_else(|| "none".to_string(), |v| format!("{v}"));
        let rule = match c.threshold {
            Some(t) => format!("{} {} {t}", c.metric_key, c.operator),
            None => c.metric_key.clone(),
        };
        let mut description = format!(
            "{} = {value} (rule {rule}); status {}.",
            c.metric_key, c.status
        );
        if let Some(r) = &c.reason {
            description.push(' ');
            description.push_str(r);
        }
        let mut props = vec![
            prop("metric-key", &c.metric_key),
            prop("status", c.status.name()),
            prop("enforcement-mode", c.enforcement_mode.name()),
            prop("policy-sha256", &c.policy_sha256),
            prop("evidence-seq", &c.seq.to_string()),
        ];
        if c.actual_value.is_some() {
            props.push(prop("actual-value", &value));
        }
        observations.push(json!({
            "uuid": obs,
            "title": format!("{} on {}", c.metric_key, c.control_id),
            "description": description,
            "props": props,
            "methods": ["TEST"],
            "collected": c.evaluated_at,
        }));
        let state = if c.status == Status::Pass {
            "satisfied"
        } else {
            "not-satisfied"
        };
        // OSCAL's states are two; an inconclusive control is not satisfied,
        // for the reason `other`, said in the remarks.
        let status = match c.status {
            Status::Inconclusive => json!({
                "state": state,
                "reason": "other",
                "remarks": format!("inconclusive: {}", c.reason.as_deref().unwrap_or("the interval straddles the threshold")),
            }),
            _ => json!({ "state": state }),
        };
        let mut finding = json!({
            "uuid": uuid(),
            "title": format!("Control {}", c.control_id),
            "description": description,
            "target": {
                "type": "objective-id",
                "target-id": c.control_id,
                "status": status,
            },
            "related-observations": [{ "observation-uuid": obs }],
        });
        if let (Some(id), Some(title)) = (c.risk.get("risk_uuid"), c.risk.get("risk_title")) {
            let (risk_uuid, _) = risks.entry(id.clone()).or_insert_with(|| {
                let u = uuid();
                let text = |k: &str| c.risk.get(k).cloned().unwrap_or_default();
                // OSCAL's risk states; a register's own word (`active`)
                // is kept as a prop.
                let status = text("risk_status");
                let state = match status.as_str() {
                    "open"
                    | "investigating"
                    | "remediating"
                    | "deviation-requested"
                    | "deviation-approved"
                    | "closed" => status.as_str(),
                    _ => "open",
                };
                let risk = json!({
                    "uuid": u,
                    "title": title,
                    "description": text("risk_description"),
                    "statement": text("risk_description"),
                    "status": state,
                    "props": [prop("register-id", id), prop("register-status", &status)],
                });
                (u, risk)
            });
            finding["related-risks"] = json!([{ "risk-uuid": risk_uuid }]);
        }
        findings.push(finding);
    }
    let mut result = json!({
        "uuid": uuid(),
        "title": format!("Venturalitica assessment of {project}"),
        "description": "The latest result of every control evaluated by Venturalitica, from the project's evidence trail.",
        "start": now,
        "reviewed-controls": {
            "control-selections": [{
                "include-controls": controls.iter().map(|c| json!({"control-id": c.control_id})).collect::<Vec<_>>(),
            }],
        },
    });
    if !controls.is_empty() {
        result["observations"] = json!(observations);
        result["findings"] = json!(findings);
        if !risks.is_empty() {
            result["risks"] = json!(risks.into_values().map(|(_, r)| r).collect::<Vec<_>>());
        }
    } else {
        result["reviewed-controls"] = json!({ "control-selections": [{ "include-all": {} }] });
    }
    json!({
        "assessment-results": {
            "uuid": uuid(),
            "metadata": {
                "title": format!("Venturalitica assessment results: {project}"),
                "last-modified": now,
                "version": env!("CARGO_PKG_VERSION"),
                "oscal-version": OSCAL_VERSION,
            },
            "import-ap": { "href": "#venturalitica-policies" },
            "results": [result],
        }
    })
}
