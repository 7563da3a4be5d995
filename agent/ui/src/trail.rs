//! The evidence trail as the dashboard sees it: parsed once, then only the
//! lines appended since the last look are read, so a page over 100,000
//! events costs what rendering it costs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use venturalitica_evidence::read::read_payload;
use venturalitica_evidence::{
    CellFacts, ChainChecker, EventKind, Indexed, ReadEvent, ReadOptions, Source, Store,
    VerifyOptions, VerifyReport,
};
use venturalitica_vocab::events::Payload;
use venturalitica_vocab::results::Results;

/// One event, parsed.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub hash: String,
    /// `None` for a kind this version does not write (a newer agent's).
    pub kind: Option<EventKind>,
    /// The kind as the event names it, for display.
    pub kind_name: String,
    pub ts: String,
    pub pid: Option<u64>,
    /// The payload as written (shown whole on the event's page); `Null`
    /// for a cell, whose payload is read from its line when shown.
    pub payload: Value,
    /// The payload of a kind this version writes, other than a cell's,
    /// typed; the reason when it is not of its kind's shape (shown, never
    /// skipped silently).
    pub typed: Option<Result<Payload, String>>,
    /// A cell's or window's energy, read out of the payload once: the
    /// Energy page sums it over every event on each request.
    pub energy: Option<Box<crate::model::Energy>>,
    /// A cell's execution count and duration, likewise.
    pub execution_count: Option<u64>,
    pub duration_s: Option<f64>,
    /// A cell's other facts (status, notebook, kernel): a cell's payload is
    /// not kept, [`Trail::payload`] reads it from its line when shown.
    pub cell: Option<Box<CellFacts>>,
    /// Where its line is in `trace.jsonl`, and its length.
    pub offset: u64,
    pub len: u32,
}

impl Entry {
    /// A cell's status, notebook or kernel, from its indexed facts.
    pub fn text(&self, key: &str) -> Option<&str> {
        let facts = self.cell.as_ref()?;
        match key {
            "status" => facts.status.as_deref(),
            "notebook" => facts.notebook.as_deref(),
            "kernel" => facts.kernel.as_deref(),
            _ => None,
        }
    }

    /// The evaluation of an `enforce` event whose payload is one.
    pub fn results(&self) -> Option<&Results> {
        self.typed.as_ref()?.as_ref().ok()?.results()
    }

    /// The whole payload: a cell's is read from its line in `trace` (its
    /// hash checked), with its energy basis from the copy its digest names
    /// (checked too) back in place; any other's was read with the trail.
    pub fn full_payload(&self, store: &Store) -> Result<Value, String> {
        if self.cell.is_none() {
            return Ok(self.payload.clone());
        }
        let at = Indexed {
            seq: self.seq,
            hash: self.hash.clone(),
            offset: self.offset,
            len: self.len,
            kind: self.kind_name.clone(),
            ts: String::new(),
            pid: None,
            cell: None,
        };
        let mut payload = read_payload(&store.trace_path(), &at).map_err(|e| e.to_string())?;
        store.restore_basis(&mut payload);
        Ok(payload)
    }

    /// The entry of an event as read; a cell's facts are moved in, not
    /// copied.
    fn of(read: ReadEvent) -> Entry {
        let ReadEvent { indexed, payload } = read;
        let kind = indexed.kind();
        let mut payload = payload.unwrap_or(Value::Null);
        let mut cell = indexed.cell;
        if kind == Some(EventKind::Cell) {
            payload = Value::Null;
        }
        let typed = kind.filter(|k| *k != EventKind::Cell).map(|k| {
            Payload::decode(k, &payload)
                .map_err(|e| format!("its {k} payload is not of that kind's shape: {e}"))
        });
        let (energy, execution_count, duration_s) = match cell.as_mut() {
            Some(facts) => (facts.energy.take(), facts.execution_count, facts.duration_s),
            None => {
                let window = match &typed {
                    Some(Ok(Payload::Monitor(m))) => Some(crate::model::Energy::of(&m.energy)),
                    _ => None,
                };
                (window.map(Box::new), None, None)
            }
        };
        Entry {
            seq: indexed.seq,
            hash: indexed.hash,
            kind,
            kind_name: indexed.kind,
            ts: indexed.ts,
            pid: indexed.pid,
            payload,
            typed,
            energy,
            execution_count,
            duration_s,
            cell,
            offset: indexed.offset,
            len: indexed.len,
        }
    }
}

/// Where a chunk of [`Entries`] stops taking new events.
const CHUNK: usize = 4096;

/// The events read so far. Snapshots share them: the events are kept in
/// chunks behind `Arc`s, so the snapshot after a growth copies the chunk
/// list and at most one small chunk of pointers, never the trail.
#[derive(Debug, Default, Clone)]
pub struct Entries {
    chunks: Vec<Arc<Vec<Arc<Entry>>>>,
    /// The index of each chunk's first event.
    starts: Vec<usize>,
    len: usize,
}

