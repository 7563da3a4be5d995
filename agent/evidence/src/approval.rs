//! Approvals: a person signs, with an SSH key they already have, a short
//! statement that names the trail's head they approve. The signature is an
//! SSHSIG (what `ssh-keygen -Y sign` and git's SSH commit signing make), in
//! the namespace [`NAMESPACE`], so anyone can check an approval with
//! `ssh-keygen -Y verify` and an `allowed_signers` file, without this tool.
//!
//! The statement is the exact text signed:
//!
//! ```text
//! venturalitica approval v1
//! head: 12:3f0c…
//! principal: alice@example.com
//! role: model owner
//! date: 2026-12-08T10:00:00Z
//! message: release 1.2 of the loan model
//! ```

use std::path::Path;

use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};
use thiserror::Error;

use serde::Deserialize as _;
use venturalitica_vocab::events::ApprovalPayload;

use crate::verify::Head;

/// The SSHSIG namespace of an approval (`ssh-keygen -Y ... -n`).
pub const NAMESPACE: &str = "venturalitica-approval";

const FIRST_LINE: &str = "venturalitica approval v1";

/// Why an approval could not be made or does not hold.
#[derive(Debug, Error)]
pub enum ApprovalError {
    #[error("{path}: {reason}")]
    Key { path: String, reason: String },
    /// An encrypted key file: the agent may hold it.
    #[error("{0}: the key is encrypted with a passphrase; add it to ssh-agent (ssh-add) and sign through the agent")]
    Encrypted(String),
    #[error("ssh-agent: {0}")]
    Agent(String),
    #[error("the statement is not an approval statement: {0}")]
    Statement(String),
    #[error("the signature cannot be read: {0}")]
    Signature(String),
    #[error("{0}")]
    Refused(String),
}

/// What a person approves, and who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub head: Head,
    pub principal: String,
    pub role: Option<String>,
    pub date: String,
    pub message: Option<String>,
}

impl Statement {
    /// The text signed: one `field: value` per line, after the first.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{FIRST_LINE}\nhead: {}\nprincipal: {}\n",
            self.head,
            one_line(&self.principal)
        );
        if let Some(role) = &self.role {
            out += &format!("role: {}\n", one_line(role));
        }
        out += &format!("date: {}\n", self.date);
        if let Some(message) = &self.message {
            out += &format!("message: {}\n", one_line(message));
        }
        out
    }

    /// A statement read back from its text; only the text [`Statement::text`]
    /// writes reads back.
    pub fn parse(text: &str) -> Result<Statement, ApprovalError> {
        let bad = |why: &str| ApprovalError::Statement(why.to_string());
        let mut lines = text.lines();
        if lines.next() != Some(FIRST_LINE) {
            return Err(bad("its first line is not \"venturalitica approval v1\""));
        }
        let (mut head, mut principal, mut role, mut date, mut message) =
            (None, None, None, None, None);
        for line in lines {
            let (key, value) = line
                .split_once(": ")
                .ok_or_else(|| bad(&format!("{line:?} is not `field: value`")))?;
            let slot = match key {
                "head" => &mut head,
                "principal" => &mut principal,
                "role" => &mut role,
                "date" => &mut date,
                "message" => &mut message,
                other => return Err(bad(&format!("unknown field {other:?}"))),
            };
            if slot.replace(value.to_string()).is_some() {
                return Err(bad(&format!("field {key:?} twice")));
            }
        }
        let statement = Statement {
            head: head
                .as_deref()
                .filter(|h| h.contains(':'))
                .and_then(Head::parse)
                .ok_or_else(|| bad("no head SEQ:HASH"))?,
            principal: principal.ok_or_else(|| bad("no principal"))?,
            role,
            date: date.ok_or_else(|| bad("no date"))?,
            message,
        };
        // Exactly what was signed: nothing reordered, nothing extra.
        if statement.text() != text {
            return Err(bad("it is not in the form this version writes"));
        }
        Ok(statement)
    }
}

