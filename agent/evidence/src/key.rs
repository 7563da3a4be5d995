//! The Ed25519 key that signs evidence, and the public keys that check it.
//!
//! The private key lives outside the project, so that write access to
//! `.venturalitica/` is not enough to forge evidence. It is found, in order:
//!
//! 1. `VENTURALITICA_SIGNING_KEY`: the key itself, as PKCS#8 PEM (a CI secret);
//! 2. `VENTURALITICA_SIGNING_KEY_FILE`: a PKCS#8 PEM file;
//! 3. `<config dir>/signing-key.pem`, created on first use with mode 0600,
//!    next to `signing-key.pub.pem` (the public half, to hand to auditors).
//!    The config dir is `VENTURALITICA_CONFIG_DIR`, else the user's
//!    (`$XDG_CONFIG_HOME/venturalitica`, `~/.config/venturalitica`).
//!
//! PEM is the format `openssl genpkey -algorithm ed25519` writes and
//! `openssl pkey -pubout` reads, so keys can be made and inspected without us.

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The environment variable holding the private key as PEM.
pub const KEY_ENV: &str = "VENTURALITICA_SIGNING_KEY";
/// The environment variable naming a private key file.
pub const KEY_FILE_ENV: &str = "VENTURALITICA_SIGNING_KEY_FILE";
/// The environment variable overriding the config directory.
pub const CONFIG_DIR_ENV: &str = "VENTURALITICA_CONFIG_DIR";

const KEY_FILE: &str = "signing-key.pem";
const PUBLIC_FILE: &str = "signing-key.pub.pem";

/// A key that could not be read, made or parsed.
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: not an Ed25519 {what} key in PEM: {reason}")]
    Parse {
        origin: String,
        what: &'static str,
        reason: String,
    },
    #[error(
        "no config directory to keep the signing key in: set {CONFIG_DIR_ENV} or {KEY_FILE_ENV}"
    )]
    NoConfigDir,
    #[error("cannot draw random bytes for a new signing key: {0}")]
    Random(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A private signing key. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct EvidenceKey {
    signing: SigningKey,
    /// Where it came from, for messages.
    pub origin: String,
}

impl fmt::Debug for EvidenceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EvidenceKey")
            .field("id", &self.public().id())
            .field("origin", &self.origin)
            .finish()
    }
}

impl EvidenceKey {
    /// A key from a 32-byte seed (tests and fixtures).
    pub fn from_seed(seed: [u8; 32]) -> EvidenceKey {
        EvidenceKey {
            signing: SigningKey::from_bytes(&seed),
            origin: "seed".into(),
        }
    }

    /// Parses a PKCS#8 PEM private key; `origin` names it in errors.
    pub fn from_pem(pem: &str, origin: &str) -> Result<EvidenceKey, KeyError> {
        let signing = SigningKey::from_pkcs8_pem(pem.trim()).map_err(|e| KeyError::Parse {
            origin: origin.to_string(),
            what: "private",
            reason: e.to_string(),
        })?;
        Ok(EvidenceKey {
            signing,
            origin: origin.to_string(),
        })
    }

    /// The key this process signs with (see the module docs for the order).
    pub fn load_default() -> Result<EvidenceKey, KeyError> {
        if let Ok(pem) = std::env::var(KEY_ENV) {
            return EvidenceKey::from_pem(&pem, KEY_ENV);
        }
        if let Some(path) = std::env::var_os(KEY_FILE_ENV) {
            return EvidenceKey::read(Path::new(&path));
        }
        EvidenceKey::load_or_create(&config_dir().ok_or(KeyError::NoConfigDir)?)
    }

    /// Reads a PEM private key file.
    pub fn read(path: &Path) -> Result<EvidenceKey, KeyError> {
        let pem = std::fs::read_to_string(path).map_err(io(path))?;
        EvidenceKey::from_pem(&pem, &path.display().to_string())
    }

