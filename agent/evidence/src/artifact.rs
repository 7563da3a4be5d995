//! Files a monitored block reads or writes, fingerprinted for the trail.
//!
//! `vl.monitor(inputs=[...], outputs=[...])` names data sets and models the
//! way the Venturalitica SDK does; the agent records each one's SHA-256 and
//! size (inputs when the block starts, outputs when it ends). A file that
//! cannot be read is recorded with the reason, never skipped.

use std::fs::File;
use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};
pub use venturalitica_vocab::events::{Artifact, Artifacts, Fingerprint};

/// `path`'s fingerprint now (streamed, so a large data set costs no
/// memory), or why there is none.
pub fn read(path: &Path) -> Artifact {
    let fingerprint = match sha256_file(path) {
        Ok((sha256, bytes)) => Fingerprint::Hashed { sha256, bytes },
        Err(e) => Fingerprint::Unreadable {
            error: e.to_string(),
        },
    };
    Artifact {
        path: path.to_path_buf(),
        fingerprint,
    }
}

/// The SHA-256 (hex) and length of a file's bytes.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let bytes = io::copy(&mut File::open(path)?, &mut hasher)?;
    Ok((hex::encode(hasher.finalize()), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_hashed_and_a_missing_one_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data.csv");
        std::fs::write(&path, b"abc").expect("write");
        let found = read(&path);
        assert_eq!(
            found.fingerprint,
            Fingerprint::Hashed {
                // SHA-256("abc"), FIPS 180-2 appendix B.1.
                sha256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
                bytes: 3
            }
        );
        let json = serde_json::to_value(&found).expect("json");
        assert_eq!(json["bytes"], 3);
        let missing = read(&dir.path().join("model.pkl"));
        // The OS's own words for a missing file ("No such file or directory",
        // "The system cannot find the file specified").
        let os_words = std::fs::metadata(dir.path().join("model.pkl"))
            .expect_err("missing")
            .to_string();
        assert!(
            matches!(missing.fingerprint, Fingerprint::Unreadable { ref error } if *error == os_words),
            "{:?}",
            missing.fingerprint
        );
    }
}
