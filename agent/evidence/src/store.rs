//! Appending, reading and verifying the evidence store.
//!
//! Writers (several kernels, the CLI) take an exclusive lock on
//! `.venturalitica/.lock` for each append. A writer killed mid-line leaves a
//! line without a newline: the next append moves it to
//! `trace.torn-<millis>.jsonl` and truncates to the last full line, so a torn
//! line never hides or corrupts the events before it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::chain::{Event, GENESIS};
use crate::root::STORE_DIR;

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

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// 1-based line in `trace.jsonl`, when the problem is on a line.
    pub line: Option<usize>,
    pub seq: Option<u64>,
    pub message: String,
}

/// The outcome of checking the whole store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub events: usize,
    pub policies_checked: usize,
    pub findings: Vec<Finding>,
    /// Not errors: a torn last line kept aside, a head one event behind.
    pub notes: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// A project's `.venturalitica/` directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store under a project root.
    pub fn open(root: &Path) -> Result<Store, EvidenceError> {
        let dir = root.join(STORE_DIR);
        fs::create_dir_all(dir.join("policies")).map_err(io(&dir))?;
        Ok(Store { dir })
    }

    /// Opens an existing store without creating anything.
    pub fn existing(root: &Path) -> Option<Store> {
        let dir = root.join(STORE_DIR);
        dir.is_dir().then_some(Store { dir })
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

    /// Appends an event of `kind` with `payload`, under the store lock.
    pub fn append(&self, kind: &str, payload: Value) -> Result<Appended, EvidenceError> {
        let mut done = self.append_all(kind, vec![payload])?;
        Ok(done.pop().expect("one payload gives one event"))
    }

    /// Appends one event per payload, in order, under one lock and one
    /// `fsync` (group commit: the proxy's recorder writes queued cells so).
    pub fn append_all(
        &self,
        kind: &str,
        payloads: Vec<Value>,
    ) -> Result<Vec<Appended>, EvidenceError> {
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
            let event = Event::new(seq, &prev, &body);
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
        fs::write(&aside, &torn).map_err(io(&aside))?;
        file.set_len(keep).map_err(io(path))?;
        Ok(())
    }

    /// Saves a policy file's exact text under its hash (once).
    pub fn save_policy(&self, sha256: &str, text: &str) -> Result<PathBuf, EvidenceError> {
        let path = self.dir.join("policies").join(format!("{sha256}.yaml"));
        if !path.exists() {
            self.write_atomic(&path, text.as_bytes())?;
        }
        Ok(path)
    }

    /// Saves the evidence chart of the event `seq` as `charts/<seq>.svg`.
    pub fn save_chart(&self, seq: u64, svg: &str) -> Result<PathBuf, EvidenceError> {
        let dir = self.dir.join("charts");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("{seq}.svg"));
        self.write_atomic(&path, svg.as_bytes())?;
        Ok(path)
    }

    /// Replaces `trace_latest.json` atomically.
    pub fn write_latest(&self, value: &Value) -> Result<PathBuf, EvidenceError> {
        let path = self.dir.join("trace_latest.json");
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        self.write_atomic(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Write to a temporary file, sync, rename: readers see old or new, never half.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), EvidenceError> {
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        f.sync_data().map_err(io(&tmp))?;
        fs::rename(&tmp, path).map_err(io(path))
    }

    /// Every complete event, in order; a torn last line is skipped.
    pub fn events(&self) -> Result<Vec<Event>, EvidenceError> {
        let path = self.trace_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io(&path)(e)),
        };
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        complete
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

    /// Recomputes the chain and checks every policy copy an event refers to.
    pub fn verify(&self) -> Result<VerifyReport, EvidenceError> {
        let path = self.trace_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        let mut report = VerifyReport::default();
        let torn = !text.is_empty() && !text.ends_with('\n');
        if torn {
            report.notes.push("the last line is incomplete (a writer was killed); it is set aside on the next append".into());
        }
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        let mut prev = GENESIS.to_string();
        let mut expected_seq = 1;
        let mut last: Option<Event> = None;
        let mut policies = std::collections::BTreeSet::new();
        for (i, line) in complete.lines().enumerate() {
            let n = i + 1;
            let finding = |seq, message: String| Finding {
                line: Some(n),
                seq,
                message,
            };
            let Some(e) = Event::parse(line) else {
                report.findings.push(finding(
                    None,
                    "not an evidence event (the line was edited or corrupted)".into(),
                ));
                prev = String::new();
                continue;
            };
            if !e.hash_is_valid() {
                report.findings.push(finding(
                    Some(e.seq),
                    format!(
                        "event {} was altered: its content no longer matches its hash",
                        e.seq
                    ),
                ));
            }
            if e.seq != expected_seq {
                report.findings.push(finding(
                    Some(e.seq),
                    format!("event {} found where event {expected_seq} was expected (events deleted or reordered)", e.seq),
                ));
            } else if e.prev != prev && !prev.is_empty() {
                report.findings.push(finding(
                    Some(e.seq),
                    format!(
                        "event {} does not follow the event before it (chain broken)",
                        e.seq
                    ),
                ));
            }
            if let Some(body) = e.json() {
                collect_policy_hashes(&body, &mut policies);
            }
            expected_seq = e.seq + 1;
            prev = e.hash.clone();
            report.events += 1;
            last = Some(e);
        }
        self.check_head(last.as_ref(), &mut report);
        for sha in policies {
            let copy = self.dir.join("policies").join(format!("{sha}.yaml"));
            report.policies_checked += 1;
            match fs::read(&copy) {
                Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == sha => {}
                Ok(_) => report.findings.push(Finding {
                    line: None,
                    seq: None,
                    message: format!(
                        "policy copy {} was altered: its content no longer matches its name",
                        copy.display()
                    ),
                }),
                Err(_) => report.findings.push(Finding {
                    line: None,
                    seq: None,
                    message: format!("policy copy {} is missing", copy.display()),
                }),
            }
        }
        Ok(report)
    }

    fn check_head(&self, last: Option<&Event>, report: &mut VerifyReport) {
        let head = fs::read_to_string(self.head_path()).ok();
        let parsed = head.as_deref().and_then(|h| {
            let (seq, hash) = h.trim().split_once(' ')?;
            Some((seq.parse::<u64>().ok()?, hash.to_string()))
        });
        match (parsed, last) {
            (None, None) => {}
            (None, Some(_)) => report.findings.push(Finding {
                line: None,
                seq: None,
                message:
                    "chain_head is missing or unreadable, so a cut-off tail cannot be ruled out"
                        .into(),
            }),
            (Some((seq, _)), None) => report.findings.push(Finding {
                line: None,
                seq: Some(seq),
                message: format!(
                    "trace.jsonl is empty but chain_head records {seq} events (events deleted)"
                ),
            }),
            (Some((seq, hash)), Some(e)) => {
                if seq == e.seq && hash == e.hash {
                    return;
                }
                if seq + 1 == e.seq && hash == e.prev {
                    report.notes.push(
                        "chain_head is one event behind (a writer stopped between its two writes)"
                            .into(),
                    );
                    return;
                }
                let message = if seq > e.seq {
                    format!("trace.jsonl ends at event {} but chain_head records event {seq} (events deleted from the end)", e.seq)
                } else {
                    format!(
                        "the last event {} does not match chain_head (event {seq})",
                        e.seq
                    )
                };
                report.findings.push(Finding {
                    line: None,
                    seq: Some(e.seq),
                    message,
                });
            }
        }
    }
}

