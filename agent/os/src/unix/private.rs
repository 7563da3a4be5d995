//! Unix file modes.

use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub fn open_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.mode(0o600);
    options
}

pub fn file_builder(builder: &mut tempfile::Builder<'_, '_>) {
    builder.permissions(std::fs::Permissions::from_mode(0o600));
}

pub fn dir_builder(builder: &mut tempfile::Builder<'_, '_>) {
    builder.permissions(std::fs::Permissions::from_mode(0o700));
}

/// Sets the mode again: an existing file opened for writing keeps its old one.
pub fn restrict(path: &Path) -> std::io::Result<()> {
    let mode = if std::fs::metadata(path)?.is_dir() {
        0o700
    } else {
        0o600
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

pub fn is_private(path: &Path) -> std::io::Result<bool> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o077 == 0)
}

/// Test helper: readable by everyone.
#[cfg(test)]
pub fn widen(path: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}
