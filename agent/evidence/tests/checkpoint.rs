//! Checkpoints: used when trusted and on the chain, refused (and the whole
//! trail read instead, saying why) otherwise, never hiding an edit from the
//! check that covers it, and giving readers what the whole trail gives.
#![allow(clippy::unwrap_used)] // a panic is the failure message in a test

use std::fs;
use std::sync::Arc;

use serde_json::json;
use venturalitica_evidence::checkpoint::FILE;
use venturalitica_evidence::read::Covered;
use venturalitica_evidence::{
    CheckpointPolicy, EventKind, EvidenceKey, ReadOptions, Signing, Source, Store, TrailRead,
    VerifyOptions, VerifyReport,
};

const EVERY: u64 = 500;

fn key(n: u8) -> Arc<EvidenceKey> {
    Arc::new(EvidenceKey::from_seed([n; 32]))
}

fn store(dir: &std::path::Path) -> Store {
    Store::open(dir)
        .unwrap()
        .with_signing(Signing::Key(key(1)))
        .with_checkpoints(CheckpointPolicy::Every(EVERY))
}

/// A cell payload with energy, an evaluation every 100 cells.
fn grow(s: &Store, from: usize, to: usize) {
    let mut i = from;
    while i < to {
        let n = (to - i).min(100);
        let cells = (i..i + n)
            .map(|c| {
                json!({"execution_count": c, "duration_s": 0.5, "status": "ok", "notebook": "a.ipynb",
                       "kernel": "python3", "energy": {"total_j": 2.0, "wall_s": 0.5, "cpu": {"joules": 1.5, "method": "tdp"},
                       "ram": {"joules": 0.5}, "co2e_g": 0.001}})
            })
            .collect();
        s.append_all(EventKind::Cell, cells).unwrap();
        s.append(
            EventKind::Enforce,
            json!({"results": {"passed": true, "n": i}}),
        )
        .unwrap();
        i += n;
    }
}

fn read(s: &Store) -> TrailRead {
    s.read_trail(&ReadOptions {
        payloads: true,
        ..Default::default()
    })
    .unwrap()
}

fn verify(s: &Store, full: bool) -> VerifyReport {
    s.verify(&VerifyOptions {
        full,
        ..Default::default()
    })
    .unwrap()
}

fn has(r: &VerifyReport, text: &str) -> bool {
    r.findings.iter().any(|f| f.message.contains(text))
}

fn from_checkpoint(r: &TrailRead) -> Option<u64> {
    match &r.source {
        Source::Checkpoint { head, .. } => Some(head.seq),
        Source::Trail { .. } => None,
    }
}

