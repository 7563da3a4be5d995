//! IOPub hold-back: a cell's `idle` (and whatever follows it) waits until
//! its `execute_reply` has gone out, so a frontend has the annotated reply
//! first; at most a deadline, so a lost reply never freezes the outputs.

use bytes::Bytes;
use tokio::time::{Duration, Instant};

/// The longest an `idle` waits for its reply.
pub const AT_MOST: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct Hold {
    held: Vec<Vec<Bytes>>,
    /// The execution whose reply releases them.
    holding_for: Option<String>,
    deadline: Option<Instant>,
}

impl Hold {
    /// An IOPub message from the kernel; `idle_of` names the execution
    /// whose `idle` it is. The frames to publish now, or none when held.
    pub fn iopub(
        &mut self,
        frames: Vec<Bytes>,
        idle_of: Option<String>,
        now: Instant,
    ) -> Option<Vec<Bytes>> {
        if let Some(parent) = idle_of.filter(|_| self.held.is_empty()) {
            self.holding_for = Some(parent);
            self.deadline = Some(now + AT_MOST);
        }
        if self.holding_for.is_some() {
            self.held.push(frames);
            None
        } else {
            Some(frames)
        }
    }

    /// The reply to `parent` went out: what waited for it, in order.
    pub fn replied(&mut self, parent: &str) -> Vec<Vec<Bytes>> {
        if self.holding_for.as_deref() == Some(parent) {
            self.release()
        } else {
            Vec::new()
        }
    }

    /// Everything held, in order (the deadline passed, or the kernel left).
    pub fn release(&mut self) -> Vec<Vec<Bytes>> {
        self.holding_for = None;
        self.deadline = None;
        std::mem::take(&mut self.held)
    }

    /// When what is held goes out whether or not its reply came.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(tag: &'static str) -> Vec<Bytes> {
        vec![Bytes::from_static(tag.as_bytes())]
    }

    #[test]
    fn an_idle_and_what_follows_wait_for_their_reply() {
        let mut h = Hold::default();
        let now = Instant::now();
        assert_eq!(h.iopub(frames("stream"), None, now), Some(frames("stream")));
        assert_eq!(h.iopub(frames("idle"), Some("a".into()), now), None);
        assert_eq!(h.iopub(frames("next busy"), None, now), None);
        assert_eq!(h.deadline(), Some(now + AT_MOST));
        assert!(h.replied("b").is_empty(), "another reply releases nothing");
        assert_eq!(h.replied("a"), vec![frames("idle"), frames("next busy")]);
        assert_eq!(h.deadline(), None);
        assert_eq!(h.iopub(frames("after"), None, now), Some(frames("after")));
    }

    #[test]
    fn a_second_idle_while_holding_waits_for_the_first_reply() {
        let mut h = Hold::default();
        let now = Instant::now();
        h.iopub(frames("idle a"), Some("a".into()), now);
        h.iopub(frames("idle b"), Some("b".into()), now);
        assert!(h.replied("b").is_empty());
        assert_eq!(h.replied("a"), vec![frames("idle a"), frames("idle b")]);
    }

    #[test]
    fn release_lets_everything_go_when_the_reply_never_comes() {
        let mut h = Hold::default();
        let now = Instant::now();
        h.iopub(frames("idle"), Some("a".into()), now);
        assert_eq!(h.release(), vec![frames("idle")]);
        assert_eq!(h.iopub(frames("x"), None, now), Some(frames("x")));
    }
}
