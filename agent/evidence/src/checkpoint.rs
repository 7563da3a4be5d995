//! A signed checkpoint of the trail: what readers need of the events up to
//! one of them, so a reader of a million events reads the checkpoint and
//! only the events after it.
//!
//! `.venturalitica/checkpoint.bin` is one file, replaced atomically:
//!
//! ```text
//! <header JSON>\n          what it covers, the chain's state there, its index's digest
//! <key hex> <sig hex>\n    Ed25519 over "venturalitica-checkpoint-v1\n" SHA-256(header line)
//! <others>                 one [`Indexed`] per event but cells, bincode
//! <cells>                  one [`Indexed`] per cell, bincode, in chunks
//! ```
//!
//! Two sections, so a reader of evaluations (the scan) decodes a few
//! thousand entries, not a million; the cells in chunks of [`CHUNK`], each
//! with its digest, so they are checked and decoded on every core.
//!
//! It is never trusted over the trail. A reader takes it only when its
//! signature verifies, its signer is trusted (the reader's own evidence key,
//! or a key given as trusted), the event it covers is still on the trail
//! where it says with the hash it says, and its index matches the signed
//! digest; otherwise the reader reads the whole trail and says why. Every
//! event after it is checked as usual. One file rather than a database: it
//! is written rarely (every [`DEFAULT_EVERY`] new events), read whole or
//! by its first two lines, and a rename keeps header and index together.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::chain::Event;
use crate::index::Indexed;
use crate::key::{EvidenceKey, PublicKey};
use crate::verify::{ChainState, Head};

/// The checkpoint's file name in the store.
pub const FILE: &str = "checkpoint.bin";

/// How many events after the checkpoint make a reader write a new one.
pub const DEFAULT_EVERY: u64 = 10_000;

const FORMAT: u32 = 1;
const SIG_DOMAIN: &[u8] = b"venturalitica-checkpoint-v1\n";

/// Whether readers use and write checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointPolicy {
    /// Read the whole trail every time (the outputs are the same).
    Off,
    /// Use a trusted checkpoint, and write a new one when at least this many
    /// events follow it (or there is none and the trail has this many).
    Every(u64),
}

impl CheckpointPolicy {
    /// From `VENTURALITICA_CHECKPOINT`: `off`, or how many new events make a
    /// new checkpoint (default [`DEFAULT_EVERY`]).
    pub fn from_env() -> CheckpointPolicy {
        match std::env::var("VENTURALITICA_CHECKPOINT") {
            Ok(v) if v.trim().eq_ignore_ascii_case("off") => CheckpointPolicy::Off,
            Ok(v) => match v.trim().parse::<u64>() {
                Ok(n) => CheckpointPolicy::Every(n.max(1)),
                Err(_) => {
                    tracing::warn!(value = %v, "VENTURALITICA_CHECKPOINT is neither `off` nor a number; using the default");
                    CheckpointPolicy::Every(DEFAULT_EVERY)
                }
            },
            Err(_) => CheckpointPolicy::Every(DEFAULT_EVERY),
        }
    }
}

/// The event a checkpoint covers up to, and where its line is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Covers {
    pub seq: u64,
    pub hash: String,
    /// Where the event's line starts in `trace.jsonl`.
    pub line_start: u64,
    /// Just past its newline: where the events after it start.
    pub end: u64,
}

/// One section of the index that follows the signature line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexRef {
    pub entries: usize,
    pub bytes: u64,
    pub sha256: String,
}

/// The sections of the index, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sections {
    /// Every event but cells: evaluations, windows, scans, exports.
    pub others: IndexRef,
    /// The cells, in chunks of [`CHUNK`] entries.
    pub cells: Vec<IndexRef>,
}

/// Cells per chunk of the cells section.
pub const CHUNK: usize = 1 << 16;

/// Which section to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Others,
    Cells,
}

/// The signed first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    pub covers: Covers,
    pub chain: ChainState,
    pub index: Sections,
    pub written_at: String,
    pub tool: String,
}

/// Why a checkpoint was not used (the reader then reads the whole trail).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refused {
    #[error("there is none yet")]
    Missing,
    #[error("it cannot be read ({0})")]
    Unreadable(String),
    #[error("its signature does not verify")]
    BadSignature,
    #[error("it is signed by {0}, which is not a trusted key")]
    Untrusted(String),
    #[error(
        "no key to trust it with: the evidence key cannot be loaded and no trusted key was given"
    )]
    NoTrust,
    #[error("the trail no longer has event {seq} where it says: {why}")]
    OffChain { seq: u64, why: String },
    #[error("its index does not match its signed digest")]
    BadIndex,
    #[error("event {0} no longer matches it (the trail was changed before the checkpoint; `venturalitica verify --full` names the change)")]
    Changed(u64),
}

