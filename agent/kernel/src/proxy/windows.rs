//! Which execution's energy window is open, opening or waiting its turn.
//!
//! A kernel runs one execution at a time, in the order the requests came.
//! A window opens as its request is written to an idle kernel (so it holds
//! all of the kernel's work on it), or, for a request that came while
//! another ran, when the one before it replies. `W` is the open window (the
//! meter's); the rules are tested without a meter.

use std::collections::{HashMap, VecDeque};

#[derive(Debug)]
pub struct Windows<W> {
    open: HashMap<String, W>,
    /// Requests forwarded while another ran, in order.
    queued: VecDeque<String>,
    /// The request whose window opens once its write is done.
    opening: Option<String>,
}

impl<W> Default for Windows<W> {
    fn default() -> Self {
        Windows {
            open: HashMap::new(),
            queued: VecDeque::new(),
            opening: None,
        }
    }
}

impl<W> Windows<W> {
    /// An `execute_request` went to the kernel: its window opens after the
    /// write if nothing else is open or opening, else it waits its turn.
    pub fn requested(&mut self, msg_id: String) {
        if self.open.is_empty() && self.opening.is_none() {
            self.opening = Some(msg_id);
        } else {
            self.queued.push_back(msg_id);
        }
    }

    /// Whether a window waits for the write in flight.
    pub fn has_opening(&self) -> bool {
        self.opening.is_some()
    }

    /// The request whose window opens now that its write is done.
    pub fn take_opening(&mut self) -> Option<String> {
        self.opening.take()
    }

    pub fn insert(&mut self, msg_id: String, window: W) {
        self.open.insert(msg_id, window);
    }

    /// `msg_id` replied: its window (none if it never opened).
    pub fn close(&mut self, msg_id: &str) -> Option<W> {
        self.open.remove(msg_id)
    }

    /// The next queued request whose window opens now: the first one still
    /// `running` without a window (one that ended unseen is passed over).
    pub fn next(&mut self, running: impl Fn(&str) -> bool) -> Option<String> {
        while let Some(next) = self.queued.pop_front() {
            if running(&next) && !self.open.contains_key(&next) {
                return Some(next);
            }
        }
        None
    }

    /// The kernel went busy on `msg_id`: whether its window opens now (none
    /// is open for it: the meter became ready after the request went in).
    pub fn busy(&mut self, msg_id: &str) -> bool {
        if self.open.contains_key(msg_id) {
            return false;
        }
        self.queued.retain(|q| q != msg_id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows() -> Windows<&'static str> {
        Windows::default()
    }

    #[test]
    fn a_request_to_an_idle_kernel_opens_after_its_write() {
        let mut w = windows();
        w.requested("a".into());
        assert!(w.has_opening());
        assert_eq!(w.take_opening().as_deref(), Some("a"));
        assert!(!w.has_opening() && w.take_opening().is_none());
    }

    #[test]
    fn requests_that_come_while_one_runs_open_in_order_as_each_replies() {
        let mut w = windows();
        w.requested("a".into());
        let a = w.take_opening().expect("a opens");
        w.insert(a, "window a");
        w.requested("b".into());
        w.requested("c".into());
        assert!(!w.has_opening(), "b and c wait their turn");
        assert_eq!(w.close("a"), Some("window a"));
        assert_eq!(w.next(|_| true).as_deref(), Some("b"));
        w.insert("b".into(), "window b");
        assert_eq!(w.close("b"), Some("window b"));
        assert_eq!(w.next(|_| true).as_deref(), Some("c"));
        assert_eq!(w.next(|_| true), None);
    }

    #[test]
    fn a_queued_request_that_ended_unseen_is_passed_over() {
        let mut w = windows();
        w.requested("a".into());
        let a = w.take_opening().expect("a opens");
        w.insert(a, "window a");
        w.requested("b".into());
        w.requested("c".into());
        w.close("a");
        assert_eq!(w.next(|id| id != "b").as_deref(), Some("c"));
    }

    #[test]
    fn busy_opens_a_window_only_where_none_is_open() {
        let mut w = windows();
        w.requested("a".into());
        w.insert("a".into(), "window a");
        assert!(!w.busy("a"));
        w.requested("b".into());
        assert!(w.busy("b"), "the meter was late: b opens at its busy");
        assert_eq!(w.next(|_| true), None, "and leaves the queue");
    }
}
