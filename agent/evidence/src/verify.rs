//! Checking a trail: the one chain checker every reader uses.
//!
//! [`ChainChecker`] takes the lines of `trace.jsonl` in order, once each, so
//! `verify` feeds it the whole file and the dashboard feeds it only what was
//! appended since its last look. [`ChainChecker::report`] then adds what needs
//! the store: the head written after each commit, policy copies, trusted
//! keys and external anchors.
//!
//! What is a finding and what is a note: a finding is something only an edit
//! can cause (a changed, deleted, reordered or cut event, a forged or
//! untrusted signature, an altered policy copy). A head behind the last event
//! is a note, whatever the distance: a writer killed between appending a
//! batch and moving the head leaves exactly that, and so does a writer
//! appending while the trail is read.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::chain::{check_seals, Event, SealError, Sealed, GENESIS};
use crate::key::PublicKey;

/// At most this many findings are listed; the rest are counted.
const MAX_FINDINGS: usize = 200;

/// The hashes of this many latest events are kept, so a head read after the
/// lines were fed (the dashboard's case) can still be placed on the chain.
const RECENT: usize = 4096;

/// Deferred signatures are checked once this many wait, so a long trail
/// never holds all of them in memory.
const SETTLE_EVERY: usize = 1 << 16;

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// 1-based line in `trace.jsonl`, when the problem is on a line.
    pub line: Option<usize>,
    pub seq: Option<u64>,
    pub message: String,
}

/// A point of the chain recorded elsewhere: `SEQ:HASH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Head {
    /// Parses `SEQ:HASH` (an anchor) or `SEQ HASH` (the `chain_head` file).
    pub fn parse(text: &str) -> Option<Head> {
        let (seq, hash) = text.trim().split_once([':', ' '])?;
        let hash = hash.trim().to_ascii_lowercase();
        let ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        Some(Head {
            seq: seq.trim().parse().ok()?,
            hash: ok.then_some(hash)?,
        })
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

/// What to check beyond the chain itself.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// When not empty, every event must be signed by one of these.
    pub trusted: Vec<PublicKey>,
    /// Points recorded outside the project (MLflow tags, CI artifacts).
    pub anchors: Vec<Head>,
    /// Check every event from the first, not from the last checkpoint.
    pub full: bool,
}

/// The events one key signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// `ed25519:` and 16 hex digits.
    pub key_id: String,
    /// The public key, 64 hex digits.
    pub public_key: String,
    pub events: usize,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Whether it is among the trusted keys; `None` when none were given.
    pub trusted: Option<bool>,
}

/// How an anchor compared with the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnchorCheck {
    pub seq: u64,
    pub hash: String,
    pub matched: bool,
}

/// The outcome of checking the store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub events: usize,
    pub policies_checked: usize,
    /// Energy bases (`basis/<sha256>.json`) checked.
    pub bases_checked: usize,
    /// Reference snapshots (`references/<sha256>.json`) checked.
    #[serde(default)]
    pub references_checked: usize,
    pub findings: Vec<Finding>,
    /// Not errors: a torn last line kept aside, a head behind, no signatures.
    pub notes: Vec<String>,
    /// Who signed what, in order of first use.
    pub signers: Vec<Signer>,
    pub unsigned_events: usize,
    /// The last event: what to record as an anchor now.
    pub head: Option<Head>,
    pub anchors: Vec<AnchorCheck>,
    /// The checkpoint the check started from; `None` when every event was
    /// checked.
    pub checkpoint: Option<Head>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Per-key tally while checking.
#[derive(Debug, Clone)]
struct KeyUse {
    key: Option<PublicKey>,
    order: usize,
    events: usize,
    first_seq: u64,
    last_seq: u64,
}

/// A checked line: the event, and its body parsed as JSON (`None` when it
/// is not JSON).
#[derive(Debug)]
pub struct Checked {
    pub event: Event,
    pub body: Option<Value>,
}

/// What a clean check of the lines up to an event leaves: enough to go on
/// checking after it (a checkpoint keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainState {
    pub events: usize,
    /// The last event checked.
    pub last: Head,
    pub unsigned: usize,
    /// The first signed event: unsigned events after it are findings.
    pub first_signed: Option<u64>,
    /// Who signed what, in order of first use.
    pub signers: Vec<SignerTally>,
    /// Every policy copy an event refers to, by hash.
    pub policies: Vec<String>,
    /// Every energy basis a cell refers to, by hash.
    #[serde(default)]
    pub bases: Vec<String>,
    /// Every reference snapshot an event refers to, by hash.
    #[serde(default)]
    pub references: Vec<String>,
}