impl Entries {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> + '_ {
        self.chunks.iter().flat_map(|c| c.iter().map(|e| &**e))
    }

    pub fn last(&self) -> Option<&Entry> {
        self.chunks.last().and_then(|c| c.last()).map(|e| &**e)
    }

    /// The event at `index` (0-based).
    pub fn get(&self, index: usize) -> Option<&Entry> {
        let chunk = self
            .starts
            .partition_point(|s| *s <= index)
            .checked_sub(1)?;
        self.chunks[chunk]
            .get(index - self.starts[chunk])
            .map(|e| &**e)
    }

    /// These entries and `new` after them. A last chunk under [`CHUNK`]
    /// takes them (a copy of its pointers); otherwise they start a chunk.
    pub(crate) fn extended(&self, new: Vec<Entry>) -> Entries {
        let mut next = self.clone();
        if new.is_empty() {
            return next;
        }
        let added = new.len();
        let new = new.into_iter().map(Arc::new);
        match next.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => {
                let mut merged = Vec::with_capacity(last.len() + added);
                merged.extend(last.iter().cloned());
                merged.extend(new);
                *last = Arc::new(merged);
            }
            _ => {
                next.starts.push(next.len);
                next.chunks.push(Arc::new(new.collect()));
            }
        }
        next.len += added;
        next
    }
}

impl<'a> IntoIterator for &'a Entries {
    type Item = &'a Entry;
    type IntoIter = Box<dyn DoubleEndedIterator<Item = &'a Entry> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

/// Everything read so far, shared by the pages.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub entries: Entries,
    /// The chain as read: every hash and signature recomputed and every link
    /// checked, by the evidence crate's checker.
    pub chain_ok: bool,
    /// The first broken event, when `chain_ok` is false.
    pub chain_problem: Option<String>,
    /// The store's own verification (chain, head, signatures and policy
    /// copies), when run.
    pub verified: Option<VerifyReport>,
}

impl Snapshot {
    pub fn head(&self) -> u64 {
        self.entries.last().map_or(0, |e| e.seq)
    }

    pub fn get(&self, seq: u64) -> Option<&Entry> {
        // Sequence numbers are dense from 1, so the index is a guess to check.
        let i = usize::try_from(seq).ok()?.checked_sub(1)?;
        match self.entries.get(i) {
            Some(e) if e.seq == seq => Some(e),
            _ => self.entries.iter().find(|e| e.seq == seq),
        }
    }
}

/// Reads `trace.jsonl` incrementally.
#[derive(Debug)]
pub struct Trail {
    store: Store,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether the first read (from the last checkpoint) was made.
    started: bool,
    /// What the first read started from, for the report's notes.
    source: Option<Source>,
    offset: u64,
    /// Fed each line once: checking costs O(new lines), never the whole trail.
    checker: ChainChecker,
    snapshot: Arc<Snapshot>,
    /// File length when `verified` was computed.
    verified_at: Option<u64>,
}

impl Trail {
    pub fn new(store: Store) -> Trail {
        Trail {
            store,
            state: Mutex::new(State::default()),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.store.trace_path()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The trail with whatever was appended since the last call.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        let mut state = self.state();
        self.advance(&mut state);
        state.snapshot.clone()
    }

    fn advance(&self, state: &mut State) {
        if !state.started {
            state.started = true;
            self.first_read(state);
            return;
        }
        let Some((bytes, consumed)) = read_from(&self.path(), state.offset) else {
            return;
        };
        if consumed == 0 {
            return;
        }
        let mut new = Vec::new();
        let mut start = state.offset;
        for line in bytes.split_inclusive(|b| *b == b'\n') {
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            // Valid UTF-8 is read in place; anything else is checked (and
            // reported as altered) in its lossy form.
            let checked = match std::str::from_utf8(text) {
                Ok(text) => state.checker.check(text),
                Err(_) => state.checker.check(&String::from_utf8_lossy(text)),
            };
            if let Some(checked) = checked {
                new.push(Entry::of(ReadEvent::of(checked, start, text.len(), true)));
            }
            start += line.len() as u64;
        }
        state.offset += consumed;
        state.publish(new);
    }

    /// The first read: the last trusted checkpoint and what follows it
    /// (or the whole trail), through the evidence store.
    fn first_read(&self, state: &mut State) {
        let options = ReadOptions {
            payloads: true,
            ..ReadOptions::default()
        };
        let read = match self.store.read_trail(&options) {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "the evidence trail cannot be read");
                return;
            }
        };
        state.checker = read.checker;
        state.offset = read.end;
        state.source = Some(read.source);
        state.publish(read.events.into_iter().map(Entry::of).collect());
    }
}

impl State {
    /// A new snapshot with `new` appended.
    fn publish(&mut self, new: Vec<Entry>) {
        let state = self;
        let entries = state.snapshot.entries.extended(new);
        state.snapshot = Arc::new(Snapshot {
            entries,
            chain_ok: state.checker.is_clean(),
            chain_problem: state.checker.first_finding().map(|f| f.message.clone()),
            verified: state.snapshot.verified.clone(),
        });
    }
}

