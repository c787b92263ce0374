//! One budget for the bytes all the streams of a server hold (`Serve::max_queued_bytes`).
//!
//! Each stream's own budget (`Router::buffer_bytes`) bounds what a slow client makes its
//! handler wait for, but not memory: an event larger than it goes alone, and a server has
//! many streams. Here every stream's bytes are counted from the moment a frame is queued
//! until the connection has let go of it (written it, or dropped it): the queue, and the
//! large frames handed to the HTTP layer. When a frame would take the total past the budget,
//! the slowest streams are ended until it fits: those whose connection has taken nothing
//! for the longest (their clients stopped reading), the ones holding the most first among
//! equals. Their queues are dropped at once and their connections abort the response, which
//! frees what the HTTP layer buffered for them.
//!
//! The count costs a stream one atomic add of its own per frame queued and one subtraction per
//! chunk taken; the server's total moves only when a stream's bytes cross a multiple of
//! [`GRANULE`] (a stream is counted by the granules it touches), so that streams on different
//! threads do not fight over one counter on every event. The list of streams is locked when a
//! stream starts, when it ends, and when the budget is full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::Instant;

use bytes::Bytes;

use crate::metrics::EndReason;
use crate::stream::emitter::Shared;

/// The bytes every stream of a server holds, against the server's budget.
pub(crate) struct MemoryBudget {
    max: usize,
    used: AtomicUsize,
    /// Every stream counted here, by the address of its shared state.
    streams: Mutex<HashMap<usize, Weak<Shared>>>,
}

/// The server's total counts each stream's bytes in granules of this many (rounded up): a
/// busy stream whose queue stays about as full moves the total rarely.
const GRANULE: usize = 4096;

/// The default of `Serve::max_queued_bytes`.
pub(crate) const DEFAULT_MAX_QUEUED_BYTES: usize = 512 * 1024 * 1024;

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::new(DEFAULT_MAX_QUEUED_BYTES)
    }
}

impl MemoryBudget {
    pub(crate) fn new(max: usize) -> Self {
        MemoryBudget {
            max,
            used: AtomicUsize::new(0),
            streams: Mutex::default(),
        }
    }

    /// The bytes all streams hold now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<usize, Weak<Shared>>> {
        // Inserts and removals only: a poisoned lock is still consistent.
        self.streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts `stream` among those that can be ended to make room.
    pub(crate) fn register(&self, stream: &Arc<Shared>) {
        self.lock()
            .insert(Arc::as_ptr(stream) as usize, Arc::downgrade(stream));
    }

    /// Forgets the stream whose shared state is at `key` (it is being dropped).
    pub(crate) fn forget(&self, key: usize) {
        self.lock().remove(&key);
    }

    /// Whether `len` more bytes fit.
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.used().saturating_add(len) <= self.max
    }

    /// Makes room for `len` more bytes: ends the slowest streams, one after the other, until
    /// `len` fits: the longest without a chunk taken first, the ones holding the most first
    /// among equals. The stream asking may be one of them.
    pub(crate) fn make_room(&self, len: usize) {
        // Collected under the lock, ended outside it: ending a stream drops its frames.
        let mut holders: Vec<(u64, usize, Arc<Shared>)> = self
            .lock()
            .values()
            .filter_map(Weak::upgrade)
            .filter_map(|stream| {
                let charge = stream.queue.charge()?;
                let (taken, held) = (charge.last_taken(), charge.held());
                (held > 0).then_some((taken, held, stream))
            })
            .collect();
        holders.sort_unstable_by_key(|(taken, held, _)| (*taken, std::cmp::Reverse(*held)));
        for (_, held, stream) in holders {
            if self.fits(len) {
                break;
            }
            if stream.queue.is_aborted() {
                continue;
            }
            tracing::warn!(
                held_bytes = held,
                queued_bytes = self.used(),
                budget_bytes = self.max,
                "ending the slowest stream: the server's queued bytes are at their budget \
                 (`Serve::max_queued_bytes`), and its client has read nothing for the longest"
            );
            stream.set_end(EndReason::MemoryBudget);
            stream.closed.cancel();
            stream.queue.abort();
            if let Some(connection) = &stream.connection {
                // The connection may never poll the body again (its client reads nothing):
                // dropping it frees what it buffered. Over HTTP/2 its other streams go too.
                connection.abort();
            }
        }
    }
}

/// What one stream holds of a server's budget.
pub(crate) struct Charge {
    budget: Arc<MemoryBudget>,
    /// Queued, and handed to the connection but not let go of yet.
    held: AtomicUsize,
    /// Of `held`: large frames the connection has not let go of.
    in_flight: AtomicUsize,
    /// When the connection last took a chunk (or the stream started), in milliseconds since
    /// [`EPOCH`].
    last_taken: AtomicU64,
}

/// What [`Charge::last_taken`] counts from.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

