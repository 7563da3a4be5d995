//! JEP 65's `iopub_welcome`: a new subscriber, and only it, is told its
//! subscription is live, once the proxy's own subscription to the kernel is
//! (before that, a welcome would promise messages that may not come).

use bytes::Bytes;

use crate::frontend::ConnId;
use crate::wire::{new_message, RawMessage, Signer};

#[derive(Debug, Default)]
pub struct Welcomes {
    upstream_ready: bool,
    /// Subscriptions made before that, to welcome then.
    pending: Vec<(ConnId, Bytes)>,
}

impl Welcomes {
    /// A frontend subscribed to `topic`: the subscription to welcome now,
    /// or none while the kernel's IOPub is not live yet.
    pub fn subscribed(&mut self, conn: ConnId, topic: Bytes) -> Option<(ConnId, Bytes)> {
        if self.upstream_ready {
            Some((conn, topic))
        } else {
            self.pending.push((conn, topic));
            None
        }
    }

    /// The kernel's IOPub reached the proxy: the subscriptions that waited
    /// (once; afterwards none).
    pub fn upstream_ready(&mut self) -> Vec<(ConnId, Bytes)> {
        if self.upstream_ready {
            return Vec::new();
        }
        self.upstream_ready = true;
        std::mem::take(&mut self.pending)
    }
}

/// The welcome for a subscription to `topic`, from the proxy's `session`.
pub fn message(signer: &Signer, session: &str, topic: Bytes) -> RawMessage {
    let content = serde_json::json!({"subscription": String::from_utf8_lossy(&topic)});
    let ids = if topic.is_empty() {
        vec![]
    } else {
        vec![topic]
    };
    new_message(signer, ids, "iopub_welcome", session, b"{}", &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_wait_for_the_kernel_then_are_welcomed_once() {
        let mut w = Welcomes::default();
        assert_eq!(w.subscribed(1, Bytes::new()), None);
        assert_eq!(w.subscribed(2, Bytes::from_static(b"kernel")), None);
        assert_eq!(
            w.upstream_ready(),
            vec![(1, Bytes::new()), (2, Bytes::from_static(b"kernel"))]
        );
        assert!(w.upstream_ready().is_empty());
        assert_eq!(w.subscribed(3, Bytes::new()), Some((3, Bytes::new())));
    }

    #[test]
    fn a_welcome_names_its_topic_and_is_signed() {
        let signer = Signer::new(b"key");
        let msg = message(&signer, "s", Bytes::from_static(b"kernel.1"));
        let header = msg.header().expect("a header");
        assert_eq!(header.msg_type, "iopub_welcome");
        assert_eq!(msg.content().expect("content")["subscription"], "kernel.1");
        let frames = msg.into_frames();
        assert_eq!(
            frames[0],
            Bytes::from_static(b"kernel.1"),
            "routed by its topic"
        );
        assert!(
            RawMessage::parse(frames, &signer).is_ok(),
            "verifies with the key"
        );
    }
}
