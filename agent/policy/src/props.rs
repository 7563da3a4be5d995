//! A control's props: the metric, comparison, inputs, risk treatment and
//! metric parameters, with each bad value reported where it is written.

use std::collections::BTreeMap;

use venturalitica_metrics::{MetricKey, Slot};

use crate::error::{Location, PolicyError, PolicyErrorKind};
use crate::model::{Control, Decision, EnforcementMode, Leniency, Metric, Operator};
use crate::yaml::At;

/// Props passed through to results as the control's risk treatment.
pub const RISK_PROPS: &[&str] = &[
    "risk_id",
    "risk_level",
    "risk_owner",
    "risk_description",
    "treatment_id",
    "treatment",
    "treatment_type",
    "threshold_justification",
    "residual_risk",
    "accepted_by",
    "approved_by",
    "review_date",
    "justification",
    "rationale",
];

fn is_risk_prop(name: &str) -> bool {
    RISK_PROPS.contains(&name) || name.starts_with("risk_") || name.starts_with("treatment_")
}

/// A prop value and where it was written.
struct Prop<'a> {
    value: String,
    at: At<'a>,
}

/// Collects a control's props from its `props` list (OSCAL) and, in the
/// plain-list shape, from every other scalar key on the control itself
/// (`metric_key: x`, `positive_label: 1`), so none is silently ignored.
fn collect_props<'a>(
    control: At<'a>,
    direct_props: bool,
) -> Result<Vec<(String, Prop<'a>)>, PolicyError> {
    let mut out = Vec::new();
    if let Some(props) = control.get("props") {
        for prop in props.items("props")? {
            let name = prop
                .require("name", "a prop")?
                .scalar("name")?
                .trim()
                .to_string();
            let value = prop.require("value", &format!("prop {name:?}"))?;
            out.push((
                name,
                Prop {
                    value: value.scalar("value")?.trim().to_string(),
                    at: value,
                },
            ));
        }
    }
    if let Some(mapping) = control.node.as_mapping() {
        for (key, node) in mapping.iter() {
            let key = key.as_str();
            if direct_props && !STRUCTURAL_KEYS.contains(&key) {
                let at = control.with(node);
                out.push((
                    key.to_string(),
                    Prop {
                        value: at.scalar(key)?.trim().to_string(),
                        at,
                    },
                ));
            }
        }
    }
    Ok(out)
}

/// Keys of a control that are its structure, not props.
const STRUCTURAL_KEYS: &[&str] = &[
    "id",
    "control-id",
    "uuid",
    "title",
    "description",
    "class",
    "props",
    "parts",
    "controls",
    "links",
    "params",
    "remarks",
    "statements",
];

