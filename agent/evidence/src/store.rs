//! Appending, reading and verifying the evidence store.
//!
//! Writers (several kernels, the CLI, the agent) take an exclusive lock on
//! `.venturalitica/.lock` for each commit: they append a batch of lines with
//! one `write` and one `fsync`, then move `chain_head` to the last of them.
//! A writer killed mid-line leaves a line without a newline: the next append
//! moves it to `trace.torn-<millis>.jsonl` and truncates to the last full
//! line, so a torn line never hides or corrupts the events before it.
//!
//! Readers take no lock. `verify` reads `chain_head` *before* `trace.jsonl`:
//! since a commit moves the head only after its lines are on disk, the head
//! read first can only be at or behind the lines read second, unless the
//! trail was cut. That ordering is the consistent view; a lock would make a
//! long verify stall every kernel.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::chain::{Event, GENESIS};
use crate::checkpoint::CheckpointPolicy;
use crate::key::{EvidenceKey, KeyError};
use crate::kind::EventKind;
use crate::read::{Covered, ReadOptions, Source};
use crate::root::STORE_DIR;
use crate::verify::{ChainChecker, Head, HeadFile, VerifyOptions, VerifyReport};

/// The last scan's bill of materials, in the store.
pub const BOM_FILE: &str = "bom.json";
/// Where energy bases are kept, in the store.
pub(crate) const BASIS_DIR: &str = "basis";
/// Reference snapshots, by SHA-256 (`references/<sha256>.json`).
pub(crate) const REFERENCES_DIR: &str = "references";

/// A store operation that failed, naming the file involved.
#[derive(Debug, Error)]
pub enum EvidenceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line} is not an evidence event")]
    Malformed { path: PathBuf, line: usize },
    #[error("{path}: the last line is not an evidence event, so the next one cannot be chained to it; run `venturalitica verify`")]
    MalformedTail { path: PathBuf },
    #[error("evidence signing key: {0}")]
    Key(#[from] KeyError),
}

/// Why a kept copy (a policy's text) cannot be given out.
#[derive(Debug, Error)]
pub enum CopyError {
    #[error("{0:?} is not a SHA-256, so it names no copy")]
    NotADigest(String),
    #[error("{}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} was altered: its SHA-256 is {actual}, not the one it is named by", path.display())]
    Altered { path: PathBuf, actual: String },
}

