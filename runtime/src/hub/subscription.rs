//! A [`Subscription`]: one subscriber's cursor into a hub's window, and
//! [`Emitter::forward`], which sends its events (and the hub's transient ones, in their place)
//! to a stream, minding slow consumers.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use super::HubStorage;
use super::{Cursor, Head, Hub, MemoryStorage, Record, SlowConsumer};
use crate::event::EventSet;
use crate::stream::emitter::{EmitError, Emitter};

pub(super) type Filter<E> = Box<dyn Fn(&E) -> bool + Send + Sync>;

/// A subscriber's view of a hub: a cursor into its window. Forward it with
/// [`Emitter::forward`].
pub struct Subscription<E, S = MemoryStorage<E>> {
    pub(super) hub: Hub<E, S>,
    pub(super) head: watch::Receiver<Head>,
    /// The hub's count of transient events when they were last queued.
    pub(super) transient_seen: u64,
    /// Transient frames received, waiting for the window events sent before them.
    pub(super) transient_queue: VecDeque<(u64, Bytes)>,
    pub(super) cursor: Cursor,
    pub(super) reset: Option<Bytes>,
    pub(super) batch: Vec<Record<E>>,
    pub(super) filter: Option<Filter<E>>,
}

impl<E, S> fmt::Debug for Subscription<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("cursor", &self.cursor)
            .field("reset", &self.reset.is_some())
            .finish_non_exhaustive()
    }
}

impl<E, S> Subscription<E, S> {
    /// Delivers only the events for which `keep` is true (per-user topics, say). The frames
    /// are still the ones serialized at publish; the ids of skipped events are simply absent.
    pub fn filter(mut self, keep: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Box::new(keep));
        self
    }

    /// Whether the client must refetch its state (its `Last-Event-ID` could not be resumed).
    pub fn is_reset(&self) -> bool {
        self.reset.is_some()
    }
}

impl<E, S> Drop for Subscription<E, S> {
    fn drop(&mut self) {
        let counters = &self.hub.inner.counters;
        counters.subscribers.fetch_sub(1, Ordering::Relaxed);
        self.hub.inner.subscribers_changed();
        crate::metrics::hub_subscribers(-1.0);
        self.hub.touch();
    }
}

/// Records read per lock of the window.
const BATCH: usize = 64;

impl<E: EventSet + Sync> Emitter<E> {
    /// Sends `subscription`'s events to this stream until the client leaves, the server shuts
    /// down or the hub is dropped; see the [`hub`](crate::hub) module for resume and slow
    /// consumers. A slow consumer that is disconnected gets [`EmitError::Lagged`], which ends
    /// the stream quietly (no `error` event) when the handler returns it.
    pub async fn forward<S: HubStorage<E>>(
        &self,
        mut subscription: Subscription<E, S>,
    ) -> Result<(), EmitError> {
        if let Some(reset) = subscription.reset.take() {
            self.send(reset).await?;
        }
        let hub = subscription.hub.clone();
        let options = hub.inner.options;
        let mut batch = std::mem::take(&mut subscription.batch);
        let mut skipped = false;
        // Armed once, before any look at the count of transient events, so that none slips in
        // between; armed again each time it fires (arming it per wait cost a lock per wait).
        let arrived = hub.inner.transients.arrived();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        'read: loop {
            batch.clear();
            // Mark the head seen before reading, so that no append slips between the two.
            subscription.head.mark_unchanged();
            let storage = &hub.inner.storage;
            let read = match subscription.filter {
                Some(_) => storage.read(&mut subscription.cursor, BATCH, &mut batch),
                None => storage.read_frames(&mut subscription.cursor, BATCH, &mut batch),
            };
            let lost = read.is_err();
            if lost || subscription.behind(subscription.cursor.offset, options.subscriber_lag_bytes)
            {
                // A second loss in a row: even the newest event left the window (by age).
                subscription.too_slow(options.slow_consumer, lost && skipped)?;
                skipped = true;
                continue;
            }
            skipped = false;
            // Read after the window, so that every transient event sent before the batch's
            // last record is queued, to go out in its place.
            subscription.receive_transients();
            if batch.is_empty() {
                // Everything before them is out: the transient events sent since go now.
                while let Some(frame) =
                    subscription.transient_before(subscription.cursor.offset + 1)
                {
                    self.send(frame).await?;
                }
                if hub.inner.transients.sent() != subscription.transient_seen {
                    continue;
                }
                tokio::select! {
                    biased;
                    _ = self.closed() => return Ok(()),
                    changed = subscription.head.changed() => {
                        if changed.is_err() {
                            return Ok(()); // the hub is gone
                        }
                    }
                    () = &mut arrived => {
                        arrived.set(hub.inner.transients.arrived());
                        arrived.as_mut().enable();
                    }
                }
                continue;
            }
            for record in batch.drain(..) {
                if let (Some(keep), Some(event)) = (&subscription.filter, &record.event)
                    && !keep(event)
                {
                    continue;
                }
                let start = record.end_offset - record.frame.len() as u64;
                while let Some(frame) = subscription.transient_before(record.end_offset) {
                    self.send(frame).await?;
                }
                #[cfg(feature = "metrics")]
                self.shared().event_sent(match &record.event {
                    Some(event) => event.name(),
                    // Not decoded (a shared storage decodes only for filters), or the
                    // storage's own (a reset): the frame says.
                    None => frame_event_name(&record.frame),
                });
                let send = self.send(record.frame);
                tokio::pin!(send);
                // Most frames go out at once; only a client slow to take them needs watching.
                if let Poll::Ready(sent) = poll_fn(|cx| Poll::Ready(send.as_mut().poll(cx))).await {
                    sent?;
                    continue;
                }
                // While it is slow, check now and then how far behind the hub's head that
                // leaves it: often enough to act on a stalled reader, rarely enough that a
                // thousand blocked subscribers are not woken by every publish.
                let check = tokio::time::sleep(LAG_CHECK);
                tokio::pin!(check);
                loop {
                    tokio::select! {
                        biased;
                        sent = &mut send => {
                            sent?;
                            break;
                        }
                        _ = self.closed() => return Ok(()),
                        _ = &mut check => {
                            if subscription.behind(start, options.subscriber_lag_bytes) {
                                subscription.too_slow(options.slow_consumer, false)?;
                                continue 'read;
                            }
                            check.as_mut().reset(tokio::time::Instant::now() + LAG_CHECK);
                        }
                    }
                }
            }
        }
    }
}

