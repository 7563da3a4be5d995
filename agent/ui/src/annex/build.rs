//! The Annex IV document built from the trail's snapshot and the declared
//! facts: one section per point of Annex IV, each statement with the events
//! it rests on, and what is missing.

use std::collections::BTreeMap;

use serde_json::Value;
use venturalitica_evidence::EventKind;
use venturalitica_vocab::events::Payload;
use venturalitica_vocab::results::Status;

use super::{md, Document, ProjectFacts, Ref, Section, SignOff, Statement};
use crate::html::num;
use crate::model::{self, ControlStatus, Evaluation};
use crate::trail::{Entry, Snapshot};

/// Builds the document from the trail, the project file and the files
/// `scan` writes (`bom`: `bom.json`, read by [`super::bom`]).
pub fn build(
    s: &Snapshot,
    facts: &ProjectFacts,
    bom: Option<&Value>,
    project: &str,
    generated_at: &str,
) -> Document {
    let evals = model::evaluations(s);
    let controls = model::control_status(&evals);
    let sign_offs = approvals(s);
    let b = Builder {
        s,
        facts,
        evals: &evals,
        controls: &controls,
        approvals: &sign_offs,
    };
    let integrity = Statement {
        text: match (&s.verified, s.chain_ok) {
            (Some(r), _) if r.ok() => format!(
                "The evidence trail of {} events verifies: every event's hash, its link to the one before and its signature hold, and every policy copy matches its hash.{}",
                s.entries.len(),
                r.checkpoint.as_ref().map_or(String::new(), |head| format!(
                    " The events up to {} were checked when the signed checkpoint there was written, those after it now; `venturalitica verify --full` checks every event again.",
                    head.seq
                ))
            ),
            (Some(r), _) => format!(
                "The evidence trail does NOT verify: {}. Statements below rest on events that may have been altered.",
                r.findings.first().map_or("a finding", |f| f.message.as_str())
            ),
            (None, true) => format!(
                "The evidence trail of {} events is an intact hash chain.",
                s.entries.len()
            ),
            (None, false) => format!(
                "The evidence trail's hash chain is broken: {}.",
                s.chain_problem.as_deref().unwrap_or("unknown")
            ),
        },
        evidence: s.entries.last().map(Ref::of).into_iter().collect(),
        declared: false,
    };
    Document {
        system: facts
            .system_name
            .clone()
            .unwrap_or_else(|| project.to_string()),
        generated_at: generated_at.to_string(),
        integrity,
        sections: vec![
            b.general(bom),
            b.development(),
            b.monitoring(),
            b.metrics(),
            b.risk(),
            b.changes(),
            b.standards(),
            b.declaration(),
            b.post_market(),
        ],
        approvals: sign_offs.clone(),
    }
}

/// The recorded approvals, oldest first. Their signatures are checked by
/// `verify --allowed-signers`, which knows who may sign; the document names
/// the key and the event so a reader can.
fn approvals(s: &Snapshot) -> Vec<SignOff> {
    s.entries
        .iter()
        .filter_map(|e| match &e.typed {
            Some(Ok(Payload::Approval(p))) => Some(SignOff {
                role: p.role.clone().unwrap_or_else(|| "approver".into()),
                principal: p.principal.clone(),
                date: p.date.clone(),
                signature: format!(
                    "SSH {} over the trail up to event {}",
                    p.key,
                    p.head.split(':').next().unwrap_or("?")
                ),
                evidence: Ref::of(e),
            }),
            _ => None,
        })
        .collect()
}

struct Builder<'a> {
    s: &'a Snapshot,
    facts: &'a ProjectFacts,
    evals: &'a [Evaluation<'a>],
    controls: &'a [ControlStatus<'a>],
    approvals: &'a [SignOff],
}

fn fact(text: String) -> Statement {
    Statement {
        text,
        evidence: Vec::new(),
        declared: true,
    }
}

fn said(text: String, evidence: Vec<Ref>) -> Statement {
    Statement {
        text,
        evidence,
        declared: false,
    }
}