/// The bytes of a content-addressed copy at `path`, checked against its
/// name; `path` is `None` when `sha256` is not a digest.
fn read_copy(path: Option<PathBuf>, sha256: &str) -> Result<Vec<u8>, CopyError> {
    let path = path.ok_or_else(|| CopyError::NotADigest(sha256.to_string()))?;
    let bytes = fs::read(&path).map_err(|source| CopyError::Unreadable {
        path: path.clone(),
        source,
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != sha256 {
        return Err(CopyError::Altered { path, actual });
    }
    Ok(bytes)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvidenceError + '_ {
    move |source| EvidenceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where an appended event landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    pub hash: String,
}

impl Appended {
    /// The point to record outside the project as an anchor.
    pub fn head(&self) -> Head {
        Head {
            seq: self.seq,
            hash: self.hash.clone(),
        }
    }
}

/// Which key a store signs its appends with.
#[derive(Debug, Clone)]
pub enum Signing {
    /// The process's key (see [`crate::key`]), loaded once on first append.
    Default,
    /// This key.
    Key(Arc<EvidenceKey>),
    /// No signature (tests of old trails).
    Unsigned,
}

/// The process's key, loaded once: a failure is kept, so it is reported on
/// every append instead of retried on every cell.
fn default_key() -> Result<Arc<EvidenceKey>, String> {
    static KEY: OnceLock<Result<Arc<EvidenceKey>, String>> = OnceLock::new();
    KEY.get_or_init(|| {
        EvidenceKey::load_default()
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
    .clone()
}

/// A project's `.venturalitica/` directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    signing: Signing,
    checkpoints: CheckpointPolicy,
}

impl Store {
    /// Opens (creating if needed) the store under a project root.
    pub fn open(root: &Path) -> Result<Store, EvidenceError> {
        let dir = root.join(STORE_DIR);
        fs::create_dir_all(dir.join("policies")).map_err(io(&dir))?;
        Ok(Store {
            dir,
            signing: Signing::Default,
            checkpoints: CheckpointPolicy::from_env(),
        })
    }

    /// Opens an existing store without creating anything.
    pub fn existing(root: &Path) -> Option<Store> {
        let dir = root.join(STORE_DIR);
        dir.is_dir().then(|| Store {
            dir,
            signing: Signing::Default,
            checkpoints: CheckpointPolicy::from_env(),
        })
    }

    /// The same store, signing with `signing`.
    pub fn with_signing(self, signing: Signing) -> Store {
        Store { signing, ..self }
    }

    /// The same store, using and writing checkpoints as `policy` says.
    pub fn with_checkpoints(self, policy: CheckpointPolicy) -> Store {
        Store {
            checkpoints: policy,
            ..self
        }
    }

    pub fn checkpoints(&self) -> CheckpointPolicy {
        self.checkpoints
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn trace_path(&self) -> PathBuf {
        self.dir.join("trace.jsonl")
    }

    fn head_path(&self) -> PathBuf {
        self.dir.join("chain_head")
    }

    /// The key to sign with now. A key that cannot be loaded does not stop
    /// the evidence (a kernel must keep recording): the event is written
    /// unsigned, this is logged, and `verify` reports it.
    pub(crate) fn key(&self) -> Option<Arc<EvidenceKey>> {
        match &self.signing {
            Signing::Unsigned => None,
            Signing::Key(k) => Some(k.clone()),
            Signing::Default => match default_key() {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::error!(error = %e, "evidence written unsigned: no signing key");
                    None
                }
            },
        }
    }

    /// Appends an event of `kind` with `payload`, under the store lock.
    pub fn append(&self, kind: EventKind, payload: Value) -> Result<Appended, EvidenceError> {
        let mut done = self.append_all(kind, vec![payload])?;
        Ok(done.pop().expect("one payload gives one event"))
    }

    /// Appends one event per payload, in order, under one lock and one
    /// `fsync` (group commit: the proxy's recorder writes queued cells so).
    pub fn append_all(
        &self,
        kind: EventKind,
        payloads: Vec<Value>,
    ) -> Result<Vec<Appended>, EvidenceError> {
        let key = self.key();
        let lock_path = self.dir.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        // The lock is released when `lock` is dropped, on every path.

        let path = self.trace_path();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        self.set_aside_torn_tail(&mut file, &path)?;
        let (mut seq, mut prev) = match last_full_line(&mut file).map_err(io(&path))? {
            None => (1, GENESIS.to_string()),
            Some(line) => {
                let e = Event::parse(&line)
                    .ok_or_else(|| EvidenceError::MalformedTail { path: path.clone() })?;
                (e.seq + 1, e.hash)
            }
        };
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut lines = String::new();
        let mut appended = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let body = json!({
                "kind": kind,
                "ts": ts,
                "pid": std::process::id(),
                "tool": concat!("venturalitica ", env!("CARGO_PKG_VERSION")),
                "payload": payload,
            });
            let event = Event::new(seq, &prev, &body, key.as_deref());
            lines.push_str(&event.to_line());
            appended.push(Appended {
                seq: event.seq,
                hash: event.hash.clone(),
            });
            seq += 1;
            prev = event.hash;
        }
        let Some(last) = appended.last() else {
            return Ok(appended);
        };
        // One write call for all the lines: O_APPEND keeps them contiguous.
        file.write_all(lines.as_bytes()).map_err(io(&path))?;
        file.sync_data().map_err(io(&path))?;
        self.write_atomic(
            &self.head_path(),
            format!("{} {}\n", last.seq, last.hash).as_bytes(),
        )?;
        Ok(appended)
    }

    fn set_aside_torn_tail(&self, file: &mut File, path: &Path) -> Result<(), EvidenceError> {
        let len = file.metadata().map_err(io(path))?.len();
        if len == 0 {
            return Ok(());
        }
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1)).map_err(io(path))?;
        file.read_exact(&mut last).map_err(io(path))?;
        if last[0] == b'\n' {
            return Ok(());
        }
        let keep = last_newline_end(file, len).map_err(io(path))?;
        let mut torn = Vec::new();
        file.seek(SeekFrom::Start(keep)).map_err(io(path))?;
        file.read_to_end(&mut torn).map_err(io(path))?;
        let millis = chrono::Utc::now().timestamp_millis();
        let aside = self.dir.join(format!("trace.torn-{millis}.jsonl"));
        // Kept before the cut, and appended to: two torn tails in one
        // millisecond must not overwrite each other.
        let mut kept = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&aside)
            .map_err(io(&aside))?;
        kept.write_all(&torn).map_err(io(&aside))?;
        kept.sync_data().map_err(io(&aside))?;
        file.set_len(keep).map_err(io(path))?;
        Ok(())
    }

    /// Where the copy of the policy version with hash `sha256` is kept;
    /// `None` unless `sha256` is 64 hex digits (a name from an event must
    /// never reach another path).
    pub fn policy_path(&self, sha256: &str) -> Option<PathBuf> {
        is_sha256(sha256).then(|| self.dir.join("policies").join(format!("{sha256}.yaml")))
    }

    /// The text of the policy copy named `sha256`, checked against it: a
    /// reader never shows or exports an altered copy as the one evaluated.
    pub fn read_policy(&self, sha256: &str) -> Result<Vec<u8>, CopyError> {
        read_copy(self.policy_path(sha256), sha256)
    }

    /// Every policy copy kept, as (path, sha256), sorted; a file of another
    /// name (a writer's temporary file) is not one.
    pub fn policy_copies(&self) -> Vec<(PathBuf, String)> {
        let mut out: Vec<(PathBuf, String)> = fs::read_dir(self.dir.join("policies"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let path = e.path();
                let sha = path.file_stem()?.to_str()?.to_string();
                (path.extension()? == "yaml" && is_sha256(&sha)).then_some((path, sha))
            })
            .collect();
        out.sort();
        out
    }

    /// Where the reference snapshot with hash `sha256` is kept; `None`
    /// unless `sha256` is 64 hex digits.
    pub fn reference_path(&self, sha256: &str) -> Option<PathBuf> {
        is_sha256(sha256).then(|| self.dir.join(REFERENCES_DIR).join(format!("{sha256}.json")))
    }

    /// Saves a reference snapshot's bytes under their SHA-256 (once), and
    /// returns the digest.
    pub fn save_reference(&self, bytes: &[u8]) -> Result<String, EvidenceError> {
        let sha = hex::encode(Sha256::digest(bytes));
        let dir = self.dir.join(REFERENCES_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("{sha}.json"));
        if !path.exists() {
            self.write_atomic(&path, bytes)?;
        }
        Ok(sha)
    }

    /// The bytes of the reference snapshot named `sha256`, checked against
    /// it: drift is never measured against an altered reference.
    pub fn read_reference(&self, sha256: &str) -> Result<Vec<u8>, CopyError> {
        read_copy(self.reference_path(sha256), sha256)
    }

    /// Where the evidence chart of event `seq` is kept.
    pub fn chart_path(&self, seq: u64) -> PathBuf {
        self.dir.join("charts").join(format!("{seq}.svg"))
    }

    /// Where the last scan's bill of materials is kept.
    pub fn bom_path(&self) -> PathBuf {
        self.dir.join(BOM_FILE)
    }

    /// Where an exporter keeps its state (`exports/<name>.json`).
    pub fn export_state_path(&self, name: &str) -> PathBuf {
        self.dir.join("exports").join(format!("{name}.json"))
    }

    /// Saves a policy file's exact text under its hash (once).
    pub fn save_policy(&self, sha256: &str, text: &str) -> Result<PathBuf, EvidenceError> {
        let path = self.dir.join("policies").join(format!("{sha256}.yaml"));
        if !path.exists() {
            self.write_atomic(&path, text.as_bytes())?;
        }
        Ok(path)
    }

    /// Moves an energy report's `basis` (the grid, PUE, TDP, bands: the same
    /// for every cell of a session, 37 % of a cell event's bytes) out of
    /// `payload` into `basis/<sha256>.json`, written once, leaving
    /// `basis_sha256` in its place: the event's hash covers the digest, the
    /// digest the copy, and `verify` checks the copy as it checks policy
    /// copies. `known` holds the digests already saved by this writer. A
    /// copy that cannot be saved leaves the basis where it was.
    pub fn move_basis_out(
        &self,
        payload: &mut Value,
        known: &mut std::collections::HashSet<String>,
    ) {
        let Some(energy) = payload.get_mut("energy").and_then(Value::as_object_mut) else {
            return;
        };
        let Some(basis) = energy.get("basis").filter(|b| b.is_object()) else {
            return;
        };
        let bytes = basis.to_string();
        let sha = hex::encode(sha2::Sha256::digest(bytes.as_bytes()));
        if !known.contains(&sha) {
            let path = self.basis_path(&sha);
            let saved = path.exists()
                || fs::create_dir_all(self.dir.join(BASIS_DIR))
                    .map_err(io(&self.dir))
                    .and_then(|()| self.write_atomic(&path, bytes.as_bytes()))
                    .map_err(|e| tracing::warn!(error = %e, "energy basis kept in the event"))
                    .is_ok();
            if !saved {
                return;
            }
            known.insert(sha.clone());
        }
        energy.remove("basis");
        energy.insert("basis_sha256".into(), Value::String(sha));
    }

    /// Puts an energy report's `basis` back in `payload` from the copy its
    /// `basis_sha256` names, when that copy is there and matches its digest
    /// (otherwise the digest stays, and `verify` names the copy): the
    /// inverse of [`Store::move_basis_out`], for showing a cell whole.
    pub fn restore_basis(&self, payload: &mut Value) {
        let Some(energy) = payload.get_mut("energy").and_then(Value::as_object_mut) else {
            return;
        };
        let Some(sha) = energy.get("basis_sha256").and_then(Value::as_str) else {
            return;
        };
        let Ok(bytes) = fs::read(self.basis_path(sha)) else {
            return;
        };
        if hex::encode(sha2::Sha256::digest(&bytes)) != sha {
            return;
        }
        if let Ok(basis) = serde_json::from_slice::<Value>(&bytes) {
            energy.insert("basis".into(), basis);
        }
    }

    /// Where the energy basis with digest `sha256` is kept.
    pub fn basis_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(BASIS_DIR).join(format!("{sha256}.json"))
    }

    /// Saves the evidence chart of the event `seq` as `charts/<seq>.svg`.
    pub fn save_chart(&self, seq: u64, svg: &str) -> Result<PathBuf, EvidenceError> {
        let dir = self.dir.join("charts");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = self.chart_path(seq);
        self.write_atomic(&path, svg.as_bytes())?;
        Ok(path)
    }

    /// Replaces `.venturalitica/<name>` atomically (`bom.json`, say).
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, EvidenceError> {
        let path = self.dir.join(name);
        self.write_atomic(&path, bytes)?;
        Ok(path)
    }

    /// Replaces `trace_latest.json` atomically.
    pub fn write_latest(&self, value: &Value) -> Result<PathBuf, EvidenceError> {
        self.write_json("trace_latest.json", value)
    }

    /// Replaces `results.json` atomically: the last evaluation's results in
    /// the Venturalitica SDK's shape, which its samples and tools read back.
    /// A convenience copy, not evidence: nothing signs or chains it, and
    /// every reader that must be trusted reads the trail.
    pub fn write_results_copy(&self, value: &Value) -> Result<PathBuf, EvidenceError> {
        self.write_json("results.json", value)
    }

    /// Replaces `.venturalitica/<name>` atomically with `value`, pretty-printed.
    fn write_json(&self, name: &str, value: &Value) -> Result<PathBuf, EvidenceError> {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        self.write_file(name, text.as_bytes())
    }

    /// Writes a temporary file of its own (a unique name per write, so two
    /// writers in one process never share one), syncs it and renames it over
    /// `path`: readers see the old file or the new one, never half.
    pub(crate) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
        let dir = path.parent().unwrap_or(&self.dir);
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(io(dir))?;
        tmp.write_all(bytes).map_err(io(tmp.path()))?;
        tmp.as_file().sync_data().map_err(io(tmp.path()))?;
        // Windows refuses a rename over a file another writer is replacing
        // at that moment: `replace` waits that out, within a bound.
        venturalitica_os::replace(tmp, path).map_err(io(path))
    }

    /// Every complete event, in order; a torn last line is skipped.
    pub fn events(&self) -> Result<Vec<Event>, EvidenceError> {
        let path = self.trace_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io(&path)(e)),
        };
        complete_lines(&text)
            .lines()
            .enumerate()
            .map(|(i, l)| {
                Event::parse(l).ok_or(EvidenceError::Malformed {
                    path: path.clone(),
                    line: i + 1,
                })
            })
            .collect()
    }

    /// `chain_head` as it is now.
    pub fn read_head(&self) -> HeadFile {
        match fs::read_to_string(self.head_path()) {
            Ok(text) => Head::parse(&text).map_or(HeadFile::Garbled(text), HeadFile::At),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HeadFile::Missing,
            Err(e) => HeadFile::Garbled(format!("unreadable: {e}")),
        }
    }

    /// Checks the trail, its head, every policy copy an event refers to, and
    /// `options` (trusted keys, anchors). By default from the last trusted
    /// checkpoint (see [`crate::checkpoint`]): its signature and place on
    /// the chain, then every event after it. With `options.full`, or without
    /// a checkpoint to trust, every event from the first. Safe while writers
    /// append: see the module docs.
    pub fn verify(&self, options: &VerifyOptions) -> Result<VerifyReport, EvidenceError> {
        if options.full || self.checkpoints == CheckpointPolicy::Off {
            return self.verify_full(options);
        }
        let head = self.read_head();
        let mut remember: Vec<u64> = options.anchors.iter().map(|a| a.seq).collect();
        if let HeadFile::At(h) = &head {
            remember.push(h.seq);
        }
        let mut read = self.read_trail(&ReadOptions {
            payloads: false,
            remember,
            trusted: options.trusted.clone(),
            covered: Covered::None,
        })?;
        let head_after = self.read_head();
        let mut report = read
            .checker
            .report(head, head_after, read.torn, &self.dir, options);
        if let Some(note) = read.source.note() {
            report.notes.insert(0, note);
        }
        if let Source::Checkpoint { head, .. } = &read.source {
            report.checkpoint = Some(head.clone());
        }
        Ok(report)
    }

    /// Every event from the first, its signatures checked in batches on
    /// every core.
    fn verify_full(&self, options: &VerifyOptions) -> Result<VerifyReport, EvidenceError> {
        let head = self.read_head();
        let mut checker = ChainChecker::deferring();
        if let HeadFile::At(h) = &head {
            checker.remember(h.seq);
        }
        for anchor in &options.anchors {
            checker.remember(anchor.seq);
        }
        let path = self.trace_path();
        let torn = match File::open(&path) {
            Ok(file) => {
                each_line(file, 0, |_, line| {
                    checker.push(line);
                })
                .map_err(io(&path))?
                .torn
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(io(&path)(e)),
        };
        let head_after = self.read_head();
        Ok(checker.report(head, head_after, torn, &self.dir, options))
    }
}

