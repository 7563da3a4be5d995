//! A stored policy version's text, line-numbered, each control's line
//! anchored (`#control-ID`); the server reads the copy (hash checked).

use std::collections::HashMap;
use std::path::Path;

use maud::{html, Markup};
use venturalitica_evidence::CopyError;

use crate::filter::Filter;
use crate::html::{page, pill, short_hash};
use crate::model::{evaluations, Evaluation};
use crate::trail::Snapshot;

/// The page of the policy version `sha`, given its kept copy as read; `None`
/// when no evaluation used it.
pub fn policy_text(s: &Snapshot, sha: &str, copy: Result<Vec<u8>, CopyError>) -> Option<String> {
    let evals = evaluations(s);
    let used: Vec<&Evaluation<'_>> = evals.iter().filter(|e| e.policy_sha() == sha).collect();
    let first = used.first()?;
    let lane = Filter {
        policy: Some(sha.to_string()),
        ..Filter::default()
    }
    .href(None, None);
    let head = html! {
        h1 { "Policy " (first.policy_title()) @if let Some(v) = first.policy_version() { " v" (v) } }
        table {
            tr { th { "file" } td.mono { (first.results.policy.path) } }
            tr { th { "sha256" } td.mono { (sha) } }
            tr {
                th { "evaluations" }
                td { (used.len()) ": " a href=(lane) { "its lane in the Evidence Graph" } }
            }
        }
    };
    let body = match copy {
        Ok(text) => {
            html! { (head) (text_with_anchors(&first.results.policy.path, &String::from_utf8_lossy(&text))) }
        }
        Err(CopyError::Altered { actual, .. }) => html! {
            (head)
            p {
                (pill("error")) " the stored copy's SHA-256 is " (short_hash(&actual))
                ", not the one the evaluations recorded: it is not shown."
            }
        },
        Err(CopyError::Unreadable { path, source }) => html! {
            (head)
            p { (pill("error")) " the stored copy " code { (path.display()) } " cannot be read: " (source) }
        },
        Err(e @ CopyError::NotADigest(_)) => html! { (head) p { (pill("error")) " " (e) } },
    };
    Some(page("", "Policy", s.head(), false, body))
}

/// The text, each line numbered, each control's first line anchored, from
/// the policy parser itself.
fn text_with_anchors(path: &str, text: &str) -> Markup {
    let mut anchors: HashMap<usize, String> = HashMap::new();
    let parsed = venturalitica_policy::parse_policy(Path::new(path), text);
    if let Ok(policy) = &parsed {
        for c in &policy.controls {
            anchors
                .entry(c.location.line)
                .or_insert_with(|| c.id.clone());
        }
    }
    html! {
        @if let Err(e) = &parsed {
            p.muted { "Controls are not marked in the text: " (e) }
        }
        p.muted { "The copy kept in the evidence store, byte for byte; its hash matches." }
        pre.policy-text {
            @for (i, line) in text.lines().enumerate() {
                @let n = i + 1;
                @let number = html! { span.ln { (format!("{n:>4}")) } " " (line) };
                @match anchors.get(&n) {
                    Some(id) => { span id=(format!("control-{id}")) class="control-line" { (number) } }
                    None => { span { (number) } }
                }
                "\n"
            }
        }
    }
}
