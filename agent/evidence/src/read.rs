//! Reading the trail as readers need it (the scan, the dashboard, the Annex
//! IV, `verify`): the last trusted checkpoint's index plus every event after
//! it, checked; or, without a checkpoint to trust, every event. Either way
//! the result is the same list of [`ReadEvent`]s; only the time differs.
//!
//! A reader that checked at least the policy's number of events past the
//! checkpoint (or a whole trail that long) writes a new one, signed with
//! its evidence key. A reader that cannot write (a read-only checkout, no
//! key) still reads; it only does not save the next reader the work.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::chain::Event;
use crate::checkpoint::{Checkpoint, CheckpointPolicy, Refused, Section, FILE};
use crate::index::Indexed;
use crate::key::PublicKey;
use crate::store::{each_line, EvidenceError, Store};
use crate::verify::{ChainChecker, Checked, Head};

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Read the payload of every event whose payload is not indexed (every
    /// kind but a cell): what the pages and reports show.
    pub payloads: bool,
    /// Events whose hashes to know when the report is made (the head, the
    /// anchors), wherever they are.
    pub remember: Vec<u64>,
    /// Keys whose checkpoints to trust; when empty, the store's own key.
    pub trusted: Vec<PublicKey>,
    /// Which of the events a checkpoint covers to return (every event after
    /// it is always returned).
    pub covered: Covered,
}

/// Which of the events a checkpoint covers a reader needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Covered {
    /// None: `verify` needs only the chain's state there.
    None,
    /// Every event but cells: the scan's evaluations.
    NotCells,
    /// Every event: the dashboard, the Annex IV.
    #[default]
    All,
}

/// One event as read: its index entry, and its payload when asked for and
/// not indexed.
#[derive(Debug, Clone)]
pub struct ReadEvent {
    pub indexed: Indexed,
    pub payload: Option<Value>,
}

/// Where the events up to the checker's start came from; as JSON
/// `{"from": "checkpoint", "head": …}` or `{"from": "trail", "why": …}`, so
/// a reader can say which path it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// A trusted checkpoint covering up to `head`.
    Checkpoint {
        head: Head,
        signer: String,
        written_at: String,
    },
    /// Every line of the trail; `why` a checkpoint was not used, when one
    /// could have been.
    Trail { why: Option<String> },
}

impl Source {
    /// One sentence for a report's notes; none for a trail read whole
    /// because it has no checkpoint yet.
    pub fn note(&self) -> Option<String> {
        Some(match self {
            Source::Checkpoint {
                head,
                signer,
                written_at,
            } => format!(
                "checked from the checkpoint at event {} (signed by {signer} at {written_at}, checked then from the first event); every event after it checked now; `venturalitica verify --full` checks every event again",
                head.seq
            ),
            Source::Trail { why: None } => return None,
            Source::Trail { why: Some(why) } => {
                format!("every event checked from the first: the checkpoint was not used, {why}")
            }
        })
    }
}

/// The trail as read.
#[derive(Debug)]
pub struct TrailRead {
    pub events: Vec<ReadEvent>,
    /// The checker after the last complete line, ready for more: its
    /// signatures are checked as lines come.
    pub checker: ChainChecker,
    /// Just past the last complete line.
    pub end: u64,
    /// A partial last line followed (a writer mid-append, or killed).
    pub torn: bool,
    pub source: Source,
    /// Lines read now that are not evidence events (1-based), each also a
    /// finding of the checker.
    pub malformed: Vec<usize>,
}

impl TrailRead {
    /// An error naming the first line that is not an event, if any: for
    /// readers that must not go on without one.
    pub fn complete(&self, store: &Store) -> Result<(), EvidenceError> {
        match self.malformed.first() {
            Some(line) => Err(EvidenceError::Malformed {
                path: store.trace_path(),
                line: *line,
            }),
            None => Ok(()),
        }
    }
}