/// What [`feed_lines`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fed {
    /// Offset just past the last complete line.
    pub end: u64,
    /// Whether a partial last line followed it.
    pub torn: bool,
}

/// Calls `each` with the start offset and text of every complete line of
/// `file` from `offset`, streamed (a trail of gigabytes is never held
/// whole). Valid UTF-8 is passed in place; anything else in its lossy form,
/// so the check reports it as altered.
pub(crate) fn each_line(
    mut file: File,
    offset: u64,
    mut each: impl FnMut(u64, &str),
) -> std::io::Result<Fed> {
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(8 << 10);
    let mut end = offset;
    loop {
        line.clear();
        let n = std::io::BufRead::read_until(&mut reader, b'\n', &mut line)?;
        if n == 0 {
            return Ok(Fed { end, torn: false });
        }
        if line.last() != Some(&b'\n') {
            return Ok(Fed { end, torn: true });
        }
        let text = &line[..n - 1];
        match std::str::from_utf8(text) {
            Ok(text) => each(end, text),
            Err(_) => each(end, &String::from_utf8_lossy(text)),
        }
        end += n as u64;
    }
}

/// Whether `s` is a SHA-256 in hex: the only names of store files that
/// come from events.
fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The text up to and including its last newline.
fn complete_lines(text: &str) -> &str {
    match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    }
}

