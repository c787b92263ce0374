//! The local window of one Redis stream: the entries its reader loop read, in order, for the
//! storage's subscribers; and what the storage and its loop share.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tidings::hub::{Cursor, EventId, Head, Record, ResetReason, Start, WindowLimits};
use tokio::sync::watch;

/// The id before every entry: Redis's `0-0`.
pub(crate) const ZERO: EventId = EventId { epoch: 0, seq: 0 };

/// What the storage and its loop share.
pub(crate) struct Shared<E> {
    pub(crate) key: String,
    pub(crate) limits: WindowLimits,
    window: Mutex<Window<E>>,
    pub(crate) head: watch::Sender<Head>,
    /// Whether the loop is connected and reading: subscribers are refused while it is not.
    pub(crate) ready: watch::Sender<bool>,
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
    /// The last entry the loop read.
    pub(crate) last: EventId,
    /// Whether the loop filled the window once.
    pub(crate) started: bool,
}

impl<E> Shared<E> {
    /// An empty window on the stream `key`, not ready until its loop has read it.
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
            }),
            head: watch::Sender::new(Head::default()),
            ready: watch::Sender::new(false),
        }
    }
}

impl<E> Shared<E> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Window<E>> {
        // Every mutation of the window completes before anything that could panic.
        self.window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends records the loop read (or made), evicts, and wakes the subscribers.
    pub(crate) fn push(&self, records: impl IntoIterator<Item = (EventId, Bytes, Option<Arc<E>>)>) {
        let head = {
            let mut window = self.lock();
            for (id, frame, event) in records {
                window.next_seq += 1;
                window.offset += frame.len() as u64;
                window.bytes += frame.len();
                window.last = window.last.max(id);
                let record = Record {
                    id,
                    end_offset: window.offset,
                    frame,
                    event,
                };
                window.records.push_back(record);
            }
            window.evict(&self.limits, now_ms());
            window.head()
        };
        self.head.send_replace(head);
    }
}

impl<E> Window<E> {
    /// Whether the loop read (or made) a record: `last` is then an entry it must find again
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

    /// The position of the first record after `id`.
    pub(crate) fn cursor_after(&self, id: EventId) -> Cursor {
        let index = self.records.partition_point(|record| record.id <= id);
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
