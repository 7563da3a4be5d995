//! What a person declares about the system: `[tool.venturalitica.annex-iv]`
//! of the project's `pyproject.toml`, and the bill of materials `scan`
//! wrote. Read here, so building the document reads no file.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use venturalitica_evidence::Store;
use venturalitica_vocab::project::{Pyproject, PyprojectError};

/// The prose a person supplies: `[tool.venturalitica.annex-iv]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProjectFacts {
    pub system_name: Option<String>,
    pub system_version: Option<String>,
    pub provider: Option<String>,
    pub intended_purpose: Option<String>,
    /// How the system is placed on the market or put into service, and the
    /// hardware it runs on.
    pub deployment: Option<String>,
    pub instructions_for_use: Option<String>,
    pub human_oversight: Option<String>,
    pub cybersecurity: Option<String>,
    pub limitations: Option<String>,
    pub predetermined_changes: Option<String>,
    pub standards: Option<Vec<String>>,
    pub declaration_of_conformity: Option<String>,
    pub post_market_monitoring: Option<String>,
}

/// Why the project file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct FactsError {
    pub path: PathBuf,
    pub reason: String,
}

impl ProjectFacts {
    /// `[tool.venturalitica.annex-iv]` of `root/pyproject.toml`; empty when
    /// the file or the table is absent, an error naming the key when a key
    /// is unknown or of the wrong type.
    pub fn read(root: &Path) -> Result<ProjectFacts, FactsError> {
        let facts = |e: PyprojectError| FactsError {
            path: e.path,
            reason: e.reason,
        };
        let Some(pyproject) = Pyproject::read(root).map_err(facts)? else {
            return Ok(ProjectFacts::default());
        };
        let Some(table) = pyproject.tool_table(&["annex-iv"]) else {
            return Ok(ProjectFacts::default());
        };
        let err = |reason: String| facts(pyproject.error(reason));
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| err(format!("[tool.venturalitica.annex-iv]: {e}")))
    }
}

/// The bill of materials the last `scan` wrote (`.venturalitica/bom.json`,
/// CycloneDX), if there is one that parses; the document checks that it is
/// the one that scan recorded.
pub fn bom(store: &Store) -> Option<Value> {
    std::fs::read_to_string(store.bom_path())
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
}
