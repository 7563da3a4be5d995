//! One line of `trace.jsonl`, the hash that chains it to the previous line,
//! and the signature that says who wrote it.
//!
//! A line is written in exactly one of two layouts, so the event body's bytes
//! can be recovered and re-hashed without re-serialising JSON:
//!
//! ```text
//! {"seq":N,"prev":"<64 hex>","hash":"<64 hex>","event":<body>}                                  (v1, unsigned)
//! {"seq":N,"prev":"<64 hex>","hash":"<64 hex>","key":"<64 hex>","sig":"<128 hex>","event":<body>} (v2, signed)
//! ```
//!
//! - v1: `hash = SHA-256("venturalitica-event-v1\n" N "\n" prev "\n" body)`
//! - v2: `hash = SHA-256("venturalitica-event-v2\n" N "\n" prev "\n" key "\n" body)`,
//!   `sig = Ed25519(private key, "venturalitica-event-sig-v1\n" hash)`,
//!   where `key` is the signer's Ed25519 public key.
//!
//! `prev` is the previous line's hash ([`GENESIS`] for the first). The key is
//! inside the hash, so swapping it changes the chain; the signature cannot be
//! inside what it signs, and covers the hash, which covers everything else.

use ed25519_dalek::{Signature, Signer as _, Verifier as _};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::key::{EvidenceKey, PublicKey};

/// `prev` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const SIG_DOMAIN: &[u8] = b"venturalitica-event-sig-v1\n";

/// Who signed an event, as written on its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The signer's public key, 64 hex digits.
    pub key: String,
    /// The Ed25519 signature, 128 hex digits.
    pub sig: String,
}

/// A parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    /// `None` for an unsigned (v1) line.
    pub seal: Option<Seal>,
    /// The body exactly as written.
    pub body: String,
}

/// Why an event's seal does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// The `key` field is not an Ed25519 public key.
    BadKey,
    /// The signature does not verify against the key and the hash.
    BadSignature,
}

impl Event {
    /// Builds the next event after `prev`, signed with `key` when given.
    pub fn new(seq: u64, prev: &str, body: &Value, key: Option<&EvidenceKey>) -> Event {
        let body = body.to_string();
        match key {
            None => Event {
                seq,
                prev: prev.to_string(),
                hash: hash_v1(seq, prev, &body),
                seal: None,
                body,
            },
            Some(key) => {
                let public = key.public().to_hex();
                let hash = hash_v2(seq, prev, &public, &body);
                let sig = key.signing().sign(&sig_message(&hash));
                Event {
                    seq,
                    prev: prev.to_string(),
                    hash,
                    seal: Some(Seal {
                        key: public,
                        sig: hex::encode(sig.to_bytes()),
                    }),
                    body,
                }
            }
        }
    }

    /// The line to append, newline included.
    pub fn to_line(&self) -> String {
        match &self.seal {
            None => format!(
                "{{\"seq\":{},\"prev\":\"{}\",\"hash\":\"{}\",\"event\":{}}}\n",
                self.seq, self.prev, self.hash, self.body
            ),
            Some(seal) => format!(
                "{{\"seq\":{},\"prev\":\"{}\",\"hash\":\"{}\",\"key\":\"{}\",\"sig\":\"{}\",\"event\":{}}}\n",
                self.seq, self.prev, self.hash, seal.key, seal.sig, self.body
            ),
        }
    }

    /// Parses a line (without its newline); `None` if it is in neither layout.
    pub fn parse(line: &str) -> Option<Event> {
        let rest = line.strip_prefix("{\"seq\":")?;
        let (seq, rest) = rest.split_once(",\"prev\":\"")?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq = seq.parse().ok()?;
        let (prev, rest) = hex_field(rest, 64)?;
        let rest = rest.strip_prefix("\",\"hash\":\"")?;
        let (hash, rest) = hex_field(rest, 64)?;
        let (seal, rest) = match rest.strip_prefix("\",\"key\":\"") {
            None => (None, rest),
            Some(rest) => {
                let (key, rest) = hex_field(rest, 64)?;
                let rest = rest.strip_prefix("\",\"sig\":\"")?;
                let (sig, rest) = hex_field(rest, 128)?;
                let seal = Seal {
                    key: key.to_string(),
                    sig: sig.to_string(),
                };
                (Some(seal), rest)
            }
        };
        let body = rest.strip_prefix("\",\"event\":")?.strip_suffix('}')?;
        Some(Event {
            seq,
            prev: prev.to_string(),
            hash: hash.to_string(),
            seal,
            body: body.to_string(),
        })
    }

