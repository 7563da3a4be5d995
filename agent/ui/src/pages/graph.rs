//! The Evidence Graph page: the filters, the graph (`crate::graph` draws
//! it) and the opened evaluation's details.

use std::collections::{HashMap, HashSet};

use maud::{html, Markup, PreEscaped};
use serde_json::Value;
use venturalitica_chart::clip;
use venturalitica_evidence::EventKind;

use super::Context;
use crate::filter::{Filter, Moment};
use crate::graph;
use crate::html::{file_name, num, page, pill, short_hash};
use crate::model::{evaluations, Evaluation};
use crate::trail::{Entry, Snapshot};

pub fn graph_page(s: &Snapshot, ctx: &Context, query: Result<Filter, String>) -> String {
    let (filter, problem) = match query {
        Ok(f) => (f, None),
        Err(problem) => (Filter::default(), Some(problem)),
    };
    let evals = evaluations(s);
    let lanes = graph::lanes(&evals, &filter);
    let body = html! {
        h1 { "Evidence Graph" }
        p.muted {
            "One lane per policy version, the newest in use first; in each, its evaluations, newest first, with the data they ran on (the chip's colour is the fingerprint) and where they ran. Open an evaluation for its controls, each one click from its policy text, data, cell and energy. Drag to pan, scroll or use the buttons to zoom."
        }
        @if let Some(problem) = &problem {
            p { (pill("error")) " " (problem) ": the graph is shown unfiltered." }
        }
        (filter_form(s, &evals, &filter))
        @if lanes.is_empty() {
            @if evals.is_empty() {
                p.muted { "No evaluations recorded yet." }
            } @else {
                p.muted { "No evaluation matches these filters." }
            }
        } @else {
            (graph_view(&lanes, &filter))
        }
        @if let Some(seq) = filter.open {
            @match evals.iter().find(|e| e.seq() == seq) {
                Some(e) => { (details(s, e, &ctx.exports)) }
                None => { p #details { (pill("error")) " event #" (seq) " is not an evaluation." } }
            }
        }
    };
    page("/graph", "Evidence Graph", s.head(), true, body)
}

/// The zoom buttons and the graph's SVG.
fn graph_view(lanes: &[graph::Lane<'_>], filter: &Filter) -> Markup {
    let shown: usize = lanes
        .iter()
        .take(graph::MAX_LANES)
        .map(|l| l.evals.len().min(graph::LANE_LIMIT))
        .sum();
    let matching: usize = lanes.iter().map(|l| l.total).sum();
    let drawn = lanes.len().min(graph::MAX_LANES);
    html! {
        div class="graph-tools noprint" {
            button type="button" data-zoom="in" title="zoom in (+)" { "+" }
            button type="button" data-zoom="out" title="zoom out (−)" { "−" }
            button type="button" data-zoom="fit" title="the whole graph" { "fit" }
            button type="button" data-zoom="reset" title="labels at body size (0)" { "1:1" }
            span.muted {
                (shown) " of " (matching) " matching evaluation(s) drawn in " (drawn) " lane(s)"
                @if lanes.len() > graph::MAX_LANES {
                    "; " (lanes.len() - graph::MAX_LANES) " more lane(s): filter by policy"
                }
            }
        }
        div.graph-view tabindex="0" style=(format!("height: min(70vh, {}px)", graph::height(lanes) + 2)) {
            (PreEscaped(graph::svg(lanes, filter)))
        }
    }
}

/// A policy (key, title) with its versions (sha256, version).
type PolicyVersions<'a> = (&'a str, &'a str, Vec<(&'a str, Option<&'a str>)>);

/// The filters as a GET form (it works without the script).
fn filter_form(s: &Snapshot, evals: &[Evaluation<'_>], f: &Filter) -> Markup {
    // Policies with their versions, the newest in use first.
    let mut policies: Vec<PolicyVersions<'_>> = Vec::new();
    let mut sessions: Vec<(u64, &str)> = Vec::new();
    let mut data: Vec<(&str, &str)> = Vec::new();
    let mut seen_data = HashSet::new();
    for e in evals.iter().rev() {
        let key = e.policy_key();
        let i = match policies.iter().position(|p| p.0 == key) {
            Some(i) => i,
            None => {
                policies.push((key, e.policy_title(), Vec::new()));
                policies.len() - 1
            }
        };
        if !policies[i].2.iter().any(|v| v.0 == e.policy_sha()) {
            policies[i].2.push((e.policy_sha(), e.policy_version()));
        }
        if let Some(pid) = e.entry.pid.filter(|_| e.origin() == "kernel") {
            match sessions.iter_mut().find(|s| s.0 == pid) {
                Some(s) => s.1 = &e.entry.ts,
                None => sessions.push((pid, &e.entry.ts)),
            }
        }
        if let Some(fp) = e.fingerprint() {
            if data.len() < 200 && seen_data.insert(fp) {
                data.push((fp, e.source()));
            }
        }
    }
    let notebooks = notebooks(s, &sessions);
    let time = |t: Option<&Moment>| t.map(Moment::form_value).unwrap_or_default();
    html! {
        form class="filters noprint" method="get" action="/graph" {
            label {
                "policy "
                select name="policy" {
                    option value="" { "all" }
                    @for (key, title, versions) in &policies {
                        option value=(key) selected[f.policy.as_deref() == Some(key)] {
                            (clip(file_name(title), 40)) " (all versions)"
                        }
                        @for (sha, version) in versions {
                            option value=(sha) selected[f.policy.as_deref() == Some(sha)] {
                                "\u{a0}\u{a0}" (clip(file_name(title), 30)) " "
                                @if let Some(v) = version { "v" (v) " · " }
                                "sha256 " (sha.get(..12).unwrap_or(sha))
                            }
                        }
                    }
                }
            }
            label {
                "notebook session "
                select name="session" {
                    option value="" { "all" }
                    @for (pid, first) in &sessions {
                        option value=(pid) selected[f.session == Some(*pid)] {
                            (clip(file_name(notebooks.get(pid).copied().unwrap_or("notebook")), 30))
                            " · pid " (pid) " · from " (first.get(..16).unwrap_or(first))
                        }
                    }
                }
            }
            label {
                "data fingerprint "
                input name="data" list="fingerprints" size="14" placeholder="prefix, 6+ hex"
                    value=(f.data.as_deref().unwrap_or(""));
            }
            datalist #fingerprints {
                @for (fp, source) in &data { option value=(fp) { (clip(source, 40)) } }
            }
            label { "from " input type="datetime-local" step="1" name="from" value=(time(f.from.as_ref())); }
            label { "to " input type="datetime-local" step="1" name="to" value=(time(f.to.as_ref())); }
            span.muted { "UTC" }
            label { input type="checkbox" name="failed" value="1" checked[f.failed]; " failed only" }
            button type="submit" { "filter" }
            @if f.narrows() { " " a href="/graph" { "clear" } }
        }
    }
}

/// Each session's notebook, in one pass that stops once all are named.
fn notebooks<'a>(s: &'a Snapshot, sessions: &[(u64, &str)]) -> HashMap<u64, &'a str> {
    let mut notebooks = HashMap::new();
    if sessions.is_empty() {
        return notebooks;
    }
    for c in s.entries.iter().filter(|c| c.kind == Some(EventKind::Cell)) {
        let Some(pid) = c.pid.filter(|p| sessions.iter().any(|s| s.0 == *p)) else {
            continue;
        };
        if let Some(name) = c.text("notebook") {
            notebooks.entry(pid).or_insert(name);
            if notebooks.len() == sessions.len() {
                break;
            }
        }
    }
    notebooks
}