/// The events one key signed, as a [`ChainState`] keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerTally {
    /// The public key, 64 hex digits.
    pub key: String,
    pub events: usize,
    pub first_seq: u64,
    pub last_seq: u64,
}

/// Checks lines in order; see the module docs.
#[derive(Debug)]
pub struct ChainChecker {
    line: usize,
    expected_seq: u64,
    /// The previous event's hash; `None` after a line that did not parse,
    /// so only that line is reported, not the one after it too.
    prev: Option<String>,
    findings: Vec<Finding>,
    more_findings: usize,
    events: usize,
    last: Option<Head>,
    keys: HashMap<String, KeyUse>,
    unsigned: usize,
    /// The first signed event's seq: unsigned events after it are findings.
    first_signed: Option<u64>,
    policies: BTreeSet<String>,
    bases: BTreeSet<String>,
    references: BTreeSet<String>,
    /// Hashes of the events at the seqs we were asked to remember.
    wanted: BTreeMap<u64, Option<String>>,
    recent: VecDeque<(u64, String)>,
    /// Signatures left to check together (see [`ChainChecker::deferring`]),
    /// with the line and seq to name.
    deferred: Option<Vec<(usize, u64, Sealed)>>,
    /// Deferred signatures being checked on other threads while lines go
    /// on being read here: the lines and seqs of those that do not verify.
    in_flight: Option<std::thread::JoinHandle<Vec<(usize, u64)>>>,
}

impl Default for ChainChecker {
    fn default() -> Self {
        ChainChecker::new()
    }
}

impl ChainChecker {
    pub fn new() -> ChainChecker {
        ChainChecker {
            line: 0,
            expected_seq: 1,
            prev: Some(GENESIS.to_string()),
            findings: Vec::new(),
            more_findings: 0,
            events: 0,
            last: None,
            keys: HashMap::new(),
            unsigned: 0,
            first_signed: None,
            policies: BTreeSet::new(),
            bases: BTreeSet::new(),
            references: BTreeSet::new(),
            wanted: BTreeMap::new(),
            recent: VecDeque::with_capacity(RECENT),
            deferred: None,
            in_flight: None,
        }
    }

    /// A checker that checks signatures in [`ChainChecker::report`], in
    /// batches on every core, instead of one by one as lines come: for
    /// reading a whole trail at once.
    pub fn deferring() -> ChainChecker {
        ChainChecker {
            deferred: Some(Vec::new()),
            ..ChainChecker::new()
        }
    }

    /// Goes on from `state` (a checkpoint's), as if the lines up to its last
    /// event, one per event, had been checked here; `deferring` as
    /// [`ChainChecker::deferring`].
    pub fn resume(state: &ChainState, deferring: bool) -> ChainChecker {
        let keys = state
            .signers
            .iter()
            .enumerate()
            .map(|(order, s)| {
                let tally = KeyUse {
                    key: PublicKey::from_hex(&s.key),
                    order,
                    events: s.events,
                    first_seq: s.first_seq,
                    last_seq: s.last_seq,
                };
                (s.key.clone(), tally)
            })
            .collect();
        let mut checker = if deferring {
            ChainChecker::deferring()
        } else {
            ChainChecker::new()
        };
        checker.line = state.events;
        checker.expected_seq = state.last.seq.saturating_add(1);
        checker.prev = Some(state.last.hash.clone());
        checker.events = state.events;
        checker.last = Some(state.last.clone());
        checker.keys = keys;
        checker.unsigned = state.unsigned;
        checker.first_signed = state.first_signed;
        checker.policies = state.policies.iter().cloned().collect();
        checker.bases = state.bases.iter().cloned().collect();
        checker.references = state.references.iter().cloned().collect();
        checker
            .recent
            .push_back((state.last.seq, state.last.hash.clone()));
        checker
    }

