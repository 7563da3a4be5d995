//! The Jupyter wire format, as raw frames.
//!
//! A message on a ZMQ socket is `[ids..., "<IDS|MSG>", signature, header,
//! parent_header, metadata, content, buffers...]`. The proxy keeps every part
//! as the bytes it received and forwards them unchanged; only a message it
//! edits is re-serialised, and then only the edited part, so fields it does
//! not know (ipykernel 7's `subshell_id`, say) survive. The HMAC covers the
//! four JSON parts, never the identities or the buffers.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The frame that separates routing identities from the message.
pub const DELIMITER: &[u8] = b"<IDS|MSG>";

/// Why a multipart message is not a Jupyter message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// No `<IDS|MSG>` frame.
    #[error("no <IDS|MSG> delimiter in {frames} frame(s)")]
    NoDelimiter { frames: usize },
    /// Fewer than the five frames after the delimiter.
    #[error("truncated message: {found} of 5 frames after <IDS|MSG>")]
    Truncated { found: usize },
    /// The signature does not match the key.
    #[error("bad signature")]
    BadSignature,
    /// A JSON part does not parse.
    #[error("{part} is not JSON: {reason}")]
    BadJson { part: &'static str, reason: String },
}

/// Signs and verifies messages with the connection's key (HMAC-SHA256).
///
/// An empty key means messages are unsigned, as in Jupyter.
#[derive(Clone)]
pub struct Signer {
    mac: Option<Hmac<Sha256>>,
}

impl std::fmt::Debug for Signer {
    // Never print the key, even in debug logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("signed", &self.mac.is_some())
            .finish()
    }
}

impl Signer {
    /// A signer for `key` (the connection file's `key`, used as bytes).
    pub fn new(key: &[u8]) -> Signer {
        let mac = (!key.is_empty())
            .then(|| Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length"));
        Signer { mac }
    }

    /// The HMAC over `parts` in order, or `None` when unsigned.
    fn mac<P: AsRef<[u8]>>(&self, parts: &[P]) -> Option<Hmac<Sha256>> {
        let mut mac = self.mac.clone()?;
        for p in parts {
            mac.update(p.as_ref());
        }
        Some(mac)
    }

    /// The hex signature of `parts`: a Jupyter message's four JSON parts, or
    /// an agent request's frames. Empty when unsigned.
    pub fn sign<P: AsRef<[u8]>>(&self, parts: &[P]) -> String {
        self.mac(parts)
            .map(|mac| hex::encode(mac.finalize().into_bytes()))
            .unwrap_or_default()
    }

    /// Checks `signature` over `parts` in constant time; anything passes
    /// when unsigned (an empty key, as Jupyter allows).
    pub fn verify<P: AsRef<[u8]>>(&self, signature: &[u8], parts: &[P]) -> bool {
        match self.mac(parts) {
            None => true,
            Some(mac) => hex::decode(signature).is_ok_and(|sig| mac.verify_slice(&sig).is_ok()),
        }
    }

    /// Whether messages are signed at all.
    pub fn is_signed(&self) -> bool {
        self.mac.is_some()
    }
}

/// A verified Jupyter message, its parts kept as received.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// Routing identities (ROUTER/DEALER envelopes, or the IOPub topic).
    pub ids: Vec<Bytes>,
    pub signature: Bytes,
    pub header: Bytes,
    pub parent_header: Bytes,
    pub metadata: Bytes,
    pub content: Bytes,
    pub buffers: Vec<Bytes>,
}

impl RawMessage {
    /// Splits `frames` and verifies the signature.
    pub fn parse(frames: Vec<Bytes>, signer: &Signer) -> Result<RawMessage, WireError> {
        let total = frames.len();
        let delim = frames
            .iter()
            .position(|f| f.as_ref() == DELIMITER)
            .ok_or(WireError::NoDelimiter { frames: total })?;
        let mut it = frames.into_iter();
        let ids: Vec<Bytes> = it.by_ref().take(delim).collect();
        it.next(); // the delimiter
        let rest: Vec<Bytes> = it.collect();
        if rest.len() < 5 {
            return Err(WireError::Truncated { found: rest.len() });
        }
        let mut rest = rest.into_iter();
        let mut next = || rest.next().unwrap_or_default();
        let msg = RawMessage {
            ids,
            signature: next(),
            header: next(),
            parent_header: next(),
            metadata: next(),
            content: next(),
            buffers: Vec::new(),
        };
        let msg = RawMessage {
            buffers: rest.collect(),
            ..msg
        };
        if !signer.verify(&msg.signature, &msg.signed_parts()) {
            return Err(WireError::BadSignature);
        }
        Ok(msg)
    }

    fn signed_parts(&self) -> [&[u8]; 4] {
        [
            &self.header,
            &self.parent_header,
            &self.metadata,
            &self.content,
        ]
    }

    /// The frames to send, identities first.
    pub fn into_frames(self) -> Vec<Bytes> {
        let mut out = Vec::with_capacity(self.ids.len() + 6 + self.buffers.len());
        out.extend(self.ids);
        out.push(Bytes::from_static(DELIMITER));
        out.extend([
            self.signature,
            self.header,
            self.parent_header,
            self.metadata,
            self.content,
        ]);
        out.extend(self.buffers);
        out
    }

