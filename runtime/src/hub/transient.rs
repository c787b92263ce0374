//! Transient events ([`Hub::broadcast`](super::Hub::broadcast)): the latest few, kept for the
//! subscribers of this moment, with no id and no place in the replay window.
//!
//! A ring, not a `tokio::sync::broadcast` channel: the channel allocates all its slots when
//! the hub is made (5 KiB for 64), which a hub per topic pays even if it never broadcasts.
//! The ring allocates on the first transient event.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::Notify;

/// Transient events a subscriber may fall behind by before it misses some.
pub(super) const BACKLOG: usize = 64;

/// One transient event: its number (from 1), the event for subscription filters, its frame
/// (serialized once), and the window's byte offset when it was sent: it goes out after the
/// window's events up to there, and before the ones after.
struct Transient<E> {
    number: u64,
    event: Arc<E>,
    frame: Bytes,
    offset: u64,
}

/// The latest transient events of a hub.
pub(super) struct Transients<E> {
    ring: Mutex<VecDeque<Transient<E>>>,
    /// Events sent so far: subscribers look at the ring only when it moved, so that the
    /// fan-out of ordinary events never takes its lock.
    sent: AtomicU64,
    /// Wakes the subscribers waiting for one.
    arrived: Notify,
}

impl<E> Transients<E> {
    pub(super) fn new() -> Self {
        Transients {
            ring: Mutex::new(VecDeque::new()),
            sent: AtomicU64::new(0),
            arrived: Notify::new(),
        }
    }

    /// Keeps the event for the subscribers of now, and wakes those waiting.
    pub(super) fn send(&self, event: Arc<E>, frame: Bytes, offset: u64) {
        let mut ring = self.lock();
        let number = self.sent.load(Ordering::Relaxed) + 1;
        if ring.len() == BACKLOG {
            ring.pop_front();
        }
        ring.push_back(Transient {
            number,
            event,
            frame,
            offset,
        });
        // Under the lock, after the push: whoever sees the new count finds the event.
        self.sent.store(number, Ordering::Release);
        drop(ring);
        self.arrived.notify_waiters();
    }

    /// Events sent so far: a subscription starts having seen them all.
    pub(super) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    /// Calls `each` with the events after the first `seen` still kept, oldest first, and
    /// returns the count seen now. One that fell more than [`BACKLOG`] behind skips the
    /// oldest.
    pub(super) fn since(&self, seen: u64, mut each: impl FnMut(&E, &Bytes, u64)) -> u64 {
        if self.sent() == seen {
            return seen;
        }
        let ring = self.lock();
        let mut newest = seen;
        for transient in ring.iter().filter(|t| t.number > seen) {
            each(&transient.event, &transient.frame, transient.offset);
            newest = transient.number;
        }
        newest
    }

    /// Completes when an event is sent after this call: call
    /// [`Notified::enable`](tokio::sync::futures::Notified::enable) on it, then look at
    /// [`sent`](Self::sent), then wait, so that no event slips between the look and the wait.
    pub(super) fn arrived(&self) -> tokio::sync::futures::Notified<'_> {
        self.arrived.notified()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Transient<E>>> {
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen_since(transients: &Transients<u64>, seen: u64) -> (Vec<u64>, u64) {
        let mut events = Vec::new();
        let now = transients.since(seen, |event, _, _| events.push(*event));
        (events, now)
    }

    #[test]
    fn the_ring_keeps_the_latest_and_a_lagging_reader_skips_the_oldest() {
        let transients = Transients::new();
        assert_eq!(seen_since(&transients, 0), (vec![], 0));
        for n in 1..=3 {
            transients.send(Arc::new(n), Bytes::new(), 0);
        }
        assert_eq!(seen_since(&transients, 0), (vec![1, 2, 3], 3));
        assert_eq!(seen_since(&transients, 2), (vec![3], 3));
        assert_eq!(seen_since(&transients, 3), (vec![], 3));
        for n in 4..=100 {
            transients.send(Arc::new(n), Bytes::new(), 0);
        }
        let (events, now) = seen_since(&transients, 3);
        assert_eq!(now, 100);
        assert_eq!(events.len(), BACKLOG, "the oldest went");
        assert_eq!(events.first(), Some(&(100 - BACKLOG as u64 + 1)));
        assert_eq!(transients.lock().capacity(), BACKLOG);
    }

    #[tokio::test]
    async fn a_waiter_armed_before_the_look_is_woken() {
        let transients = Arc::new(Transients::<u64>::new());
        let arrived = transients.arrived();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        assert_eq!(transients.sent(), 0);
        let sender = transients.clone();
        tokio::spawn(async move { sender.send(Arc::new(1), Bytes::new(), 0) });
        tokio::time::timeout(std::time::Duration::from_secs(5), arrived)
            .await
            .expect("woken");
        assert_eq!(transients.sent(), 1);
    }
}