    /// The state to resume from after the lines so far: `None` when there
    /// are none or any of them had a finding (a checkpoint never covers
    /// one). Deferred signatures are checked first.
    pub fn state(&mut self) -> Option<ChainState> {
        self.settle();
        if !self.findings.is_empty() || self.more_findings > 0 {
            return None;
        }
        let last = self.last.clone()?;
        let mut signers: Vec<(&String, &KeyUse)> = self.keys.iter().collect();
        signers.sort_by_key(|(_, u)| u.order);
        Some(ChainState {
            events: self.events,
            last,
            unsigned: self.unsigned,
            first_signed: self.first_signed,
            signers: signers
                .into_iter()
                .map(|(key, u)| SignerTally {
                    key: key.clone(),
                    events: u.events,
                    first_seq: u.first_seq,
                    last_seq: u.last_seq,
                })
                .collect(),
            policies: self.policies.iter().cloned().collect(),
            bases: self.bases.iter().cloned().collect(),
            references: self.references.iter().cloned().collect(),
        })
    }

    /// The same checker, its deferred signatures checked, checking the
    /// signatures of later lines as they come.
    pub fn immediate(mut self) -> ChainChecker {
        self.settle();
        self.deferred = None;
        self
    }

    /// Records the hash of event `seq`, known from elsewhere (a checkpoint's
    /// index), for heads and anchors before the lines fed here.
    pub fn know(&mut self, seq: u64, hash: String) {
        self.wanted.insert(seq, Some(hash));
    }

    /// Checks the deferred signatures; their findings join the others in
    /// line order.
    fn settle(&mut self) {
        self.launch();
        self.land();
    }

    /// Starts checking the deferred signatures on other threads, once the
    /// batch before them has landed (one in flight bounds the memory).
    fn launch(&mut self) {
        self.land();
        let Some(pending) = self.deferred.as_mut().map(std::mem::take) else {
            return;
        };
        if pending.is_empty() {
            return;
        }
        let (places, seals): (Vec<(usize, u64)>, Vec<Sealed>) = pending
            .into_iter()
            .map(|(line, seq, sealed)| ((line, seq), sealed))
            .unzip();
        self.in_flight = Some(std::thread::spawn(move || {
            check_seals(&seals).into_iter().map(|i| places[i]).collect()
        }));
    }

    /// Waits for the signatures in flight and records their findings.
    fn land(&mut self) {
        let Some(handle) = self.in_flight.take() else {
            return;
        };
        let bad = match handle.join() {
            Ok(bad) => bad,
            Err(_) => {
                // Never a silent pass: a check that could not run is a finding.
                self.findings.push(Finding {
                    line: None,
                    seq: None,
                    message:
                        "a batch of signatures could not be checked (the checking thread failed)"
                            .into(),
                });
                return;
            }
        };
        if bad.is_empty() {
            return;
        }
        let mut bad = bad;
        bad.sort_unstable();
        for (line, seq) in bad {
            self.line_finding(line, Some(seq), bad_signature(seq));
        }
        self.findings.sort_by_key(|f| f.line);
    }

