//! The local window of one Redis stream: its entries, in order, for the storage's subscribers,
//! as the catch-up reads them and the channel brings them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tidings::hub::{Cursor, EventId, Head, Record, ResetReason, Start, WindowLimits};
use tokio::sync::{Notify, watch};

/// The id before every entry: Redis's `0-0`.
pub(crate) const ZERO: EventId = EventId { epoch: 0, seq: 0 };

/// What the storage, its catch-ups and the follower share.
pub(crate) struct Shared<E> {
    pub(crate) key: String,
    pub(crate) limits: WindowLimits,
    window: Mutex<Window<E>>,
    pub(crate) head: watch::Sender<Head>,
    /// Whether the topic follows its stream live: new subscribers wait while it does not.
    /// (A flag and a `Notify`, not a `watch` channel: those cost a topic 360 bytes.)
    ready: AtomicBool,
    /// Wakes the subscribers waiting for `ready`.
    became_ready: Notify,
    /// Wakes the topic's follow task when a catch-up is due.
    pub(crate) wake: Notify,
}

/// The local window: the stream's entries after `base`, up to `last`, in order.
pub(crate) struct Window<E> {
    pub(crate) records: VecDeque<Record<E>>,
    /// The local sequence number of the next record (cursors count in these).
    next_seq: u64,
    /// Frame bytes ever appended (for the hub's lag check).
    offset: u64,
    /// Frame bytes held.
    pub(crate) bytes: usize,
    /// Every entry after `base` up to `last` is in `records` (or was evicted, moving `base`).
    pub(crate) base: EventId,
    /// The newest entry in the window (read, or received on the channel).
    pub(crate) last: EventId,
    /// Whether the window was filled from the stream once.
    pub(crate) started: bool,
    /// Whether the window is catching up with the stream: channel messages wait in `pending`.
    catching_up: bool,
    pending: Vec<(EventId, Bytes, Option<Arc<E>>)>,
    /// The follower's connection on which the topic's channel is subscribed, if any.
    subscribed: Option<u64>,
}

impl<E> Shared<E> {
    /// An empty window on the stream `key`, not ready until it has caught up once.
    pub(crate) fn new(key: String, limits: WindowLimits) -> Self {
        Shared {
            key,
            limits,
            window: Mutex::new(Window {
                records: VecDeque::new(),
                next_seq: 1,
                offset: 0,
                bytes: 0,
                base: ZERO,
                last: ZERO,
                started: false,
                catching_up: true,
                pending: Vec::new(),
                subscribed: None,
            }),
            wake: Notify::new(),
            head: watch::Sender::new(Head::default()),
            ready: AtomicBool::new(false),
            became_ready: Notify::new(),
        }
    }
}

