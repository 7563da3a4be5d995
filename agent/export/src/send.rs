//! Several requests in flight, acknowledged in order.
//!
//! A tracking server answers one batch at a time slowly but several at once
//! nearly as fast (MLflow's handlers spend most of a `log-batch` waiting on
//! its database), so batches go out concurrently. What is recorded as done
//! must still be a prefix of the trail, so a resumed export neither skips
//! nor needs to know about batches that finished out of order: `done(i)` is
//! called for batch `i` only once batches `0..=i` have all succeeded.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::ExportError;

/// How many requests an export keeps in flight.
pub const IN_FLIGHT: usize = 4;

/// Sends every batch with `send`, up to `in_flight` at once, calling
/// `done(i)` in order as the acknowledged prefix grows. After the first
/// failure no new batch starts; the error is returned once the requests in
/// flight have ended, and `done` has covered the prefix that succeeded.
pub fn in_order<B: Sync>(
    batches: &[B],
    in_flight: usize,
    send: impl Fn(&B) -> Result<(), ExportError> + Sync,
    mut done: impl FnMut(usize) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<(), ExportError>)>();
    std::thread::scope(|scope| {
        for _ in 0..in_flight.clamp(1, batches.len().max(1)) {
            let tx = tx.clone();
            let (next, stop, send) = (&next, &stop, &send);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(batch) = batches.get(i) else { break };
                    if tx.send((i, send(batch))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut finished = vec![false; batches.len()];
        let mut prefix = 0;
        let mut first_error = None;
        // False once `done` itself failed: nothing more is recorded.
        let mut recording = true;
        for (i, result) in rx {
            match result {
                Ok(()) => finished[i] = true,
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                }
            }
            while recording && prefix < finished.len() && finished[prefix] {
                match done(prefix) {
                    Ok(()) => prefix += 1,
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        first_error.get_or_insert(e);
                        recording = false;
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    #[test]
    fn done_follows_the_order_of_the_batches_whatever_order_they_finish_in() {
        // Earlier batches take longer, so they finish last.
        let batches: Vec<u64> = (0..12).rev().collect();
        let sent = Mutex::new(Vec::new());
        let mut acked = Vec::new();
        in_order(
            &batches,
            4,
            |b| {
                std::thread::sleep(Duration::from_millis(*b * 3));
                sent.lock().expect("lock").push(*b);
                Ok(())
            },
            |i| {
                acked.push(i);
                Ok(())
            },
        )
        .expect("all sent");
        assert_eq!(acked, (0..12).collect::<Vec<_>>());
        assert_eq!(sent.lock().expect("lock").len(), 12);
    }

    #[test]
    fn a_failure_stops_new_batches_and_acknowledges_only_the_prefix_before_it() {
        let batches: Vec<usize> = (0..50).collect();
        let mut acked = Vec::new();
        let started = AtomicUsize::new(0);
        let err = in_order(
            &batches,
            3,
            |b| {
                started.fetch_add(1, Ordering::Relaxed);
                if *b == 5 {
                    Err(ExportError::Protocol("boom".into()))
                } else {
                    std::thread::sleep(Duration::from_millis(2));
                    Ok(())
                }
            },
            |i| {
                acked.push(i);
                Ok(())
            },
        )
        .expect_err("batch 5 fails");
        assert!(err.to_string().contains("boom"));
        assert_eq!(acked, (0..5).collect::<Vec<_>>());
        assert!(
            started.load(Ordering::Relaxed) < 50,
            "no new batch after the failure"
        );
    }

    #[test]
    fn no_batches_is_nothing_to_do() {
        let batches: [u8; 0] = [];
        in_order(&batches, 4, |_| unreachable!(), |_| unreachable!()).expect("nothing");
    }
}