    fn line_finding(&mut self, line: usize, seq: Option<u64>, message: String) {
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(Finding {
                line: Some(line),
                seq,
                message,
            });
        } else {
            self.more_findings += 1;
        }
    }

    /// Remembers the hash of event `seq` when it goes by (for heads and
    /// anchors, known before the lines are read).
    pub fn remember(&mut self, seq: u64) {
        self.wanted.entry(seq).or_insert(None);
    }

    /// Lines checked so far (with those a checkpoint covered).
    pub fn lines(&self) -> usize {
        self.line
    }

    /// The last event checked.
    pub fn last(&self) -> Option<&Head> {
        self.last.as_ref()
    }

    pub fn events(&self) -> usize {
        self.events
    }

    /// The first finding about the lines so far, if any.
    pub fn first_finding(&self) -> Option<&Finding> {
        self.findings.first()
    }

    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    fn find(&mut self, seq: Option<u64>, message: String) {
        self.line_finding(self.line, seq, message);
    }

    /// Checks the next line (without its newline); returns the event when
    /// the line is one.
    pub fn push(&mut self, line: &str) -> Option<Event> {
        self.check_line(line, false).map(|c| c.event)
    }

    /// As [`ChainChecker::push`], with the event's body parsed, so a reader
    /// that needs it does not parse it again.
    pub fn check(&mut self, line: &str) -> Option<Checked> {
        self.check_line(line, true)
    }

    /// Checks one line; its body is parsed when `parse` asks, or when it
    /// may name a policy copy (only then is JSON needed for the check).
    fn check_line(&mut self, line: &str, parse: bool) -> Option<Checked> {
        self.line += 1;
        let Some(e) = Event::parse(line) else {
            self.find(
                None,
                "not an evidence event (the line was edited or corrupted)".into(),
            );
            self.prev = None;
            return None;
        };
        if !e.hash_is_valid() {
            self.find(
                Some(e.seq),
                format!(
                    "event {} was altered: its content no longer matches its hash",
                    e.seq
                ),
            );
        }
        if e.seq != self.expected_seq {
            self.find(
                Some(e.seq),
                format!(
                    "event {} found where event {} was expected (events deleted or reordered)",
                    e.seq, self.expected_seq
                ),
            );
        } else if self.prev.as_ref().is_some_and(|p| *p != e.prev) {
            self.find(
                Some(e.seq),
                format!(
                    "event {} does not follow the event before it (chain broken)",
                    e.seq
                ),
            );
        }
        self.check_seal(&e);
        let body = (parse || e.body.contains("\"sha256\":"))
            .then(|| e.json())
            .flatten();
        if let Some(body) = &body {
            collect_policy_hashes(body, &mut self.policies);
        }
        collect_hashes_after(BASIS_KEY, &e.body, &mut self.bases);
        collect_hashes_after(REFERENCE_KEY, &e.body, &mut self.references);
        if let Some(slot) = self.wanted.get_mut(&e.seq) {
            *slot = Some(e.hash.clone());
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((e.seq, e.hash.clone()));
        self.expected_seq = e.seq.saturating_add(1);
        self.prev = Some(e.hash.clone());
        self.events += 1;
        self.last = Some(Head {
            seq: e.seq,
            hash: e.hash.clone(),
        });
        Some(Checked { event: e, body })
    }

    fn check_seal(&mut self, e: &Event) {
        let Some(seal) = &e.seal else {
            self.unsigned += 1;
            if let Some(first) = self.first_signed {
                self.find(
                    Some(e.seq),
                    format!("event {} is unsigned but follows signed events (from event {first}): written without the key, by an older version, or a rewrite", e.seq),
                );
            }
            return;
        };
        self.first_signed.get_or_insert(e.seq);
        let order = self.keys.len();
        let entry = self.keys.entry(seal.key.clone()).or_insert_with(|| KeyUse {
            key: PublicKey::from_hex(&seal.key),
            order,
            events: 0,
            first_seq: e.seq,
            last_seq: e.seq,
        });
        entry.events += 1;
        entry.last_seq = e.seq;
        let key = entry.key;
        if let (Some(pending), Some(public)) = (self.deferred.as_mut(), key) {
            let full = match e.sealed(public) {
                Some(sealed) => {
                    pending.push((self.line, e.seq, sealed));
                    pending.len() >= SETTLE_EVERY
                }
                None => {
                    self.find(Some(e.seq), bad_signature(e.seq));
                    false
                }
            };
            if full {
                self.launch();
            }
            return;
        }
        match e.check_seal(key.as_ref()) {
            Ok(()) => {}
            Err(SealError::BadKey) => self.find(
                Some(e.seq),
                format!(
                    "event {} names a signing key that is not an Ed25519 public key",
                    e.seq
                ),
            ),
            Err(SealError::BadSignature) => self.find(Some(e.seq), bad_signature(e.seq)),
        }
    }

    /// The report for the lines checked so far. `head` is `chain_head` as
    /// read *before* the lines (so it can only be at or behind them unless
    /// the trail was cut); `head_after` is it read again after, to tell a
    /// writer caught mid-commit from a crash. `torn` says a partial last
    /// line was seen.
    pub fn report(
        &mut self,
        head: HeadFile,
        head_after: HeadFile,
        torn: bool,
        store_dir: &Path,
        options: &VerifyOptions,
    ) -> VerifyReport {
        self.settle();
        let mut report = VerifyReport {
            events: self.events,
            findings: self.findings.clone(),
            head: self.last.clone(),
            unsigned_events: self.unsigned,
            ..VerifyReport::default()
        };
        if self.more_findings > 0 {
            report.findings.push(Finding {
                line: None,
                seq: None,
                message: format!("… and {} more findings", self.more_findings),
            });
        }
        if torn {
            report.notes.push("the last line is incomplete (a writer was killed or is writing); it is set aside on the next append".into());
        }
        self.check_head(head, head_after, &mut report);
        self.check_signers(options, &mut report);
        self.check_anchors(options, &mut report);
        self.check_policies(store_dir, &mut report);
        self.check_bases(store_dir, &mut report);
        let dir = store_dir.join(crate::store::REFERENCES_DIR);
        report.references_checked += check_copies(
            &self.references,
            &dir,
            "json",
            "reference snapshot",
            &mut report,
        );
        report
    }

    /// The hash of event `seq`: `Err` when it was neither asked for
    /// beforehand nor among the latest events, so cannot be told here.
    fn hash_at(&self, seq: u64) -> Result<Option<&str>, ()> {
        if let Some(h) = self.wanted.get(&seq) {
            return Ok(h.as_deref());
        }
        let newest = self.recent.back().map_or(0, |(s, _)| *s);
        let oldest = self.recent.front().map_or(u64::MAX, |(s, _)| *s);
        if seq > newest {
            return Ok(None);
        }
        if seq < oldest {
            return Err(());
        }
        Ok(self
            .recent
            .iter()
            .rev()
            .find(|(s, _)| *s == seq)
            .map(|(_, h)| h.as_str()))
    }

    fn check_head(&self, head: HeadFile, head_after: HeadFile, report: &mut VerifyReport) {
        let global = |message: String| Finding {
            line: None,
            seq: None,
            message,
        };
        let head = match head {
            HeadFile::Missing if self.last.is_none() => return,
            HeadFile::Missing => {
                report.notes.push("chain_head is missing, so a cut-off tail cannot be ruled out here; compare with an anchor (verify --head)".into());
                return;
            }
            HeadFile::Garbled(text) => {
                report.findings.push(global(format!(
                    "chain_head is not `SEQ HASH` (found {:?})",
                    text.chars().take(80).collect::<String>()
                )));
                return;
            }
            HeadFile::At(head) => head,
        };
        let Some(last) = &self.last else {
            report.findings.push(global(format!(
                "trace.jsonl has no events but chain_head records event {} (events deleted)",
                head.seq
            )));
            return;
        };
        if head.seq > last.seq {
            report.findings.push(Finding {
                line: None,
                seq: Some(last.seq),
                message: format!("trace.jsonl ends at event {} but chain_head records event {} (events deleted from the end)", last.seq, head.seq),
            });
            return;
        }
        match self.hash_at(head.seq) {
            Ok(Some(hash)) if hash == head.hash => {}
            Err(()) => {
                report.notes.push(format!("chain_head (event {}) is too far behind to place on the chain here; `venturalitica verify` checks it", head.seq));
                return;
            }
            Ok(_) => {
                report.findings.push(Finding {
                    line: None,
                    seq: Some(head.seq),
                    message: format!(
                        "chain_head records event {} with a hash the trail no longer has (events rewritten)",
                        head.seq
                    ),
                });
                return;
            }
        }
        let caught_up = matches!(&head_after, HeadFile::At(h) if h.seq >= last.seq);
        if head.seq < last.seq && !caught_up {
            report.notes.push(format!(
                "chain_head is {} event(s) behind the last event (a writer stopped between appending and moving the head); the events after it chain correctly",
                last.seq - head.seq
            ));
        }
    }

    fn check_signers(&self, options: &VerifyOptions, report: &mut VerifyReport) {
        let mut used: Vec<(&String, &KeyUse)> = self.keys.iter().collect();
        used.sort_by_key(|(_, u)| u.order);
        let trusted_given = !options.trusted.is_empty();
        for (hex_key, u) in used {
            let trusted =
                trusted_given.then(|| u.key.is_some_and(|k| options.trusted.contains(&k)));
            let key_id = u.key.map_or_else(|| "invalid key".to_string(), |k| k.id());
            if trusted == Some(false) {
                report.findings.push(Finding {
                    line: None,
                    seq: Some(u.first_seq),
                    message: format!(
                        "{} event(s) (events {}–{}) are signed by {key_id}, which is not a trusted key",
                        u.events, u.first_seq, u.last_seq
                    ),
                });
            }
            report.signers.push(Signer {
                key_id,
                public_key: hex_key.clone(),
                events: u.events,
                first_seq: u.first_seq,
                last_seq: u.last_seq,
                trusted,
            });
        }
        if self.unsigned > 0 {
            if trusted_given {
                report.findings.push(Finding {
                    line: None,
                    seq: None,
                    message: format!(
                        "{} event(s) are unsigned, so no trusted key vouches for them",
                        self.unsigned
                    ),
                });
            } else if self.first_signed.is_none() {
                report.notes.push(format!(
                    "the {} event(s) are unsigned (written before signing existed): the chain shows accidents, not deliberate edits",
                    self.unsigned
                ));
            }
        }
    }

    fn check_anchors(&self, options: &VerifyOptions, report: &mut VerifyReport) {
        for anchor in &options.anchors {
            let matched = self.hash_at(anchor.seq) == Ok(Some(anchor.hash.as_str()));
            if !matched {
                let message = match &self.last {
                    Some(last) if anchor.seq > last.seq => format!(
                        "anchor {anchor} is past the last event {} (events deleted from the end)",
                        last.seq
                    ),
                    None => format!("anchor {anchor} names an event, but the trail is empty"),
                    Some(_) => format!(
                        "event {} differs from anchor {anchor}: the trail up to it changed after the anchor was recorded",
                        anchor.seq
                    ),
                };
                report.findings.push(Finding {
                    line: None,
                    seq: Some(anchor.seq),
                    message,
                });
            }
            report.anchors.push(AnchorCheck {
                seq: anchor.seq,
                hash: anchor.hash.clone(),
                matched,
            });
        }
    }

    fn check_policies(&self, store_dir: &Path, report: &mut VerifyReport) {
        let dir = store_dir.join("policies");
        report.policies_checked +=
            check_copies(&self.policies, &dir, "yaml", "policy copy", report);
    }

    fn check_bases(&self, store_dir: &Path, report: &mut VerifyReport) {
        let dir = store_dir.join(crate::store::BASIS_DIR);
        report.bases_checked += check_copies(&self.bases, &dir, "json", "energy basis", report);
    }
}

