//! Energy: totals, a bar per metered cell, and the sessions, monitor windows
//! and latest cells.

use maud::{html, PreEscaped};

use super::{card, energy_cells, energy_heads};
use crate::charts;
use crate::html::{num, page};
use crate::model::{self, Energy, EnergyView};
use crate::trail::Snapshot;

pub fn energy(s: &Snapshot) -> String {
    let view: EnergyView<'_> = model::energy(s);
    let total = view.total();
    let metered: Vec<&Energy> = view.cells.iter().filter_map(|c| c.energy).collect();
    let body = html! {
        h1 { "Energy" }
        div.cards {
            (card(
                "total",
                &format!("{} J", num(Some(total.total_j))),
                &format!(
                    "{}–{} J · {} kWh",
                    num(Some(total.low_j)),
                    num(Some(total.high_j)),
                    num(Some(total.total_j / 3.6e6))
                ),
            ))
            (card("carbon", &format!("{} g", num(Some(total.co2e_g))), "CO2e"))
            (card(
                "by component",
                &format!("{} J CPU", num(Some(total.cpu_j))),
                &format!("{} J RAM · {} J GPU", num(Some(total.ram_j)), num(Some(total.gpu_j))),
            ))
        }
        @if let Some(svg) = charts::energy_bars(&metered, "Energy per cell") { (PreEscaped(svg)) }
        h2 { "Notebook sessions" }
        table {
            tr { th { "session" } th { "started" } th { "cells" } th { "seconds" } (energy_heads()) }
            @for session in &view.sessions {
                tr id=(format!("session-{}", session.pid)) {
                    td {
                        (session.notebook.as_deref().unwrap_or("notebook session"))
                        div.muted { "pid " (session.pid) }
                    }
                    td.mono { (session.first_ts) }
                    td.num { (session.cells) }
                    td.num { (num(Some(session.duration_s))) }
                    (energy_cells(&session.energy))
                }
            }
        }
        h2 { "Monitor windows" }
        @if view.windows.is_empty() {
            p.muted {
                "None: use " code { "vl.monitor(name)" } ", " code { "%%vl_monitor" } " or "
                code { "venturalitica monitor" } "."
            }
        } @else {
            table {
                tr { th { "#" } th { "name" } th { "time" } th { "seconds" } (energy_heads()) th { "CPU method" } }
                @for w in view.windows.iter().rev() {
                    tr {
                        td { a href=(format!("/event/{}", w.entry.seq)) { (w.entry.seq) } }
                        td { (w.name) }
                        td.mono { (w.entry.ts) }
                        td.num { (num(Some(w.energy.wall_s))) }
                        (energy_cells(w.energy))
                        td { (w.energy.cpu_method) }
                    }
                }
            }
        }
        h2 { "Latest cells" }
        table {
            tr { th { "#" } th { "cell" } th { "time" } th { "seconds" } (energy_heads()) }
            @for c in view.cells.iter().rev().take(50) {
                tr {
                    td { a href=(format!("/event/{}", c.entry.seq)) { (c.entry.seq) } }
                    td { "[" (c.execution_count.map(|n| n.to_string()).unwrap_or_default()) "]" }
                    td.mono { (c.entry.ts) }
                    td.num { (num(Some(c.duration_s))) }
                    @match c.energy {
                        Some(e) => { (energy_cells(e)) }
                        None => { td colspan="6" class="muted" { "not metered" } }
                    }
                }
            }
        }
    };
    page("/energy", "Energy", s.head(), true, body)
}