/// An opened evaluation: its context, and every control with its paths
/// back to the policy text, the data, the cell and its energy.
fn details(s: &Snapshot, e: &Evaluation<'_>, exports: &Value) -> Markup {
    let sha = e.policy_sha();
    let cell = graph::cell_of(s, e);
    let session = e.entry.pid.filter(|_| e.origin() == "kernel");
    html! {
        section id="details" class="details" data-seq=(e.seq()) {
            h2 {
                "Evaluation #" (e.seq()) " " (pill(if e.passed() { "pass" } else { "fail" }))
                " " span.muted { (e.entry.ts) }
            }
            table {
                tr {
                    th { "policy" }
                    td {
                        a href=(format!("/policy/{sha}")) {
                            (e.policy_title()) @if let Some(v) = e.policy_version() { " v" (v) }
                        }
                        " " (short_hash(sha))
                    }
                }
                tr {
                    th { "data" }
                    td {
                        (data_link(e)) " "
                        span.muted {
                            (e.source()) " · "
                            (e.results.data.rows.map_or_else(|| "?".to_string(), |r| r.to_string()))
                            " rows"
                        }
                    }
                }
                tr { th { "cell" } td { (cell_link(e, cell)) } }
                tr { th { "energy" } td { (energy_link(cell)) } }
                @if let Some(pid) = session {
                    tr {
                        th { "session" }
                        td {
                            a href=(format!("/energy#session-{pid}")) { "notebook session, pid " (pid) }
                            @for (run, server) in mlflow_runs(exports, pid) {
                                " · MLflow run " code { (run) } " on " (server)
                            }
                        }
                    }
                }
                tr {
                    th { "evidence" }
                    td { a href=(format!("/event/{}", e.seq())) { "event #" (e.seq()) } " " (short_hash(&e.entry.hash)) }
                }
            }
            table.controls {
                tr {
                    th { "status" } th { "control" } th { "metric" } th { "value" } th { "rule" }
                    th { "95% CI" } th { "paths" }
                }
                @for c in e.controls() {
                    tr id=(format!("control-{}", c.id)) class="control" {
                        td { (pill(c.status.name())) }
                        td { code { (c.id) } @if let Some(r) = &c.reason { div.muted { (r) } } }
                        td { (c.metric_key) }
                        td.num { (num(c.actual_value)) }
                        td { (c.operator) " " (num(Some(c.threshold))) }
                        td {
                            @match &c.ci {
                                Some(ci) => { "[" (num(Some(ci.lower))) ", " (num(Some(ci.upper))) "]" }
                                None => { "—" }
                            }
                        }
                        td.paths {
                            a.to-policy href=(format!("/policy/{sha}#control-{}", c.id)) { "policy text" }
                            " · " span.to-data { (data_link(e)) }
                            " · " span.to-cell { (cell_link(e, cell)) }
                            " · " span.to-energy { (energy_link(cell)) }
                            " · " a href=(format!("/event/{}#control-{}", e.seq(), c.id)) { "groups" }
                        }
                    }
                }
            }
        }
    }
}