/// Line breaks would add fields to the statement: they become spaces.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// A key to sign with: an OpenSSH private key file, or one held by
/// ssh-agent.
#[allow(missing_debug_implementations)] // never printed: it holds a private key
pub enum Signer {
    File(Box<PrivateKey>),
    Agent {
        socket: std::path::PathBuf,
        key: PublicKey,
    },
}

impl Signer {
    /// `path`, an unencrypted OpenSSH private key (an encrypted one is
    /// refused with the way round it: ssh-agent).
    pub fn from_file(path: &Path) -> Result<Signer, ApprovalError> {
        let key_error = |reason: String| ApprovalError::Key {
            path: path.display().to_string(),
            reason,
        };
        let key = PrivateKey::read_openssh_file(path).map_err(|e| key_error(e.to_string()))?;
        // ssh-key 0.6 cannot make an RSA SSHSIG ("cryptographic error"):
        // say so rather than fail obscurely.
        if key.algorithm().is_rsa() {
            return Err(key_error(
                "an RSA key; approvals are signed with Ed25519 or ECDSA keys in this version (ssh-keygen -t ed25519)"
                    .into(),
            ));
        }
        if key.is_encrypted() {
            return Err(ApprovalError::Encrypted(path.display().to_string()));
        }
        Ok(Signer::File(Box::new(key)))
    }

    /// The key ssh-agent at `socket` holds: `public` when given (the
    /// `.pub` beside a key file), else its only, or first Ed25519, key.
    pub fn from_agent(socket: &Path, public: Option<PublicKey>) -> Result<Signer, ApprovalError> {
        let agent = |e: ssh_agent_client_rs::Error| ApprovalError::Agent(e.to_string());
        let mut client = ssh_agent_client_rs::Client::connect(socket).map_err(agent)?;
        // Keys, not certificates: an approval names a key allowed_signers lists.
        let held: Vec<PublicKey> = client
            .list_all_identities()
            .map_err(agent)?
            .into_iter()
            .filter_map(|identity| match identity {
                ssh_agent_client_rs::Identity::PublicKey(key) => Some((*key).into_owned()),
                ssh_agent_client_rs::Identity::Certificate(_) => None,
            })
            .collect();
        let key = match public {
            Some(public) => held
                .into_iter()
                .find(|k| k.key_data() == public.key_data())
                .ok_or_else(|| {
                    ApprovalError::Agent(format!(
                        "it does not hold {}",
                        public.fingerprint(HashAlg::Sha256)
                    ))
                })?,
            // Its Ed25519 key if it has one, else its first.
            None => {
                let first = held.first().cloned();
                held.into_iter()
                    .find(|k| k.algorithm() == ssh_key::Algorithm::Ed25519)
                    .or(first)
                    .ok_or_else(|| ApprovalError::Agent("it holds no key (ssh-add one)".into()))?
            }
        };
        Ok(Signer::Agent {
            socket: socket.to_path_buf(),
            key,
        })
    }

    /// The key to sign with: `key`, else `~/.ssh/id_ed25519`; through the
    /// ssh-agent at `agent` (SSH_AUTH_SOCK) when the file is encrypted, or
    /// when there is no file.
    pub fn choose(key: Option<&Path>, agent: Option<&Path>) -> Result<Signer, ApprovalError> {
        let path = match key {
            Some(path) => Some(path.to_path_buf()),
            None => dirs::home_dir()
                .map(|home| home.join(".ssh").join("id_ed25519"))
                .filter(|p| p.exists()),
        };
        match (path, agent) {
            (Some(path), agent) => match Signer::from_file(&path) {
                // Encrypted: the agent signs with the same key, if it holds it.
                Err(e @ ApprovalError::Encrypted(_)) => {
                    let Some(socket) = agent else { return Err(e) };
                    let public = PrivateKey::read_openssh_file(&path)
                        .map(|k| k.public_key().clone())
                        .ok();
                    Signer::from_agent(socket, public)
                }
                other => other,
            },
            (None, Some(socket)) => Signer::from_agent(socket, None),
            (None, None) => Err(ApprovalError::Agent(
                "no key: ~/.ssh/id_ed25519 does not exist and no agent is running (SSH_AUTH_SOCK); give --key FILE"
                    .into(),
            )),
        }
    }