    /// The header, parsed. Only the fields the proxy reads.
    pub fn header(&self) -> Result<Header, WireError> {
        parse_json("header", &self.header)
    }

    /// The parent header, parsed (empty for requests).
    pub fn parent_header(&self) -> Result<Header, WireError> {
        parse_json("parent_header", &self.parent_header)
    }

    pub fn metadata(&self) -> Result<Value, WireError> {
        parse_json("metadata", &self.metadata)
    }

    pub fn content(&self) -> Result<Value, WireError> {
        parse_json("content", &self.content)
    }

    /// Replaces the metadata and signs the message again.
    pub fn set_metadata(&mut self, metadata: &Value, signer: &Signer) {
        self.set_metadata_json(serde_json::to_vec(metadata).unwrap_or_default(), signer);
    }

    /// Replaces the metadata with `json` (already serialized) and signs again.
    pub fn set_metadata_json(&mut self, json: Vec<u8>, signer: &Signer) {
        self.metadata = Bytes::from(json);
        self.signature = Bytes::from(signer.sign(&self.signed_parts()));
    }
}

/// The header fields the proxy reads; the rest stays in the raw bytes.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Header {
    #[serde(default)]
    pub msg_id: String,
    #[serde(default)]
    pub msg_type: String,
    #[serde(default)]
    pub session: String,
}

fn parse_json<T: serde::de::DeserializeOwned>(
    part: &'static str,
    bytes: &[u8],
) -> Result<T, WireError> {
    serde_json::from_slice(bytes).map_err(|e| WireError::BadJson {
        part,
        reason: e.to_string(),
    })
}

/// Builds a new message (for the messages the proxy itself sends).
pub fn new_message(
    signer: &Signer,
    ids: Vec<Bytes>,
    msg_type: &str,
    session: &str,
    parent: &[u8],
    content: &Value,
) -> RawMessage {
    let header = serde_json::json!({
        "msg_id": uuid::Uuid::new_v4().to_string(),
        "msg_type": msg_type,
        "session": session,
        "username": "venturalitica",
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "version": "5.4",
    });
    let header = Bytes::from(header.to_string());
    let parent = Bytes::copy_from_slice(if parent.is_empty() { b"{}" } else { parent });
    let metadata = Bytes::from_static(b"{}");
    let content = Bytes::from(content.to_string());
    let signature = Bytes::from(signer.sign(&[&header, &parent, &metadata, &content]));
    RawMessage {
        ids,
        signature,
        header,
        parent_header: parent,
        metadata,
        content,
        buffers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(signer: &Signer) -> Vec<Bytes> {
        let msg = new_message(
            signer,
            vec![Bytes::from_static(b"peer")],
            "execute_request",
            "s",
            b"{}",
            &serde_json::json!({"code": "1+1"}),
        );
        msg.into_frames()
    }

    #[test]
    fn round_trips_a_signed_message() {
        let signer = Signer::new(b"secret");
        let f = frames(&signer);
        let msg = RawMessage::parse(f.clone(), &signer).expect("valid");
        assert_eq!(msg.ids, vec![Bytes::from_static(b"peer")]);
        assert_eq!(msg.header().expect("json").msg_type, "execute_request");
        assert_eq!(msg.into_frames(), f);
    }

    #[test]
    fn rejects_wrong_key_garbage_and_truncation() {
        let f = frames(&Signer::new(b"secret"));
        let other = Signer::new(b"other");
        assert_eq!(
            RawMessage::parse(f.clone(), &other).err(),
            Some(WireError::BadSignature)
        );
        assert_eq!(
            RawMessage::parse(vec![Bytes::from_static(b"junk")], &other).err(),
            Some(WireError::NoDelimiter { frames: 1 })
        );
        assert_eq!(
            RawMessage::parse(f[..4].to_vec(), &other).err(),
            Some(WireError::Truncated { found: 2 })
        );
        let mut not_hex = f.clone();
        not_hex[2] = Bytes::from_static(b"zz");
        assert!(RawMessage::parse(not_hex, &Signer::new(b"secret")).is_err());
    }

    #[test]
    fn buffers_are_not_signed_and_survive() {
        let signer = Signer::new(b"k");
        let mut f = frames(&signer);
        f.push(Bytes::from_static(&[0, 1, 2, 255]));
        let msg = RawMessage::parse(f.clone(), &signer).expect("valid");
        assert_eq!(msg.buffers.len(), 1);
        assert_eq!(msg.into_frames(), f);
    }

    #[test]
    fn set_metadata_re_signs() {
        let signer = Signer::new(b"k");
        let mut msg = RawMessage::parse(frames(&signer), &signer).expect("valid");
        msg.set_metadata(&serde_json::json!({"a": 1}), &signer);
        let again = RawMessage::parse(msg.into_frames(), &signer).expect("still valid");
        assert_eq!(again.metadata().expect("json")["a"], 1);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let s = format!("{:?}", Signer::new(b"topsecret"));
        assert!(!s.contains("topsecret"));
    }
}
