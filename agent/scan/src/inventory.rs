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

use std::str::FromStr;

use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};

use venturalitica_vocab::project::Pyproject;

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
/// What `.gitignore` (and `.ignore`) files exclude is not the project's,
/// whether or not the root is a git checkout; nor are hidden entries and
/// the [`SKIP_DIRS`] (environments, builds, caches).
pub fn walk(root: &Path) -> Files {
    let mut files = Files::default();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .require_git(false)
        .filter_entry(|e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            !(is_dir && SKIP_DIRS.contains(&e.file_name().to_string_lossy().as_ref()))
        })
        .build();
    // An unreadable entry is left out, as a directory we may not list.
    for entry in walker.flatten() {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let name = entry.file_name().to_string_lossy();
        let rel = path.strip_prefix(root).unwrap_or(path).to_path_buf();
        if name.ends_with(".ipynb") {
            files.notebooks.push(rel);
        } else if name.ends_with(".py") {
            files.python.push(rel);
        } else if name.starts_with("requirements") && name.ends_with(".txt") {
            files.requirements.push(rel);
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

/// The name and what a PEP 508 requirement asks for: its version
/// specifiers or `@ <url>`, then `; <markers>` when it has any
/// (`pandas>=2.2; python_full_version >= '3.10'`). `Ok(None)` for what is
/// not a named requirement: a blank or comment line, a pip option (`-r
/// base.txt`, `--index-url`), a bare URL or path. A line that starts like a
/// requirement and does not parse is an error with the parser's reason.
pub fn parse_requirement(line: &str) -> Result<Option<(String, String)>, String> {
    // A comment starts the line or follows whitespace (a URL's `#egg=` does not).
    let line = match line.find(" #").or(line.find("\t#")) {
        Some(i) => &line[..i],
        None if line.trim_start().starts_with('#') => "",
        None => line,
    };
    // pip's per-requirement options (`--hash=...`) follow the requirement.
    let line = line.split(" --").next().unwrap_or_default().trim();
    if !line.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    if let Some(scheme) = line.find("://") {
        if !line[..scheme].contains('@') {
            return Ok(None); // a URL without a name: pip's, not PEP 508
        }
    }
    let requirement = Requirement::<VerbatimUrl>::from_str(line).map_err(|e| e.to_string())?;
    let mut wants = match &requirement.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(v)) => v.to_string(),
        Some(VersionOrUrl::Url(url)) => format!("@ {url}"),
        None => String::new(),
    };
    if let Some(marker) = requirement.marker.try_to_string() {
        wants = if wants.is_empty() {
            format!("; {marker}")
        } else {
            format!("{wants}; {marker}")
        };
    }
    Ok(Some((requirement.name.to_string(), wants)))
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
    let pyproject = Pyproject::read(root).map_err(|e| ScanError::Parse {
        path: e.path,
        reason: e.reason,
    })?;
    if let Some(doc) = pyproject.map(|p| p.doc) {
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
            let parsed = parse_requirement(req).map_err(|reason| ScanError::Parse {
                path: root.join("pyproject.toml"),
                reason: format!("requirement {req:?}: {reason}"),
            })?;
            if let Some((name, spec)) = parsed {
                found.add("pypi", &name, Some(&spec), None, "pyproject.toml");
            }
        }
    }
    for rel in &files.requirements {
        let path = root.join(rel);
        let text = std::fs::read_to_string(&path).map_err(|e| ScanError::Parse {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let source = rel.to_string_lossy();
        for (i, line) in text.lines().enumerate() {
            let parsed = parse_requirement(line).map_err(|reason| ScanError::Parse {
                path: path.clone(),
                reason: format!("line {}: {reason}", i + 1),
            })?;
            if let Some((name, spec)) = parsed {
                found.add("pypi", &name, Some(&spec), None, &source);
            }
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
    fn the_walk_leaves_out_what_gitignore_and_the_skip_list_exclude() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for f in [
            "a.py",
            "nb/x.ipynb",
            "requirements-dev.txt",
            "scratch/b.py",
            "venv/lib/c.py",
            ".hidden/d.py",
        ] {
            std::fs::create_dir_all(root.join(f).parent().expect("parent")).expect("dirs");
            std::fs::write(root.join(f), "").expect("write");
        }
        std::fs::write(root.join(".gitignore"), "scratch/\n").expect("write");
        let files = walk(root);
        assert_eq!(files.python, [PathBuf::from("a.py")]);
        assert_eq!(files.notebooks, [PathBuf::from("nb/x.ipynb")]);
        assert_eq!(files.requirements, [PathBuf::from("requirements-dev.txt")]);
    }

    #[test]
    fn parses_pep_508_lines() {
        let parse = |l: &str| parse_requirement(l).unwrap();
        assert_eq!(
            parse("pandas[performance] >= 2.2 ; python_version > '3.9'  # why"),
            Some((
                "pandas".into(),
                ">=2.2; python_full_version >= '3.10'".into()
            ))
        );
        assert_eq!(
            parse("scikit_learn==1.5.0"),
            Some(("scikit-learn".into(), "==1.5.0".into()))
        );
        // A direct reference keeps its URL (it was dropped before).
        assert_eq!(
            parse("mylib @ https://example.org/mylib-1.0-py3-none-any.whl"),
            Some((
                "mylib".into(),
                "@ https://example.org/mylib-1.0-py3-none-any.whl".into()
            ))
        );
        assert_eq!(
            parse("torch==2.5.1 --hash=sha256:abc"),
            Some(("torch".into(), "==2.5.1".into()))
        );
        assert_eq!(parse("-r base.txt"), None);
        assert_eq!(parse("https://x/y.whl"), None);
        assert_eq!(parse("git+https://x/y.git#egg=y"), None);
        assert_eq!(parse("# only a comment"), None);
        assert!(parse_requirement("pandas >= = 2").is_err());
        assert_eq!(normalise("Scikit__Learn.x"), "scikit-learn-x");
    }
}