    /// The key's `SHA256:` fingerprint, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.public().fingerprint(HashAlg::Sha256).to_string()
    }

    pub fn public(&self) -> PublicKey {
        match self {
            Signer::File(key) => key.public_key().clone(),
            Signer::Agent { key, .. } => key.clone(),
        }
    }

    /// The key's comment (often `user@host`), a default principal.
    pub fn comment(&self) -> String {
        match self {
            Signer::File(key) => key.comment().to_string(),
            Signer::Agent { key, .. } => key.comment().to_string(),
        }
    }

    /// `text` signed as an armored SSHSIG in [`NAMESPACE`] (SHA-512, as
    /// `ssh-keygen -Y sign` does).
    pub fn sign(&self, text: &str) -> Result<String, ApprovalError> {
        let signature = |e: ssh_key::Error| ApprovalError::Signature(e.to_string());
        let sig = match self {
            Signer::File(key) => key
                .sign(NAMESPACE, HashAlg::Sha512, text.as_bytes())
                .map_err(signature)?,
            Signer::Agent { socket, key } => {
                let agent = |e: ssh_agent_client_rs::Error| ApprovalError::Agent(e.to_string());
                let data = SshSig::signed_data(NAMESPACE, HashAlg::Sha512, text.as_bytes())
                    .map_err(signature)?;
                let mut client = ssh_agent_client_rs::Client::connect(socket).map_err(agent)?;
                let signed = client.sign(key, &data).map_err(agent)?;
                SshSig::new(key.key_data().clone(), NAMESPACE, HashAlg::Sha512, signed)
                    .map_err(signature)?
            }
        };
        sig.to_pem(LineEnding::LF).map_err(signature)
    }
}

/// An `allowed_signers` file (ssh-keygen(1), "ALLOWED SIGNERS"): who may
/// sign with which key.
#[derive(Debug, Default)]
pub struct AllowedSigners {
    entries: Vec<(Vec<String>, PublicKey)>,
}

impl AllowedSigners {
    pub fn read(path: &Path) -> Result<AllowedSigners, ApprovalError> {
        let text = std::fs::read_to_string(path).map_err(|e| ApprovalError::Key {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        AllowedSigners::parse(&text).map_err(|(line, reason)| ApprovalError::Key {
            path: format!("{}:{line}", path.display()),
            reason,
        })
    }

    /// Each line: principals (comma-separated, `*` and `?` wildcards), then
    /// options if any (`namespaces="..."`, `valid-after=...`), then the key.
    pub fn parse(text: &str) -> Result<AllowedSigners, (usize, String)> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (principals, rest) = line
                .split_once(char::is_whitespace)
                .ok_or((i + 1, "a principal and a key are needed".to_string()))?;
            let rest = rest.trim_start();
            // The key starts at its type; anything before it is options.
            let key_at = rest
                .find("ssh-")
                .into_iter()
                .chain(rest.find("ecdsa-"))
                .chain(rest.find("sk-"))
                .min()
                .ok_or((i + 1, "no public key on the line".to_string()))?;
            let options = split_options(rest[..key_at].trim());
            if let Some(spaces) = options.iter().find_map(|o| o.strip_prefix("namespaces=")) {
                let allowed = spaces.trim_matches('"');
                if !allowed.split(',').any(|n| glob(n, NAMESPACE)) {
                    continue;
                }
            }
            let key = PublicKey::from_openssh(rest[key_at..].trim())
                .map_err(|e| (i + 1, e.to_string()))?;
            entries.push((principals.split(',').map(str::to_string).collect(), key));
        }
        Ok(AllowedSigners { entries })
    }

    /// Whether `principal` may sign with `key`.
    pub fn allows(&self, principal: &str, key: &PublicKey) -> bool {
        self.entries.iter().any(|(principals, allowed)| {
            allowed.key_data() == key.key_data() && principals.iter().any(|p| glob(p, principal))
        })
    }
}

/// Options separated by commas outside double quotes
/// (`namespaces="git,file",valid-after=20260101`).
fn split_options(options: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < options.len() {
        out.push(&options[start..]);
    }
    out
}

