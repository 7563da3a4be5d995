//! Replacing a file by renaming a finished temporary file over it: readers
//! see the old file or the new one, never half.
//!
//! On Unix `rename(2)` always succeeds here. On Windows `MoveFileExW`
//! (`MOVEFILE_REPLACE_EXISTING`) fails with "access denied" while another
//! thread or process is replacing the same file, or holds it open without
//! `FILE_SHARE_DELETE` (std opens with it; other programs may not): that is
//! transient, so it is retried for a bounded time, then reported.

use std::path::Path;
use std::time::{Duration, Instant};

/// How long a replace waits out others' renames before it gives up.
const PATIENCE: Duration = Duration::from_secs(5);

/// Renames `tmp` over `path`.
pub fn replace(mut tmp: tempfile::NamedTempFile, path: &Path) -> std::io::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    let mut wait = Duration::from_millis(1);
    loop {
        match tmp.persist(path) {
            Ok(_) => return Ok(()),
            Err(e)
                if crate::imp::transient_replace_error(&e.error) && Instant::now() < deadline =>
            {
                tmp = e.file;
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn concurrent_replaces_of_one_file_all_land() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("latest.json");
        std::thread::scope(|scope| {
            for w in 0..8 {
                let (dir, target) = (dir.path(), &target);
                scope.spawn(move || {
                    for i in 0..40 {
                        let mut tmp = tempfile::NamedTempFile::new_in(dir).expect("tmp");
                        write!(tmp, "{w} {i} {}", "x".repeat(4096)).expect("write");
                        replace(tmp, target).expect("every replace lands");
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&target).expect("read");
        assert!(text.split(' ').nth(1) == Some("39"), "{}", &text[..8]);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("dir").count(),
            1,
            "no temporary file left"
        );
    }
}