/// Builds a control; `Ok(None)` for a control with no metric at all.
pub(crate) fn control_from(
    node: At<'_>,
    id: String,
    description: Option<String>,
    extra_props: &[(String, String, Location)],
    at_id: Location,
    direct_props: bool,
    leniency: Leniency,
) -> Result<Option<Control>, PolicyError> {
    let props = collect_props(node, direct_props)?;
    let err = |at: &At<'_>, kind| at.error(kind);

    let mut metric: Option<(Metric, String)> = None;
    let mut operator = None;
    let mut threshold = None;
    let mut severity = None;
    let mut enforcement_mode = EnforcementMode::default();
    let mut decision = Decision::default();
    let mut enforcement_declared = false;
    let mut inputs: BTreeMap<Slot, Vec<String>> = BTreeMap::new();
    let mut risk = BTreeMap::new();
    let mut params = BTreeMap::new();
    let mut first_metric_prop: Option<At<'_>> = None;

    // Props added by a profile's `alters` come last and win.
    let altered = extra_props
        .iter()
        .map(|(n, v, loc)| (n.clone(), v.clone(), Some(*loc)));
    let own = props
        .iter()
        .map(|(n, p)| (n.clone(), p.value.clone(), None));
    let at_of = |name: &str, loc: Option<Location>| -> At<'_> {
        match loc {
            Some(_) => node,
            None => props
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map(|(_, p)| p.at)
                .unwrap_or(node),
        }
    };
    for (name, value, loc) in own.chain(altered) {
        let at = at_of(&name, loc);
        let locate = |e: PolicyError| match loc {
            Some(l) => PolicyError {
                location: Some(l),
                ..e
            },
            None => e,
        };
        match name.as_str() {
            "metric_key" | "metric" => {
                let key = match MetricKey::parse(&value) {
                    Some(key) => Metric::Known(key),
                    None => {
                        let unknown = locate(err(
                            &at,
                            PolicyErrorKind::UnknownMetric {
                                control: id.clone(),
                                suggestions: MetricKey::closest(&value, 3),
                                found: value.clone(),
                            },
                        ));
                        match leniency {
                            Leniency::Strict => return Err(unknown),
                            Leniency::UnknownMetricsAsErrors => Metric::Unknown {
                                reason: unknown.to_string(),
                            },
                        }
                    }
                };
                first_metric_prop.get_or_insert(at);
                metric = Some((key, value));
            }
            "operator" => {
                operator = Some(Operator::parse(&value).ok_or_else(|| {
                    locate(err(
                        &at,
                        PolicyErrorKind::UnknownOperator {
                            control: id.clone(),
                            found: value.clone(),
                        },
                    ))
                })?);
                first_metric_prop.get_or_insert(at);
            }
            "threshold" => {
                let parsed = value.parse::<f64>().ok().filter(|t| t.is_finite());
                threshold = Some(parsed.ok_or_else(|| {
                    locate(err(
                        &at,
                        PolicyErrorKind::BadThreshold {
                            control: id.clone(),
                            found: value.clone(),
                        },
                    ))
                })?);
                first_metric_prop.get_or_insert(at);
            }
            "severity" => severity = Some(value),
            "enforcement_mode" => {
                enforcement_declared = true;
                enforcement_mode = EnforcementMode::parse(&value).ok_or_else(|| {
                    locate(err(
                        &at,
                        PolicyErrorKind::BadEnforcementMode {
                            control: id.clone(),
                            found: value.clone(),
                        },
                    ))
                })?;
            }
            "decision" => {
                decision = Decision::parse(&value).ok_or_else(|| {
                    locate(err(
                        &at,
                        PolicyErrorKind::BadDecision {
                            control: id.clone(),
                            found: value.clone(),
                        },
                    ))
                })?;
            }
            n if n.starts_with("input.") || n.starts_with("input:") => {
                let slot_name = &n["input.".len()..];
                // An `input:` prop that names no data variable is a metric
                // parameter, as the SDK reads `input:aggregation`; one the
                // metric does not use is reported as a warning.
                let Some(slot) = Slot::parse(slot_name) else {
                    params.insert(slot_name.to_string(), value);
                    continue;
                };
                let vars: Vec<String> = value
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect();
                if vars.is_empty() {
                    return Err(locate(err(
                        &at,
                        PolicyErrorKind::EmptyInput {
                            control: id.clone(),
                            slot: slot.name().to_string(),
                        },
                    )));
                }
                inputs.insert(slot, vars);
            }
            n if is_risk_prop(n) => {
                risk.insert(name, value);
            }
            _ => {
                params.insert(name, value);
            }
        }
    }

    let (metric, metric_as_written) = match (metric, operator, threshold) {
        (None, None, None) => return Ok(None),
        (Some(m), Some(_), Some(_)) => m,
        (m, o, t) => {
            let absent: Vec<&str> = [
                ("metric_key", m.is_none()),
                ("operator", o.is_none()),
                ("threshold", t.is_none()),
            ]
            .iter()
            .filter(|(_, missing)| *missing)
            .map(|(n, _)| *n)
            .collect();
            let set = if m.is_some() {
                "metric_key"
            } else if o.is_some() {
                "operator"
            } else {
                "threshold"
            };
            let at = first_metric_prop.unwrap_or(node);
            return Err(at.error(PolicyErrorKind::IncompleteControl {
                control: id,
                missing: set,
                absent: absent.join(" and "),
            }));
        }
    };
    Ok(Some(Control {
        id,
        description,
        metric,
        metric_as_written,
        operator: operator.unwrap_or(Operator::Ge),
        threshold: threshold.unwrap_or_default(),
        severity,
        enforcement_mode,
        enforcement_declared,
        decision,
        inputs,
        risk,
        params,
        location: at_id,
    }))
}
