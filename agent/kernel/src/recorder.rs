//! Writes cell records to the evidence trail off the forwarding path.
//!
//! Appending takes a file lock, a signature per event and an fsync; done on
//! the proxy's thread it would add milliseconds to every cell. A writer
//! thread commits the records in order instead, and `finish` waits for it,
//! so a kernel that exits does not lose its last cells. A failed write is
//! logged: evidence trouble must never stop the user's kernel.
//!
//! The writer is woken once per run of cells, not once per cell: the first
//! record of a batch wakes it, and it commits once no record has come for
//! [`QUIET`] (at most [`LINGER`] after the first). On a two-core machine a
//! wake-up and a commit per cell took a core from the next cell, and were
//! most of the proxy's added latency (docs/performance.md).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use venturalitica_evidence::{EventKind, Store};

use crate::intercept::CellRecord;

/// A commit waits this long for the next cell's record...
const QUIET: Duration = Duration::from_millis(50);
/// ...but no longer than this after its first record.
const LINGER: Duration = Duration::from_secs(1);

/// A handle to the evidence writer thread.
#[derive(Debug)]
pub struct Recorder {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when the first record of a batch arrives, and at finish.
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Pending {
    records: Vec<CellRecord>,
    finishing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next batch to commit, or `None` once finishing with nothing left.
    fn next_batch(&self) -> Option<Vec<CellRecord>> {
        let mut pending = self.lock();
        while pending.records.is_empty() {
            if pending.finishing {
                return None;
            }
            pending = self.wake.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
        let until = Instant::now() + LINGER;
        loop {
            let seen = pending.records.len();
            let left = until.saturating_duration_since(Instant::now());
            if pending.finishing || left.is_zero() {
                break;
            }
            // Not woken by the records that follow: only by finish.
            let (again, _) = self
                .wake
                .wait_timeout(pending, QUIET.min(left))
                .unwrap_or_else(|e| e.into_inner());
            pending = again;
            if pending.records.len() == seen {
                break;
            }
        }
        Some(std::mem::take(&mut pending.records))
    }
}

impl Recorder {
    /// Starts a writer appending `cell` events (with `extra` fields such as
    /// the kernel name merged in) to `store`.
    pub fn start(store: Store, extra: serde_json::Map<String, serde_json::Value>) -> Recorder {
        let shared = Arc::new(Shared::default());
        let writer = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            // The energy bases this writer has saved (one per session, as a rule).
            let mut bases = std::collections::HashSet::new();
            while let Some(batch) = writer.next_batch() {
                let payloads = batch
                    .iter()
                    .filter_map(|record| match serde_json::to_value(record) {
                        Ok(serde_json::Value::Object(mut map)) => {
                            map.extend(extra.clone());
                            let mut payload = map.into();
                            store.move_basis_out(&mut payload, &mut bases);
                            Some(payload)
                        }
                        _ => None,
                    })
                    .collect();
                if let Err(e) = store.append_all(EventKind::Cell, payloads) {
                    tracing::error!(%e, cells = batch.len(), "cell events not recorded");
                }
            }
        });
        Recorder { shared, thread }
    }

    /// Queues `record` for writing.
    pub fn record(&self, record: CellRecord) {
        let mut pending = self.shared.lock();
        pending.records.push(record);
        if pending.records.len() == 1 {
            self.shared.wake.notify_one();
        }
    }

    /// Writes what is queued, then stops the writer.
    pub fn finish(self) {
        self.shared.lock().finishing = true;
        self.shared.wake.notify_one();
        if self.thread.join().is_err() {
            tracing::error!("evidence writer panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intercept::CellStatus;

    fn record(n: usize) -> CellRecord {
        CellRecord {
            cell_id: None,
            msg_id: format!("m{n}"),
            session: "s".into(),
            execution_count: Some(n as u64),
            code_sha256: "0".repeat(64),
            silent: false,
            start: "2026-01-01T00:00:00Z".into(),
            end: "2026-01-01T00:00:00Z".into(),
            duration_s: 0.0,
            status: CellStatus::Ok,
            ename: None,
            energy: None,
        }
    }

    /// The timestamps of the trail's events: one per commit.
    fn commits(root: &std::path::Path) -> Vec<String> {
        let store = Store::open(root).expect("store");
        store
            .events()
            .expect("events")
            .iter()
            .map(|e| {
                let body: serde_json::Value = serde_json::from_str(&e.body).expect("json");
                body["ts"].as_str().expect("ts").to_string()
            })
            .collect()
    }

    #[test]
    fn back_to_back_cells_are_one_commit_and_finish_writes_what_is_pending() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("pyproject.toml"), "[project]\nname='t'\n").expect("write");
        let recorder = Recorder::start(
            Store::open(dir.path()).expect("store"),
            serde_json::Map::new(),
        );
        for n in 0..20 {
            recorder.record(record(n));
        }
        // Finishing does not wait out QUIET or LINGER, and loses nothing.
        let started = Instant::now();
        recorder.finish();
        assert!(started.elapsed() < QUIET, "{:?}", started.elapsed());
        let ts = commits(dir.path());
        assert_eq!(ts.len(), 20);
        assert!(ts.iter().all(|t| *t == ts[0]), "one commit: {ts:?}");

        // A cell after a quiet spell is committed by itself, within QUIET
        // (and LINGER) of its record, without finish.
        let recorder = Recorder::start(
            Store::open(dir.path()).expect("store"),
            serde_json::Map::new(),
        );
        recorder.record(record(20));
        let deadline = Instant::now() + LINGER * 5;
        while commits(dir.path()).len() < 21 {
            assert!(Instant::now() < deadline, "never committed");
            std::thread::sleep(QUIET / 5);
        }
        recorder.finish();
    }
}