/// Checks that `dir/<sha>.<ext>` exists and hashes to `<sha>` for each of
/// `shas`, a finding naming `what` for each that does not; how many were
/// checked.
fn check_copies(
    shas: &BTreeSet<String>,
    dir: &Path,
    ext: &str,
    what: &str,
    report: &mut VerifyReport,
) -> usize {
    for sha in shas {
        let copy = dir.join(format!("{sha}.{ext}"));
        let message = match std::fs::read(&copy) {
            Ok(bytes) if hex::encode(Sha256::digest(&bytes)) == *sha => continue,
            Ok(_) => format!(
                "{what} {} was altered: its content no longer matches its name",
                copy.display()
            ),
            Err(_) => format!("{what} {} is missing", copy.display()),
        };
        report.findings.push(Finding {
            line: None,
            seq: None,
            message,
        });
    }
    shas.len()
}

/// The key naming an energy basis a cell refers to (only the recorder writes it).
const BASIS_KEY: &str = "\"basis_sha256\":\"";
/// The key naming a reference snapshot (a `reference` event, a drift result).
const REFERENCE_KEY: &str = "\"reference_sha256\":\"";

/// The digests after `key` (`"basis_sha256":"<64 hex>"`), found without
/// parsing the body: a full check of a million cells must not parse each one.
fn collect_hashes_after(key: &str, body: &str, out: &mut BTreeSet<String>) {
    let mut rest = body;
    while let Some(i) = rest.find(key) {
        rest = &rest[i + key.len()..];
        if let Some(sha) = rest.get(..64) {
            if sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                out.insert(sha.to_string());
            }
        }
    }
}