/// Replaces `from` by `to` (same length) in line `seq` of the trail.
fn edit_line(s: &Store, seq: usize, from: &str, to: &str) {
    let text = fs::read_to_string(s.trace_path()).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    assert!(lines[seq - 1].contains(from));
    lines[seq - 1] = lines[seq - 1].replacen(from, to, 1);
    fs::write(s.trace_path(), lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_reader_writes_one_and_the_next_reads_only_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    grow(&s, 0, 300);
    let first = read(&s);
    assert_eq!(first.source, Source::Trail { why: None });
    assert!(
        !dir.path().join(".venturalitica").join(FILE).exists(),
        "303 < {EVERY} events"
    );
    grow(&s, 300, 1000);
    let second = read(&s);
    assert_eq!(
        from_checkpoint(&second),
        None,
        "the first long read builds it"
    );
    let covered = second.events.last().unwrap().indexed.seq;
    grow(&s, 1000, 1100);
    let third = read(&s);
    assert_eq!(from_checkpoint(&third), Some(covered));
    assert_eq!(third.events.len(), 1111);

    // The same events, facts and payloads as the whole trail gives.
    let whole = store(dir.path())
        .with_checkpoints(CheckpointPolicy::Off)
        .read_trail(&ReadOptions {
            payloads: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(whole.events.len(), third.events.len());
    for (a, b) in whole.events.iter().zip(&third.events) {
        assert_eq!(a.indexed, b.indexed);
        assert_eq!(a.payload, b.payload);
    }
    let cell = &third.events[0].indexed.cell.as_ref().unwrap();
    assert_eq!(cell.energy.as_ref().unwrap().total_j, 2.0);
    assert_eq!(cell.notebook.as_deref(), Some("a.ipynb"));

    let r = verify(&s, false);
    assert!(r.ok(), "{r:?}");
    assert_eq!(r.checkpoint.as_ref().map(|h| h.seq), Some(covered));
    assert_eq!(r.events, 1111);
    assert!(r.notes[0].contains("checked from the checkpoint"), "{r:?}");
    assert_eq!(r.signers[0].events, 1111);

    // `verify` reads none of what the checkpoint covers; when it renews the
    // checkpoint, the new one still indexes every event.
    grow(&s, 1100, 1700);
    let r = verify(&s, false);
    assert_eq!(r.checkpoint.as_ref().map(|h| h.seq), Some(covered));
    let renewed = read(&s);
    assert_eq!(from_checkpoint(&renewed), Some(1717));
    let scan = s
        .read_trail(&ReadOptions {
            payloads: true,
            covered: Covered::NotCells,
            ..Default::default()
        })
        .unwrap();
    let evaluations: Vec<u64> = renewed
        .events
        .iter()
        .filter(|e| e.indexed.kind() == Some(EventKind::Enforce))
        .map(|e| e.indexed.seq)
        .collect();
    assert_eq!(evaluations.len(), 17);
    assert_eq!(
        scan.events
            .iter()
            .map(|e| e.indexed.seq)
            .collect::<Vec<_>>(),
        evaluations
    );
    assert!(scan.events.iter().all(|e| e.payload.is_some()));
    let whole = store(dir.path())
        .with_checkpoints(CheckpointPolicy::Off)
        .read_trail(&ReadOptions::default())
        .unwrap();
    let seqs = |r: &TrailRead| {
        r.events
            .iter()
            .map(|e| e.indexed.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&renewed), seqs(&whole));
}

#[test]
fn a_deleted_checkpoint_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    grow(&s, 0, 600);
    read(&s);
    let path = s.dir().join(FILE);
    assert!(path.exists());
    fs::remove_file(&path).unwrap();
    let r = read(&s);
    assert_eq!(r.source, Source::Trail { why: None });
    assert!(
        path.exists(),
        "rebuilt by the reader that read the whole trail"
    );
    assert!(from_checkpoint(&read(&s)).is_some());
}

#[test]
fn a_forged_or_misplaced_checkpoint_is_refused_and_the_trail_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    grow(&s, 0, 600);
    read(&s);
    let path = s.dir().join(FILE);
    let good = fs::read(&path).unwrap();

    // An edited header: the signature no longer holds.
    let text = String::from_utf8_lossy(&good).into_owned();
    let forged = text.replacen("\"unsigned\":0", "\"unsigned\":9", 1);
    assert_ne!(forged, text);
    fs::write(&path, forged.as_bytes()).unwrap();
    let r = s.read_trail(&ReadOptions::default()).unwrap();
    assert_eq!(
        r.source,
        Source::Trail {
            why: Some("its signature does not verify".into())
        }
    );
    // The reader that refused it read the whole trail and wrote a good one.
    assert_eq!(fs::read(&path).unwrap().len(), good.len());
    fs::write(&path, forged.as_bytes()).unwrap();
    let v = verify(&s, false);
    assert!(v.ok() && v.checkpoint.is_none(), "{v:?}");
    assert!(
        v.notes[0].contains("the checkpoint was not used, its signature does not verify"),
        "{v:?}"
    );

    // A good checkpoint of another trail: its event is not on this one.
    fs::write(&path, &good).unwrap();
    let other = tempfile::tempdir().unwrap();
    let o = store(other.path());
    grow(&o, 0, 700);
    read(&o);
    fs::copy(o.dir().join(FILE), &path).unwrap();
    let r = s.read_trail(&ReadOptions::default()).unwrap();
    let Source::Trail { why: Some(why) } = &r.source else {
        panic!("{:?}", r.source)
    };
    assert!(why.contains("no longer has event"), "{why}");
}

#[test]
fn another_keys_checkpoint_is_ignored_unless_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).with_signing(Signing::Key(key(2)));
    grow(&s, 0, 600);
    read(&s);
    let mine = store(dir.path());
    let trusting = mine
        .read_trail(&ReadOptions {
            trusted: vec![key(2).public()],
            ..Default::default()
        })
        .unwrap();
    assert!(from_checkpoint(&trusting).is_some());
    let r = mine.read_trail(&ReadOptions::default()).unwrap();
    let Source::Trail { why: Some(why) } = &r.source else {
        panic!("{:?}", r.source)
    };
    assert!(why.contains("which is not a trusted key"), "{why}");
    // It read the whole trail and left a checkpoint of its own key.
    assert!(from_checkpoint(&mine.read_trail(&ReadOptions::default()).unwrap()).is_some());
}

