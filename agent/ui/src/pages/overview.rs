//! The Overview: the trail's verdict, the counts, the latest result of each
//! control and the latest events.

use maud::{html, Markup};
use venturalitica_evidence::EventKind;
use venturalitica_vocab::events::Payload;
use venturalitica_vocab::results::Status;

use super::{card, control_table, verification, Context};
use crate::html::{num, page, pill};
use crate::model::{self, control_status, evaluations};
use crate::trail::{Entry, Snapshot};

pub fn overview(s: &Snapshot, ctx: &Context) -> String {
    let evals = evaluations(s);
    let controls = control_status(&evals);
    let failing = controls
        .iter()
        .filter(|c| c.status() != Status::Pass)
        .count();
    let energy = model::energy(s);
    let total = energy.total();
    let unreadable = model::unreadable(s);
    let body = html! {
        h1 { (ctx.project) }
        p { (verification(s)) }
        div.cards {
            (card("events", &s.entries.len().to_string(), "in trace.jsonl"))
            (card("controls", &controls.len().to_string(), &format!("{failing} not passing")))
            (card("evaluations", &evals.len().to_string(), "enforce runs"))
            (card(
                "energy",
                &format!("{} J", num(Some(total.total_j))),
                &format!(
                    "{} gCO2e · {} cells · {} windows",
                    num(Some(total.co2e_g)),
                    energy.cells.len(),
                    energy.windows.len()
                ),
            ))
        }
        @if !unreadable.is_empty() {
            p {
                (pill("error")) " " (unreadable.len())
                " event(s) cannot be read as their kind says, and are left out of every table:"
            }
            ul {
                @for (e, why) in unreadable.iter().take(20) {
                    li { a href=(format!("/event/{}", e.seq)) { "#" (e.seq) } " " (why) }
                }
            }
        }
        h2 { "Latest results" }
        (control_table(&controls, false))
        h2 { "Latest events" }
        table {
            tr { th { "#" } th { "kind" } th { "time" } th { "what" } }
            @for e in s.entries.iter().rev().take(15) {
                tr {
                    td { a href=(format!("/event/{}", e.seq)) { (e.seq) } }
                    td { (e.kind_name) }
                    td.mono { (e.ts) }
                    td { (describe(e)) }
                }
            }
        }
    };
    page("/", "Overview", s.head(), true, body)
}

/// One line about an event.
fn describe(e: &Entry) -> Markup {
    let line = match &e.typed {
        Some(Err(why)) => format!("unreadable: {why}"),
        Some(Ok(Payload::Enforce(p))) => {
            let r = &p.results;
            format!(
                "{}: {}/{} passed on {}",
                r.policy.name(),
                r.summary.passed,
                r.summary.total,
                r.data.source
            )
        }
        Some(Ok(Payload::Monitor(m))) => format!("{}: {:.2} J", m.name, m.energy.total_j),
        Some(Ok(Payload::Scan(scan))) => {
            format!("scan: {}", if scan.passed { "passed" } else { "failed" })
        }
        _ if e.kind == Some(EventKind::Cell) => format!(
            "cell [{}] {} in {:.3} s{}",
            e.execution_count
                .map_or_else(|| "null".to_string(), |n| n.to_string()),
            e.text("status").unwrap_or(""),
            e.duration_s.unwrap_or(0.0),
            e.energy
                .as_ref()
                .map(|energy| format!(", {:.2} J", energy.total_j))
                .unwrap_or_default()
        ),
        _ => String::new(),
    };
    html! { (line) }
}
