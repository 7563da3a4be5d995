//! One line of `trace.jsonl`, and the hash that chains it to the previous.
//!
//! A line is written in exactly this layout, so the event body's bytes can be
//! recovered and re-hashed without re-serialising JSON:
//!
//! ```text
//! {"seq":N,"prev":"<64 hex>","hash":"<64 hex>","event":<body JSON>}
//! ```
//!
//! `hash = SHA-256("venturalitica-event-v1\n" + N + "\n" + prev + "\n" + body)`,
//! and `prev` is the previous line's hash ([`GENESIS`] for the first).

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A parsed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub prev: String,
    pub hash: String,
    /// The body exactly as written.
    pub body: String,
}

impl Event {
    /// Builds the next event after `prev`.
    pub fn new(seq: u64, prev: &str, body: &Value) -> Event {
        let body = body.to_string();
        let hash = hash(seq, prev, &body);
        Event {
            seq,
            prev: prev.to_string(),
            hash,
            body,
        }
    }

    /// The line to append, newline included.
    pub fn to_line(&self) -> String {
        format!(
            "{{\"seq\":{},\"prev\":\"{}\",\"hash\":\"{}\",\"event\":{}}}\n",
            self.seq, self.prev, self.hash, self.body
        )
    }

    /// Parses a line (without its newline); `None` if it is not in the layout.
    pub fn parse(line: &str) -> Option<Event> {
        let rest = line.strip_prefix("{\"seq\":")?;
        let (seq, rest) = rest.split_once(",\"prev\":\"")?;
        let seq = seq.parse().ok()?;
        let (prev, rest) = rest.split_at_checked(64)?;
        let rest = rest.strip_prefix("\",\"hash\":\"")?;
        let (hash, rest) = rest.split_at_checked(64)?;
        let body = rest.strip_prefix("\",\"event\":")?.strip_suffix('}')?;
        Some(Event {
            seq,
            prev: prev.to_string(),
            hash: hash.to_string(),
            body: body.to_string(),
        })
    }

    /// Whether the stored hash matches the content.
    pub fn hash_is_valid(&self) -> bool {
        hash(self.seq, &self.prev, &self.body) == self.hash
    }

    /// The body as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

fn hash(seq: u64, prev: &str, body: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"venturalitica-event-v1\n");
    h.update(seq.to_string().as_bytes());
    h.update(b"\n");
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(body.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trips_and_detects_edits() {
        let e = Event::new(
            1,
            GENESIS,
            &serde_json::json!({"kind": "enforce", "value": 0.8}),
        );
        let line = e.to_line();
        let parsed = Event::parse(line.trim_end()).unwrap();
        assert_eq!(parsed, e);
        assert!(parsed.hash_is_valid());
        let edited = Event::parse(&line.trim_end().replace("0.8", "0.9")).unwrap();
        assert!(!edited.hash_is_valid());
    }

    #[test]
    fn other_layouts_are_rejected() {
        assert!(Event::parse("{\"event\":{}}").is_none());
        assert!(Event::parse("{\"seq\":1,\"prev\":\"00\"").is_none());
    }
}