/// `pattern` with `*` and `?` (ssh's PATTERNS) matches `text`.
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    go(&p, &t)
}

/// An approval that holds: who approved what, with which key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    pub statement: Statement,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub key: String,
}

/// Checks one approval: its statement reads, names the `principal`
/// recorded beside it, is signed by a key `allowed` lists for that
/// principal in [`NAMESPACE`], and approves a head that is on the trail
/// (`hash_of(seq)` gives the hash the trail has at `seq`).
pub fn check(
    statement: &str,
    signature: &str,
    principal: &str,
    allowed: &AllowedSigners,
    hash_of: impl Fn(u64) -> Option<String>,
) -> Result<Approved, ApprovalError> {
    let parsed = Statement::parse(statement)?;
    let sig = SshSig::from_pem(signature).map_err(|e| ApprovalError::Signature(e.to_string()))?;
    if sig.namespace() != NAMESPACE {
        return Err(ApprovalError::Refused(format!(
            "signed in the namespace {:?}, not {NAMESPACE:?}",
            sig.namespace()
        )));
    }
    let key = PublicKey::from(sig.public_key().clone());
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    key.verify(NAMESPACE, statement.as_bytes(), &sig)
        .map_err(|_| {
            ApprovalError::Refused(format!(
                "the signature by {fingerprint} does not verify over the statement"
            ))
        })?;
    if parsed.principal != principal {
        return Err(ApprovalError::Refused(format!(
            "the statement names {:?}, the event {principal:?}",
            parsed.principal
        )));
    }
    if !allowed.allows(principal, &key) {
        return Err(ApprovalError::Refused(format!(
            "{principal} is not in allowed_signers with the key {fingerprint}"
        )));
    }
    match hash_of(parsed.head.seq) {
        Some(hash) if hash == parsed.head.hash => {}
        _ => {
            return Err(ApprovalError::Refused(format!(
                "it approves {}, which is not on this trail",
                parsed.head
            )))
        }
    }
    Ok(Approved {
        statement: parsed,
        key: fingerprint,
    })
}

/// One `approval` event of a trail, and whether it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApprovalCheck {
    /// The approval event.
    pub seq: u64,
    pub principal: String,
    pub role: Option<String>,
    pub date: String,
    /// The head it approves, `SEQ:HASH`.
    pub head: String,
    pub key: String,
    pub holds: bool,
    /// Why it does not hold.
    pub problem: Option<String>,
}

