//! The Annex IV document as Markdown (the CLI) and as HTML (the CLI, the
//! dashboard's Report page, and through Chromium as PDF).

use std::fmt::Write;

use super::{md, Document, Statement};
use maud::{html, Markup, PreEscaped};

use crate::html::short_hash;

impl Document {
    /// Markdown; each statement's evidence as `#SEQ sha256:HASH`.
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "# Technical documentation (EU AI Act, Annex IV): {}\n\nGenerated {} by venturalitica {} from the evidence in `.venturalitica/`. Statements marked *declared* come from `pyproject.toml`; every other statement names the events it rests on.\n\n## Evidence integrity\n\n{}\n",
            md::text(&self.system),
            self.generated_at,
            env!("CARGO_PKG_VERSION"),
            md_statement(&self.integrity)
        );
        for s in &self.sections {
            let _ = write!(out, "\n## {}. {}\n\n", s.number, s.title);
            for st in &s.statements {
                out += &md_statement(st);
            }
            if s.statements.is_empty() {
                out += "Nothing in the evidence.\n";
            }
            if !s.missing.is_empty() {
                out += "\n**Missing:**\n\n";
                for m in &s.missing {
                    let _ = writeln!(out, "- {m}");
                }
            }
        }
        out += "\n## Sign-off\n\n| role | name | date | signature |\n|---|---|---|---|\n";
        for a in &self.approvals {
            let cell = |s: &str| md::text(s).replace('|', "\\|");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} [#{} sha256:{}] |",
                cell(&a.role),
                cell(&a.principal),
                cell(&a.date),
                cell(&a.signature),
                a.evidence.seq,
                a.evidence.hash
            );
        }
        out += "| Provider | | | |\n| Compliance / risk | | | |\n";
        out
    }

    /// The document's HTML (a fragment: the dashboard frames it, the CLI
    /// wraps it in a page). Every string from the evidence is escaped by the
    /// template.
    pub fn to_html(&self) -> Markup {
        html! {
            h1 { "Technical documentation (EU AI Act, Annex IV): " (self.system) }
            p.muted {
                "Generated " (self.generated_at) " by venturalitica " (env!("CARGO_PKG_VERSION"))
                " from the evidence in " code { ".venturalitica/" } ". Statements marked " em { "declared" }
                " come from " code { "pyproject.toml" } "; every other statement names the events it rests on."
            }
            h2 #integrity { "Evidence integrity" }
            ul { (html_statement(&self.integrity)) }
            @for s in &self.sections {
                section id=(format!("annex-{}", s.number)) {
                    h2 { (s.number) ". " (s.title) }
                    ul {
                        @for st in &s.statements { (html_statement(st)) }
                        @if s.statements.is_empty() { li.muted { "Nothing in the evidence." } }
                    }
                    @if !s.missing.is_empty() {
                        p { b { "Missing:" } }
                        ul.missing { @for m in &s.missing { li { (html_text(m)) } } }
                    }
                }
            }
            h2 { "Sign-off" }
            table {
                tr { th { "role" } th { "name" } th { "date" } th { "signature" } }
                @for a in &self.approvals {
                    tr {
                        td { (a.role) } td { (a.principal) } td { (a.date) }
                        td {
                            (a.signature) " "
                            a.ev href=(format!("/event/{}", a.evidence.seq)) data-seq=(a.evidence.seq) data-hash=(a.evidence.hash) {
                                "#" (a.evidence.seq) (PreEscaped("&nbsp;")) (short_hash(&a.evidence.hash))
                            }
                        }
                    }
                }
                tr { td { "Provider" } td {} td {} td {} }
                tr { td { "Compliance / risk" } td {} td {} td {} }
            }
        }
    }
}

fn md_statement(st: &Statement) -> String {
    let mut line = format!("- {}", st.text);
    if st.declared {
        line += " *(declared)*";
    }
    for r in &st.evidence {
        let _ = write!(line, " [#{} sha256:{}]", r.seq, r.hash);
    }
    line + "\n"
}

/// A statement's inline Markdown as HTML (user strings in it were escaped
/// when it was built).
fn html_text(text: &str) -> Markup {
    PreEscaped(md::to_html(text))
}

fn html_statement(st: &Statement) -> Markup {
    html! {
        li {
            (html_text(&st.text))
            @if st.declared { " " em.muted { "(declared)" } }
            @for r in &st.evidence {
                " "
                a.ev href=(format!("/event/{}", r.seq)) data-seq=(r.seq) data-hash=(r.hash) {
                    "#" (r.seq) (PreEscaped("&nbsp;")) (short_hash(&r.hash))
                }
            }
        }
    }
}
