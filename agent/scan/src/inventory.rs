//! What a project is made of: dependencies from manifests and lock files,
//! notebooks, and the datasets and models its code loads.
//!
//! Sources read: `pyproject.toml` (`[project] dependencies`,
//! `optional-dependencies`, `[dependency-groups]`), `requirements*.txt`,
//! `uv.lock` and `poetry.lock` (exact versions win over ranges), and
//! `Cargo.lock` (registry and git packages; workspace members are the
//! project itself). Files are found by walking the project, skipping VCS,
//! build and environment directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ScanError;

/// Directories never walked.
const SKIP_DIRS: [&str; 10] = [
    ".git",
    ".venturalitica",
    "target",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".pytest_cache",
];

/// A package the project depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `pypi` or `cargo`.
    pub ecosystem: &'static str,
    pub name: String,
    /// An exact version, when a lock file or `==` pins one.
    pub version: Option<String>,
    /// The requirement as written (`>=2.2`), when only a range is known.
    pub requirement: Option<String>,
    /// The files that name it, relative to the root.
    pub sources: Vec<String>,
}

/// Project files of one kind, relative to the root, sorted.
#[derive(Debug, Default)]
pub struct Files {
    pub notebooks: Vec<PathBuf>,
    pub python: Vec<PathBuf>,
    pub requirements: Vec<PathBuf>,
}

/// Walks `root`, collecting notebooks, Python files and requirements files.
pub fn walk(root: &Path) -> Files {
    let mut files = Files::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                if !SKIP_DIRS.contains(&name.as_str()) && !name.starts_with('.') {
                    stack.push(path);
                }
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            if name.ends_with(".ipynb") {
                files.notebooks.push(rel);
            } else if name.ends_with(".py") {
                files.python.push(rel);
            } else if name.starts_with("requirements") && name.ends_with(".txt") {
                files.requirements.push(rel);
            }
        }
    }
    files.notebooks.sort();
    files.python.sort();
    files.requirements.sort();
    files
}

/// PEP 503 normalised name: lower case, runs of `-_.` as one `-`.
pub fn normalise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// (name, requirement) of a PEP 508 line; `None` for options and URLs.
pub fn parse_requirement(line: &str) -> Option<(String, String)> {
    let line = line.split('#').next()?.trim();
    if line.is_empty() || line.starts_with('-') || line.contains("://") {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.".contains(c)))
        .unwrap_or(line.len());
    let name = &line[..end];
    if name.is_empty() {
        return None;
    }
    let mut rest = line[end..].trim_start();
    if rest.starts_with('[') {
        rest = rest.split_once(']').map_or("", |(_, r)| r).trim_start();
    }
    let spec = rest.split(';').next().unwrap_or("").trim();
    Some((name.to_string(), spec.replace(' ', "")))
}

#[derive(Default)]
struct Packages(BTreeMap<(&'static str, String), Package>);

impl Packages {
    fn add(
        &mut self,
        eco: &'static str,
        name: &str,
        spec: Option<&str>,
        exact: Option<&str>,
        source: &str,
    ) {
        let key = (
            eco,
            if eco == "pypi" {
                normalise(name)
            } else {
                name.to_string()
            },
        );
        let p = self.0.entry(key).or_insert_with(|| Package {
            ecosystem: eco,
            name: name.to_string(),
            version: None,
            requirement: None,
            sources: Vec::new(),
        });
        let pinned = spec
            .and_then(|s| s.strip_prefix("=="))
            .filter(|v| !v.contains([',', '*']));
        if let Some(v) = exact.or(pinned) {
            p.version = Some(v.to_string());
        }
        if let Some(s) = spec.filter(|s| !s.is_empty()) {
            p.requirement.get_or_insert_with(|| s.to_string());
        }
        if !p.sources.iter().any(|s| s == source) {
            p.sources.push(source.to_string());
        }
    }
}

fn read_toml(path: &Path) -> Result<Option<toml::Table>, ScanError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(None);
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| ScanError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Every dependency the project declares or locks.
pub fn packages(root: &Path, files: &Files) -> Result<Vec<Package>, ScanError> {
    let mut found = Packages::default();
    if let Some(doc) = read_toml(&root.join("pyproject.toml"))? {
        let project = doc.get("project");
        let mut lists: Vec<&toml::Value> = project
            .and_then(|p| p.get("dependencies"))
            .into_iter()
            .collect();
        for table in [
            project.and_then(|p| p.get("optional-dependencies")),
            doc.get("dependency-groups"),
        ]
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
        {
            lists.extend(table.values());
        }
        for req in lists
            .iter()
            .filter_map(|l| l.as_array())
            .flatten()
            .filter_map(|v| v.as_str())
        {
            if let Some((name, spec)) = parse_requirement(req) {
                found.add("pypi", &name, Some(&spec), None, "pyproject.toml");
            }
        }
    }
    for rel in &files.requirements {
        let text = std::fs::read_to_string(root.join(rel)).unwrap_or_default();
        let source = rel.to_string_lossy();
        for (name, spec) in text.lines().filter_map(parse_requirement) {
            found.add("pypi", &name, Some(&spec), None, &source);
        }
    }
    for lock in ["uv.lock", "poetry.lock"] {
        let Some(doc) = read_toml(&root.join(lock))? else {
            continue;
        };
        for pkg in doc
            .get("package")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            // uv lists the project itself as a virtual/editable source.
            let is_project = pkg
                .get("source")
                .and_then(|s| s.as_table())
                .is_some_and(|s| s.contains_key("editable") || s.contains_key("virtual"));
            if let (Some(name), Some(version), false) = (
                pkg.get("name").and_then(|v| v.as_str()),
                pkg.get("version").and_then(|v| v.as_str()),
                is_project,
            ) {
                found.add("pypi", name, None, Some(version), lock);
            }
        }
    }
    if let Some(doc) = read_toml(&root.join("Cargo.lock"))? {
        for pkg in doc
            .get("package")
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
        {
            if pkg.get("source").is_none() {
                continue; // a workspace member: the project itself
            }
            if let (Some(name), Some(version)) = (
                pkg.get("name").and_then(|v| v.as_str()),
                pkg.get("version").and_then(|v| v.as_str()),
            ) {
                found.add("cargo", name, None, Some(version), "Cargo.lock");
            }
        }
    }
    Ok(found.0.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pep_508_lines() {
        assert_eq!(
            parse_requirement("pandas[performance] >= 2.2 ; python_version > '3.9'  # why"),
            Some(("pandas".into(), ">=2.2".into()))
        );
        assert_eq!(
            parse_requirement("scikit_learn==1.5.0"),
            Some(("scikit_learn".into(), "==1.5.0".into()))
        );
        assert_eq!(parse_requirement("-r base.txt"), None);
        assert_eq!(parse_requirement("https://x/y.whl"), None);
        assert_eq!(normalise("Scikit__Learn.x"), "scikit-learn-x");
    }
}