/// Every approval of `store`'s trail, each checked against `allowed`.
pub fn check_all(
    store: &crate::Store,
    allowed: &AllowedSigners,
) -> Result<Vec<ApprovalCheck>, crate::EvidenceError> {
    let read = store.read_trail(&crate::ReadOptions {
        payloads: true,
        ..Default::default()
    })?;
    let hashes: std::collections::HashMap<u64, &str> = read
        .events
        .iter()
        .map(|e| (e.indexed.seq, e.indexed.hash.as_str()))
        .collect();
    let mut out = Vec::new();
    for event in &read.events {
        if event.indexed.kind() != Some(crate::EventKind::Approval) {
            continue;
        }
        let payload: Result<ApprovalPayload, String> = event
            .payload
            .as_ref()
            .ok_or_else(|| "its payload cannot be read".to_string())
            .and_then(|p| ApprovalPayload::deserialize(p).map_err(|e| e.to_string()));
        let check = match payload {
            Err(problem) => ApprovalCheck {
                seq: event.indexed.seq,
                principal: String::new(),
                role: None,
                date: String::new(),
                head: String::new(),
                key: String::new(),
                holds: false,
                problem: Some(problem),
            },
            Ok(p) => {
                // Only events before the approval can be what it approves.
                let hash_of = |seq: u64| {
                    (seq < event.indexed.seq)
                        .then(|| hashes.get(&seq).map(|h| h.to_string()))
                        .flatten()
                };
                let result = check(&p.statement, &p.signature, &p.principal, allowed, hash_of)
                    .and_then(|ok| {
                        if ok.statement.head.to_string() == p.head {
                            Ok(ok)
                        } else {
                            Err(ApprovalError::Refused(format!(
                                "the event says it approves {}, its statement {}",
                                p.head, ok.statement.head
                            )))
                        }
                    });
                ApprovalCheck {
                    seq: event.indexed.seq,
                    holds: result.is_ok(),
                    problem: result.err().map(|e| e.to_string()),
                    principal: p.principal,
                    role: p.role,
                    date: p.date,
                    head: p.head,
                    key: p.key,
                }
            }
        };
        out.push(check);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PrivateKey {
        PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[9; 32]))
    }

    fn statement() -> Statement {
        Statement {
            head: Head {
                seq: 12,
                hash: "ab".repeat(32),
            },
            principal: "alice@example.com".into(),
            role: Some("model owner".into()),
            date: "2026-12-08T10:00:00Z".into(),
            message: Some("release 1.2\nmessage: forged".into()),
        }
    }

    fn allowed(principal: &str) -> AllowedSigners {
        let public = key().public_key().to_openssh().unwrap();
        AllowedSigners::parse(&format!(
            "# team\n{principal} namespaces=\"git,{NAMESPACE}\" {public}\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_statement_reads_back_and_a_line_break_adds_no_field() {
        let s = statement();
        let text = s.text();
        assert!(
            text.contains("message: release 1.2 message: forged\n"),
            "{text}"
        );
        let back = Statement::parse(&text).unwrap();
        assert_eq!(back.message.as_deref(), Some("release 1.2 message: forged"));
        assert!(Statement::parse(
            &text.replace("role: model owner\n", "role: model owner\nrole: x\n")
        )
        .is_err());
        assert!(Statement::parse(&format!("{text}extra: 1\n")).is_err());
    }

    #[test]
    fn a_signed_approval_holds_and_each_alteration_is_refused() {
        let s = statement();
        let text = s.text();
        let sig = Signer::File(Box::new(key())).sign(&text).unwrap();
        assert!(sig.starts_with("-----BEGIN SSH SIGNATURE-----"));
        let on_trail = |seq: u64| (seq == 12).then(|| "ab".repeat(32));
        let ok = check(
            &text,
            &sig,
            "alice@example.com",
            &allowed("alice@example.com"),
            on_trail,
        )
        .unwrap();
        assert_eq!(ok.statement, Statement::parse(&text).unwrap());
        assert!(ok.key.starts_with("SHA256:"));
        // A wildcard principal, as ssh's patterns allow.
        assert!(check(
            &text,
            &sig,
            "alice@example.com",
            &allowed("*@example.com"),
            on_trail
        )
        .is_ok());

        let refused = |r: Result<Approved, ApprovalError>| r.unwrap_err().to_string();
        let edited = text.replace("release 1.2", "release 1.3");
        assert!(refused(check(
            &edited,
            &sig,
            "alice@example.com",
            &allowed("alice@example.com"),
            on_trail
        ))
        .contains("does not verify"));
        assert!(refused(check(
            &text,
            &sig,
            "alice@example.com",
            &allowed("bob@example.com"),
            on_trail
        ))
        .contains("is not in allowed_signers"));
        assert!(refused(check(
            &text,
            &sig,
            "bob@example.com",
            &allowed("bob@example.com"),
            on_trail
        ))
        .contains("the statement names"));
        let elsewhere = |_: u64| Some("cd".repeat(32));
        assert!(refused(check(
            &text,
            &sig,
            "alice@example.com",
            &allowed("alice@example.com"),
            elsewhere
        ))
        .contains("not on this trail"));
        // A key allowed only for other namespaces does not sign approvals.
        let public = key().public_key().to_openssh().unwrap();
        let git_only =
            AllowedSigners::parse(&format!("alice@example.com namespaces=\"git\" {public}\n"))
                .unwrap();
        assert!(
            refused(check(&text, &sig, "alice@example.com", &git_only, on_trail))
                .contains("is not in allowed_signers")
        );
    }

    #[test]
    fn patterns_match_as_ssh_reads_them() {
        assert!(glob("*@example.com", "a@example.com"));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
        assert!(!glob("alice", "alice2"));
    }
}