    /// The key in `dir`, made (mode 0600) when there is none. Two processes
    /// racing to make it agree on one: the first to link its file wins.
    pub fn load_or_create(dir: &Path) -> Result<EvidenceKey, KeyError> {
        let path = dir.join(KEY_FILE);
        if path.exists() {
            return EvidenceKey::read(&path);
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        let key = EvidenceKey {
            signing: SigningKey::from_bytes(&seed),
            origin: path.display().to_string(),
        };
        // PKCS#8 v1 (RFC 5208), what `openssl genpkey` writes: OpenSSL 3
        // and Python's `cryptography` refuse the v2 form (with the public
        // key inside) that `SigningKey::to_pkcs8_pem` writes.
        let pem = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: key.signing.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_pem(Default::default())
        .map_err(|e| KeyError::Random(e.to_string()))?;
        // Readable by this user alone (0600; an ACL naming only the user on
        // Windows) before the key is written into it.
        let mut tmp =
            venturalitica_os::private::temp_file_in(dir, ".signing-key-").map_err(io(dir))?;
        std::io::Write::write_all(&mut tmp, pem.as_bytes()).map_err(io(tmp.path()))?;
        tmp.as_file().sync_all().map_err(io(&path))?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => {
                let public = key.public().to_pem();
                let public_path = dir.join(PUBLIC_FILE);
                std::fs::write(&public_path, public).map_err(io(&public_path))?;
                tracing::info!(key = %key.public().id(), path = %path.display(), "created the evidence signing key");
                Ok(key)
            }
            // Another process made it first: use theirs.
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                EvidenceKey::read(&path)
            }
            Err(e) => Err(io(&path)(e.error)),
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    pub(crate) fn signing(&self) -> &SigningKey {
        &self.signing
    }
}

/// The directory holding the signing key.
pub fn config_dir() -> Option<PathBuf> {
    std::env::var_os(CONFIG_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("venturalitica")))
}

/// The path of the default private key file, whether or not it exists.
pub fn default_key_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join(KEY_FILE))
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

impl PublicKey {
    /// Parses the 64 hex digits written on a signed line.
    pub fn from_hex(hex_key: &str) -> Option<PublicKey> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_key, &mut bytes).ok()?;
        VerifyingKey::from_bytes(&bytes).ok().map(PublicKey)
    }

    /// Reads a trusted key: a PEM public key (`openssl pkey -pubout`), a PEM
    /// private key (its public half is taken), or 64 hex digits.
    pub fn read(path: &Path) -> Result<PublicKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let text = text.trim();
        if let Some(key) = PublicKey::from_hex(text) {
            return Ok(key);
        }
        if let Ok(key) = VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey(key));
        }
        match EvidenceKey::from_pem(text, &path.display().to_string()) {
            Ok(key) => Ok(key.public()),
            Err(_) => Err(KeyError::Parse {
                origin: path.display().to_string(),
                what: "public",
                reason: "expected a \"BEGIN PUBLIC KEY\" PEM block or 64 hex digits".into(),
            }),
        }
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// The PEM (SPKI) form.
    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(Default::default())
            .unwrap_or_default()
    }

    /// A short, stable name: `ed25519:` and the first 16 hex digits of the
    /// SHA-256 of the raw key.
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        format!("ed25519:{}", &hex::encode(digest)[..16])
    }

    pub(crate) fn verifying(&self) -> &VerifyingKey {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let made = EvidenceKey::load_or_create(dir.path()).unwrap();
        let again = EvidenceKey::load_or_create(dir.path()).unwrap();
        assert_eq!(made.public(), again.public());
        if std::env::var_os("VL_WINE").is_none() {
            // (wine keeps no ACLs: venturalitica-os's test says so.)
            assert!(venturalitica_os::private::is_private(&dir.path().join(KEY_FILE)).unwrap());
        }
        let public = PublicKey::read(&dir.path().join(PUBLIC_FILE)).unwrap();
        assert_eq!(public, made.public());
        // The private file is accepted as a trusted key too (its public half).
        assert_eq!(
            PublicKey::read(&dir.path().join(KEY_FILE)).unwrap(),
            made.public()
        );
    }

    #[test]
    fn racing_creators_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<PublicKey> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| EvidenceKey::load_or_create(dir.path()).unwrap().public()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    }

    #[test]
    fn hex_and_garbage_trusted_keys() {
        let dir = tempfile::tempdir().unwrap();
        let key = EvidenceKey::from_seed([1; 32]);
        let hex_file = dir.path().join("k.hex");
        std::fs::write(&hex_file, format!("{}\n", key.public().to_hex())).unwrap();
        assert_eq!(PublicKey::read(&hex_file).unwrap(), key.public());
        let bad = dir.path().join("bad.pem");
        std::fs::write(&bad, "hello").unwrap();
        let e = PublicKey::read(&bad).unwrap_err().to_string();
        assert!(
            e.contains("bad.pem") && e.contains("BEGIN PUBLIC KEY"),
            "{e}"
        );
        assert!(key.public().id().starts_with("ed25519:"));
        assert_eq!(key.public().id().len(), "ed25519:".len() + 16);
    }
}
