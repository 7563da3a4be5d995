//! Binding: each control's metric, inputs bound to columns and parameters
//! parsed, or why it cannot be evaluated.

use std::collections::{BTreeMap, BTreeSet};

use venturalitica_metrics::{Family, MetricKey, Slot};
use venturalitica_policy::{Control, Metric, Policy};

use crate::binding::{bind, BoundBy, Mapping};
use crate::params::{self, Params};

/// A control with its columns bound and its parameters parsed.
#[derive(Debug)]
pub(super) struct Plan {
    /// The metric, known (a control with an unknown one has no plan).
    pub(super) key: MetricKey,
    /// Slot → columns.
    pub(super) columns: BTreeMap<Slot, Vec<String>>,
    pub(super) params: Params,
    /// Shown as warnings on the result.
    pub(super) notes: Vec<String>,
}

impl Plan {
    pub(super) fn one(&self, slot: Slot) -> Option<&str> {
        self.columns
            .get(&slot)
            .and_then(|c| c.first())
            .map(String::as_str)
    }
}

/// The variable a slot reads when the control does not name one.
pub(super) fn default_variable(slot: Slot) -> Option<&'static str> {
    match slot {
        Slot::Target => Some("target"),
        Slot::Prediction => Some("prediction"),
        Slot::Score => Some("score"),
        _ => None,
    }
}

/// The variables a control names for a slot. A score falls back to the
/// target's (older SDK controls bind the per-case score as `input.target`);
/// `worst_cell_score` names its cells in the `dimensions` parameter.
pub(super) fn declared_variables(
    control: &Control,
    params: &Params,
    slot: Slot,
) -> Option<Vec<String>> {
    match (slot, control.inputs.get(&slot)) {
        (_, Some(v)) => Some(v.clone()),
        (Slot::Score, None) => control.inputs.get(&Slot::Target).cloned(),
        (Slot::Cells, None) => params.cells.clone(),
        _ => None,
    }
}

pub(super) fn plan(
    control: &Control,
    mapping: &Mapping,
    columns: &[String],
    bound: &mut BTreeMap<String, String>,
) -> Result<Plan, String> {
    let key = match &control.metric {
        Metric::Known(key) => *key,
        Metric::Unknown { reason } => return Err(reason.clone()),
    };
    let params = params::parse(key, &control.params)?;
    let mut slots: BTreeSet<Slot> = key.required_slots().iter().copied().collect();
    slots.extend(control.inputs.keys().copied());
    // Outcome-rate metrics read the prediction only when the control binds one.
    if key.family() == Family::OutcomeRate && !control.inputs.contains_key(&Slot::Prediction) {
        slots.remove(&Slot::Prediction);
    }
    let mut out = BTreeMap::new();
    let mut notes = Vec::new();
    for slot in slots {
        let vars: Vec<String> = match declared_variables(control, &params, slot) {
            // The loader refuses an empty input; a policy built in code is
            // not checked by it, so an empty list is an error result here.
            Some(v) if v.is_empty() => {
                return Err(format!("input.{slot} names no variable"));
            }
            Some(v) => v,
            None => match default_variable(slot) {
                Some(v) => vec![v.to_string()],
                None => {
                    return Err(format!(
                        "metric {key} needs input.{slot}, which the control does not declare"
                    ))
                }
            },
        };
        let mut cols = Vec::new();
        for var in vars {
            let (column, how) = bind(&var, mapping, columns)?;
            if how == BoundBy::Synonym {
                // A synonym is a guess: say so, so an auditor can confirm it.
                notes.push(format!(
                    "variable {var:?} was bound to column {column:?} by synonym; map it explicitly ({var}={column}) to confirm"
                ));
            }
            bound.insert(var, column.clone());
            cols.push(column);
        }
        out.insert(slot, cols);
    }
    Ok(Plan {
        key,
        columns: out,
        params,
        notes,
    })
}

/// Every control's plan (or why it cannot be bound), and variable → column
/// as bound.
pub(super) fn plans(
    policy: &Policy,
    mapping: &Mapping,
    columns: &[String],
) -> (Vec<Result<Plan, String>>, BTreeMap<String, String>) {
    let mut bound = BTreeMap::new();
    let plans = policy
        .controls
        .iter()
        .map(|c| plan(c, mapping, columns, &mut bound))
        .collect();
    (plans, bound)
}

pub(super) fn used_columns(plans: &[Result<Plan, String>], columns: &[String]) -> Vec<String> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    for plan in plans {
        let Ok(plan) = plan else { continue };
        used.extend(plan.columns.values().flatten().cloned());
        // Completeness over "all columns" reads every one of them.
        if plan.key == MetricKey::DataCompleteness && !plan.columns.contains_key(&Slot::Columns) {
            used.extend(columns.iter().cloned());
        }
    }
    used.into_iter().collect()
}
