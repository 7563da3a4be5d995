//! The pages, each a function of the trail's snapshot and what the server
//! read for it (a policy copy, the project's facts, an event's payload):
//! no page reads a file. Each is a maud template, so every string from the
//! trail is escaped where it is written into the page.
//!
//! - [`overview`]: the verdict, the latest results, the latest events.
//! - [`policies`]: Policy Status, every control's latest result and history.
//! - [`graph`]: the Evidence Graph and its filters.
//! - [`policy`]: a stored policy version's text.
//! - [`energy`]: energy per session, window and cell.
//! - [`report`]: the Annex IV document.
//! - [`event`]: one event, whole.

mod energy;
mod event;
mod graph;
mod overview;
mod policies;
mod policy;
mod report;

pub use energy::energy;
pub use event::{event, EventFiles};
pub use graph::graph_page;
pub use overview::overview;
pub use policies::policies;
pub use policy::policy_text;
pub use report::report;

use maud::{html, Markup};
use serde_json::Value;

use crate::charts;
use crate::html::{file_name, num, pill, short_hash};
use crate::model::{ControlStatus, Energy};
use crate::trail::Snapshot;
use venturalitica_vocab::results::Status;

/// What the pages need besides the trail.
#[derive(Debug, Clone)]
pub struct Context {
    /// The project's directory name, for titles.
    pub project: String,
    /// `.venturalitica/exports/mlflow.json`, or null.
    pub exports: Value,
    /// The project root (its `pyproject.toml` holds the Annex IV prose).
    pub root: std::path::PathBuf,
    /// The evidence store: its files are named by it.
    pub store: venturalitica_evidence::Store,
}

/// Whether the trail verifies, in a line.
fn verification(s: &Snapshot) -> Markup {
    match (&s.verified, s.chain_ok) {
        (Some(r), _) if r.ok() => html! {
            (pill("pass")) " intact: " (r.events) " events, " (r.policies_checked)
            " policy copies checked; " (signed_by(r))
            @if let Some(head) = &r.checkpoint {
                "; from the signed checkpoint at event " (head.seq)
            }
        },
        (Some(r), _) => html! {
            (pill("fail")) " altered: " (r.findings.len()) " problem(s); first: "
            (r.findings.first().map(|f| f.message.as_str()).unwrap_or_default())
        },
        (None, true) => html! { (pill("pass")) " chain intact (" (s.entries.len()) " events)" },
        (None, false) => html! {
            (pill("fail")) " " (s.chain_problem.as_deref().unwrap_or("the chain is broken"))
        },
    }
}

/// Who signed the trail, in a phrase.
fn signed_by(r: &venturalitica_evidence::VerifyReport) -> String {
    let keys: Vec<String> = r
        .signers
        .iter()
        .map(|k| format!("{} ({} events)", k.key_id, k.events))
        .collect();
    match (keys.is_empty(), r.unsigned_events) {
        (true, _) => "unsigned".to_string(),
        (false, 0) => format!("signed by {}", keys.join(", ")),
        (false, n) => format!("signed by {}; {n} older events unsigned", keys.join(", ")),
    }
}

fn card(title: &str, big: &str, note: &str) -> Markup {
    html! {
        div.card { div.muted { (title) } div.big { (big) } div.muted { (note) } }
    }
}

/// The latest result of each control; `history`: with its sparkline.
fn control_table(controls: &[ControlStatus<'_>], history: bool) -> Markup {
    if controls.is_empty() {
        return html! {
            p.muted {
                "No evaluations yet: run " code { "venturalitica enforce" } ", " code { "vl.enforce" }
                " or " code { "%vl_enforce" } "."
            }
        };
    }
    html! {
        table {
            tr {
                th { "status" } th { "control" } th { "policy" } th { "metric" } th { "value" }
                th { "rule" } th { "95% CI" } th { "risk treatment" } th { "data" }
                @if history { th { "history" } }
            }
            @for c in controls { (control_row(c, history)) }
        }
    }
}

fn control_row(c: &ControlStatus<'_>, history: bool) -> Markup {
    let ctl = c.control;
    let latest = &c.latest;
    html! {
        tr id=(format!("control-{}", c.id())) {
            td { (pill(c.status().name())) }
            td {
                code { (c.id()) }
                @if c.status() != Status::Pass {
                    div.muted { (ctl.reason.as_deref().unwrap_or("")) }
                }
            }
            td id=(latest.policy_sha()) title=(latest.policy_title()) {
                (file_name(latest.policy_title()))
                @if let Some(v) = latest.policy_version() { " v" (v) }
                br;
                (short_hash(latest.policy_sha()))
                @if c.versions.len() > 1 {
                    " " span.muted { "(" (c.versions.len()) " versions)" }
                }
            }
            td { (ctl.metric_key) }
            td.num { (num(ctl.actual_value)) }
            td { (ctl.operator) " " (num(Some(ctl.threshold))) }
            td {
                @match &ctl.ci {
                    Some(ci) => { "[" (num(Some(ci.lower))) ", " (num(Some(ci.upper))) "]" }
                    None => { "—" }
                }
            }
            td {
                @for (k, v) in &ctl.risk { div { span.muted { (k) } " " (v) } }
            }
            td title=(latest.source()) {
                @match latest.fingerprint() {
                    Some(fp) => { (short_hash(fp)) }
                    None => { "—" }
                }
                " " a href=(format!("/event/{}", latest.seq())) { "#" (latest.seq()) }
            }
            @if history {
                td {
                    (maud::PreEscaped(charts::history(&c.history, ctl.threshold).unwrap_or_default()))
                    div.muted { (c.history.len()) " evaluation(s)" }
                    @if let Some(drift) = &ctl.drift {
                        @let features: Vec<&str> = ctl.groups.iter().map(|g| g.group.as_str()).collect();
                        div.muted {
                            "against " (drift.reference) " (" (short_hash(&drift.reference_sha256)) ")"
                            @if features.len() > 1 { "; a line per feature: " (features.join(", ")) }
                            @if !drift.drifted.is_empty() { "; moved: " (drift.drifted.join(", ")) }
                        }
                    }
                }
            }
        }
    }
}

/// "36.2" over a muted "18.1–54.2": a total with its error band.
fn with_band(e: &Energy) -> Markup {
    html! {
        (num(Some(e.total_j)))
        div.muted title="error band, J" { (num(Some(e.low_j))) "–" (num(Some(e.high_j))) }
    }
}

/// An energy's cells: joules (with its band), CPU, RAM, GPU, carbon, memory.
fn energy_cells(e: &Energy) -> Markup {
    html! {
        td.num { (with_band(e)) }
        td.num { (num(Some(e.cpu_j))) }
        td.num { (num(Some(e.ram_j))) }
        td.num { (num(Some(e.gpu_j))) }
        td.num { (num(Some(e.co2e_g))) }
        td.num { (num(Some(e.peak_rss_bytes as f64 / 1_048_576.0))) }
    }
}

/// The heads of [`energy_cells`].
fn energy_heads() -> Markup {
    html! {
        th { "joules" } th { "CPU J" } th { "RAM J" } th { "GPU J" } th { "gCO2e" } th { "peak MiB" }
    }
}
