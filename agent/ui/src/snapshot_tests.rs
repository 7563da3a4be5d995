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

/// The fixture's Annex IV document, as `report annex-iv` builds it.
fn annex_iv(f: &Fixture) -> annex::Document {
    let facts = ProjectFacts::read(&f.ctx.root).expect("the project's facts");
    annex::build(
        &f.trail.verified(),
        &facts,
        annex::bom(&f.ctx.store).as_ref(),
        "demo",
        "2026-12-06T00:00:00Z",
    )
}

/// What the server reads for an event's page.
fn files(f: &Fixture, seq: u64) -> pages::EventFiles {
    let snapshot = f.trail.verified();
    pages::EventFiles {
        chart: f.ctx.store.chart_path(seq).is_file(),
        payload: snapshot
            .get(seq)
            .expect("the event")
            .full_payload(&f.ctx.store),
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
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d", "[time]");
    s.add_filter(r"sha256 [0-9a-f]{12}", "sha256 [short]");
    s.add_filter(r#"<option value="\d+""#, r#"<option value="[pid]""#);
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
    let html = pages::event(&f.trail.verified(), 1, files(&f, 1)).expect("event 1");
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn the_annex_iv_markdown() {
    let f = fixture();
    let doc = annex_iv(&f);
    settings().bind(|| insta::assert_snapshot!(doc.to_markdown()));
}

#[test]
fn the_evidence_graph_with_an_evaluation_open() {
    let f = fixture();
    let filter = crate::filter::Filter {
        open: Some(1),
        ..crate::filter::Filter::default()
    };
    let html = pages::graph_page(&f.trail.verified(), &f.ctx, Ok(filter));
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn the_evidence_graph_says_why_a_filter_is_refused() {
    let f = fixture();
    let html = pages::graph_page(
        &f.trail.verified(),
        &f.ctx,
        Err("from: \"<soon>\" is not a date".into()),
    );
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn a_policy_versions_text() {
    let f = fixture();
    let sha = hex::encode(Sha256::digest(POLICY.as_bytes()));
    let html = pages::policy_text(&f.trail.verified(), &sha, f.ctx.store.read_policy(&sha))
        .expect("the policy page");
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn the_energy_page() {
    let f = fixture();
    let html = pages::energy(&f.trail.verified());
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn the_report_page() {
    let f = fixture();
    let facts = ProjectFacts::read(&f.ctx.root).map_err(|e| e.to_string());
    let bom = annex::bom(&f.ctx.store);
    let html = pages::report(
        &f.trail.verified(),
        "demo",
        facts,
        bom.as_ref(),
        "2026-12-06T00:00:00Z",
    );
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn a_cells_event_page() {
    let f = fixture();
    let html = pages::event(&f.trail.verified(), 2, files(&f, 2)).expect("event 2");
    settings().bind(|| insta::assert_snapshot!(html));
}

#[test]
fn the_annex_iv_as_a_file() {
    let f = fixture();
    let doc = annex_iv(&f);
    settings().bind(|| insta::assert_snapshot!(crate::annex_iv_page(&doc)));
}