#[test]
fn an_edit_after_the_checkpoint_is_caught_by_the_default_verify() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    grow(&s, 0, 600);
    read(&s);
    grow(&s, 600, 700);
    assert!(verify(&s, false).ok());
    edit_line(&s, 650, "\"duration_s\":0.5", "\"duration_s\":0.6");
    let r = verify(&s, false);
    assert!(r.checkpoint.is_some());
    assert!(has(&r, "event 650 was altered"), "{r:?}");
}

#[test]
fn an_edit_before_the_checkpoint_is_caught_by_verify_full() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    grow(&s, 0, 600);
    read(&s);
    edit_line(&s, 10, "\"duration_s\":0.5", "\"duration_s\":0.6");
    // The default trusts what the checkpoint covers (the docs say so) ...
    assert!(verify(&s, false).ok());
    // ... --full re-checks every event from the first.
    let r = verify(&s, true);
    assert!(has(&r, "event 10 was altered"), "{r:?}");
    assert!(r.checkpoint.is_none());
    // A reader showing that event's payload reads its line and notices.
    edit_line(&s, 101, "\"passed\":true", "\"passed\":null");
    let r = read(&s);
    let Source::Trail { why: Some(why) } = &r.source else {
        panic!("{:?}", r.source)
    };
    assert!(why.contains("event 101 no longer matches it"), "{why}");
    assert!(
        !r.checker.is_clean(),
        "the whole trail read names the edits"
    );
}

