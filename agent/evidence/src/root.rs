//! Where a project's evidence lives.

use std::path::{Path, PathBuf};

/// Directory name of the store inside a project.
pub const STORE_DIR: &str = ".venturalitica";

/// The nearest ancestor of `start` (itself included) that has
/// `.venturalitica/`, `.git` or `pyproject.toml`; else `start`.
pub fn find_root(start: &Path) -> PathBuf {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    for dir in start.ancestors() {
        if [STORE_DIR, ".git", "pyproject.toml"]
            .iter()
            .any(|m| dir.join(m).exists())
        {
            return dir.to_path_buf();
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_marked_ancestor_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("proj");
        let deep = project.join("notebooks/sub");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(project.join("pyproject.toml"), "").unwrap();
        assert_eq!(find_root(&deep), project.canonicalize().unwrap());
    }

    #[test]
    fn falls_back_to_the_start() {
        let tmp = tempfile::tempdir().unwrap();
        // /tmp itself has no markers on a clean machine; the start is returned.
        let dir = tmp.path().join("plain");
        std::fs::create_dir_all(&dir).unwrap();
        let found = find_root(&dir);
        assert!(found == dir.canonicalize().unwrap() || dir.starts_with(&found));
    }
}