    /// The hash the content gives (anyone can compute it; only the key
    /// holder can sign it).
    pub fn computed_hash(&self) -> String {
        match &self.seal {
            None => hash_v1(self.seq, &self.prev, &self.body),
            Some(seal) => hash_v2(self.seq, &self.prev, &seal.key, &self.body),
        }
    }

    /// Whether the stored hash matches the content.
    pub fn hash_is_valid(&self) -> bool {
        self.computed_hash() == self.hash
    }

    /// Checks the signature of a signed event against the key it names
    /// (`public`, parsed by the caller so a key used for many events is
    /// decoded once). Unsigned events have nothing to check.
    pub fn check_seal(&self, public: Option<&PublicKey>) -> Result<(), SealError> {
        let Some(seal) = &self.seal else {
            return Ok(());
        };
        let public = public.ok_or(SealError::BadKey)?;
        let mut sig = [0u8; 64];
        hex::decode_to_slice(&seal.sig, &mut sig).map_err(|_| SealError::BadSignature)?;
        public
            .verifying()
            .verify(&sig_message(&self.hash), &Signature::from_bytes(&sig))
            .map_err(|_| SealError::BadSignature)
    }

    /// The seal as checkable parts, for [`check_seals`]: `None` for an
    /// unsigned event or a signature that is not 128 hex digits.
    pub fn sealed(&self, public: PublicKey) -> Option<Sealed> {
        let seal = self.seal.as_ref()?;
        let mut sig = [0u8; 64];
        hex::decode_to_slice(&seal.sig, &mut sig).ok()?;
        Some(Sealed {
            message: sig_message(&self.hash),
            signature: Signature::from_bytes(&sig),
            key: public,
        })
    }

    /// The body as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// One signature to check: what was signed, the signature, and the key.
#[derive(Debug, Clone)]
pub struct Sealed {
    message: Vec<u8>,
    signature: Signature,
    key: PublicKey,
}

/// Signatures checked together by [`check_seals`]: batched verification
/// costs about half a single check per signature, and a batch that fails is
/// checked one by one to name its bad signatures.
const BATCH: usize = 512;

/// Which of `seals` do not verify (their indexes), checked on every core in
/// batches. Batched verification is cofactored: a signature it accepts and a
/// single cofactorless check refuses can be made only with the private key,
/// so it proves the same thing about who wrote the event.
pub fn check_seals(seals: &[Sealed]) -> Vec<usize> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    check_seals_on(seals, threads)
}