/// Policy hashes an event refers to (`results.policy.sha256` and imports).
fn collect_policy_hashes(body: &Value, out: &mut std::collections::BTreeSet<String>) {
    let Some(policy) = body.pointer("/payload/results/policy") else {
        return;
    };
    if let Some(sha) = policy.get("sha256").and_then(Value::as_str) {
        out.insert(sha.to_string());
    }
    for import in policy
        .get("imports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(sha) = import.get("sha256").and_then(Value::as_str) {
            out.insert(sha.to_string());
        }
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

    fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        (tmp, s)
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

    #[test]
    fn appends_chain_and_verify() {
        let (_t, s) = store();
        for i in 0..3 {
            let a = s.append("enforce", json!({"i": i})).unwrap();
            assert_eq!(a.seq, i + 1);
        }
        let events = s.events().unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[1].prev, events[0].hash);
        let r = s.verify().unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.events, 3);
    }

    #[test]
    fn edited_number_is_found() {
        let (_t, s) = store();
        s.append("enforce", json!({"value": 0.81})).unwrap();
        s.append("enforce", json!({"value": 0.5})).unwrap();
        let mut l = lines(&s);
        l[0] = l[0].replace("0.81", "0.91");
        rewrite(&s, &l);
        let r = s.verify().unwrap();
        assert_eq!(r.findings[0].line, Some(1));
        assert!(
            r.findings[0].message.contains("event 1 was altered"),
            "{r:?}"
        );
    }

    #[test]
    fn deleted_swapped_and_truncated_lines_are_found() {
        let (_t, s) = store();
        for i in 0..4 {
            s.append("cell", json!({"i": i})).unwrap();
        }
        let orig = lines(&s);

        rewrite(&s, &[orig[0].clone(), orig[2].clone(), orig[3].clone()]);
        let r = s.verify().unwrap();
        assert!(
            r.findings.iter().any(|f| f
                .message
                .contains("event 3 found where event 2 was expected")),
            "{r:?}"
        );

        rewrite(
            &s,
            &[
                orig[0].clone(),
                orig[2].clone(),
                orig[1].clone(),
                orig[3].clone(),
            ],
        );
        assert!(!s.verify().unwrap().ok());

        rewrite(&s, &orig[..3]);
        let r = s.verify().unwrap();
        assert!(
            r.findings
                .iter()
                .any(|f| f.message.contains("events deleted from the end")),
            "{r:?}"
        );

        rewrite(&s, &orig);
        assert!(s.verify().unwrap().ok());
    }

    #[test]
    fn torn_last_line_is_set_aside_and_hides_nothing() {
        let (_t, s) = store();
        s.append("cell", json!({"i": 1})).unwrap();
        s.append("cell", json!({"i": 2})).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(s.trace_path())
            .unwrap();
        f.write_all(b"{\"seq\":3,\"prev\":\"abc").unwrap();
        drop(f);

        assert_eq!(s.events().unwrap().len(), 2, "earlier events still read");
        let r = s.verify().unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.notes.len(), 1);

        let a = s.append("cell", json!({"i": 3})).unwrap();
        assert_eq!(a.seq, 3);
        assert!(s.verify().unwrap().ok());
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
    fn two_writers_never_interleave() {
        let (_t, s) = store();
        let threads: Vec<_> = (0..2)
            .map(|w| {
                let dir = s.dir().parent().unwrap().to_path_buf();
                std::thread::spawn(move || {
                    let s = Store::open(&dir).unwrap();
                    for i in 0..50 {
                        s.append(
                            "cell",
                            json!({"writer": w, "i": i, "pad": "x".repeat(5000)}),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let r = s.verify().unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!(r.events, 100);
    }

    #[test]
    fn an_edited_last_line_stops_appends_instead_of_forking_the_chain() {
        let (_t, s) = store();
        s.append("cell", json!({"i": 1})).unwrap();
        fs::write(s.trace_path(), "not an event\n").unwrap();
        let e = s.append("cell", json!({"i": 2})).unwrap_err().to_string();
        assert!(e.contains("the last line is not an evidence event"), "{e}");
    }

    #[test]
    fn policy_copies_are_checked() {
        let (_t, s) = store();
        let text = "- id: a\n";
        let sha = hex::encode(Sha256::digest(text.as_bytes()));
        let copy = s.save_policy(&sha, text).unwrap();
        s.append(
            "enforce",
            json!({"results": {"policy": {"sha256": sha, "imports": []}}}),
        )
        .unwrap();
        assert!(s.verify().unwrap().ok());
        fs::write(&copy, "- id: b\n").unwrap();
        let r = s.verify().unwrap();
        assert!(r.findings[0].message.contains("was altered"), "{r:?}");
        fs::remove_file(&copy).unwrap();
        assert!(s.verify().unwrap().findings[0]
            .message
            .contains("is missing"));
    }
}
