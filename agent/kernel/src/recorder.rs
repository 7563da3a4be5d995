//! Writes cell records to the evidence trail off the forwarding path.
//!
//! Appending takes a file lock and an fsync; done on the proxy's thread it
//! would add milliseconds to every cell. A writer thread takes the records
//! in order instead, and `finish` waits for it, so a kernel that exits does
//! not lose its last cells. A failed write is logged: evidence trouble must
//! never stop the user's kernel.

use std::sync::mpsc;
use std::thread::JoinHandle;

use venturalitica_evidence::{EventKind, Store};

use crate::intercept::CellRecord;

/// A handle to the evidence writer thread.
#[derive(Debug)]
pub struct Recorder {
    tx: mpsc::Sender<CellRecord>,
    thread: JoinHandle<()>,
}

impl Recorder {
    /// Starts a writer appending `cell` events (with `extra` fields such as
    /// the kernel name merged in) to `store`.
    pub fn start(store: Store, extra: serde_json::Map<String, serde_json::Value>) -> Recorder {
        let (tx, rx) = mpsc::channel::<CellRecord>();
        let thread = std::thread::spawn(move || {
            // The energy bases this writer has saved (one per session, as a rule).
            let mut bases = std::collections::HashSet::new();
            while let Ok(first) = rx.recv() {
                // Whatever queued up meanwhile goes in the same commit.
                let batch: Vec<CellRecord> = std::iter::once(first).chain(rx.try_iter()).collect();
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
        Recorder { tx, thread }
    }

    /// Queues `record` for writing.
    pub fn record(&self, record: CellRecord) {
        if self.tx.send(record).is_err() {
            tracing::error!("evidence writer stopped; cell event not recorded");
        }
    }

    /// Writes what is queued, then stops the writer.
    pub fn finish(self) {
        drop(self.tx);
        if self.thread.join().is_err() {
            tracing::error!("evidence writer panicked");
        }
    }
}