impl Store {
    /// Reads the trail for a reader; see the module docs.
    pub fn read_trail(&self, options: &ReadOptions) -> Result<TrailRead, EvidenceError> {
        let CheckpointPolicy::Every(every) = self.checkpoints() else {
            return self.read_from_start(options, None);
        };
        let trusted = if options.trusted.is_empty() {
            self.key().map(|k| vec![k.public()]).unwrap_or_default()
        } else {
            options.trusted.clone()
        };
        let trace = self.trace_path();
        let refused = match Checkpoint::read(self.dir(), &trace, &trusted) {
            Ok(cp) => match self.read_from_checkpoint(&cp, options) {
                Ok(mut read) => {
                    let covered = cp.header.covers.seq;
                    let last = read.events.last().map_or(covered, |e| e.indexed.seq);
                    if last.saturating_sub(covered) >= every {
                        // The events it covers that were not read, for the next one.
                        match options.covered {
                            Covered::All => self.write_checkpoint(&mut read, None),
                            _ => match cp.index() {
                                Ok(index) => self.write_checkpoint(&mut read, Some(index)),
                                Err(e) => {
                                    tracing::warn!(reason = %e, "evidence checkpoint not renewed")
                                }
                            },
                        }
                    }
                    return Ok(read);
                }
                Err(ReadError::Evidence(e)) => return Err(e),
                Err(ReadError::Refused(refused)) => refused,
            },
            Err(refused) => refused,
        };
        let why = match refused {
            Refused::Missing => None,
            other => {
                tracing::warn!(reason = %other, "evidence checkpoint not used; reading the whole trail");
                Some(other.to_string())
            }
        };
        let mut read = self.read_from_start(options, why)?;
        if read.events.len() as u64 >= every {
            self.write_checkpoint(&mut read, None);
        }
        Ok(read)
    }

    fn read_from_start(
        &self,
        options: &ReadOptions,
        why: Option<String>,
    ) -> Result<TrailRead, EvidenceError> {
        let mut checker = ChainChecker::deferring();
        for seq in &options.remember {
            checker.remember(*seq);
        }
        self.read_rest(0, checker, Vec::new(), options, Source::Trail { why })
    }

    fn read_from_checkpoint(
        &self,
        cp: &Checkpoint,
        options: &ReadOptions,
    ) -> Result<TrailRead, ReadError> {
        let mut checker = ChainChecker::resume(&cp.header.chain, true);
        let covered = cp.header.covers.seq;
        let index = match options.covered {
            Covered::None => Vec::new(),
            Covered::NotCells => cp.section(Section::Others)?,
            Covered::All => cp.index()?,
        };
        let mut lookup: Option<Vec<Indexed>> = None;
        for seq in &options.remember {
            if *seq > covered {
                checker.remember(*seq);
                continue;
            }
            if *seq == covered {
                checker.know(covered, cp.header.covers.hash.clone());
                continue;
            }
            // A head or anchor before the checkpoint: its hash from the index.
            let found = match index.binary_search_by_key(seq, |e| e.seq) {
                Ok(i) => Some(index[i].hash.clone()),
                Err(_) => {
                    if lookup.is_none() {
                        lookup = Some(cp.index()?);
                    }
                    lookup
                        .as_ref()
                        .and_then(|all| all.get(usize::try_from(*seq - 1).ok()?))
                        .map(|e| e.hash.clone())
                }
            };
            if let Some(hash) = found {
                checker.know(*seq, hash);
            }
        }
        let mut events: Vec<ReadEvent> = index
            .into_iter()
            .map(|indexed| ReadEvent {
                indexed,
                payload: None,
            })
            .collect();
        if options.payloads {
            load_payloads(&self.trace_path(), &mut events)?;
        }
        let source = Source::Checkpoint {
            head: cp.head(),
            signer: cp.signer.id(),
            written_at: cp.header.written_at.clone(),
        };
        Ok(self.read_rest(cp.header.covers.end, checker, events, options, source)?)
    }

    /// `events` read so far, and every complete line from `offset` checked
    /// and indexed after them.
    fn read_rest(
        &self,
        offset: u64,
        mut checker: ChainChecker,
        mut events: Vec<ReadEvent>,
        options: &ReadOptions,
        source: Source,
    ) -> Result<TrailRead, EvidenceError> {
        let mut malformed = Vec::new();
        let (end, torn) = self.read_after(
            offset,
            &mut checker,
            options.payloads,
            &mut events,
            &mut malformed,
        )?;
        Ok(TrailRead {
            events,
            checker: checker.immediate(),
            end,
            torn,
            source,
            malformed,
        })
    }