#[test]
fn writers_and_checkpointing_readers_side_by_side_raise_no_alarm_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path()).with_checkpoints(CheckpointPolicy::Every(200));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let alarms = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..3u8)
            .map(|w| {
                let s = s.clone().with_signing(Signing::Key(key(1)));
                scope.spawn(move || {
                    for i in 0..60 {
                        let batch = (0..(i % 4 + 1))
                            .map(|j| json!({"writer": w, "i": i, "j": j, "pad": "x".repeat(500)}))
                            .collect();
                        s.append_all(EventKind::Cell, batch).unwrap();
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut alarms = Vec::new();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let r = verify(&s, false);
                        if !r.ok() {
                            alarms.push(format!("{:?}", r.findings));
                        }
                        let t = read(&s);
                        if !t.checker.is_clean() {
                            alarms.push(format!("{:?}", t.checker.first_finding()));
                        }
                    }
                    alarms
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        readers
            .into_iter()
            .flat_map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert!(alarms.is_empty(), "{alarms:?}");
    let total = 3 * 15 * (1 + 2 + 3 + 4);
    let r = read(&s);
    assert_eq!(r.events.len(), total);
    assert!(verify(&s, true).ok());
    assert_eq!(verify(&s, false).events, total);
}

/// A trail of 606 events with a checkpoint at its last, and that event's
/// line as written.
fn checkpointed(dir: &std::path::Path) -> (Store, u64) {
    let s = store(dir);
    grow(&s, 0, 600);
    read(&s);
    let covered = from_checkpoint(&read(&s)).expect("a checkpoint at the last event");
    (s, covered)
}

/// Why the reader did not use the checkpoint (it must not have).
fn refused_because(s: &Store) -> String {
    match s.read_trail(&ReadOptions::default()).unwrap().source {
        Source::Trail { why: Some(why) } => why,
        other => panic!("the checkpoint was used or not named: {other:?}"),
    }
}

/// Keeps the first `lines` lines of the trail.
fn keep_lines(s: &Store, lines: usize) {
    let text = fs::read_to_string(s.trace_path()).unwrap();
    let kept: String = text.split_inclusive('\n').take(lines).collect();
    fs::write(s.trace_path(), kept).unwrap();
}

#[test]
fn a_trail_cut_below_the_checkpoint_refuses_it_and_verify_names_the_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let (s, covered) = checkpointed(dir.path());
    keep_lines(&s, 300);
    let why = refused_because(&s);
    assert!(
        why.contains(&format!("no longer has event {covered}")) && why.contains("shorter"),
        "{why}"
    );
    let r = verify(&s, false);
    assert!(r.checkpoint.is_none(), "{r:?}");
    assert!(has(&r, "events deleted from the end"), "{r:?}");
}

#[test]
fn events_deleted_after_the_checkpoint_are_found_by_the_default_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (s, covered) = checkpointed(dir.path());
    grow(&s, 600, 700);
    keep_lines(&s, covered as usize + 50);
    let r = verify(&s, false);
    // The checkpoint still holds (its event is there) and was used ...
    assert_eq!(r.checkpoint.as_ref().map(|h| h.seq), Some(covered), "{r:?}");
    // ... and the head the writers left names what is missing.
    assert!(has(&r, "events deleted from the end"), "{r:?}");
}

#[test]
fn the_covered_line_edited_in_place_refuses_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (s, covered) = checkpointed(dir.path());
    // The covered event is an evaluation (the last of each hundred).
    edit_line(&s, covered as usize, "\"passed\":true", "\"passed\":null");
    let why = refused_because(&s);
    assert!(
        why.contains(&format!("no longer has event {covered}")) && why.contains("altered"),
        "{why}"
    );
    let r = verify(&s, false);
    assert!(
        r.checkpoint.is_none() && has(&r, &format!("event {covered} was altered")),
        "{r:?}"
    );
}

#[test]
fn no_key_to_trust_it_with_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = checkpointed(dir.path());
    let keyless = s.clone().with_signing(Signing::Unsigned);
    let why = refused_because(&keyless);
    assert!(why.contains("no key to trust it with"), "{why}");
    // A key given as trusted is enough.
    let trusting = keyless
        .read_trail(&ReadOptions {
            trusted: vec![key(1).public()],
            ..Default::default()
        })
        .unwrap();
    assert!(from_checkpoint(&trusting).is_some());
}

#[test]
fn an_unreadable_or_garbage_checkpoint_is_refused_and_the_trail_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = checkpointed(dir.path());
    let path = s.dir().join(FILE);
    let good = fs::read(&path).unwrap();
    let header_end = good.iter().position(|b| *b == b'\n').unwrap();
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("empty", Vec::new(), "cut short"),
        (
            "no signature line",
            b"{\"format\":1}\n".to_vec(),
            "no signature line",
        ),
        (
            "garbage",
            (0..=255u8).cycle().take(5000).collect(),
            "cannot be read",
        ),
        (
            "cut after the header",
            good[..=header_end].to_vec(),
            "no signature line",
        ),
        (
            "cut inside the index",
            good[..good.len() - 100].to_vec(),
            "index does not match",
        ),
    ];
    let whole = store(dir.path())
        .with_checkpoints(CheckpointPolicy::Off)
        .read_trail(&ReadOptions::default())
        .unwrap();
    for (name, bytes, expect) in cases {
        // A refused checkpoint is rewritten by the reader: put it back each time.
        fs::write(&path, &bytes).unwrap();
        let r = s.read_trail(&ReadOptions::default()).unwrap();
        let Source::Trail { why: Some(why) } = &r.source else {
            panic!("{name}: {:?}", r.source)
        };
        assert!(why.contains(expect), "{name}: {why}");
        assert_eq!(r.events.len(), whole.events.len(), "{name}");
        assert!(r.checker.is_clean(), "{name}");
    }
    // A directory where the file belongs cannot be read either.
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();
    let why = refused_because(&s);
    assert!(why.contains("cannot be read"), "{why}");
}
