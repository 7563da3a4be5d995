//! Signing cost per cell event and `verify` time, signed against unsigned
//! (the trail as it was before signatures), measured in one run:
//!
//! ```text
//! cargo run --release -p venturalitica-evidence --example bench_evidence -- [EVENTS]
//! ```
//!
//! (`bash bench/run_evidence.sh` does this.) Appends go through the store
//! as the kernel's recorder does, in group commits of `BATCH` cells, with
//! the lock and fsync; a cell payload is a real proxy record's size.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use venturalitica_evidence::{
    Event, EventKind, EvidenceKey, Signing, Store, VerifyOptions, GENESIS,
};

const BATCH: usize = 100;
/// Events built (without I/O) to time the signature alone.
const BUILT: u64 = 20_000;

fn cell(i: usize) -> serde_json::Value {
    json!({
        "cell_id": format!("c{i:08}"), "msg_id": format!("m-{i}"), "execution_count": i,
        "code_sha256": "9f2c".repeat(16), "start": "2026-12-02T10:00:00.000000Z",
        "end": "2026-12-02T10:00:00.120000Z", "duration_s": 0.12, "status": "ok",
        "energy": {"total_j": 4.2, "cpu": {"joules": 3.9, "method": "tdp-model"},
                   "ram": {"joules": 0.3, "method": "ram-model"}, "co2e_g": 0.0005,
                   "grid_gco2_per_kwh": 436.0, "pue": 1.0, "peak_rss_bytes": 123456789},
        "kernel": "python3"
    })
}

fn run(events: usize, signing: Signing, label: &str) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = Store::open(dir.path())
        .expect("a store")
        .with_signing(signing);
    let started = Instant::now();
    let mut i = 0;
    while i < events {
        let n = BATCH.min(events - i);
        store
            .append_all(EventKind::Cell, (i..i + n).map(cell).collect())
            .expect("appended");
        i += n;
    }
    let append = started.elapsed();
    let started = Instant::now();
    let report = store.verify(&VerifyOptions::default()).expect("verified");
    let verify = started.elapsed();
    assert!(report.ok(), "{report:?}");
    let bytes = std::fs::metadata(store.trace_path()).map_or(0, |m| m.len());
    println!(
        "{label:9} {events:>8} events  append {:>7.2} µs/event (batches of {BATCH}, fsync each)  verify {:>8.3} s  ({:.1} µs/event)  trail {:.1} MB",
        append.as_secs_f64() * 1e6 / events as f64,
        verify.as_secs_f64(),
        verify.as_secs_f64() * 1e6 / events as f64,
        bytes as f64 / 1e6
    );
}

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let key = Arc::new(EvidenceKey::from_seed([42; 32]));
    // The signature alone, without I/O: what each event adds to a commit.
    let body = json!({"kind": "cell", "payload": cell(1)});
    let build = |key: Option<&EvidenceKey>| {
        let started = Instant::now();
        for seq in 0..BUILT {
            std::hint::black_box(Event::new(seq, GENESIS, &body, key));
        }
        started.elapsed().as_secs_f64() * 1e6 / BUILT as f64
    };
    let (signed, unsigned) = (build(Some(&key)), build(None));
    println!(
        "event construction: signed {signed:.2} µs, unsigned {unsigned:.2} µs, signing adds {:.2} µs per event",
        signed - unsigned
    );
    run(events, Signing::Unsigned, "unsigned");
    run(events, Signing::Key(key), "signed");
}