    /// Checks and indexes every complete line from `offset`.
    fn read_after(
        &self,
        offset: u64,
        checker: &mut ChainChecker,
        payloads: bool,
        events: &mut Vec<ReadEvent>,
        malformed: &mut Vec<usize>,
    ) -> Result<(u64, bool), EvidenceError> {
        let first_line = checker.lines() + 1;
        let path = self.trace_path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, false)),
            Err(e) => {
                return Err(EvidenceError::Io { path, source: e });
            }
        };
        let mut line_no = first_line;
        let fed = each_line(file, offset, |start, line| {
            match checker.check(line) {
                Some(checked) => events.push(ReadEvent::of(checked, start, line.len(), payloads)),
                None => malformed.push(line_no),
            }
            line_no += 1;
        })
        .map_err(|source| EvidenceError::Io { path, source })?;
        Ok((fed.end, fed.torn))
    }

    /// Writes a checkpoint of `read` when its lines were all clean and the
    /// key is at hand; `covered` is the old checkpoint's whole index when
    /// `read` holds only part of what it covered. A failure is logged, never
    /// the reader's error.
    fn write_checkpoint(&self, read: &mut TrailRead, covered: Option<Vec<Indexed>>) {
        let Some(key) = self.key() else { return };
        let Some(chain) = read.checker.state() else {
            return;
        };
        let entries: Vec<&Indexed> = match &covered {
            None => read.events.iter().map(|e| &e.indexed).collect(),
            Some(index) => {
                let up_to = index.last().map_or(0, |e| e.seq);
                let after = read
                    .events
                    .iter()
                    .map(|e| &e.indexed)
                    .filter(|e| e.seq > up_to);
                index.iter().chain(after).collect()
            }
        };
        let Some(bytes) = Checkpoint::encode(&key, chain, &entries, read.end) else {
            return;
        };
        if let Err(e) = self.write_atomic(&self.dir().join(FILE), &bytes) {
            tracing::warn!(error = %e, "evidence checkpoint not written");
        }
    }
}

/// Why reading from a checkpoint stopped: it was refused (read the trail
/// instead), or the store failed.
#[derive(Debug)]
enum ReadError {
    Refused(Refused),
    Evidence(EvidenceError),
}

impl From<Refused> for ReadError {
    fn from(r: Refused) -> Self {
        ReadError::Refused(r)
    }
}

impl From<EvidenceError> for ReadError {
    fn from(e: EvidenceError) -> Self {
        ReadError::Evidence(e)
    }
}

impl ReadEvent {
    /// The event of a checked line that starts at `offset` and is `len`
    /// bytes long, with its payload when `payloads` asks and it is not
    /// indexed: how every reader turns a line into an event.
    pub fn of(checked: Checked, offset: u64, len: usize, payloads: bool) -> ReadEvent {
        let Checked { event, body } = checked;
        let indexed = Indexed::of(&event, body.as_ref(), offset, len);
        let payload = (payloads && indexed.payload_needed()).then(|| {
            body.and_then(|mut b| b.get_mut("payload").map(Value::take))
                .unwrap_or(Value::Null)
        });
        ReadEvent { indexed, payload }
    }
}

/// Reads the payload of every event that needs one from its line, checking
/// that the line still gives the indexed hash.
fn load_payloads(trace: &Path, events: &mut [ReadEvent]) -> Result<(), Refused> {
    let mut file = File::open(trace).map_err(|e| Refused::Unreadable(e.to_string()))?;
    let mut line = Vec::new();
    for e in events.iter_mut().filter(|e| e.indexed.payload_needed()) {
        let event = line_at(&mut file, &e.indexed, &mut line)?;
        e.payload = Some(
            event
                .json()
                .and_then(|mut b| b.get_mut("payload").map(Value::take))
                .unwrap_or(Value::Null),
        );
    }
    Ok(())
}

/// The event on `indexed`'s line of `file`, when that line still gives the
/// indexed hash.
fn line_at(file: &mut File, indexed: &Indexed, buf: &mut Vec<u8>) -> Result<Event, Refused> {
    buf.resize(indexed.len as usize, 0);
    file.seek(SeekFrom::Start(indexed.offset))
        .and_then(|_| file.read_exact(buf))
        .map_err(|_| Refused::Changed(indexed.seq))?;
    std::str::from_utf8(buf)
        .ok()
        .and_then(Event::parse)
        .filter(|ev| ev.seq == indexed.seq && ev.hash == indexed.hash && ev.hash_is_valid())
        .ok_or(Refused::Changed(indexed.seq))
}

/// The events on the lines of `indexed` (in its order), each checked against
/// its index entry: what a reader that needs whole events of a few reads.
pub fn read_events<'a>(
    trace: &Path,
    indexed: impl IntoIterator<Item = &'a Indexed>,
) -> Result<Vec<Event>, Refused> {
    let mut file = File::open(trace).map_err(|e| Refused::Unreadable(e.to_string()))?;
    let mut line = Vec::new();
    indexed
        .into_iter()
        .map(|i| line_at(&mut file, i, &mut line))
        .collect()
}

/// The payload of one event from its line, checked against its index
/// entry: what a page showing one cell's whole record reads.
pub fn read_payload(trace: &Path, indexed: &Indexed) -> Result<Value, Refused> {
    let event = read_events(trace, [indexed])?
        .pop()
        .ok_or(Refused::Changed(indexed.seq))?;
    Ok(event
        .json()
        .and_then(|mut b| b.get_mut("payload").map(Value::take))
        .unwrap_or(Value::Null))
}