impl Charge {
    pub(crate) fn new(budget: Arc<MemoryBudget>) -> Self {
        Charge {
            budget,
            held: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            last_taken: AtomicU64::new(now_ms()),
        }
    }

    fn last_taken(&self) -> u64 {
        self.last_taken.load(Ordering::Relaxed)
    }

    /// The connection took a chunk: the client reads.
    pub(crate) fn taken(&self) {
        self.last_taken.store(now_ms(), Ordering::Relaxed);
    }

    pub(crate) fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// `len` bytes were queued.
    pub(crate) fn add(&self, len: usize) {
        let before = self.held.fetch_add(len, Ordering::Relaxed);
        self.moved(before, before + len);
    }

    /// `len` queued bytes were let go of.
    pub(crate) fn release(&self, len: usize) {
        let before = self.held.fetch_sub(len, Ordering::Relaxed);
        self.moved(before, before - len);
    }

    /// Tells the server's total when the stream's bytes moved to another granule. Each change
    /// of `held` is one atomic step, so the granules counted add up to the stream's own.
    fn moved(&self, before: usize, after: usize) {
        let (was, is) = (before.div_ceil(GRANULE), after.div_ceil(GRANULE));
        if is > was {
            self.budget
                .used
                .fetch_add((is - was) * GRANULE, Ordering::Relaxed);
        } else if was > is {
            self.budget
                .used
                .fetch_sub((was - is) * GRANULE, Ordering::Relaxed);
        }
    }

    /// A large frame leaves the queue for the connection: it stays counted until the
    /// connection drops the last of its bytes.
    pub(crate) fn in_flight(self: &Arc<Self>, frame: Bytes) -> Bytes {
        let len = frame.len();
        self.in_flight.fetch_add(len, Ordering::Relaxed);
        Bytes::from_owner(InFlight {
            frame,
            charge: self.clone(),
        })
    }

    /// The stream was ended to make room: what the connection still holds of it is freed
    /// with the connection's abort, and no longer counted from now.
    pub(crate) fn abandon_in_flight(&self) {
        let len = self.in_flight.swap(0, Ordering::AcqRel);
        if len > 0 {
            self.release(len);
        }
    }
}

/// Memory a stream keeps besides its frames (a compressor), counted in the server's budget
/// until dropped.
#[cfg_attr(not(feature = "compression"), allow(dead_code))]
pub(crate) struct Reserved {
    charge: Arc<Charge>,
    len: usize,
}

impl Charge {
    /// Counts `len` more bytes for as long as the result lives; `None` when the server's
    /// budget has no room for them.
    #[cfg_attr(not(feature = "compression"), allow(dead_code))]
    pub(crate) fn reserve(self: &Arc<Self>, len: usize) -> Option<Reserved> {
        if !self.budget.fits(len) {
            return None;
        }
        self.add(len);
        Some(Reserved {
            charge: self.clone(),
            len,
        })
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.charge.release(self.len);
    }
}

/// A frame waiting for room in its stream's own budget, counted until it is queued (where it
/// is counted again) or dropped.
pub(crate) struct Waiting<'a> {
    charge: &'a Charge,
    len: usize,
}

impl<'a> Waiting<'a> {
    pub(crate) fn new(charge: &'a Charge, len: usize) -> Self {
        charge.add(len);
        Waiting { charge, len }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.charge.release(self.len);
    }
}

/// A large frame the connection holds, counted until it is dropped.
struct InFlight {
    frame: Bytes,
    charge: Arc<Charge>,
}

impl AsRef<[u8]> for InFlight {
    fn as_ref(&self) -> &[u8] {
        &self.frame
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let len = self.frame.len();
        let in_flight = &self.charge.in_flight;
        // Not counted any more if the stream was abandoned meanwhile.
        let counted = in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                held.checked_sub(len)
            })
            .is_ok();
        if counted {
            self.charge.release(len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_counts_each_streams_bytes_in_whole_granules_and_returns_to_zero() {
        let budget = Arc::new(MemoryBudget::new(1 << 30));
        let (a, b) = (Charge::new(budget.clone()), Charge::new(budget.clone()));
        let mut held = [0usize; 2];
        let mut seed = 7u64;
        for step in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let which = (seed % 2) as usize;
            let charge = [&a, &b][which];
            let len = (seed >> 8) as usize % 9000;
            if step % 3 == 2 && held[which] > 0 {
                let len = len.min(held[which]);
                charge.release(len);
                held[which] -= len;
            } else {
                charge.add(len);
                held[which] += len;
            }
            let granules: usize = held.iter().map(|h| h.div_ceil(GRANULE) * GRANULE).sum();
            assert_eq!(budget.used(), granules, "step {step}");
        }
        a.release(held[0]);
        b.release(held[1]);
        assert_eq!(budget.used(), 0);
    }
}