/// The MLflow runs the export made of session `pid`: (run id, server).
fn mlflow_runs(exports: &Value, pid: u64) -> Vec<(&str, &str)> {
    exports["targets"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(target, state)| {
            let run = state["runs"][pid.to_string()]["run_id"].as_str()?;
            Some((run, target.split('|').next().unwrap_or("")))
        })
        .collect()
}

fn data_link(e: &Evaluation<'_>) -> Markup {
    match e.fingerprint() {
        Some(fp) => html! {
            a href=(Filter::on_data(fp)) title="every evaluation of this data" {
                "data " (fp.get(..12).unwrap_or(fp))
            }
        },
        None => html! { span.muted { "no fingerprint" } },
    }
}

fn cell_link(e: &Evaluation<'_>, cell: Option<&Entry>) -> Markup {
    match cell {
        Some(c) => html! {
            a href=(format!("/event/{}", c.seq)) {
                "cell [" (c.execution_count.map_or_else(|| "?".to_string(), |n| n.to_string())) "] #" (c.seq)
            }
        },
        None if e.origin() == "kernel" => html! { span.muted { "cell not recorded yet" } },
        None => html! {
            span.muted { "no cell: " (if e.origin().is_empty() { "cli" } else { e.origin() }) }
        },
    }
}

fn energy_link(cell: Option<&Entry>) -> Markup {
    match cell.and_then(|c| c.energy.as_ref().map(|en| (c, en))) {
        Some((c, en)) => html! {
            a href=(format!("/event/{}#energy", c.seq))
                title=(format!("the cell's energy, {}–{} J", num(Some(en.low_j)), num(Some(en.high_j)))) {
                (num(Some(en.total_j))) " J"
            }
        },
        None => html! { span.muted { "no energy" } },
    }
}
