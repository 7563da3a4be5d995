//! What the dashboard and the Annex IV render from one fixed trail, kept as
//! snapshots (`src/snapshots/`): a change to how they are built (the model,
//! the templates) must leave every byte the same, escaping included, or the
//! snapshot shows what changed. Times and hashes differ per run and are
//! masked; everything else is compared as rendered.

use std::sync::Arc;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use venturalitica_evidence::{EventKind, EvidenceKey, Signing, Store};

use crate::annex::{self, ProjectFacts};
use crate::pages::{self, Context};
use crate::trail::Trail;

const RESULTS: &str = include_str!("../../../labextension/test/fixtures/results.json");
const CELL: &str = include_str!("../../../labextension/test/fixtures/cell-payload.json");
const POLICY: &str = "# a <policy> & its controls\ncontrols:\n  - id: credit-age-disparity\n";

struct Fixture {
    _dir: tempfile::TempDir,
    ctx: Context,
    trail: Trail,
}

/// A project with one of each event: an evaluation (with a user string
/// that needs escaping), a cell, a window and a scan.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path().join("demo");
    std::fs::create_dir_all(&root).expect("the project");
    std::fs::write(
        root.join("pyproject.toml"),
        "[project]\nname = \"demo\"\n[tool.venturalitica.annex-iv]\nintended-purpose = \"Scoring <loan> applications\"\n",
    )
    .expect("pyproject.toml");
    let store = Store::open(&root)
        .expect("a store")
        .with_signing(Signing::Key(Arc::new(EvidenceKey::from_seed([7; 32]))));
    let sha = hex::encode(Sha256::digest(POLICY.as_bytes()));
    store.save_policy(&sha, POLICY).expect("the policy copy");
    let mut results: Value = serde_json::from_str(RESULTS).expect("the results fixture");
    results["policy"]["sha256"] = json!(sha);
    results["policy"]["title"] = json!("Loans <b>&</b> \"fairness\"");
    results["controls"][2]["risk"] =
        json!({"risk_id": "R-1 <age>", "threshold_justification": "the four-fifths rule"});
    let cell: Value = serde_json::from_str(CELL).expect("the cell fixture");
    let events = [
        (
            EventKind::Enforce,
            json!({"origin": "kernel", "results": results}),
        ),
        (EventKind::Cell, cell.clone()),
        (
            EventKind::Monitor,
            json!({"name": "fit <model>", "origin": "kernel", "energy": cell["energy"]}),
        ),
        (
            EventKind::Scan,
            json!({"passed": false, "controls": 3, "failing": ["credit-age-disparity"], "bom_serial": "urn:uuid:0", "components": 8}),
        ),
    ];
    for (kind, payload) in events {
        store.append(kind, payload).expect("an event");
    }
    let ctx = Context {
        project: "demo".into(),
        exports: Value::Null,
        root,
        store: store.clone(),
    };
    Fixture {
        _dir: dir,
        ctx,
        trail: Trail::new(store),
    }
}

/// Masks what differs per run: times, hashes, keys, process ids.
fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
        "[time]",
    );
    s.add_filter(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", "[time]");
    s.add_filter(r"[0-9a-f]{64}", "[sha256]");
    s.add_filter(
        r#"title="\[sha256\]">[0-9a-f]{12}<"#,
        r#"title="[sha256]">[short]<"#,
    );
    s.add_filter(r"pid \d+", "pid [pid]");
    s.add_filter(
        r"<th>process</th><td>\d+</td>",
        "<th>process</th><td>[pid]</td>",
    );
    s.add_filter(r#""pid": \d+"#, r#""pid": [pid]"#);
    s.add_filter(r"session-\d+", "session-[pid]");
    s
}

#[test]
fn the_overview_page() {
    let f = fixture();
    let html = pages::overview(&f.trail.verified(), &f.ctx);
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn the_policy_status_page() {
    let f = fixture();
    let html = pages::policies(&f.trail.verified());
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn an_evaluations_event_page() {
    let f = fixture();
    let html = pages::event(&f.trail.verified(), &f.ctx, 1).expect("event 1");
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn the_annex_iv_markdown() {
    let f = fixture();
    let facts = ProjectFacts::read(&f.ctx.root).expect("the project's facts");
    let doc = annex::build(
        &f.trail.verified(),
        &facts,
        &f.ctx.store,
        "demo",
        "2026-12-06T00:00:00Z",
    );
    settings().bind(|| insta::assert_snapshot!(doc.to_markdown()));
}