impl Trail {
    /// The snapshot with the store's full verification (chain, head,
    /// signatures and policy copies), recomputed only when the trail grew.
    /// The head is read before the new lines, as `verify` does, so a
    /// notebook writing meanwhile never makes it flicker.
    pub fn verified(&self) -> Arc<Snapshot> {
        let head = self.store.read_head();
        let mut state = self.state();
        self.advance(&mut state);
        if state.verified_at == Some(state.offset) && state.snapshot.verified.is_some() {
            return state.snapshot.clone();
        }
        let head_after = self.store.read_head();
        let mut report = state.checker.report(
            head,
            head_after,
            false,
            self.store.dir(),
            &VerifyOptions::default(),
        );
        if let Some(note) = state.source.as_ref().and_then(Source::note) {
            report.notes.insert(0, note);
        }
        if let Some(Source::Checkpoint { head, .. }) = &state.source {
            report.checkpoint = Some(head.clone());
        }
        let snapshot = &state.snapshot;
        let next = Snapshot {
            entries: snapshot.entries.clone(),
            chain_ok: snapshot.chain_ok && report.ok(),
            chain_problem: snapshot
                .chain_problem
                .clone()
                .or_else(|| report.findings.first().map(|f| f.message.clone())),
            verified: Some(report),
        };
        state.verified_at = Some(state.offset);
        state.snapshot = Arc::new(next);
        state.snapshot.clone()
    }
}

/// The complete lines after `offset`, and how many bytes they take; a torn
/// last line (a writer mid-append) waits for the next look.
fn read_from(path: &std::path::Path, offset: u64) -> Option<(Vec<u8>, u64)> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len <= offset {
        return Some((Vec::new(), 0));
    }
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut bytes = Vec::with_capacity(usize::try_from(len - offset).unwrap_or(0));
    file.read_to_end(&mut bytes).ok()?;
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(complete);
    let consumed = complete as u64;
    Some((bytes, consumed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use venturalitica_evidence::{EventKind, EvidenceKey, Signing};

    fn store(dir: &std::path::Path) -> Store {
        let key = std::sync::Arc::new(EvidenceKey::from_seed([5; 32]));
        Store::open(dir).unwrap().with_signing(Signing::Key(key))
    }

    #[test]
    fn reads_only_what_was_appended_and_checks_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        store.append(EventKind::Cell, json!({"n": 1})).unwrap();
        let trail = Trail::new(store.clone());
        let first = trail.snapshot();
        assert_eq!(first.entries.len(), 1);
        assert!(first.chain_ok);
        store.append(EventKind::Enforce, json!({"n": 2})).unwrap();
        let second = trail.snapshot();
        assert_eq!(second.entries.len(), 2);
        assert_eq!(second.get(2).unwrap().kind, Some(EventKind::Enforce));
        assert!(second.chain_ok);
        assert!(trail.verified().verified.as_ref().unwrap().ok());
    }

    fn plain(seq: u64) -> Entry {
        Entry {
            seq,
            hash: String::new(),
            kind: Some(EventKind::Cell),
            kind_name: "cell".into(),
            ts: String::new(),
            pid: None,
            payload: Value::Null,
            typed: None,
            energy: None,
            execution_count: None,
            duration_s: None,
            cell: None,
            offset: 0,
            len: 0,
        }
    }

    #[test]
    fn growth_shares_what_was_read_and_copies_no_full_chunk() {
        let mut entries = Entries::default();
        let mut seq = 0;
        let mut snapshots = Vec::new();
        // One big first read, then many small growths, as a live notebook gives.
        for batch in std::iter::once(10_000).chain(std::iter::repeat_n(3, 5_000)) {
            let new: Vec<Entry> = (0..batch)
                .map(|_| {
                    seq += 1;
                    plain(seq)
                })
                .collect();
            entries = entries.extended(new);
            snapshots.push(entries.clone());
        }
        assert_eq!(entries.len(), 25_000);
        let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=25_000).collect::<Vec<_>>());
        for i in [0, 9_999, 10_000, 14_095, 14_096, 24_999] {
            assert_eq!(entries.get(i).map(|e| e.seq), Some(i as u64 + 1));
        }
        assert!(entries.get(25_000).is_none());
        // The first read is one chunk every later snapshot shares.
        assert!(Arc::ptr_eq(&snapshots[0].chunks[0], &entries.chunks[0]));
        assert!(entries.chunks.iter().skip(1).all(|c| c.len() <= CHUNK + 3));
        // An older snapshot still sees what it saw.
        assert_eq!(snapshots[1].len(), 10_003);
        assert_eq!(snapshots[1].last().map(|e| e.seq), Some(10_003));
    }

    #[test]
    fn an_edited_event_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        store.append(EventKind::Cell, json!({"n": 1})).unwrap();
        store.append(EventKind::Cell, json!({"n": 2})).unwrap();
        let path = store.trace_path();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("\"n\":1", "\"n\":7")).unwrap();
        let snapshot = Trail::new(store).snapshot();
        assert!(!snapshot.chain_ok);
        assert!(snapshot
            .chain_problem
            .as_deref()
            .unwrap()
            .contains("event 1 was altered"));
    }
}
