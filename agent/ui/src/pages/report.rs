//! The Report page: the Annex IV document, as `venturalitica report
//! annex-iv` writes it, from the facts the server read.

use maud::html;
use serde_json::Value;

use super::verification;
use crate::annex::{self, ProjectFacts};
use crate::html::{page, pill};
use crate::trail::Snapshot;

/// `facts`: the project's declared facts, or why they cannot be read (the
/// document is then built without them); `bom`: what `scan` wrote.
pub fn report(
    s: &Snapshot,
    project: &str,
    facts: Result<ProjectFacts, String>,
    bom: Option<&Value>,
    generated_at: &str,
) -> String {
    let (facts, problem) = match facts {
        Ok(f) => (f, None),
        Err(e) => (ProjectFacts::default(), Some(e)),
    };
    let doc = annex::build(s, &facts, bom, project, generated_at);
    let body = html! {
        p.noprint {
            a href="javascript:print()" { "Print" }
            " · the same document: " code { "venturalitica report annex-iv --format md|html|pdf" }
        }
        @if let Some(problem) = problem {
            p {
                (pill("error")) " the project file cannot be read, so no declared facts are shown: "
                (problem)
            }
        }
        p { (verification(s)) }
        (doc.to_html())
    };
    page("/report", "Report", s.head(), false, body)
}
