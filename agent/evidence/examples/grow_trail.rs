//! Grows a store with real events, through the store's own signed append
//! path: the cell and evaluation payloads of a template trail (the tutorial
//! notebooks run through the proxy), repeated in group commits of 100 cells
//! with an evaluation every `EVERY` cells, as a busy team's year gives.
//!
//! ```text
//! cargo run --release -p venturalitica-evidence --example grow_trail -- TEMPLATE_ROOT ROOT EVENTS [EVERY]
//! ```
//!
//! The events are signed with the user's evidence key and carry this
//! process's id, so calling it several times gives several sessions.
//! `bench/evidence_scale.py` calls it.

use std::path::PathBuf;

use serde_json::Value;
use venturalitica_evidence::{EventKind, Store};

const BATCH: usize = 100;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [template, root, events, rest @ ..] = args.as_slice() else {
        return Err("usage: grow_trail TEMPLATE_ROOT ROOT EVENTS [EVERY]".into());
    };
    let events: usize = events.parse()?;
    let every: usize = rest.first().map_or(Ok(300), |s| s.parse())?;
    let template = Store::existing(&PathBuf::from(template)).ok_or("no template store")?;
    let (mut cells, mut evaluations) = (Vec::new(), Vec::new());
    for e in template.events()? {
        let Some(mut body) = e.json() else { continue };
        let payload = body.get_mut("payload").map(Value::take);
        match (EventKind::of(&body), payload) {
            (Some(EventKind::Cell), Some(p)) => cells.push(p),
            (Some(EventKind::Enforce), Some(p)) => evaluations.push(p),
            _ => {}
        }
    }
    if cells.is_empty() || evaluations.is_empty() {
        return Err("the template trail needs cells and evaluations".into());
    }
    let store = Store::open(&PathBuf::from(root))?;
    // The evaluations' policy copies, so `verify` finds every one.
    let copies = template.dir().join("policies");
    for entry in std::fs::read_dir(&copies)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(sha) = name.strip_suffix(".yaml") {
            store.save_policy(sha, &std::fs::read_to_string(entry.path())?)?;
        }
    }
    // As the kernel's recorder does: a session's energy basis kept once.
    let mut bases = std::collections::HashSet::new();
    let (mut written, mut cell) = (0, 0);
    while written < events {
        let n = BATCH.min(events - written);
        let batch: Vec<Value> = (0..n)
            .map(|i| {
                let mut p = cells[(cell + i) % cells.len()].clone();
                p["execution_count"] = Value::from(cell + i + 1);
                store.move_basis_out(&mut p, &mut bases);
                p
            })
            .collect();
        store.append_all(EventKind::Cell, batch)?;
        let before = cell;
        cell += n;
        written += n;
        if written < events && cell / every > before / every {
            store.append(
                EventKind::Enforce,
                evaluations[(cell / every) % evaluations.len()].clone(),
            )?;
            written += 1;
        }
    }
    Ok(())
}