/// How often a subscriber blocked on a slow client checks its lag.
const LAG_CHECK: Duration = Duration::from_millis(20);

impl<E, S> Subscription<E, S> {
    /// Queues the transient events sent since the last look that this subscription keeps.
    fn receive_transients(&mut self) {
        let Subscription {
            hub,
            transient_seen,
            transient_queue,
            filter,
            ..
        } = self;
        *transient_seen = hub
            .inner
            .transients
            .since(*transient_seen, |event, frame, offset| {
                if filter.as_ref().is_none_or(|keep| keep(event)) {
                    transient_queue.push_back((offset, frame.clone()));
                }
            });
    }

    /// The oldest queued transient frame sent before the window reached `end_offset`.
    fn transient_before(&mut self, end_offset: u64) -> Option<Bytes> {
        match self.transient_queue.front() {
            Some((offset, _)) if *offset < end_offset => {
                self.transient_queue.pop_front().map(|(_, frame)| frame)
            }
            _ => None,
        }
    }
}

impl<E, S> Subscription<E, S> {
    /// Whether a subscriber whose next unsent byte is at `offset` is more than `limit` bytes
    /// behind the newest event.
    fn behind(&self, offset: u64, limit: u64) -> bool {
        self.head.borrow().offset.saturating_sub(offset) > limit
    }

    /// Applies the slow-consumer policy: an error to disconnect, or a jump to the newest
    /// event (past it, when even that one is `gone` from the window).
    fn too_slow(&mut self, policy: SlowConsumer, gone: bool) -> Result<(), EmitError> {
        let counters = &self.hub.inner.counters;
        match policy {
            SlowConsumer::Disconnect => {
                counters.disconnected.fetch_add(1, Ordering::Relaxed);
                crate::metrics::hub_lag_disconnect();
                Err(EmitError::Lagged)
            }
            SlowConsumer::SkipToLatest => {
                counters.lagged.fetch_add(1, Ordering::Relaxed);
                let head = *self.head.borrow();
                // The cursor's offset only feeds the lag check, which it must pass: put it at
                // the head.
                let next_seq = if gone {
                    head.seq + 1
                } else {
                    head.seq.max(self.cursor.next_seq)
                };
                self.cursor = Cursor {
                    next_seq,
                    offset: head.offset,
                };
                Ok(())
            }
        }
    }
}

/// The `event:` name of a stored frame (`id:` line first), read without decoding its data;
/// `message` (SSE's default) when it has none.
#[cfg(feature = "metrics")]
fn frame_event_name(frame: &[u8]) -> &str {
    frame
        .split(|&byte| byte == b'\n')
        .take(3)
        .find_map(|line| line.strip_prefix(b"event: "))
        .and_then(|name| std::str::from_utf8(name).ok())
        .unwrap_or("message")
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use super::frame_event_name;

    #[test]
    fn a_frames_event_name_is_read_from_its_event_line() {
        assert_eq!(
            frame_event_name(b"id: 1-0\nevent: tick\ndata: {\"n\":1}\n\n"),
            "tick"
        );
        assert_eq!(
            frame_event_name(b"id: 1-0\nevent: tidings.reset\ndata: {}\n\n"),
            "tidings.reset"
        );
        assert_eq!(frame_event_name(b"id: 1-0\ndata: 1\n\n"), "message");
    }
}
