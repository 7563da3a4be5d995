//! `venturalitica scan`: what the project is made of and where it stands.
//!
//! # Layout
//!
//! - [`inventory`]: dependencies from manifests and lock files; project files.
//! - [`detect`]: datasets and models the code loads (documented heuristics).
//! - [`bom`]: the CycloneDX 1.6 bill of materials.
//! - [`latest`]: the latest result of every control in the evidence trail.
//! - [`oscal`]: those results as OSCAL `assessment-results`.
//!
//! [`scan`] runs them all and writes `.venturalitica/bom.json`,
//! `.venturalitica/assessment-results.json` and
//! `.venturalitica/trace_latest.json`, and appends a `scan` event.

pub mod bom;
pub mod detect;
pub mod inventory;
pub mod latest;
pub mod oscal;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use venturalitica_evidence::store::BOM_FILE;
use venturalitica_evidence::{EventKind, EvidenceError, Store};
use venturalitica_vocab::project::Pyproject;
use venturalitica_vocab::results::Status;

pub use latest::LatestControl;

/// Why a scan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A manifest or lock file does not parse.
    #[error("{}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    #[error(transparent)]
    Evidence(#[from] EvidenceError),
    /// An `enforce` event whose results are not a results document.
    #[error("evidence event {seq} is an evaluation whose results cannot be read: {reason}")]
    Unreadable { seq: u64, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a scan found.
#[derive(Debug)]
pub struct Scan {
    pub passed: bool,
    pub controls: Vec<LatestControl>,
    pub bom: Value,
    pub bom_path: PathBuf,
    pub assessment_path: PathBuf,
    pub latest_path: PathBuf,
    /// The scan event's place in the chain (`verify --head` takes it).
    pub anchor: venturalitica_evidence::Head,
    /// Whether the evaluations came from a checkpoint or the whole trail.
    pub evidence_read: venturalitica_evidence::Source,
}

impl Scan {
    /// The scan as `scan --format json` prints it and the agent's `scan` op
    /// answers.
    pub fn report(&self) -> Value {
        json!({
            "passed": self.passed,
            "controls": self.controls,
            "components": self.component_counts(),
            "bom": self.bom_path,
            "assessment_results": self.assessment_path,
            "trace_latest": self.latest_path,
            "anchor": self.anchor.to_string(),
            "evidence_read": self.evidence_read,
        })
    }

    /// Component counts by CycloneDX type.
    pub fn component_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for c in self.bom["components"].as_array().into_iter().flatten() {
            *counts
                .entry(c["type"].as_str().unwrap_or("?").to_string())
                .or_insert(0) += 1;
        }
        counts
    }
}

/// The project's name and version from `[project]`; the directory's name
/// without one. A broken pyproject.toml is an error (the inventory reads
/// the same file).
fn project_identity(root: &Path) -> Result<(String, Option<String>), ScanError> {
    let pyproject = Pyproject::read(root).map_err(|e| ScanError::Parse {
        path: e.path,
        reason: e.reason,
    })?;
    let project = pyproject.as_ref().and_then(Pyproject::project);
    let name = project
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .or_else(|| {
            root.canonicalize()
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "project".to_string());
    let version = project
        .and_then(|p| p.get("version"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok((name, version))
}

/// Scans the project at `root` and writes its outputs.
pub fn scan(root: &Path) -> Result<Scan, ScanError> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let files = inventory::walk(root);
    let packages = inventory::packages(root, &files)?;
    let mut assets = Vec::new();
    for nb in &files.notebooks {
        for (cell, source) in detect::notebook_cells(&root.join(nb)) {
            detect::scan_source(
                &source,
                &format!("{}#cell{cell}", nb.display()),
                &mut assets,
            );
        }
    }
    for py in &files.python {
        if let Ok(text) = std::fs::read_to_string(root.join(py)) {
            detect::scan_source(&text, &py.display().to_string(), &mut assets);
        }
    }
    let store = Store::open(root)?;
    let (controls, evidence_read) = latest::latest_controls(&store)?;
    let policies = stored_policies(&store, root);
    let (name, version) = project_identity(root)?;
    let bom = bom::build(&bom::BomInputs {
        root,
        project_name: name.clone(),
        project_version: version,
        packages: &packages,
        notebooks: &files.notebooks,
        assets: &assets,
        policies: &policies,
        timestamp: now.clone(),
    });
    let passed = !controls.iter().any(LatestControl::blocks);
    let assessment = oscal::assessment_results(&name, &controls, &now);

    let write = |file: &str, value: &Value| -> Result<PathBuf, ScanError> {
        let text = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
        Ok(store.write_file(file, text.as_bytes())?)
    };
    let bom_path = write(BOM_FILE, &bom)?;
    let assessment_path = write("assessment-results.json", &assessment)?;
    let failing: Vec<&LatestControl> = controls
        .iter()
        .filter(|c| c.status != Status::Pass)
        .collect();
    let appended = store.append(
        EventKind::Scan,
        json!({
            "passed": passed,
            "controls": controls.len(),
            "failing": failing.iter().map(|c| &c.control_id).collect::<Vec<_>>(),
            "bom_serial": bom["serialNumber"],
            "components": bom["components"].as_array().map_or(0, Vec::len),
        }),
    )?;
    let latest_path = store.write_latest(&json!({
        "kind": "scan",
        "passed": passed,
        "compliance_score": if passed { 1.0 } else { 0.0 },
        "scanned_at": now,
        "project": name,
        // The anchor: kept outside the project (a CI artifact), it lets
        // `verify --head` prove nothing up to this scan changed since.
        "evidence": { "seq": appended.seq, "hash": appended.hash, "anchor": appended.head().to_string() },
        "controls": controls,
        "bom": BOM_FILE,
        "assessment_results": "assessment-results.json",
    }))?;
    Ok(Scan {
        passed,
        controls,
        bom,
        bom_path,
        assessment_path,
        latest_path,
        anchor: appended.head(),
        evidence_read,
    })
}

/// Stored policy copies as (path relative to the root, sha256).
fn stored_policies(store: &Store, root: &Path) -> Vec<(String, String)> {
    store
        .policy_copies()
        .into_iter()
        .map(|(path, sha)| {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .display()
                .to_string();
            (rel, sha)
        })
        .collect()
}
