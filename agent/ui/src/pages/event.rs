//! One event, whole: its place in the chain, an evaluation's controls and
//! chart, a cell's or window's energy, and its payload.

use maud::{html, Markup};
use serde_json::Value;

use super::{energy_cells, energy_heads};
use crate::html::{num, page, pill};
use crate::trail::{Entry, Snapshot};

/// What the server read for an event's page.
#[derive(Debug)]
pub struct EventFiles {
    /// Whether the evidence chart of this evaluation is kept.
    pub chart: bool,
    /// The whole payload (a cell's is read from its line), or why not.
    pub payload: Result<Value, String>,
}

pub fn event(s: &Snapshot, seq: u64, files: EventFiles) -> Option<String> {
    let e = s.get(seq)?;
    let pretty = match files.payload {
        Ok(payload) => serde_json::to_string_pretty(&payload).unwrap_or_default(),
        Err(why) => format!("the payload cannot be shown: {why}"),
    };
    let body = html! {
        h1 { "Event #" (e.seq) " · " (e.kind_name) }
        table {
            tr { th { "time" } td.mono { (e.ts) } }
            tr { th { "hash" } td.mono { (e.hash) } }
            tr { th { "process" } td { (e.pid.map(|p| p.to_string()).unwrap_or_default()) } }
        }
        (controls(e, files.chart))
        @if let Some(energy) = &e.energy {
            h2 #energy { "Energy" }
            table {
                tr { th { "seconds" } (energy_heads()) th { "CPU method" } }
                tr {
                    td.num { (num(Some(energy.wall_s))) }
                    (energy_cells(energy))
                    td { (energy.cpu_method) }
                }
            }
        }
        h2 { "Payload" }
        pre { (pretty) }
    };
    Some(page("", &format!("Event {seq}"), s.head(), false, body))
}

/// An evaluation's chart and controls, each with its groups' rates.
fn controls(e: &Entry, chart: bool) -> Markup {
    let Some(results) = e.results() else {
        return html! {};
    };
    html! {
        @if chart {
            h2 { "Chart" }
            img alt="evidence chart" src=(format!("/charts/{}.svg", e.seq));
        }
        h2 { "Controls" }
        table {
            tr {
                th { "status" } th { "control" } th { "value" } th { "rule" }
                th { "groups (n, rates)" } th { "mapping" }
            }
            @for c in &results.controls {
                tr id=(format!("control-{}", c.id)) {
                    td { (pill(c.status.name())) }
                    td { code { (c.id) } div.muted { (c.reason.as_deref().unwrap_or("")) } }
                    td.num { (num(c.actual_value)) }
                    td { (c.operator) " " (num(Some(c.threshold))) }
                    td {
                        @for g in &c.groups {
                            @let rates: Vec<String> = g
                                .rates
                                .iter()
                                .map(|(k, v)| format!("{} {}", k.replace('_', " "), num(*v)))
                                .collect();
                            div { code { (g.group) } " n=" (g.n) " · " (rates.join(", ")) }
                        }
                    }
                    td.mono { (serde_json::to_string(&c.inputs).unwrap_or_default()) }
                }
            }
        }
    }
}
