//! The project's `pyproject.toml`, read by the energy settings
//! (`[tool.venturalitica]`), the scan (dependencies, name and version) and
//! the Annex IV facts (`[tool.venturalitica.annex-iv]`), all with one error
//! policy: no file is no settings; a file that cannot be read or does not
//! parse is an error naming it, never silently ignored.

use std::path::{Path, PathBuf};

/// The file name, at a project's root.
pub const PYPROJECT: &str = "pyproject.toml";

/// A `pyproject.toml` that exists but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct PyprojectError {
    pub path: PathBuf,
    pub reason: String,
}

/// A parsed `pyproject.toml`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pyproject {
    pub path: PathBuf,
    pub doc: toml::Table,
}

impl Pyproject {
    /// `root/pyproject.toml`: `Ok(None)` when there is none.
    pub fn read(root: &Path) -> Result<Option<Pyproject>, PyprojectError> {
        Pyproject::read_file(&root.join(PYPROJECT))
    }

    /// The file at `path`: `Ok(None)` when there is none.
    pub fn read_file(path: &Path) -> Result<Option<Pyproject>, PyprojectError> {
        let err = |reason: String| PyprojectError {
            path: path.to_path_buf(),
            reason,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(e.to_string())),
        };
        let doc = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        Ok(Some(Pyproject {
            path: path.to_path_buf(),
            doc,
        }))
    }

    /// `[project]`.
    pub fn project(&self) -> Option<&toml::Table> {
        self.doc.get("project").and_then(toml::Value::as_table)
    }

    /// `[tool.venturalitica]`, or one of its sub-tables (`["annex-iv"]`).
    pub fn tool_table(&self, path: &[&str]) -> Option<&toml::Table> {
        let mut table = self
            .doc
            .get("tool")
            .and_then(|t| t.get("venturalitica"))
            .and_then(toml::Value::as_table)?;
        for key in path {
            table = table.get(*key).and_then(toml::Value::as_table)?;
        }
        Some(table)
    }

    /// The error for a problem found in the file's content.
    pub fn error(&self, reason: impl Into<String>) -> PyprojectError {
        PyprojectError {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_is_none_broken_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(Pyproject::read(dir.path()).expect("absent").is_none());
        std::fs::write(dir.path().join(PYPROJECT), "[tool.venturalitica\n").expect("write");
        let e = Pyproject::read(dir.path()).expect_err("broken");
        assert!(e.to_string().contains("pyproject.toml"), "{e}");
        std::fs::write(
            dir.path().join(PYPROJECT),
            "[project]\nname = 'x'\n[tool.venturalitica]\npue = 1.2\n[tool.venturalitica.annex-iv]\nprovider = 'p'\n",
        )
        .expect("write");
        let p = Pyproject::read(dir.path())
            .expect("parses")
            .expect("present");
        assert_eq!(
            p.project()
                .and_then(|t| t.get("name"))
                .and_then(|v| v.as_str()),
            Some("x")
        );
        assert!(p.tool_table(&[]).is_some_and(|t| t.contains_key("pue")));
        assert!(p
            .tool_table(&["annex-iv"])
            .is_some_and(|t| t.contains_key("provider")));
        assert!(p.tool_table(&["nothing"]).is_none());
    }
}