/// Offset just past the last newline before `len` (0 if none).
fn last_newline_end(file: &mut File, len: u64) -> std::io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The last complete line (without newline) of a file that ends in one.
fn last_full_line(file: &mut File) -> std::io::Result<Option<String>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let start = last_newline_end(file, len - 1)?;
    let mut bytes = vec![0u8; (len - 1 - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut bytes)?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::PublicKey;

    fn key(n: u8) -> Arc<EvidenceKey> {
        Arc::new(EvidenceKey::from_seed([n; 32]))
    }

    fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path())
            .unwrap()
            .with_signing(Signing::Key(key(1)));
        (tmp, s)
    }

    fn verify(s: &Store) -> VerifyReport {
        s.verify(&VerifyOptions::default()).unwrap()
    }

    fn lines(s: &Store) -> Vec<String> {
        fs::read_to_string(s.trace_path())
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    fn rewrite(s: &Store, lines: &[String]) {
        fs::write(
            s.trace_path(),
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    fn has(r: &VerifyReport, text: &str) -> bool {
        r.findings.iter().any(|f| f.message.contains(text))
    }

    #[test]
    fn appends_chain_sign_and_verify() {
        let (_t, s) = store();
        for i in 0..3 {
            let a = s.append(EventKind::Enforce, json!({"i": i})).unwrap();
            assert_eq!(a.seq, i + 1);
        }
        let events = s.events().unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[1].prev, events[0].hash);
        let r = verify(&s);
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.events, 3);
        assert_eq!(r.signers.len(), 1);
        assert_eq!(r.signers[0].key_id, key(1).public().id());
        assert_eq!((r.signers[0].first_seq, r.signers[0].last_seq), (1, 3));
        assert_eq!(r.head.as_ref().unwrap().seq, 3);
    }

    #[test]
    fn edited_number_is_found() {
        let (_t, s) = store();
        s.append(EventKind::Enforce, json!({"value": 0.81}))
            .unwrap();
        s.append(EventKind::Enforce, json!({"value": 0.5})).unwrap();
        let mut l = lines(&s);
        l[0] = l[0].replace("0.81", "0.91");
        rewrite(&s, &l);
        let r = verify(&s);
        assert_eq!(r.findings[0].line, Some(1));
        assert!(has(&r, "event 1 was altered"), "{r:?}");
    }

    #[test]
    fn deleted_swapped_and_truncated_lines_are_found() {
        let (_t, s) = store();
        for i in 0..4 {
            s.append(EventKind::Cell, json!({"i": i})).unwrap();
        }
        let orig = lines(&s);

        rewrite(&s, &[orig[0].clone(), orig[2].clone(), orig[3].clone()]);
        let r = verify(&s);
        assert!(has(&r, "event 3 found where event 2 was expected"), "{r:?}");

        rewrite(
            &s,
            &[
                orig[0].clone(),
                orig[2].clone(),
                orig[1].clone(),
                orig[3].clone(),
            ],
        );
        assert!(!verify(&s).ok());

        rewrite(&s, &orig[..3]);
        let r = verify(&s);
        assert!(has(&r, "events deleted from the end"), "{r:?}");

        rewrite(&s, &orig);
        assert!(verify(&s).ok());
    }

    #[test]
    fn a_head_behind_by_any_distance_is_a_note() {
        let (_t, s) = store();
        s.append(EventKind::Cell, json!({"i": 0})).unwrap();
        let head = fs::read_to_string(s.head_path()).unwrap();
        // A group commit of five whose writer died before moving the head.
        s.append_all(EventKind::Cell, (1..6).map(|i| json!({"i": i})).collect())
            .unwrap();
        fs::write(s.head_path(), head).unwrap();
        let r = verify(&s);
        assert!(r.ok(), "{r:?}");
        assert!(
            r.notes.iter().any(|n| n.contains("5 event(s) behind")),
            "{r:?}"
        );
    }

    #[test]
    fn a_head_off_the_chain_is_a_finding() {
        let (_t, s) = store();
        for i in 0..3 {
            s.append(EventKind::Cell, json!({"i": i})).unwrap();
        }
        fs::write(s.head_path(), format!("2 {}\n", "ab".repeat(32))).unwrap();
        assert!(has(&verify(&s), "hash the trail no longer has"));
        fs::write(s.head_path(), "garbage").unwrap();
        assert!(has(&verify(&s), "chain_head is not"));
    }

    #[test]
    fn a_trail_rehashed_without_the_key_fails() {
        let (_t, s) = store();
        for v in [1, 2, 3] {
            s.append(EventKind::Enforce, json!({"value": v})).unwrap();
        }
        // Change event 2 and recompute every hash after it, keeping the
        // signatures (the forger has no private key) and fixing the head.
        let mut events = s.events().unwrap();
        events[1].body = events[1].body.replace("\"value\":2", "\"value\":9");
        let mut prev = events[0].hash.clone();
        for e in events.iter_mut().skip(1) {
            e.prev = prev.clone();
            e.hash = e.computed_hash();
            prev = e.hash.clone();
        }
        rewrite(
            &s,
            &events
                .iter()
                .map(|e| e.to_line().trim_end().to_string())
                .collect::<Vec<_>>(),
        );
        fs::write(s.head_path(), format!("3 {}\n", events[2].hash)).unwrap();
        let r = verify(&s);
        assert!(has(&r, "event 2's signature does not verify"), "{r:?}");
        assert!(has(&r, "event 3's signature does not verify"), "{r:?}");
        assert!(!has(&r, "was altered"), "the hashes were recomputed: {r:?}");

        // Stripped to unsigned lines instead: unsigned after signed.
        let mut prev = events[0].hash.clone();
        let mut out = vec![events[0].to_line().trim_end().to_string()];
        for e in &events[1..] {
            let u = Event::new(e.seq, &prev, &serde_json::from_str(&e.body).unwrap(), None);
            prev = u.hash.clone();
            out.push(u.to_line().trim_end().to_string());
        }
        rewrite(&s, &out);
        fs::write(s.head_path(), format!("3 {prev}\n")).unwrap();
        assert!(has(
            &verify(&s),
            "event 2 is unsigned but follows signed events"
        ));
    }

    #[test]
    fn trusted_keys_decide() {
        let (_t, s) = store();
        s.append(EventKind::Enforce, json!({"v": 1})).unwrap();
        let other = s.clone().with_signing(Signing::Key(key(2)));
        other.append(EventKind::Enforce, json!({"v": 2})).unwrap();
        let r = verify(&s);
        assert!(r.ok(), "two keys, both valid: {r:?}");
        assert_eq!(r.signers.len(), 2);
        let trusting = |keys: Vec<PublicKey>| {
            s.verify(&VerifyOptions {
                trusted: keys,
                ..Default::default()
            })
            .unwrap()
        };
        let r = trusting(vec![key(1).public()]);
        assert!(
            has(
                &r,
                &format!(
                    "signed by {}, which is not a trusted key",
                    key(2).public().id()
                )
            ),
            "{r:?}"
        );
        assert!(trusting(vec![key(1).public(), key(2).public()]).ok());
        assert!(!trusting(vec![key(3).public()]).ok());
    }

    #[test]
    fn old_unsigned_trails_verify_as_unsigned() {
        let (_t, s) = store();
        let s = s.with_signing(Signing::Unsigned);
        s.append(EventKind::Cell, json!({"i": 1})).unwrap();
        let r = verify(&s);
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.unsigned_events, 1);
        assert!(r.notes.iter().any(|n| n.contains("unsigned")), "{r:?}");
        let r = s
            .verify(&VerifyOptions {
                trusted: vec![key(1).public()],
                ..Default::default()
            })
            .unwrap();
        assert!(has(&r, "1 event(s) are unsigned"), "{r:?}");
        // Signing starts: later events are signed, the old ones stay valid.
        let s = s.with_signing(Signing::Key(key(1)));
        s.append(EventKind::Cell, json!({"i": 2})).unwrap();
        assert!(verify(&s).ok());
    }

    #[test]
    fn anchors_prove_what_did_not_change() {
        let (_t, s) = store();
        let a = s.append(EventKind::Scan, json!({"n": 1})).unwrap();
        s.append(EventKind::Cell, json!({"n": 2})).unwrap();
        let anchored = |h: Head| {
            s.verify(&VerifyOptions {
                anchors: vec![h],
                ..Default::default()
            })
            .unwrap()
        };
        let r = anchored(a.head());
        assert!(r.ok() && r.anchors[0].matched, "{r:?}");
        let r = anchored(Head {
            seq: 9,
            hash: a.hash.clone(),
        });
        assert!(has(&r, "past the last event"), "{r:?}");
        // The owner of the key re-signs a changed trail: only the anchor tells.
        let events = s.events().unwrap();
        let e1 = Event::new(
            1,
            GENESIS,
            &json!({"kind": "scan", "payload": {"n": 7}}),
            Some(&key(1)),
        );
        let e2 = Event::new(2, &e1.hash, &events[1].json().unwrap(), Some(&key(1)));
        rewrite(
            &s,
            &[
                e1.to_line().trim_end().into(),
                e2.to_line().trim_end().into(),
            ],
        );
        fs::write(s.head_path(), format!("2 {}\n", e2.hash)).unwrap();
        assert!(verify(&s).ok(), "re-signed with the key, the chain holds");
        let r = anchored(a.head());
        assert!(has(&r, "event 1 differs from anchor"), "{r:?}");
    }

    #[test]
    fn torn_last_line_is_set_aside_and_hides_nothing() {
        let (_t, s) = store();
        s.append(EventKind::Cell, json!({"i": 1})).unwrap();
        s.append(EventKind::Cell, json!({"i": 2})).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(s.trace_path())
            .unwrap();
        f.write_all(b"{\"seq\":3,\"prev\":\"abc").unwrap();
        drop(f);

        assert_eq!(s.events().unwrap().len(), 2, "earlier events still read");
        let r = verify(&s);
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.notes.len(), 1, "{r:?}");

        let a = s.append(EventKind::Cell, json!({"i": 3})).unwrap();
        assert_eq!(a.seq, 3);
        assert!(verify(&s).ok());
        let torn: Vec<_> = fs::read_dir(s.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("trace.torn-"))
            .collect();
        assert_eq!(torn.len(), 1);
        assert_eq!(
            fs::read_to_string(torn[0].path()).unwrap(),
            "{\"seq\":3,\"prev\":\"abc"
        );
    }

    #[test]
    fn writers_never_interleave_and_verify_never_cries_wolf() {
        let (_t, s) = store();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (verifies, alarms) = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..3)
                .map(|w| {
                    let s = s.clone().with_signing(Signing::Key(key(w + 1)));
                    scope.spawn(move || {
                        for i in 0..40 {
                            let batch = (0..(i % 4 + 1))
                                .map(|j| json!({"writer": w, "i": i, "j": j, "pad": "x".repeat(3000)}))
                                .collect();
                            s.append_all(EventKind::Cell, batch).unwrap();
                        }
                    })
                })
                .collect();
            let checker = scope.spawn(|| {
                let (mut runs, mut alarms) = (0, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = verify(&s);
                    runs += 1;
                    if !r.ok() {
                        alarms.push(r);
                    }
                }
                (runs, alarms)
            });
            // Every writer joined before any result is looked at: a writer
            // that failed must stop the checker too, or the test would hang
            // instead of failing.
            let written: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let checked = checker.join().unwrap();
            for (w, result) in written.into_iter().enumerate() {
                assert!(result.is_ok(), "writer {w} failed");
            }
            checked
        });
        assert!(
            alarms.is_empty(),
            "{} of {verifies} verifies cried wolf: {:?}",
            alarms.len(),
            alarms.first()
        );
        let r = verify(&s);
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.events, 3 * (10 * (1 + 2 + 3 + 4)));
        assert!(r.notes.is_empty(), "{r:?}");
    }

    #[test]
    fn an_edited_last_line_stops_appends_instead_of_forking_the_chain() {
        let (_t, s) = store();
        s.append(EventKind::Cell, json!({"i": 1})).unwrap();
        fs::write(s.trace_path(), "not an event\n").unwrap();
        let e = s
            .append(EventKind::Cell, json!({"i": 2}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("the last line is not an evidence event"), "{e}");
    }

    #[test]
    fn concurrent_atomic_writes_in_one_process_never_collide() {
        let (_t, s) = store();
        std::thread::scope(|scope| {
            for w in 0..8 {
                let s = &s;
                scope.spawn(move || {
                    for i in 0..50 {
                        s.write_latest(&json!({"w": w, "i": i, "pad": "y".repeat(10_000)}))
                            .unwrap();
                    }
                });
            }
        });
        let latest: Value =
            serde_json::from_str(&fs::read_to_string(s.dir().join("trace_latest.json")).unwrap())
                .unwrap();
        assert_eq!(latest["i"], 49);
        let leftovers: Vec<_> = fs::read_dir(s.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn an_energy_basis_is_kept_once_by_its_hash_and_checked() {
        let (_t, s) = store();
        let basis = json!({"grid": {"code": "FRA", "g_per_kwh": 56.0}, "pue": {"value": 1.2}});
        let mut known = std::collections::HashSet::new();
        let cells: Vec<Value> = (0..3)
            .map(|i| {
                let mut p =
                    json!({"execution_count": i, "energy": {"total_j": 1.0, "basis": basis}});
                s.move_basis_out(&mut p, &mut known);
                p
            })
            .collect();
        let sha = cells[0]["energy"]["basis_sha256"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(cells
            .iter()
            .all(|c| c["energy"]["basis_sha256"] == sha.as_str()));
        assert!(cells.iter().all(|c| c["energy"].get("basis").is_none()));
        let copy = s.basis_path(&sha);
        let kept: Value = serde_json::from_str(&fs::read_to_string(&copy).unwrap()).unwrap();
        assert_eq!(kept, basis);
        let mut shown = cells[0].clone();
        s.restore_basis(&mut shown);
        assert_eq!(shown["energy"]["basis"], basis);
        s.append_all(EventKind::Cell, cells).unwrap();
        let r = verify(&s);
        assert!(r.ok() && r.bases_checked == 1, "{r:?}");
        fs::write(&copy, "{}").unwrap();
        assert!(has(&verify(&s), "was altered"));
        fs::remove_file(&copy).unwrap();
        assert!(has(&verify(&s), "is missing"));
        // A payload without a basis is left alone.
        let mut plain = json!({"energy": {"total_j": 1.0}});
        s.move_basis_out(&mut plain, &mut known);
        assert_eq!(plain, json!({"energy": {"total_j": 1.0}}));
    }

    #[test]
    fn policy_copies_are_checked() {
        let (_t, s) = store();
        let text = "- id: a\n";
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        let copy = s.save_policy(&sha, text).unwrap();
        s.append(
            EventKind::Enforce,
            json!({"results": {"policy": {"sha256": sha, "imports": []}}}),
        )
        .unwrap();
        assert!(verify(&s).ok());
        fs::write(&copy, "- id: b\n").unwrap();
        assert!(has(&verify(&s), "was altered"));
        fs::remove_file(&copy).unwrap();
        assert!(has(&verify(&s), "is missing"));
    }

    #[test]
    fn a_policy_copy_is_given_out_only_as_the_text_its_name_hashes() {
        let (_t, s) = store();
        let text = "- id: a\n";
        let sha = hex::encode(Sha256::digest(text.as_bytes()));
        let copy = s.save_policy(&sha, text).unwrap();
        assert_eq!(s.read_policy(&sha).unwrap(), text.as_bytes());
        fs::write(&copy, "- id: b\n").unwrap();
        assert!(matches!(
            s.read_policy(&sha),
            Err(CopyError::Altered { .. })
        ));
        fs::remove_file(&copy).unwrap();
        assert!(matches!(
            s.read_policy(&sha),
            Err(CopyError::Unreadable { .. })
        ));
        assert!(matches!(
            s.read_policy("../x"),
            Err(CopyError::NotADigest(_))
        ));
    }
}