impl<E> Shared<E> {
    /// Whether the topic follows its stream live.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Waits until the topic follows its stream live.
    pub(crate) async fn wait_ready(&self) {
        loop {
            let became_ready = self.became_ready.notified();
            tokio::pin!(became_ready);
            // Listen before looking, so that going live in between still wakes us.
            became_ready.as_mut().enable();
            if self.is_ready() {
                return;
            }
            became_ready.await;
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Window<E>> {
        // Every mutation of the window completes before anything that could panic.
        self.window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends records read from the stream (or made), evicts, and wakes the subscribers.
    pub(crate) fn push(&self, records: impl IntoIterator<Item = (EventId, Bytes, Option<Arc<E>>)>) {
        let head = {
            let mut window = self.lock();
            for record in records {
                window.append(record);
            }
            window.evict(&self.limits, now_ms());
            window.head()
        };
        self.head.send_replace(head);
    }

    /// Records the topic's channel carried, in order: held while catching up, dropped if the
    /// window has them already, appended otherwise (and the subscribers woken once).
    pub(crate) fn live(&self, records: impl IntoIterator<Item = (EventId, Bytes, Option<Arc<E>>)>) {
        let head = {
            let mut window = self.lock();
            if window.catching_up {
                window.pending.extend(records);
                return;
            }
            let before = window.head();
            for record in records {
                if record.0 > window.last {
                    window.append(record);
                }
            }
            if window.head() == before {
                return;
            }
            window.evict(&self.limits, now_ms());
            window.head()
        };
        self.head.send_replace(head);
    }

    /// The connection broke: new subscribers wait, and channel messages are held until the
    /// next catch-up.
    pub(crate) fn disconnected(&self) {
        {
            let mut window = self.lock();
            window.subscribed = None;
            window.catching_up = true;
            window.pending.clear();
        }
        self.ready.store(false, Ordering::Release);
    }

    /// The topic's channel is subscribed on connection `generation`: a catch-up is due if the
    /// topic is not live.
    pub(crate) fn subscribed(&self, generation: u64) {
        self.lock().subscribed = Some(generation);
        self.wake.notify_waiters();
    }

    /// The connection a catch-up is due for, if one is.
    pub(crate) fn catch_up_due(&self) -> Option<u64> {
        let window = self.lock();
        if window.catching_up {
            window.subscribed
        } else {
            None
        }
    }

    /// Ends a catch-up begun on connection `generation`: what the channel brought meanwhile
    /// and the window lacks is appended, and the topic serves live. False if that connection
    /// broke since.
    pub(crate) fn go_live(&self, generation: u64) -> bool {
        let head = {
            let mut window = self.lock();
            if window.subscribed != Some(generation) || !window.catching_up {
                return false;
            }
            for record in std::mem::take(&mut window.pending) {
                if record.0 > window.last {
                    window.append(record);
                }
            }
            window.catching_up = false;
            window.evict(&self.limits, now_ms());
            window.head()
        };
        self.head.send_replace(head);
        self.ready.store(true, Ordering::Release);
        self.became_ready.notify_waiters();
        true
    }
}

impl<E> Window<E> {
    fn append(&mut self, (id, frame, event): (EventId, Bytes, Option<Arc<E>>)) {
        self.next_seq += 1;
        self.offset += frame.len() as u64;
        self.bytes += frame.len();
        self.last = self.last.max(id);
        self.records.push_back(Record {
            id,
            end_offset: self.offset,
            frame,
            event,
        });
    }

    /// Whether a record was read (or made): `last` is then an entry the stream must still hold
    /// after a reconnection.
    pub(crate) fn read_any(&self) -> bool {
        self.next_seq > 1
    }

    pub(crate) fn first_seq(&self) -> u64 {
        self.next_seq - self.records.len() as u64
    }

    pub(crate) fn head(&self) -> Head {
        Head {
            seq: self.next_seq - 1,
            offset: self.offset,
        }
    }

    pub(crate) fn live(&self) -> Cursor {
        Cursor {
            next_seq: self.next_seq,
            offset: self.offset,
        }
    }

    /// Drops records past the bounds; the age is the Redis id's, i.e. when it was published.
    pub(crate) fn evict(&mut self, limits: &WindowLimits, now_ms: u64) {
        let max_age_ms = limits.max_age.map(|age| age.as_millis() as u64);
        while let Some(oldest) = self.records.front() {
            let too_old =
                max_age_ms.is_some_and(|age| now_ms.saturating_sub(oldest.id.epoch) > age);
            if self.records.len() > limits.max_events || self.bytes > limits.max_bytes || too_old {
                self.bytes -= oldest.frame.len();
                self.base = oldest.id;
                self.records.pop_front();
            } else {
                break;
            }
        }
    }

    /// Whether the window holds the entry `id`.
    pub(crate) fn holds(&self, id: EventId) -> bool {
        let index = self.records.partition_point(|record| record.id < id);
        self.records
            .get(index)
            .is_some_and(|record| record.id == id)
    }

    /// The position right after the record `id` (or of the first record after `id`). A
    /// reset the storage made when the stream's history broke has the id of the last entry
    /// before the break: a client whose last event was that entry gets the reset, not what
    /// comes after it; one that got the reset gets it again (harmless, where skipping it
    /// would not be).
    pub(crate) fn cursor_after(&self, id: EventId) -> Cursor {
        let mut index = self.records.partition_point(|record| record.id < id);
        if self
            .records
            .get(index)
            .is_some_and(|record| record.id == id)
        {
            index += 1;
        }
        match self.records.get(index) {
            Some(next) => Cursor {
                next_seq: self.first_seq() + index as u64,
                offset: next.end_offset - next.frame.len() as u64,
            },
            None => self.live(),
        }
    }

    pub(crate) fn reset(&self, reason: ResetReason) -> Start {
        Start::Reset {
            reason,
            oldest: self.records.front().map(|record| record.id),
            // The newest entry read, or where reading began: resuming after it misses nothing.
            latest: Some(self.last),
            cursor: self.live(),
        }
    }
}

/// Milliseconds since the Unix epoch: the clock of Redis stream ids.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(epoch: u64) -> EventId {
        EventId { epoch, seq: 0 }
    }

    #[test]
    fn resuming_after_the_last_entry_before_a_break_starts_at_the_reset() {
        let shared: Shared<()> = Shared::new("key".into(), WindowLimits::default());
        // Entry 1, the reset made when the history broke after it (same id), entry 2.
        shared.push([
            (id(1), Bytes::from_static(b"id: 1-0\ndata: a\n\n"), None),
            (
                id(1),
                Bytes::from_static(b"id: 1-0\nevent: tidings.reset\n\n"),
                None,
            ),
            (id(2), Bytes::from_static(b"id: 2-0\ndata: b\n\n"), None),
        ]);
        let window = shared.lock();
        let first = window.first_seq();
        assert_eq!(window.cursor_after(id(1)).next_seq, first + 1, "the reset");
        assert_eq!(window.cursor_after(id(2)).next_seq, first + 3, "live");
        assert!(window.holds(id(2)) && !window.holds(EventId { epoch: 1, seq: 5 }));
    }
}