/// [`check_seals`] on at most `threads` threads.
fn check_seals_on(seals: &[Sealed], threads: usize) -> Vec<usize> {
    let per_thread = seals.len().div_ceil(threads).max(4 * BATCH);
    std::thread::scope(|scope| {
        let workers: Vec<_> = seals
            .chunks(per_thread)
            .enumerate()
            .map(|(t, part)| {
                scope.spawn(move || {
                    let mut bad = Vec::new();
                    for (b, batch) in part.chunks(BATCH).enumerate() {
                        if batch_holds(batch) {
                            continue;
                        }
                        let first = t * per_thread + b * BATCH;
                        bad.extend(
                            batch
                                .iter()
                                .enumerate()
                                .filter(|(_, s)| !s.holds())
                                .map(|(i, _)| first + i),
                        );
                    }
                    bad
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    })
}

/// Whether every signature of `batch` verifies, in one batched check.
fn batch_holds(batch: &[Sealed]) -> bool {
    let messages: Vec<&[u8]> = batch.iter().map(|s| s.message.as_slice()).collect();
    let signatures: Vec<Signature> = batch.iter().map(|s| s.signature).collect();
    let keys: Vec<_> = batch.iter().map(|s| *s.key.verifying()).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

impl Sealed {
    /// Whether this one signature verifies.
    fn holds(&self) -> bool {
        self.key
            .verifying()
            .verify(&self.message, &self.signature)
            .is_ok()
    }
}

/// `len` lowercase hex digits at the start of `s`, and the rest.
fn hex_field(s: &str, len: usize) -> Option<(&str, &str)> {
    let (field, rest) = s.split_at_checked(len)?;
    field
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        .then_some((field, rest))
}

fn sig_message(hash: &str) -> Vec<u8> {
    [SIG_DOMAIN, hash.as_bytes()].concat()
}

fn hash_v1(seq: u64, prev: &str, body: &str) -> String {
    hash_fields("venturalitica-event-v1", seq, &[prev, body])
}

fn hash_v2(seq: u64, prev: &str, key: &str, body: &str) -> String {
    hash_fields("venturalitica-event-v2", seq, &[prev, key, body])
}

/// `SHA-256(domain "\n" seq ("\n" field)*)`, as hex.
fn hash_fields(domain: &str, seq: u64, fields: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(domain.as_bytes());
    h.update(b"\n");
    h.update(seq.to_string().as_bytes());
    for field in fields {
        h.update(b"\n");
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        serde_json::json!({"kind": "enforce", "value": 0.8})
    }

    #[test]
    fn unsigned_line_round_trips_and_detects_edits() {
        let e = Event::new(1, GENESIS, &body(), None);
        let line = e.to_line();
        let parsed = Event::parse(line.trim_end()).unwrap();
        assert_eq!(parsed, e);
        assert!(parsed.hash_is_valid());
        let edited = Event::parse(&line.trim_end().replace("0.8", "0.9")).unwrap();
        assert!(!edited.hash_is_valid());
    }

    #[test]
    fn signed_line_round_trips_and_its_seal_holds() {
        let key = EvidenceKey::from_seed([7; 32]);
        let e = Event::new(3, GENESIS, &body(), Some(&key));
        let parsed = Event::parse(e.to_line().trim_end()).unwrap();
        assert_eq!(parsed, e);
        assert!(parsed.hash_is_valid());
        assert_eq!(parsed.check_seal(Some(&key.public())), Ok(()));
    }

    #[test]
    fn a_rehashed_edit_breaks_the_seal_and_another_key_is_refused() {
        let key = EvidenceKey::from_seed([7; 32]);
        let other = EvidenceKey::from_seed([8; 32]);
        let e = Event::new(1, GENESIS, &serde_json::json!({"v": 1}), Some(&key));
        // An editor without the key can recompute the hash, not the signature.
        let mut forged = e.clone();
        forged.body = "{\"v\":2}".into();
        forged.hash = forged.computed_hash();
        assert!(forged.hash_is_valid());
        assert_eq!(
            forged.check_seal(Some(&key.public())),
            Err(SealError::BadSignature)
        );
        assert_eq!(
            e.check_seal(Some(&other.public())),
            Err(SealError::BadSignature)
        );
    }

    #[test]
    fn batched_checks_name_exactly_the_bad_seals() {
        let keys = [
            EvidenceKey::from_seed([1; 32]),
            EvidenceKey::from_seed([2; 32]),
        ];
        let mut seals: Vec<Sealed> = (0..300)
            .map(|i| {
                let key = &keys[i % 2];
                let e = Event::new(i as u64, GENESIS, &serde_json::json!({"i": i}), Some(key));
                e.sealed(key.public()).unwrap()
            })
            .collect();
        assert!(check_seals(&seals).is_empty());
        // A signature checked against the wrong key, and one over other bytes.
        seals[137].key = keys[0].public();
        seals[250].message.push(b'!');
        assert_eq!(check_seals(&seals), vec![137, 250]);
        assert!(check_seals(&[]).is_empty());
    }

    /// Past one batch and one thread: bad seals at the edges of batches and
    /// of threads' shares are named at their own index, whatever the cores.
    #[test]
    fn many_batches_on_several_threads_name_the_bad_seals_where_they_are() {
        let key = EvidenceKey::from_seed([5; 32]);
        let n = 20 * BATCH + 300;
        let mut seals: Vec<Sealed> = (0..n)
            .map(|i| {
                let e = Event::new(i as u64, GENESIS, &serde_json::json!({"i": i}), Some(&key));
                e.sealed(key.public()).unwrap()
            })
            .collect();
        // Where the second thread's share starts, with 2 and with 3 threads.
        let (of_2, of_3) = (n.div_ceil(2), n.div_ceil(3));
        let bad = vec![
            0,
            BATCH - 1,
            BATCH,
            3 * BATCH + 7,
            of_3 - 1,
            of_3,
            of_2,
            2 * of_3 + BATCH + 1,
            n - 1,
        ];
        for &i in &bad {
            seals[i].message.push(b'!');
        }
        for threads in [1, 2, 3, 8] {
            assert_eq!(check_seals_on(&seals, threads), bad, "{threads} threads");
        }
    }

    #[test]
    fn other_layouts_are_rejected() {
        assert!(Event::parse("{\"event\":{}}").is_none());
        assert!(Event::parse("{\"seq\":1,\"prev\":\"00\"").is_none());
        assert!(Event::parse(&format!(
            "{{\"seq\":+1,\"prev\":\"{GENESIS}\",\"hash\":\"{GENESIS}\",\"event\":{{}}}}"
        ))
        .is_none());
        // Multi-byte characters where hex digits belong never panic.
        assert!(Event::parse(&format!("{{\"seq\":1,\"prev\":\"{}\"", "é".repeat(40))).is_none());
    }
}