/// A checkpoint whose signature, signer and covered event were checked.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub header: Header,
    pub signer: PublicKey,
    path: PathBuf,
    index_start: u64,
}

impl Checkpoint {
    /// Reads `dir`'s checkpoint and checks it against `trace` (see the
    /// module docs); its index is read by [`Checkpoint::index`].
    pub fn read(dir: &Path, trace: &Path, trusted: &[PublicKey]) -> Result<Checkpoint, Refused> {
        let path = dir.join(FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refused::Missing),
            Err(e) => return Err(Refused::Unreadable(e.to_string())),
        };
        let mut reader = BufReader::new(file);
        let unreadable = |e: std::io::Error| Refused::Unreadable(e.to_string());
        let mut header_line = String::new();
        reader.read_line(&mut header_line).map_err(unreadable)?;
        let mut seal_line = String::new();
        reader.read_line(&mut seal_line).map_err(unreadable)?;
        let index_start = (header_line.len() + seal_line.len()) as u64;
        let header_text = header_line
            .strip_suffix('\n')
            .ok_or_else(|| Refused::Unreadable("it is cut short".into()))?;
        let (key_hex, sig_hex) = seal_line
            .trim_end()
            .split_once(' ')
            .ok_or_else(|| Refused::Unreadable("no signature line".into()))?;
        let signer = PublicKey::from_hex(key_hex).ok_or(Refused::BadSignature)?;
        let mut sig = [0u8; 64];
        hex::decode_to_slice(sig_hex, &mut sig).map_err(|_| Refused::BadSignature)?;
        signer
            .verifying()
            .verify(
                &message(header_text.as_bytes()),
                &Signature::from_bytes(&sig),
            )
            .map_err(|_| Refused::BadSignature)?;
        if trusted.is_empty() {
            return Err(Refused::NoTrust);
        }
        if !trusted.contains(&signer) {
            return Err(Refused::Untrusted(signer.id()));
        }
        let header: Header = serde_json::from_str(header_text)
            .map_err(|e| Refused::Unreadable(format!("header: {e}")))?;
        if header.format != FORMAT {
            return Err(Refused::Unreadable(format!(
                "format {} (this version reads {FORMAT})",
                header.format
            )));
        }
        check_covered(trace, &header.covers)?;
        Ok(Checkpoint {
            header,
            signer,
            path,
            index_start,
        })
    }

    /// The point it covers up to.
    pub fn head(&self) -> Head {
        Head {
            seq: self.header.covers.seq,
            hash: self.header.covers.hash.clone(),
        }
    }

    /// One section of its index, checked against the signed digests.
    pub fn section(&self, which: Section) -> Result<Vec<Indexed>, Refused> {
        Ok(self.parts(which)?.into_iter().flatten().collect())
    }

    /// One section, as decoded: a list per part.
    fn parts(&self, which: Section) -> Result<Vec<Vec<Indexed>>, Refused> {
        let others = std::slice::from_ref(&self.header.index.others);
        let (start, parts) = match which {
            Section::Others => (self.index_start, others),
            Section::Cells => (
                self.index_start + self.header.index.others.bytes,
                self.header.index.cells.as_slice(),
            ),
        };
        let total: u64 = parts.iter().map(|p| p.bytes).sum();
        let unreadable = |e: std::io::Error| Refused::Unreadable(e.to_string());
        let mut file = File::open(&self.path).map_err(unreadable)?;
        file.seek(SeekFrom::Start(start)).map_err(unreadable)?;
        let mut bytes = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        file.take(total)
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 != total {
            return Err(Refused::BadIndex);
        }
        let mut pieces = Vec::with_capacity(parts.len());
        let mut rest = bytes.as_slice();
        for part in parts {
            let (piece, after) = rest.split_at(usize::try_from(part.bytes).unwrap_or(usize::MAX));
            pieces.push((piece, part));
            rest = after;
        }
        let decoded = on_every_core(&pieces, |(piece, part)| decode_part(piece, part, which));
        if decoded.len() != pieces.len() {
            return Err(Refused::BadIndex);
        }
        decoded.into_iter().collect()
    }

    /// Its whole index in trail order: one entry per event up to the
    /// covered one.
    pub fn index(&self) -> Result<Vec<Indexed>, Refused> {
        let others = self.section(Section::Others)?;
        let cells = self.parts(Section::Cells)?;
        let merged = merge_by_seq(others, cells.into_iter().flatten());
        let dense = merged
            .iter()
            .enumerate()
            .all(|(i, e)| e.seq == i as u64 + 1);
        let last_ok = merged
            .last()
            .is_some_and(|e| e.seq == self.header.covers.seq && e.hash == self.header.covers.hash);
        if !dense || !last_ok {
            return Err(Refused::BadIndex);
        }
        Ok(merged)
    }

    /// The checkpoint's bytes for `chain` (the state after the last of
    /// `entries`, whose line ends at `end`), signed with `key`.
    pub fn encode(
        key: &EvidenceKey,
        chain: ChainState,
        entries: &[&Indexed],
        end: u64,
    ) -> Option<Vec<u8>> {
        let last = entries.last()?;
        if last.seq != chain.last.seq || last.hash != chain.last.hash {
            return None;
        }
        let (cells, others): (Vec<&Indexed>, Vec<&Indexed>) =
            entries.iter().copied().partition(|e| e.cell.is_some());
        let encode = |part: &[&Indexed]| {
            let bytes = bincode::serde::encode_to_vec(part, bincode::config::standard()).ok()?;
            let reference = IndexRef {
                entries: part.len(),
                bytes: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
            };
            Some((bytes, reference))
        };
        let (others, others_ref) = encode(&others)?;
        let (cells, cells_refs): (Vec<Vec<u8>>, Vec<IndexRef>) = cells
            .chunks(CHUNK)
            .map(encode)
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .unzip();
        let header = Header {
            format: FORMAT,
            covers: Covers {
                seq: last.seq,
                hash: last.hash.clone(),
                line_start: last.offset,
                end,
            },
            chain,
            index: Sections {
                others: others_ref,
                cells: cells_refs,
            },
            written_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            tool: concat!("venturalitica ", env!("CARGO_PKG_VERSION")).to_string(),
        };
        let header = serde_json::to_string(&header).ok()?;
        let sig = key.signing().sign(&message(header.as_bytes()));
        let index_bytes = others.len() + cells.iter().map(Vec::len).sum::<usize>();
        let mut out = Vec::with_capacity(header.len() + 200 + index_bytes);
        out.extend_from_slice(header.as_bytes());
        out.push(b'\n');
        out.extend_from_slice(
            format!(
                "{} {}\n",
                key.public().to_hex(),
                hex::encode(sig.to_bytes())
            )
            .as_bytes(),
        );
        out.extend_from_slice(&others);
        for chunk in &cells {
            out.extend_from_slice(chunk);
        }
        Some(out)
    }
}