fn bad_signature(seq: u64) -> String {
    format!("event {seq}'s signature does not verify: the event was changed, or re-hashed without the private key")
}

/// `chain_head` as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadFile {
    Missing,
    Garbled(String),
    At(Head),
}

/// Policy hashes an event refers to (`results.policy.sha256` and imports).
fn collect_policy_hashes(body: &Value, out: &mut BTreeSet<String>) {
    let Some(policy) = body.pointer("/payload/results/policy") else {
        return;
    };
    let imports = policy.get("imports").and_then(Value::as_array);
    for p in std::iter::once(policy).chain(imports.into_iter().flatten()) {
        if let Some(sha) = p.get("sha256").and_then(Value::as_str) {
            // Only a hex digest names a file; anything else must not reach a path.
            if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.insert(sha.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_anchors_parse() {
        let h = "a".repeat(64);
        assert_eq!(
            Head::parse(&format!("12:{h}")),
            Some(Head {
                seq: 12,
                hash: h.clone()
            })
        );
        assert_eq!(Head::parse(&format!("12 {h}\n")).unwrap().seq, 12);
        assert_eq!(
            Head::parse(&format!("12:{}", "A".repeat(64))).unwrap().hash,
            h
        );
        assert!(Head::parse("12:abc").is_none());
        assert!(Head::parse(&format!("x:{h}")).is_none());
        assert!(Head::parse("").is_none());
    }
}
