//! Files and directories only this user can read: signing keys, connection
//! files and the proxy's private ipc directory.
//!
//! Unix: created with mode 0600 (files) or 0700 (directories), never wider
//! for a moment. Windows: an explicit, protected ACL that grants the user
//! alone, set before anything is written to the file, so nothing inherited
//! from the folder (Administrators, SYSTEM, or a shared folder's users)
//! applies.

use std::io::Write;
use std::path::Path;

use crate::imp::private as sys;

/// Writes `bytes` to `path` (created or truncated), readable by this user
/// alone.
pub fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = sys::open_options()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    sys::restrict(path)?;
    file.write_all(bytes)
}

/// Writes `bytes` to a new file at `path`, readable by this user alone.
/// Whatever is already there (a file, or a link planted to redirect the
/// write) is removed first, never written through: the file is then
/// created with `O_EXCL` (`CREATE_NEW`), which refuses to follow a link.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = sys::open_options()
        .create_new(true)
        .write(true)
        .open(path)?;
    sys::restrict(path)?;
    file.write_all(bytes)
}

/// A new temporary file in `dir` that only this user can read, removed on
/// drop unless persisted.
pub fn temp_file_in(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    sys::file_builder(&mut builder);
    let file = builder.tempfile_in(dir)?;
    sys::restrict(file.path())?;
    Ok(file)
}

/// A new temporary directory that only this user can enter, removed on drop.
pub fn temp_dir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    sys::dir_builder(&mut builder);
    let dir = builder.tempdir()?;
    sys::restrict(dir.path())?;
    Ok(dir)
}

/// Whether `path` is readable by this user alone (Unix: no group or other
/// bits; Windows: a protected ACL with one entry, this user's).
pub fn is_private(path: &Path) -> std::io::Result<bool> {
    sys::is_private(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_dirs_made_here_are_private_and_others_are_not() {
        if std::env::var_os("VL_WINE").is_some() {
            // Said, not passed: wine 8 accepts an ACL and keeps none (it
            // maps security to Unix mode bits, and leaves those as they
            // were), so only a real Windows runner can check this.
            eprintln!("skipped under wine: it keeps no file ACLs");
            return;
        }
        let dir = temp_dir("vl-os-").expect("private dir");
        assert!(is_private(dir.path()).expect("dir"));
        let key = dir.path().join("key");
        write_file(&key, b"secret").expect("write");
        assert_eq!(std::fs::read(&key).expect("read back"), b"secret");
        assert!(is_private(&key).expect("file"));
        let tmp = temp_file_in(dir.path(), ".k-").expect("temp file");
        assert!(is_private(tmp.path()).expect("temp file"));
        // A plain file in a plain folder is not: the check can fail.
        let open = tempfile::tempdir().expect("tempdir");
        let plain = open.path().join("plain");
        std::fs::write(&plain, b"x").expect("write");
        sys::widen(&plain).expect("widen");
        assert!(!is_private(&plain).expect("plain"));
        // Writing again keeps it private (truncate, not recreate).
        write_file(&key, b"again").expect("rewrite");
        assert!(is_private(&key).expect("file"));
    }

    #[cfg(unix)]
    #[test]
    fn replace_file_writes_a_new_file_and_never_through_a_link() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::write(&target, b"theirs").expect("write");
        let planted = dir.path().join("inner.json");
        std::os::unix::fs::symlink(&target, &planted).expect("symlink");
        replace_file(&planted, b"ours").expect("replaced");
        assert_eq!(
            std::fs::read(&target).expect("target"),
            b"theirs",
            "the link's target is untouched"
        );
        assert_eq!(std::fs::read(&planted).expect("ours"), b"ours");
        assert!(!std::fs::symlink_metadata(&planted)
            .expect("meta")
            .file_type()
            .is_symlink());
        assert!(is_private(&planted).expect("private"));
        // A stale file from a crashed run is replaced too.
        replace_file(&planted, b"again").expect("again");
        assert_eq!(std::fs::read(&planted).expect("again"), b"again");
    }
}
