//! What readers need of each event without its payload: where its line is,
//! its hash, kind, time and process, and for a cell the few facts every page
//! and report sums (execution count, duration, status, notebook, kernel,
//! energy totals). A checkpoint keeps one per event, so a reader of a
//! million events never parses a million payloads; a payload it shows is
//! read from its line, whose hash is checked against the one indexed here.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use venturalitica_vocab::energy::{EnergyTotals, Measured};
use venturalitica_vocab::events::CellPayload;

use crate::chain::Event;
use crate::kind::EventKind;

/// One event, as indexed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indexed {
    pub seq: u64,
    pub hash: String,
    /// Where its line starts in `trace.jsonl`, and its length without the
    /// newline.
    pub offset: u64,
    pub len: u32,
    /// The kind as the event names it (a newer agent's kind is kept).
    pub kind: String,
    pub ts: String,
    pub pid: Option<u64>,
    /// A cell's facts; `None` for other kinds, whose payloads are read
    /// whole. Boxed: a million entries move in and out of vectors.
    pub cell: Option<Box<CellFacts>>,
}

/// A cell event's facts, read out of its payload once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CellFacts {
    pub execution_count: Option<u64>,
    pub duration_s: Option<f64>,
    pub status: Option<String>,
    pub notebook: Option<String>,
    pub kernel: Option<String>,
    pub energy: Option<Box<EnergyTotals>>,
}

impl CellFacts {
    /// The facts of a cell payload; a payload that is not a cell's gives
    /// none (the event is still indexed, and shown as it is).
    pub fn of(payload: &Value) -> CellFacts {
        let Ok(cell) = CellPayload::deserialize(payload) else {
            return CellFacts::default();
        };
        CellFacts {
            execution_count: cell.execution_count,
            duration_s: cell.duration_s,
            energy: cell
                .energy
                .as_ref()
                .and_then(Measured::report)
                .map(|r| Box::new(EnergyTotals::of(r))),
            status: cell.status,
            notebook: cell.notebook,
            kernel: cell.kernel,
        }
    }
}

impl Indexed {
    /// The entry of `event`, whose line starts at `offset`; `body` is its
    /// body as parsed (`None` when it is not JSON).
    pub fn of(event: &Event, body: Option<&Value>, offset: u64, len: usize) -> Indexed {
        let body = body.unwrap_or(&Value::Null);
        let kind = body["kind"].as_str().unwrap_or("?").to_string();
        let cell = (EventKind::parse(&kind) == Some(EventKind::Cell))
            .then(|| Box::new(CellFacts::of(&body["payload"])));
        Indexed {
            seq: event.seq,
            hash: event.hash.clone(),
            offset,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            kind,
            ts: body["ts"].as_str().unwrap_or("").to_string(),
            pid: body["pid"].as_u64(),
            cell,
        }
    }

    pub fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.kind)
    }

    /// Whether readers need this event's payload whole (every kind but a
    /// cell, whose facts are indexed).
    pub fn payload_needed(&self) -> bool {
        self.cell.is_none()
    }
}
