//! One module per subcommand.

pub mod agent;
pub mod approve;
pub mod enforce;
pub mod export;
pub mod kernel;
pub mod key;
pub mod monitor;
pub mod reference;
pub mod report;
pub mod scan;
pub mod ui;
pub mod verify;

use std::path::{Path, PathBuf};

/// The project root: `--root`, else the nearest marked ancestor of the cwd.
pub fn project_root(root: Option<&Path>) -> anyhow::Result<PathBuf> {
    match root {
        Some(r) => Ok(r.to_path_buf()),
        None => Ok(venturalitica_evidence::find_root(&std::env::current_dir()?)),
    }
}
