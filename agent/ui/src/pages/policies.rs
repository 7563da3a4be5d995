//! Policy Status: the latest result of every control with its history, and
//! every policy version used.

use maud::html;

use super::control_table;
use crate::html::{page, short_hash};
use crate::model::{control_status, evaluations};
use crate::trail::Snapshot;

pub fn policies(s: &Snapshot) -> String {
    let evals = evaluations(s);
    let controls = control_status(&evals);
    // Each version once, with its first use and how often it was used.
    let mut versions: Vec<(&str, u64, usize, &str, Option<&str>)> = Vec::new();
    for e in &evals {
        match versions.iter_mut().find(|v| v.0 == e.policy_sha()) {
            Some(v) => v.2 += 1,
            None => versions.push((
                e.policy_sha(),
                e.seq(),
                1,
                e.policy_title(),
                e.policy_version(),
            )),
        }
    }
    let body = html! {
        h1 { "Policy Status" }
        p.muted {
            "The latest result of every control, the policy version and data fingerprint it used, its risk-treatment fields and its history (dashed: the threshold; bars: each value's interval; a drift control over several features: a line per feature)."
        }
        (control_table(&controls, true))
        h2 { "Policy versions" }
        table {
            tr { th { "policy" } th { "version" } th { "sha256" } th { "first used" } th { "evaluations" } }
            @for (sha, first, count, title, version) in &versions {
                tr {
                    td { (title) }
                    td { (version.unwrap_or("—")) }
                    td { (short_hash(sha)) }
                    td { a href=(format!("/event/{first}")) { "#" (first) } }
                    td.num { (count) }
                }
            }
        }
    };
    page("/policies", "Policy Status", s.head(), true, body)
}