impl<'a> Builder<'a> {
    /// A declared fact, or the need for it listed as missing.
    fn declared(
        &self,
        value: &Option<String>,
        label: &str,
        key: &str,
        statements: &mut Vec<Statement>,
        missing: &mut Vec<String>,
    ) {
        match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => statements.push(fact(format!("{label}: {}", md::text(v)))),
            None => missing.push(format!(
                "{label} (`{key}` in [tool.venturalitica.annex-iv] of pyproject.toml)"
            )),
        }
    }

    fn general(&self, bom: Option<&Value>) -> Section {
        let (mut st, mut missing) = (Vec::new(), Vec::new());
        let f = self.facts;
        self.declared(
            &f.system_name,
            "System",
            "system-name",
            &mut st,
            &mut missing,
        );
        self.declared(
            &f.system_version,
            "Version",
            "system-version",
            &mut st,
            &mut missing,
        );
        self.declared(&f.provider, "Provider", "provider", &mut st, &mut missing);
        self.declared(
            &f.intended_purpose,
            "Intended purpose",
            "intended-purpose",
            &mut st,
            &mut missing,
        );
        self.declared(
            &f.deployment,
            "Placing on the market, hardware",
            "deployment",
            &mut st,
            &mut missing,
        );
        self.declared(
            &f.instructions_for_use,
            "Instructions for use",
            "instructions-for-use",
            &mut st,
            &mut missing,
        );
        // The software, from the bill of materials of the latest scan, if
        // the BOM on disk is the one that scan recorded.
        let scan = self
            .s
            .entries
            .iter()
            .rev()
            .find(|e| e.kind == Some(EventKind::Scan));
        let serial = |scan: &Entry| match &scan.typed {
            Some(Ok(Payload::Scan(p))) => p.bom_serial.clone(),
            _ => None,
        };
        match (scan, bom) {
            (Some(scan), Some(bom))
                if bom["serialNumber"].as_str().is_some()
                    && bom["serialNumber"].as_str().map(str::to_string) == serial(scan) =>
            {
                let components: Vec<String> = bom["components"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        format!(
                            "{} {} ({})",
                            md::text(c["name"].as_str().unwrap_or("?")),
                            md::text(c["version"].as_str().unwrap_or("")),
                            md::text(c["type"].as_str().unwrap_or("component"))
                        )
                    })
                    .collect();
                st.push(said(
                    format!(
                        "Software and models, from the bill of materials (CycloneDX, {}): {}.",
                        md::text(bom["serialNumber"].as_str().unwrap_or("")),
                        if components.is_empty() {
                            "no components".to_string()
                        } else {
                            components.join("; ")
                        }
                    ),
                    vec![Ref::of(scan)],
                ));
            }
            (Some(scan), _) => missing.push(format!(
                "the bill of materials of scan #{} (.venturalitica/bom.json is absent or from another scan: run `venturalitica scan`)",
                scan.seq
            )),
            (None, _) => missing.push(
                "a bill of materials of the software and models (run `venturalitica scan`)".into(),
            ),
        }
        let mut kernels: BTreeMap<&str, &Entry> = BTreeMap::new();
        for e in &self.s.entries {
            if let Some(k) = e.text("kernel") {
                kernels.entry(k).or_insert(e);
            }
        }
        for (kernel, e) in kernels {
            st.push(said(
                format!("Developed in notebook kernel {}.", md::code(kernel)),
                vec![Ref::of(e)],
            ));
        }
        Section {
            number: 1,
            title: "General description of the AI system",
            statements: st,
            missing,
        }
    }

    fn development(&self) -> Section {
        let (mut st, mut missing) = (Vec::new(), Vec::new());
        // The data, one statement per fingerprint, first and last use.
        let mut data: Vec<(&str, Vec<&Evaluation<'a>>)> = Vec::new();
        let mut by_fingerprint: std::collections::HashMap<&str, usize> = Default::default();
        for e in self.evals {
            let Some(fp) = e.fingerprint() else { continue };
            let i = *by_fingerprint.entry(fp).or_insert_with(|| {
                data.push((fp, Vec::new()));
                data.len() - 1
            });
            data[i].1.push(e);
        }
        for (fp, uses) in &data {
            let (first, last) = (uses[0], uses[uses.len() - 1]);
            let d = &first.results.data;
            let mut refs = vec![Ref::of(first.entry)];
            if last.seq() != first.seq() {
                refs.push(Ref::of(last.entry));
            }
            st.push(said(
                format!(
                    "Data: {} ({} rows; columns used: {}), fingerprint {fp}, evaluated {} time(s).",
                    md::text(first.source()),
                    d.rows.map_or_else(|| "null".to_string(), |n| n.to_string()),
                    md::text(&d.columns_used.join(", ")),
                    uses.len()
                ),
                refs,
            ));
        }
        if data.is_empty() {
            missing.push(
                "the data used for training, validation and testing (no policy was evaluated on data)"
                    .into(),
            );
        }
        // Development sessions and the computational resources they used.
        let view = model::energy(self.s);
        // Each session's first cell, in one pass (a trail has many sessions).
        let mut first_cells: BTreeMap<u64, &Entry> = BTreeMap::new();
        for c in &view.cells {
            if let Some(pid) = c.entry.pid {
                first_cells.entry(pid).or_insert(c.entry);
            }
        }
        for session in &view.sessions {
            let first = first_cells.get(&session.pid).map(|e| Ref::of(e));
            st.push(said(
                format!(
                    "Notebook session {} (pid {}), from {}: {} cells, {} s of execution, {} J ({}–{} J), {} g CO2e.",
                    md::text(session.notebook.as_deref().unwrap_or("(unnamed)")),
                    session.pid,
                    session.first_ts,
                    session.cells,
                    num(Some(session.duration_s)),
                    num(Some(session.energy.total_j)),
                    num(Some(session.energy.low_j)),
                    num(Some(session.energy.high_j)),
                    num(Some(session.energy.co2e_g)),
                ),
                first.into_iter().collect(),
            ));
        }
        for w in &view.windows {
            st.push(said(
                format!(
                    "Measured run {}: {} s, {} J ({}–{} J, CPU by {}), {} g CO2e.",
                    md::code(w.name),
                    num(Some(w.energy.wall_s)),
                    num(Some(w.energy.total_j)),
                    num(Some(w.energy.low_j)),
                    num(Some(w.energy.high_j)),
                    md::text(&w.energy.cpu_method),
                    num(Some(w.energy.co2e_g)),
                ),
                vec![Ref::of(w.entry)],
            ));
        }
        if view.sessions.is_empty() && view.windows.is_empty() {
            missing
                .push("the computational resources used (no metered cell or monitored run)".into());
        }
        // Validation and testing: the policies evaluated.
        let mut policies: Vec<(&str, Vec<&Evaluation<'a>>)> = Vec::new();
        for e in self.evals {
            match policies.iter_mut().find(|(sha, _)| *sha == e.policy_sha()) {
                Some((_, uses)) => uses.push(e),
                None => policies.push((e.policy_sha(), vec![e])),
            }
        }
        for (sha, uses) in &policies {
            let first = uses[0];
            let passed = uses.iter().filter(|e| e.passed()).count();
            st.push(said(
                format!(
                    "Validation and testing: policy \"{}\" version {} (sha256 {sha}) evaluated {} time(s), {passed} passing.",
                    md::text(first.policy_title()),
                    md::text(first.policy_version().unwrap_or("—")),
                    uses.len()
                ),
                uses.iter().map(|e| Ref::of(e.entry)).collect(),
            ));
        }
        if policies.is_empty() {
            missing.push("validation and testing procedures (no evaluation recorded)".into());
        }
        // Annex IV 2(g): test reports dated and signed by the responsible persons.
        for a in self.approvals {
            st.push(said(
                format!(
                    "Approved by {} ({}) on {}: {} (SSHSIG, namespace `venturalitica-approval`; `venturalitica verify --allowed-signers FILE` or `ssh-keygen -Y verify` checks it).",
                    md::text(&a.principal),
                    md::text(&a.role),
                    md::text(&a.date),
                    md::text(&a.signature)
                ),
                vec![a.evidence.clone()],
            ));
        }
        let f = self.facts;
        self.declared(
            &f.human_oversight,
            "Human oversight measures",
            "human-oversight",
            &mut st,
            &mut missing,
        );
        self.declared(
            &f.cybersecurity,
            "Cybersecurity measures",
            "cybersecurity",
            &mut st,
            &mut missing,
        );
        Section {
            number: 2,
            title: "Elements of the AI system and the process of its development",
            statements: st,
            missing,
        }
    }

    fn monitoring(&self) -> Section {
        let (mut st, mut missing) = (Vec::new(), Vec::new());
        for c in self.controls {
            let groups: Vec<String> = c
                .control
                .groups
                .iter()
                .map(|g| {
                    let rates: Vec<String> = g
                        .rates
                        .iter()
                        .map(|(k, v)| format!("{} {}", md::text(k), num(*v)))
                        .collect();
                    format!(
                        "{} (n = {}{}{})",
                        md::text(&g.group),
                        g.n,
                        if rates.is_empty() { "" } else { ", " },
                        rates.join(", ")
                    )
                })
                .collect();
            if !groups.is_empty() {
                st.push(said(
                    format!(
                        "Performance by group for {} ({}): {}.",
                        md::code(c.id()),
                        md::text(&c.control.metric_key),
                        groups.join("; ")
                    ),
                    vec![Ref::of(c.latest.entry)],
                ));
            }
            if c.status() != Status::Pass {
                st.push(said(
                    format!(
                        "Limitation: {} is {} in its latest evaluation{}.",
                        md::code(c.id()),
                        c.status().name().to_uppercase(),
                        c.control
                            .reason
                            .as_deref()
                            .map(|r| format!(" ({})", md::text(r)))
                            .unwrap_or_default()
                    ),
                    vec![Ref::of(c.latest.entry)],
                ));
            }
        }
        let mut inputs: Vec<(&str, &Evaluation<'a>)> = Vec::new();
        for e in self.evals.iter().rev() {
            if !inputs.iter().any(|(k, _)| *k == e.policy_key()) {
                inputs.push((e.policy_key(), e));
            }
        }
        for (_, e) in inputs.iter().rev() {
            let mapping: Vec<String> = e
                .results
                .data
                .mapping
                .iter()
                .map(|(slot, col)| format!("{} = {}", md::text(slot), md::text(col)))
                .collect();
            st.push(said(
                format!(
                    "Input data for \"{}\": {}.",
                    md::text(e.policy_title()),
                    if mapping.is_empty() {
                        "no columns bound".into()
                    } else {
                        mapping.join(", ")
                    }
                ),
                vec![Ref::of(e.entry)],
            ));
        }
        if self.controls.is_empty() {
            missing.push("the system's performance and its limits (no control evaluated)".into());
        }
        if let Some(l) = self.facts.limitations.as_deref() {
            st.push(fact(format!(
                "Known limitations (declared): {}",
                md::text(l)
            )));
        }
        Section {
            number: 3,
            title: "Monitoring, functioning and control of the AI system",
            statements: st,
            missing,
        }
    }

    fn metrics(&self) -> Section {
        let (mut st, mut missing) = (Vec::new(), Vec::new());
        for c in self.controls {
            let interval = match &c.control.ci {
                Some(ci) => format!(
                    ", {:.0}% CI [{}, {}]",
                    ci.level * 100.0,
                    num(Some(ci.lower)),
                    num(Some(ci.upper))
                ),
                None => String::new(),
            };
            let why = c.control.risk.get("threshold_justification");
            st.push(said(
                format!(
                    "{}: {} = {}{interval}; rule {} {}; {}{}.",
                    md::code(c.id()),
                    md::text(&c.control.metric_key),
                    num(c.control.actual_value),
                    c.control.operator,
                    num(Some(c.control.threshold)),
                    c.status().name().to_uppercase(),
                    why.map(|w| format!("; threshold chosen because: {}", md::text(w)))
                        .unwrap_or_default()
                ),
                vec![Ref::of(c.latest.entry)],
            ));
            if why.is_none() {
                missing.push(format!(
                    "why the threshold of {} is appropriate (`threshold_justification` on the control)",
                    md::code(c.id())
                ));
            }
        }
        if self.controls.is_empty() {
            missing.push("performance metrics (no control evaluated)".into());
        }
        Section {
            number: 4,
            title: "Appropriateness of the performance metrics",
            statements: st,
            missing,
        }
    }

    fn risk(&self) -> Section {
        let (mut st, mut missing) = (Vec::new(), Vec::new());
        for c in self.controls {
            let risk = &c.control.risk;
            if risk.is_empty() {
                continue;
            }
            let fields: Vec<String> = risk
                .iter()
                .map(|(k, v)| format!("{} {}", md::text(k), md::text(&v.to_string())))
                .collect();
            st.push(said(
                format!(
                    "Risk treated by control {} ({}): {}; latest status {}.",
                    md::code(c.id()),
                    md::text(c.latest.policy_title()),
                    fields.join(", "),
                    c.status().name().to_uppercase()
                ),
                vec![Ref::of(c.latest.entry)],
            ));
        }
        if st.is_empty() {
            missing.push(
                "a risk management system: no policy names a risk (`risk_id`, a risk register in an SSP's `risks`)"
                    .into(),
            );
        }
        Section {
            number: 5,
            title: "Risk management system (Article 9)",
            statements: st,
            missing,
        }
    }

    fn changes(&self) -> Section {
        let (mut st, mut missing) = (Vec::new(), Vec::new());
        let mut seen: Vec<&str> = Vec::new();
        for e in self.evals {
            if !seen.contains(&e.policy_sha()) {
                seen.push(e.policy_sha());
                st.push(said(
                    format!(
                        "{}: policy \"{}\" version {} (sha256 {}) first evaluated.",
                        e.entry.ts,
                        md::text(e.policy_title()),
                        md::text(e.policy_version().unwrap_or("—")),
                        e.policy_sha()
                    ),
                    vec![Ref::of(e.entry)],
                ));
            }
        }
        let mut data_by_source: BTreeMap<&str, &str> = BTreeMap::new();
        for e in self.evals {
            let Some(fp) = e.fingerprint() else { continue };
            if let Some(previous) = data_by_source.insert(e.source(), fp) {
                if previous != fp {
                    st.push(said(
                        format!(
                            "{}: the data of {} changed (fingerprint {previous} → {fp}).",
                            e.entry.ts,
                            md::text(e.source())
                        ),
                        vec![Ref::of(e.entry)],
                    ));
                }
            }
        }
        self.declared(
            &self.facts.predetermined_changes,
            "Pre-determined changes",
            "predetermined-changes",
            &mut st,
            &mut missing,
        );
        Section {
            number: 6,
            title: "Changes through the lifecycle",
            statements: st,
            missing,
        }
    }

    fn standards(&self) -> Section {
        let (mut st, mut missing) = (Vec::new(), Vec::new());
        match self.facts.standards.as_deref() {
            Some(list) if !list.is_empty() => {
                for s in list {
                    st.push(fact(format!("Applied: {}", md::text(s))));
                }
            }
            _ => missing.push(
                "the harmonised standards or common specifications applied (`standards` in [tool.venturalitica.annex-iv])"
                    .into(),
            ),
        }
        let mut shapes: Vec<(&str, &Evaluation<'a>)> = Vec::new();
        for e in self.evals {
            let shape: &str = &e.results.policy.shape;
            if !shapes.iter().any(|(s, _)| *s == shape) {
                shapes.push((shape, e));
            }
        }
        for (shape, e) in shapes {
            st.push(said(
                format!(
                    "Controls are kept as versioned policies (shape {}, each stored under its SHA-256) and evaluated as recorded.",
                    md::code(shape)
                ),
                vec![Ref::of(e.entry)],
            ));
        }
        Section {
            number: 7,
            title: "Harmonised standards and specifications applied",
            statements: st,
            missing,
        }
    }

    fn declaration(&self) -> Section {
        let (mut st, mut missing) = (Vec::new(), Vec::new());
        self.declared(
            &self.facts.declaration_of_conformity,
            "EU declaration of conformity",
            "declaration-of-conformity",
            &mut st,
            &mut missing,
        );
        Section {
            number: 8,
            title: "EU declaration of conformity (Article 47)",
            statements: st,
            missing,
        }
    }

    fn post_market(&self) -> Section {
        let (mut st, mut missing) = (Vec::new(), Vec::new());
        self.declared(
            &self.facts.post_market_monitoring,
            "Post-market monitoring plan",
            "post-market-monitoring",
            &mut st,
            &mut missing,
        );
        if let (Some(first), Some(last)) = (self.evals.first(), self.evals.last()) {
            st.push(said(
                format!(
                    "{} evaluation(s) recorded from {} to {}; the latest is the basis of sections 3 to 5.",
                    self.evals.len(),
                    first.entry.ts,
                    last.entry.ts
                ),
                vec![Ref::of(first.entry), Ref::of(last.entry)],
            ));
        }
        // The references drift is measured against, and what it found.
        for e in &self.s.entries {
            if let Some(Ok(Payload::Reference(p))) = &e.typed {
                st.push(said(
                    format!(
                        "Reference {} recorded from {} ({} rows; columns {}), snapshot SHA-256 {}: drift controls compare later data with it.",
                        md::text(&p.name),
                        md::text(&p.source),
                        p.rows,
                        md::text(&p.columns.join(", ")),
                        md::text(&p.reference_sha256)
                    ),
                    vec![Ref::of(e)],
                ));
            }
        }
        for c in self.controls {
            let ctl = c.control;
            let Some(drift) = &ctl.drift else { continue };
            let moved = if drift.drifted.is_empty() {
                "no feature moved".to_string()
            } else {
                format!("moved: {}", md::text(&drift.drifted.join(", ")))
            };
            st.push(said(
                format!(
                    "Drift control {} ({} {} {}) against reference {}: latest value {}, {} over {} evaluation(s); {moved}.",
                    md::text(&ctl.id),
                    md::text(&ctl.metric_key),
                    md::text(&ctl.operator),
                    ctl.threshold,
                    md::text(&drift.reference),
                    ctl.actual_value.map_or("none".to_string(), |v| format!("{v:.4}")),
                    ctl.status,
                    c.history.len()
                ),
                vec![Ref::of(c.latest.entry)],
            ));
        }
        Section {
            number: 9,
            title: "Post-market monitoring (Article 72)",
            statements: st,
            missing,
        }
    }
}