/// One part of a section, checked against its digest and decoded.
fn decode_part(bytes: &[u8], part: &IndexRef, which: Section) -> Result<Vec<Indexed>, Refused> {
    if hex::encode(Sha256::digest(bytes)) != part.sha256 {
        return Err(Refused::BadIndex);
    }
    let (entries, _): (Vec<Indexed>, usize) =
        bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .map_err(|_| Refused::BadIndex)?;
    let in_section = |e: &Indexed| e.cell.is_some() == (which == Section::Cells);
    if entries.len() != part.entries || !entries.iter().all(in_section) {
        return Err(Refused::BadIndex);
    }
    Ok(entries)
}

/// `work` on each item, spread over every core, the results in order.
fn on_every_core<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(per_thread)
            .map(|part| scope.spawn(|| part.iter().map(&work).collect::<Vec<R>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

/// Two lists in seq order, merged in seq order.
fn merge_by_seq(a: Vec<Indexed>, b: impl Iterator<Item = Indexed>) -> Vec<Indexed> {
    let mut out = Vec::with_capacity(a.len() + b.size_hint().0);
    let (mut a, mut b) = (a.into_iter().peekable(), b.peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.seq <= y.seq => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(e) => out.push(e),
            None => return out,
        }
    }
}

fn message(header: &[u8]) -> Vec<u8> {
    [SIG_DOMAIN, hex::encode(Sha256::digest(header)).as_bytes()].concat()
}

/// Whether the covered event's line is still where the checkpoint says,
/// with the hash it says, and its content still gives that hash.
fn check_covered(trace: &Path, covers: &Covers) -> Result<(), Refused> {
    let off_chain = |why: &str| Refused::OffChain {
        seq: covers.seq,
        why: why.to_string(),
    };
    let len = covers
        .end
        .checked_sub(covers.line_start)
        .filter(|n| *n > 0 && *n < (1 << 30))
        .ok_or_else(|| off_chain("the checkpoint's offsets are impossible"))?;
    let mut file = File::open(trace).map_err(|_| off_chain("trace.jsonl cannot be read"))?;
    file.seek(SeekFrom::Start(covers.line_start))
        .map_err(|_| off_chain("trace.jsonl is shorter"))?;
    let mut line = vec![0u8; len as usize];
    file.read_exact(&mut line)
        .map_err(|_| off_chain("trace.jsonl is shorter"))?;
    let event = line
        .strip_suffix(b"\n")
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(Event::parse)
        .ok_or_else(|| off_chain("no event line there"))?;
    if event.seq != covers.seq || event.hash != covers.hash {
        return Err(off_chain("another event is there"));
    }
    if !event.hash_is_valid() {
        return Err(off_chain("it was altered"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::CellFacts;
    use crate::verify::ChainChecker;

    fn entry(seq: u64) -> Indexed {
        let cell = !seq.is_multiple_of(50);
        Indexed {
            seq,
            hash: format!("{seq:064x}"),
            offset: seq * 100,
            len: 99,
            kind: if cell { "cell" } else { "enforce" }.into(),
            ts: "2026-12-06T00:00:00.000Z".into(),
            pid: Some(seq / 1000),
            cell: cell.then(|| {
                Box::new(CellFacts {
                    execution_count: Some(seq),
                    ..CellFacts::default()
                })
            }),
        }
    }

    /// A checkpoint of `n` synthetic entries, written to `dir`.
    fn written(dir: &Path, n: u64) -> Checkpoint {
        let key = EvidenceKey::from_seed([3; 32]);
        let entries: Vec<Indexed> = (1..=n).map(entry).collect();
        let mut chain = ChainChecker::new();
        let line = crate::chain::Event::new(1, crate::GENESIS, &serde_json::json!({}), None);
        chain.push(line.to_line().trim_end());
        let mut state = chain.state().unwrap();
        state.last = Head {
            seq: n,
            hash: format!("{n:064x}"),
        };
        let refs: Vec<&Indexed> = entries.iter().collect();
        let bytes = Checkpoint::encode(&key, state, &refs, n * 100 + 100).unwrap();
        let path = dir.join(FILE);
        std::fs::write(&path, &bytes).unwrap();
        let mut lines = bytes.splitn(3, |b| *b == b'\n');
        let header_line = lines.next().unwrap();
        let seal_line = lines.next().unwrap();
        Checkpoint {
            header: serde_json::from_slice(header_line).unwrap(),
            signer: key.public(),
            path,
            index_start: (header_line.len() + seal_line.len() + 2) as u64,
        }
    }

    #[test]
    fn cells_in_several_chunks_come_back_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let n = (3 * CHUNK) as u64;
        let cp = written(dir.path(), n);
        let cells = (1..=n).filter(|s| !s.is_multiple_of(50)).count();
        assert_eq!(cp.header.index.cells.len(), cells.div_ceil(CHUNK));
        assert!(cp.header.index.cells.len() >= 3);
        let index = cp.index().unwrap();
        assert_eq!(index, (1..=n).map(entry).collect::<Vec<_>>());
        assert!(cp
            .section(Section::Others)
            .unwrap()
            .iter()
            .all(|e| e.kind == "enforce"));
    }

    #[test]
    fn a_changed_byte_in_any_chunk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cp = written(dir.path(), (3 * CHUNK) as u64);
        let good = std::fs::read(&cp.path).unwrap();
        let others = &cp.header.index.others;
        // Each part's byte range: the others, then each chunk of cells.
        let mut start = cp.index_start + others.bytes;
        let mut parts = vec![(Section::Others, cp.index_start, others.bytes)];
        for chunk in &cp.header.index.cells {
            parts.push((Section::Cells, start, chunk.bytes));
            start += chunk.bytes;
        }
        assert_eq!(start as usize, good.len());
        assert!(parts.len() >= 4, "three chunks of cells at least");
        for (which, from, len) in parts {
            for at in [from, from + len / 2, from + len - 1] {
                let mut bytes = good.clone();
                bytes[at as usize] ^= 1;
                std::fs::write(&cp.path, &bytes).unwrap();
                assert_eq!(
                    cp.section(which),
                    Err(Refused::BadIndex),
                    "{which:?} at {at}"
                );
                assert_eq!(cp.index(), Err(Refused::BadIndex), "{which:?} at {at}");
                let other = match which {
                    Section::Others => Section::Cells,
                    Section::Cells => Section::Others,
                };
                assert!(cp.section(other).is_ok(), "{which:?} at {at}");
            }
        }
        std::fs::write(&cp.path, &good).unwrap();
        assert!(cp.index().is_ok());
    }
}
