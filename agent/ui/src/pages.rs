//! The pages, each a function of the trail snapshot.

use std::fmt::Write;

use serde_json::Value;

use crate::filter::{Filter, Moment};
use crate::html::{esc, file_name, num, page, pill, short_hash};
use crate::model::{
    self, control_status, evaluations, ControlStatus, Energy, EnergyView, Evaluation,
};
use crate::trail::Snapshot;
use crate::{annex, charts, graph};
use venturalitica_chart::clip;
use venturalitica_evidence::{CopyError, EventKind};
use venturalitica_vocab::events::Payload;
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

fn verification(s: &Snapshot) -> String {
    match (&s.verified, s.chain_ok) {
        (Some(r), _) if r.ok() => format!(
            "{} intact: {} events, {} policy copies checked; {}",
            pill("pass"),
            r.events,
            r.policies_checked,
            esc(&signed_by(r))
        ),
        (Some(r), _) => {
            let first = r
                .findings
                .first()
                .map(|f| f.message.clone())
                .unwrap_or_default();
            format!(
                "{} altered: {} problem(s); first: {}",
                pill("fail"),
                r.findings.len(),
                esc(&first)
            )
        }
        (None, true) => format!("{} chain intact ({} events)", pill("pass"), s.entries.len()),
        (None, false) => format!(
            "{} {}",
            pill("fail"),
            esc(s.chain_problem.as_deref().unwrap_or("the chain is broken"))
        ),
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

fn card(title: &str, big: &str, note: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"muted\">{}</div><div class=\"big\">{big}</div><div class=\"muted\">{note}</div></div>",
        esc(title)
    )
}

pub fn overview(s: &Snapshot, ctx: &Context) -> String {
    let evals = evaluations(s);
    let controls = control_status(&evals);
    let failing = controls
        .iter()
        .filter(|c| c.status() != Status::Pass)
        .count();
    let energy = model::energy(s);
    let total = energy.total();
    let mut body = format!(
        "<h1>{}</h1><p>{}</p><div class=\"cards\">",
        esc(&ctx.project),
        verification(s)
    );
    body += &card("events", &s.entries.len().to_string(), "in trace.jsonl");
    body += &card(
        "controls",
        &controls.len().to_string(),
        &format!("{failing} not passing"),
    );
    body += &card("evaluations", &evals.len().to_string(), "enforce runs");
    body += &card(
        "energy",
        &format!("{} J", num(Some(total.total_j))),
        &format!(
            "{} gCO2e · {} cells · {} windows",
            num(Some(total.co2e_g)),
            energy.cells.len(),
            energy.windows.len()
        ),
    );
    body += "</div>";
    let unreadable = model::unreadable(s);
    if !unreadable.is_empty() {
        let _ = write!(
            body,
            "<p>{} {} event(s) cannot be read as their kind says, and are left out of every table:</p><ul>",
            pill("error"),
            unreadable.len()
        );
        for (e, why) in unreadable.iter().take(20) {
            let _ = write!(
                body,
                "<li><a href=\"/event/{0}\">#{0}</a> {1}</li>",
                e.seq,
                esc(why)
            );
        }
        body += "</ul>";
    }
    body += "<h2>Latest results</h2>";
    body += &control_table(&controls, false);
    body +=
        "<h2>Latest events</h2><table><tr><th>#</th><th>kind</th><th>time</th><th>what</th></tr>";
    for e in s.entries.iter().rev().take(15) {
        let _ = write!(
            body,
            "<tr><td><a href=\"/event/{0}\">{0}</a></td><td>{1}</td><td class=\"mono\">{2}</td><td>{3}</td></tr>",
            e.seq,
            esc(&e.kind_name),
            esc(&e.ts),
            esc(&describe(e))
        );
    }
    body += "</table>";
    page("/", "Overview", s.head(), true, &body)
}

/// One line about an event.
fn describe(e: &crate::trail::Entry) -> String {
    match &e.typed {
        Some(Err(why)) => return format!("unreadable: {why}"),
        Some(Ok(Payload::Enforce(p))) => {
            let r = &p.results;
            return format!(
                "{}: {}/{} passed on {}",
                r.policy.name(),
                r.summary.passed,
                r.summary.total,
                r.data.source
            );
        }
        Some(Ok(Payload::Monitor(m))) => {
            let total_j = m.energy.total_j;
            return format!("{}: {:.2} J", m.name, total_j);
        }
        Some(Ok(Payload::Scan(scan))) => {
            return format!("scan: {}", if scan.passed { "passed" } else { "failed" });
        }
        _ => {}
    }
    match e.kind {
        Some(EventKind::Cell) => format!(
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
    }
}

fn control_table(controls: &[ControlStatus<'_>], history: bool) -> String {
    if controls.is_empty() {
        return "<p class=\"muted\">No evaluations yet: run <code>venturalitica enforce</code>, <code>vl.enforce</code> or <code>%vl_enforce</code>.</p>".to_string();
    }
    let mut out = String::from(
        "<table><tr><th>status</th><th>control</th><th>policy</th><th>metric</th><th>value</th><th>rule</th><th>95% CI</th><th>risk treatment</th><th>data</th>",
    );
    if history {
        out += "<th>history</th>";
    }
    out += "</tr>";
    for c in controls {
        let ctl = c.control;
        let ci = match &ctl.ci {
            Some(ci) => format!("[{}, {}]", num(Some(ci.lower)), num(Some(ci.upper))),
            None => "—".to_string(),
        };
        let mut risk = String::new();
        for (k, v) in &ctl.risk {
            let _ = write!(
                risk,
                "<div><span class=\"muted\">{}</span> {}</div>",
                esc(k),
                esc(v)
            );
        }
        let reason = if c.status() == Status::Pass {
            String::new()
        } else {
            format!(
                "<div class=\"muted\">{}</div>",
                esc(ctl.reason.as_deref().unwrap_or(""))
            )
        };
        let version = c
            .latest
            .policy_version()
            .map(|v| format!(" v{}", esc(v)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr id=\"control-{id}\"><td>{status}</td><td><code>{id}</code>{reason}</td>\
             <td id=\"{sha}\" title=\"{title}\">{short_title}{version}<br>{sha_short}{versions}</td><td>{metric}</td>\
             <td class=\"num\">{value}</td><td>{op} {threshold}</td><td>{ci}</td><td>{risk}</td>\
             <td title=\"{source}\">{fp} <a href=\"/event/{seq}\">#{seq}</a></td>",
            id = esc(c.id()),
            status = pill(c.status().name()),
            reason = reason,
            sha = esc(c.latest.policy_sha()),
            title = esc(c.latest.policy_title()),
            short_title = esc(file_name(c.latest.policy_title())),
            version = version,
            sha_short = short_hash(c.latest.policy_sha()),
            versions = if c.versions.len() > 1 {
                format!(" <span class=\"muted\">({} versions)</span>", c.versions.len())
            } else {
                String::new()
            },
            metric = esc(&ctl.metric_key),
            value = num(ctl.actual_value),
            op = esc(&ctl.operator),
            threshold = num(Some(ctl.threshold)),
            ci = ci,
            risk = risk,
            fp = c
                .latest
                .fingerprint()
                .map(short_hash)
                .unwrap_or_else(|| "—".into()),
            source = esc(c.latest.source()),
            seq = c.latest.seq(),
        );
        if history {
            let spark = charts::history(&c.history, ctl.threshold).unwrap_or_default();
            let _ = write!(
                out,
                "<td>{spark}<div class=\"muted\">{} evaluation(s)</div></td>",
                c.history.len()
            );
        }
        out += "</tr>";
    }
    out += "</table>";
    out
}

pub fn policies(s: &Snapshot) -> String {
    let evals = evaluations(s);
    let controls = control_status(&evals);
    let mut body = String::from(
        "<h1>Policy Status</h1><p class=\"muted\">The latest result of every control, the policy version and data fingerprint it used, its risk-treatment fields and its history (dashed: the threshold).</p>",
    );
    body += &control_table(&controls, true);
    body += "<h2>Policy versions</h2><table><tr><th>policy</th><th>version</th><th>sha256</th><th>first used</th><th>evaluations</th></tr>";
    let mut seen: Vec<(&str, u64, usize, &str, Option<&str>)> = Vec::new();
    for e in &evals {
        match seen.iter_mut().find(|v| v.0 == e.policy_sha()) {
            Some(v) => v.2 += 1,
            None => seen.push((
                e.policy_sha(),
                e.seq(),
                1,
                e.policy_title(),
                e.policy_version(),
            )),
        }
    }
    for (sha, first, count, title, version) in seen {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"/event/{first}\">#{first}</a></td><td class=\"num\">{count}</td></tr>",
            esc(title),
            esc(version.unwrap_or("—")),
            short_hash(sha)
        );
    }
    body += "</table>";
    page("/policies", "Policy Status", s.head(), true, &body)
}

pub fn graph_page(s: &Snapshot, ctx: &Context, query: Result<Filter, String>) -> String {
    let mut body = String::from(
        "<h1>Evidence Graph</h1><p class=\"muted\">One lane per policy version, the newest in use first; in each, its evaluations, newest first, with the data they ran on (the chip's colour is the fingerprint) and where they ran. Open an evaluation for its controls, each one click from its policy text, data, cell and energy. Drag to pan, scroll or use the buttons to zoom.</p>",
    );
    let filter = match query {
        Ok(f) => f,
        Err(problem) => {
            let _ = write!(
                body,
                "<p>{} {}: the graph is shown unfiltered.</p>",
                pill("error"),
                esc(&problem)
            );
            Filter::default()
        }
    };
    let evals = evaluations(s);
    body += &filter_form(s, &evals, &filter);
    let lanes = graph::lanes(&evals, &filter);
    if lanes.is_empty() {
        body += if evals.is_empty() {
            "<p class=\"muted\">No evaluations recorded yet.</p>"
        } else {
            "<p class=\"muted\">No evaluation matches these filters.</p>"
        };
    } else {
        let shown: usize = lanes
            .iter()
            .take(graph::MAX_LANES)
            .map(|l| l.evals.len().min(graph::LANE_LIMIT))
            .sum();
        let matching: usize = lanes.iter().map(|l| l.total).sum();
        let _ = write!(
            body,
            "<div class=\"graph-tools noprint\"><button type=\"button\" data-zoom=\"in\" title=\"zoom in (+)\">+</button>\
             <button type=\"button\" data-zoom=\"out\" title=\"zoom out (−)\">−</button>\
             <button type=\"button\" data-zoom=\"fit\" title=\"the whole graph\">fit</button>\
             <button type=\"button\" data-zoom=\"reset\" title=\"labels at body size (0)\">1:1</button>\
             <span class=\"muted\">{shown} of {matching} matching evaluation(s) drawn in {lanes} lane(s){more}</span></div>\
             <div class=\"graph-view\" tabindex=\"0\" style=\"height: min(70vh, {view_h}px)\">{svg}</div>",
            view_h = graph::height(&lanes) + 2,
            lanes = lanes.len().min(graph::MAX_LANES),
            more = if lanes.len() > graph::MAX_LANES {
                format!("; {} more lane(s): filter by policy", lanes.len() - graph::MAX_LANES)
            } else {
                String::new()
            },
            svg = graph::svg(&lanes, &filter),
        );
    }
    if let Some(seq) = filter.open {
        match evals.iter().find(|e| e.seq() == seq) {
            Some(e) => body += &graph::details(s, e, &ctx.exports),
            None => {
                let _ = write!(
                    body,
                    "<p id=\"details\">{} event #{seq} is not an evaluation.</p>",
                    pill("error")
                );
            }
        }
    }
    page("/graph", "Evidence Graph", s.head(), true, &body)
}

/// The filters as a GET form (it works without the script).
fn filter_form(s: &Snapshot, evals: &[Evaluation<'_>], f: &Filter) -> String {
    /// A policy (key, title) with its versions (sha256, version).
    type PolicyVersions<'a> = (&'a str, &'a str, Vec<(&'a str, Option<&'a str>)>);
    // Policies with their versions, the newest in use first.
    let mut policies: Vec<PolicyVersions<'_>> = Vec::new();
    let mut sessions: Vec<(u64, &str)> = Vec::new();
    let mut data: Vec<(&str, &str)> = Vec::new();
    let mut seen_data = std::collections::HashSet::new();
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
    let selected = |on: bool| if on { " selected" } else { "" };
    let mut out = String::from(
        "<form class=\"filters noprint\" method=\"get\" action=\"/graph\"><label>policy <select name=\"policy\"><option value=\"\">all</option>",
    );
    for (key, title, versions) in &policies {
        let _ = write!(
            out,
            "<option value=\"{k}\"{sel}>{t} (all versions)</option>",
            k = esc(key),
            sel = selected(f.policy.as_deref() == Some(key)),
            t = esc(&clip(file_name(title), 40)),
        );
        for (sha, version) in versions {
            let _ = write!(
                out,
                "<option value=\"{s}\"{sel}>\u{a0}\u{a0}{t} {v}sha256 {short}</option>",
                s = esc(sha),
                sel = selected(f.policy.as_deref() == Some(sha)),
                t = esc(&clip(file_name(title), 30)),
                v = version
                    .map(|v| format!("v{} · ", esc(v)))
                    .unwrap_or_default(),
                short = esc(sha.get(..12).unwrap_or(sha)),
            );
        }
    }
    out += "</select></label><label>notebook session <select name=\"session\"><option value=\"\">all</option>";
    // Each session's notebook, in one pass that stops once all are named.
    let mut notebooks: std::collections::HashMap<u64, &str> = std::collections::HashMap::new();
    if !sessions.is_empty() {
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
    }
    for (pid, first) in &sessions {
        let notebook = notebooks.get(pid).copied().unwrap_or("notebook");
        let _ = write!(
            out,
            "<option value=\"{pid}\"{sel}>{nb} · pid {pid} · from {ts}</option>",
            sel = selected(f.session == Some(*pid)),
            nb = esc(&clip(file_name(notebook), 30)),
            ts = esc(first.get(..16).unwrap_or(first)),
        );
    }
    let _ = write!(
        out,
        "</select></label><label>data fingerprint <input name=\"data\" list=\"fingerprints\" size=\"14\" placeholder=\"prefix, 6+ hex\" value=\"{d}\"></label>\
         <datalist id=\"fingerprints\">",
        d = esc(f.data.as_deref().unwrap_or(""))
    );
    for (fp, source) in &data {
        let _ = write!(
            out,
            "<option value=\"{}\">{}</option>",
            esc(fp),
            esc(&clip(source, 40))
        );
    }
    let time = |t: Option<&Moment>| t.map(Moment::form_value).unwrap_or_default();
    let _ = write!(
        out,
        "</datalist><label>from <input type=\"datetime-local\" step=\"1\" name=\"from\" value=\"{from}\"></label>\
         <label>to <input type=\"datetime-local\" step=\"1\" name=\"to\" value=\"{to}\"></label><span class=\"muted\">UTC</span>\
         <label><input type=\"checkbox\" name=\"failed\" value=\"1\"{failed}> failed only</label>\
         <button type=\"submit\">filter</button>{clear}</form>",
        from = esc(&time(f.from.as_ref())),
        to = esc(&time(f.to.as_ref())),
        failed = if f.failed { " checked" } else { "" },
        clear = if f.narrows() {
            " <a href=\"/graph\">clear</a>"
        } else {
            ""
        },
    );
    out
}

/// A stored policy version's text, line-numbered, each control's line
/// anchored (`#control-ID`), its hash checked against its name.
pub fn policy_text(s: &Snapshot, ctx: &Context, sha: &str) -> Option<String> {
    // The name is the hash: 64 hex digits, so no path can leave the store.
    let path = ctx.store.policy_path(sha)?;
    let evals = evaluations(s);
    let used: Vec<&Evaluation<'_>> = evals.iter().filter(|e| e.policy_sha() == sha).collect();
    let first = used.first()?;
    let mut body = format!(
        "<h1>Policy {title}{version}</h1><table><tr><th>file</th><td class=\"mono\">{file}</td></tr>\
         <tr><th>sha256</th><td class=\"mono\">{sha}</td></tr><tr><th>evaluations</th><td>{n}: \
         <a href=\"{lane}\">its lane in the Evidence Graph</a></td></tr></table>",
        title = esc(first.policy_title()),
        version = first.policy_version().map(|v| format!(" v{}", esc(v))).unwrap_or_default(),
        file = esc(&first.results.policy.path),
        n = used.len(),
        lane = esc(&Filter { policy: Some(sha.to_string()), ..Filter::default() }.href(None, None)),
    );
    let text = match ctx.store.read_policy(sha) {
        Ok(bytes) => bytes,
        Err(CopyError::Altered { actual, .. }) => {
            let _ = write!(
                body,
                "<p>{} the stored copy's SHA-256 is {}, not the one the evaluations recorded: it is not shown.</p>",
                pill("error"),
                short_hash(&actual)
            );
            return Some(page("", "Policy", s.head(), false, &body));
        }
        Err(e) => {
            let why = match &e {
                CopyError::Unreadable { source, .. } => source.to_string(),
                other => other.to_string(),
            };
            let _ = write!(
                body,
                "<p>{} the stored copy <code>{}</code> cannot be read: {}</p>",
                pill("error"),
                esc(&path.display().to_string()),
                esc(&why)
            );
            return Some(page("", "Policy", s.head(), false, &body));
        }
    };
    let text = String::from_utf8_lossy(&text);
    // Where each control starts, from the policy parser itself.
    let source = std::path::Path::new(&first.results.policy.path);
    let mut anchors: std::collections::HashMap<usize, String> = std::collections::HashMap::new();
    match venturalitica_policy::parse_policy(source, &text) {
        Ok(policy) => {
            for c in &policy.controls {
                anchors
                    .entry(c.location.line)
                    .or_insert_with(|| c.id.clone());
            }
        }
        Err(e) => {
            let _ = write!(
                body,
                "<p class=\"muted\">Controls are not marked in the text: {}</p>",
                esc(&e.to_string())
            );
        }
    }
    body += "<p class=\"muted\">The copy kept in the evidence store, byte for byte; its hash matches.</p><pre class=\"policy-text\">";
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let id = anchors
            .get(&n)
            .map(|c| format!(" id=\"control-{}\" class=\"control-line\"", esc(c)))
            .unwrap_or_default();
        let _ = writeln!(
            body,
            "<span{id}><span class=\"ln\">{n:>4}</span> {}</span>",
            esc(line)
        );
    }
    body += "</pre>";
    Some(page("", "Policy", s.head(), false, &body))
}

/// "36.2" over a muted "18.1–54.2": a total with its error band.
fn with_band(e: &Energy) -> String {
    format!(
        "{}<div class=\"muted\" title=\"error band, J\">{}–{}</div>",
        num(Some(e.total_j)),
        num(Some(e.low_j)),
        num(Some(e.high_j))
    )
}

fn energy_row(e: &Energy) -> String {
    format!(
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        with_band(e),
        num(Some(e.cpu_j)),
        num(Some(e.ram_j)),
        num(Some(e.gpu_j)),
        num(Some(e.co2e_g)),
        num(Some(e.peak_rss_bytes as f64 / 1_048_576.0)),
    )
}

const ENERGY_HEAD: &str =
    "<th>joules</th><th>CPU J</th><th>RAM J</th><th>GPU J</th><th>gCO2e</th><th>peak MiB</th>";

pub fn energy(s: &Snapshot) -> String {
    let view: EnergyView<'_> = model::energy(s);
    let total = view.total();
    let mut body = format!(
        "<h1>Energy</h1><div class=\"cards\">{}{}{}</div>",
        card(
            "total",
            &format!("{} J", num(Some(total.total_j))),
            &format!(
                "{}–{} J · {} kWh",
                num(Some(total.low_j)),
                num(Some(total.high_j)),
                num(Some(total.total_j / 3.6e6))
            )
        ),
        card("carbon", &format!("{} g", num(Some(total.co2e_g))), "CO2e"),
        card(
            "by component",
            &format!("{} J CPU", num(Some(total.cpu_j))),
            &format!(
                "{} J RAM · {} J GPU",
                num(Some(total.ram_j)),
                num(Some(total.gpu_j))
            )
        ),
    );
    let metered: Vec<&Energy> = view.cells.iter().filter_map(|c| c.energy).collect();
    if let Some(svg) = charts::energy_bars(&metered, "Energy per cell") {
        body += &svg;
    }
    body += "<h2>Notebook sessions</h2><table><tr><th>session</th><th>started</th><th>cells</th><th>seconds</th>";
    body += ENERGY_HEAD;
    body += "</tr>";
    for session in &view.sessions {
        let _ = write!(
            body,
            "<tr id=\"session-{pid}\"><td>{name}<div class=\"muted\">pid {pid}</div></td><td class=\"mono\">{ts}</td><td class=\"num\">{cells}</td><td class=\"num\">{secs}</td>{row}</tr>",
            pid = session.pid,
            name = esc(session.notebook.as_deref().unwrap_or("notebook session")),
            ts = esc(&session.first_ts),
            cells = session.cells,
            secs = num(Some(session.duration_s)),
            row = energy_row(&session.energy),
        );
    }
    body += "</table><h2>Monitor windows</h2>";
    if view.windows.is_empty() {
        body += "<p class=\"muted\">None: use <code>vl.monitor(name)</code>, <code>%%vl_monitor</code> or <code>venturalitica monitor</code>.</p>";
    } else {
        body += "<table><tr><th>#</th><th>name</th><th>time</th><th>seconds</th>";
        body += ENERGY_HEAD;
        body += "<th>CPU method</th></tr>";
        for w in view.windows.iter().rev() {
            let _ = write!(
                body,
                "<tr><td><a href=\"/event/{seq}\">{seq}</a></td><td>{name}</td><td class=\"mono\">{ts}</td><td class=\"num\">{secs}</td>{row}<td>{method}</td></tr>",
                seq = w.entry.seq,
                name = esc(w.name),
                ts = esc(&w.entry.ts),
                secs = num(Some(w.energy.wall_s)),
                row = energy_row(w.energy),
                method = esc(&w.energy.cpu_method),
            );
        }
        body += "</table>";
    }
    body += "<h2>Latest cells</h2><table><tr><th>#</th><th>cell</th><th>time</th><th>seconds</th>";
    body += ENERGY_HEAD;
    body += "</tr>";
    for c in view.cells.iter().rev().take(50) {
        let row = c
            .energy
            .map(energy_row)
            .unwrap_or_else(|| "<td colspan=\"6\" class=\"muted\">not metered</td>".into());
        let _ = write!(
            body,
            "<tr><td><a href=\"/event/{seq}\">{seq}</a></td><td>[{count}]</td><td class=\"mono\">{ts}</td><td class=\"num\">{secs}</td>{row}</tr>",
            seq = c.entry.seq,
            count = c.execution_count.map(|n| n.to_string()).unwrap_or_default(),
            ts = esc(&c.entry.ts),
            secs = num(Some(c.duration_s)),
        );
    }
    body += "</table>";
    page("/energy", "Energy", s.head(), true, &body)
}

/// The Report page: the Annex IV document, as `venturalitica report
/// annex-iv` writes it.
pub fn report(s: &Snapshot, ctx: &Context, generated_at: &str) -> String {
    let (facts, problem) = match annex::ProjectFacts::read(&ctx.root) {
        Ok(f) => (f, None),
        Err(e) => (annex::ProjectFacts::default(), Some(e.to_string())),
    };
    let doc = annex::build(s, &facts, &ctx.store, &ctx.project, generated_at);
    let mut body = String::from(
        "<p class=\"noprint\"><a href=\"javascript:print()\">Print</a> · the same document: <code>venturalitica report annex-iv --format md|html|pdf</code></p>",
    );
    if let Some(problem) = problem {
        let _ = write!(
            body,
            "<p>{} the project file cannot be read, so no declared facts are shown: {}</p>",
            pill("error"),
            esc(&problem)
        );
    }
    let _ = write!(body, "<p>{}</p>", verification(s));
    body += &doc.to_html();
    page("/report", "Report", s.head(), false, &body)
}

pub fn event(s: &Snapshot, ctx: &Context, seq: u64) -> Option<String> {
    let e = s.get(seq)?;
    let mut body = format!(
        "<h1>Event #{} · {}</h1><table><tr><th>time</th><td class=\"mono\">{}</td></tr><tr><th>hash</th><td class=\"mono\">{}</td></tr><tr><th>process</th><td>{}</td></tr></table>",
        e.seq,
        esc(&e.kind_name),
        esc(&e.ts),
        esc(&e.hash),
        e.pid.map(|p| p.to_string()).unwrap_or_default()
    );
    if let Some(results) = e.results() {
        if ctx.store.chart_path(e.seq).is_file() {
            let _ = write!(
                body,
                "<h2>Chart</h2><img alt=\"evidence chart\" src=\"/charts/{}.svg\">",
                e.seq
            );
        }
        body += "<h2>Controls</h2><table><tr><th>status</th><th>control</th><th>value</th><th>rule</th><th>groups (n, rates)</th><th>mapping</th></tr>";
        for c in &results.controls {
            let mut groups = String::new();
            for g in &c.groups {
                let rates: Vec<String> = g
                    .rates
                    .iter()
                    .map(|(k, v)| format!("{} {}", k.replace('_', " "), num(*v)))
                    .collect();
                let _ = write!(
                    groups,
                    "<div><code>{}</code> n={} · {}</div>",
                    esc(&g.group),
                    g.n,
                    esc(&rates.join(", "))
                );
            }
            let _ = write!(
                body,
                "<tr id=\"control-{id}\"><td>{}</td><td><code>{id}</code><div class=\"muted\">{}</div></td><td class=\"num\">{}</td><td>{} {}</td><td>{groups}</td><td class=\"mono\">{}</td></tr>",
                pill(c.status.name()),
                esc(c.reason.as_deref().unwrap_or("")),
                num(c.actual_value),
                esc(&c.operator),
                num(Some(c.threshold)),
                esc(&serde_json::to_string(&c.inputs).unwrap_or_default()),
                id = esc(&c.id),
            );
        }
        body += "</table>";
    }
    if let Some(energy) = &e.energy {
        let _ = write!(
            body,
            "<h2 id=\"energy\">Energy</h2><table><tr><th>seconds</th>{ENERGY_HEAD}<th>CPU method</th></tr>\
             <tr><td class=\"num\">{}</td>{}<td>{}</td></tr></table>",
            num(Some(energy.wall_s)),
            energy_row(energy),
            esc(&energy.cpu_method)
        );
    }
    let pretty = match e.full_payload(&ctx.store) {
        Ok(payload) => serde_json::to_string_pretty(&payload).unwrap_or_default(),
        Err(why) => format!("the payload cannot be shown: {why}"),
    };
    let _ = write!(body, "<h2>Payload</h2><pre>{}</pre>", esc(&pretty));
    Some(page("", &format!("Event {seq}"), s.head(), false, &body))
}
