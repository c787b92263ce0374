//! Broadcast hubs: publish once, deliver to every subscriber, resume without loss.
//!
//! A [`Hub`] validates and serializes each published event once, gives it an [id](EventId),
//! keeps it in a replay window and wakes every subscriber; publishing never waits for a
//! subscriber. A handler forwards a [`Subscription`] to its client, starting right after the
//! client's `Last-Event-ID`:
//!
//! ```
//! use tidings::hub::Hub;
//! use tidings::{event_stream, Emitter, Router, State};
//!
//! #[event_stream]
//! #[derive(Debug, Clone)]
//! enum Metrics {
//!     Cpu { percent: f32 },
//! }
//!
//! #[event_stream(path = "/metrics")]
//! async fn metrics(State(hub): State<Hub<Metrics>>, events: Emitter<Metrics>) -> tidings::Result<()> {
//!     let subscription = hub.subscribe(events.last_event_id()).await;
//!     events.forward(subscription).await?;
//!     Ok(())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let hub = Hub::new();
//! let app = Router::new().route(metrics).with_state(hub.clone());
//! hub.publish(Metrics::Cpu { percent: 12.5 }).await?;
//! # Ok(()) }
//! ```
//!
//! **Resume.** A client that comes back with a `Last-Event-ID` inside the window gets every
//! event it missed, once and in order, then the live events, with no gap or duplicate where
//! one turns into the other (both are read from the same window by the same cursor). An id
//! that is older than the window, malformed, from the future, or from another history (the
//! server restarted) gets a [`RESET_EVENT`] first, `{"reason":"expired"|"unknown",
//! "oldest":<id or null>,"latest":<id or null>}`, with the `id:` of the newest event: the
//! client should refetch its state; live events follow. A client without `Last-Event-ID`
//! starts with the next event.
//!
//! **Slow consumers.** Each subscriber may fall behind the newest event by at most
//! [`HubOptions::subscriber_lag_bytes`] (checked as it reads, and every 20 ms while it waits
//! for room in its stream's buffer; a client that stops reading altogether is checked when it
//! reads again, and meanwhile holds only what its connection has buffered). Past that, [`SlowConsumer::Disconnect`] (the
//! default) ends its stream; the client reconnects with its `Last-Event-ID` and resumes
//! losslessly from the window, which should therefore be larger than the lag limit.
//! [`SlowConsumer::SkipToLatest`] instead jumps to the newest event, for "latest value wins"
//! streams such as metrics. Memory stays bounded either way: subscribers hold cursors into the
//! one window, not copies of it.
//!
//! **Transient events.** [`Hub::broadcast`] sends an event to the subscribers of the moment
//! only: no id, no place in the window, never replayed to a client that resumes. Presence
//! ("3 online"), typing indicators, a progress figure the next one replaces: state that is
//! only worth having live, and that would otherwise push replayable events out of the window.
//! [`Hub::watch_subscribers`] follows the subscriber count, e.g. to broadcast presence.
//!
//! **Topics.** [`Hubs`] keeps one hub per key (a job id, a user) and drops hubs nobody has
//! used for a while.

mod id;
mod storage;
mod subscribed;
mod subscription;
mod topics;
mod transient;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;

pub use id::{EventId, InvalidEventId};
pub use storage::{
    Cursor, EitherStorage, Head, HubStorage, Lost, MemoryStorage, Record, ResetReason, Start,
    StorageError, WindowLimits,
};
pub use subscribed::{Subscribed, TopicSubscribed};
pub use subscription::Subscription;
pub use topics::Hubs;

use crate::event::EventSet;
use crate::frame::{self, FrameError};
use crate::metrics::ResumeOutcome;
use crate::validate::Violations;

pub use crate::event::RESET_EVENT;

/// What to do with a subscriber that falls too far behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumer {
    /// End its stream; the client reconnects and resumes from the window.
    #[default]
    Disconnect,
    /// Skip to the newest event ("latest value wins").
    SkipToLatest,
}

/// How a hub behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubOptions {
    /// The replay window.
    pub window: WindowLimits,
    /// How many bytes of frames a subscriber may be behind the newest event (default
    /// 1 MiB).
    pub subscriber_lag_bytes: u64,
    /// What happens past that.
    pub slow_consumer: SlowConsumer,
}

impl Default for HubOptions {
    fn default() -> Self {
        HubOptions {
            window: WindowLimits::default(),
            subscriber_lag_bytes: 1024 * 1024,
            slow_consumer: SlowConsumer::Disconnect,
        }
    }
}

/// Counters of a hub, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Subscriptions open now.
    pub subscribers: u64,
    /// Events published.
    pub published: u64,
    /// Frame bytes published (each serialized once).
    pub published_bytes: u64,
    /// Times a slow subscriber skipped ahead (`SkipToLatest`).
    pub lagged: u64,
    /// Slow subscribers disconnected (`Disconnect`).
    pub disconnected: u64,
    /// Subscribers that got a reset.
    pub resets: u64,
}

#[derive(Default)]
struct Counters {
    subscribers: AtomicU64,
    published: AtomicU64,
    published_bytes: AtomicU64,
    lagged: AtomicU64,
    disconnected: AtomicU64,
    resets: AtomicU64,
    /// Milliseconds since `created`, when last published to or subscribed.
    last_used_ms: AtomicU64,
}

struct HubInner<E, S> {
    storage: S,
    options: HubOptions,
    counters: Counters,
    created: Instant,
    /// Transient events: to the subscribers of now, with no id and no place in the window.
    transients: transient::Transients<E>,
    /// The subscriber count, for those who watch it: made by the first
    /// [`Hub::watch_subscribers`] (a `watch` channel costs a hub 360 bytes), and set under the
    /// lock from `counters.subscribers`, so that a change made while it is being made is not
    /// lost.
    subscribers: std::sync::Mutex<Option<watch::Sender<u64>>>,
}

impl<E, S> HubInner<E, S> {
    fn lock_subscribers(&self) -> std::sync::MutexGuard<'_, Option<watch::Sender<u64>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Tells the watchers of the subscriber count, if any, its value now.
    fn subscribers_changed(&self) {
        if let Some(sender) = &*self.lock_subscribers() {
            sender.send_replace(self.counters.subscribers.load(Ordering::Relaxed));
        }
    }
}

/// A broadcast hub for the events `E`, kept in `S`. Cloning is cheap: clones share the hub.
pub struct Hub<E, S = MemoryStorage<E>> {
    inner: Arc<HubInner<E, S>>,
}

impl<E, S> Clone for Hub<E, S> {
    fn clone(&self) -> Self {
        Hub {
            inner: self.inner.clone(),
        }
    }
}

impl<E, S> fmt::Debug for Hub<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl<E: EventSet + Sync> Default for Hub<E> {
    fn default() -> Self {
        Hub::new()
    }
}

impl<E: EventSet + Sync> Hub<E> {
    /// A hub with an in-memory window and default options.
    pub fn new() -> Self {
        Hub::with_options(HubOptions::default())
    }

    /// A hub with an in-memory window and these options.
    pub fn with_options(options: HubOptions) -> Self {
        Hub::with_storage(MemoryStorage::new(options.window), options)
    }

    /// A subscription that starts right after `last_event_id` (usually
    /// [`Emitter::last_event_id`](crate::Emitter::last_event_id)), or with the next event when it is `None`. The memory
    /// storage never fails; for any storage, see [`Hub::try_subscribe`].
    pub async fn subscribe(&self, last_event_id: Option<&str>) -> Subscription<E> {
        let start = self.inner.storage.start_now(last_event_id);
        self.subscription(start)
    }
}

/// Why an event was not published.
#[derive(Debug)]
#[non_exhaustive]
pub enum PublishError {
    /// A field broke its `#[validate]` rules; nothing was published.
    Invalid {
        /// The event name.
        event: &'static str,
        /// Every broken rule.
        violations: Violations,
    },
    /// serde could not serialize the event.
    Serialize(serde_json::Error),
    /// The storage failed.
    Storage(StorageError),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Invalid { event, violations } => {
                write!(f, "invalid `{event}` event: {violations}")
            }
            PublishError::Serialize(error) => write!(f, "cannot serialize the event: {error}"),
            PublishError::Storage(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for PublishError {}

impl<E: EventSet + Sync, S: HubStorage<E>> Hub<E, S> {
    /// A hub over `storage`.
    pub fn with_storage(storage: S, options: HubOptions) -> Self {
        Hub {
            inner: Arc::new(HubInner {
                storage,
                options,
                counters: Counters::default(),
                created: Instant::now(),
                transients: transient::Transients::new(),
                subscribers: std::sync::Mutex::new(None),
            }),
        }
    }

    /// Sends `event` to the subscribers of this moment only, as it is (validated, serialized
    /// once): no id, no place in the replay window, so a client that resumes never gets it
    /// again, and it pushes no replayable event out of the window. For state that is only
    /// worth having live: presence, typing indicators, progress that the next one replaces.
    /// Returns how many subscriptions it reached.
    ///
    /// A subscriber that falls more than 64 transient events behind misses the oldest ones.
    /// With a shared storage (`tidings-redis`), a transient event reaches the subscribers of
    /// this process only.
    pub fn broadcast(&self, event: E) -> Result<usize, PublishError> {
        let frame = frame_of(&event)?;
        self.touch();
        let offset = self.inner.storage.head().borrow().offset;
        // No subscriber is not an error: nobody was there to hear it.
        let reached = self.inner.counters.subscribers.load(Ordering::Relaxed) as usize;
        self.inner.transients.send(Arc::new(event), frame, offset);
        Ok(reached)
    }

    /// The number of subscriptions, as it changes: e.g. to broadcast presence, or to stop
    /// producing when nobody listens. [`watch::Receiver::changed`] wakes on every change.
    pub fn watch_subscribers(&self) -> watch::Receiver<u64> {
        let mut sender = self.inner.lock_subscribers();
        let count = self.inner.counters.subscribers.load(Ordering::Relaxed);
        sender
            .get_or_insert_with(|| watch::Sender::new(count))
            .subscribe()
    }

    /// Validates, serializes (once) and stores `event`, then wakes every subscriber. Never
    /// waits for a subscriber.
    pub async fn publish(&self, event: E) -> Result<EventId, PublishError> {
        let body = frame_of(&event)?;
        let id = self
            .inner
            .storage
            .append(Arc::new(event), &body)
            .await
            .map_err(PublishError::Storage)?;
        let counters = &self.inner.counters;
        counters.published.fetch_add(1, Ordering::Relaxed);
        crate::metrics::hub_published(1);
        counters
            .published_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        self.touch();
        Ok(id)
    }

    /// Publishes `events` in order, as [`publish`](Hub::publish) does each, and returns their
    /// ids. Every event is validated and serialized before any is stored, so an invalid one
    /// publishes none; a storage that appends many at once (Redis: one round trip per few
    /// hundred) makes this the fast way for one task to publish many events.
    pub async fn publish_all(
        &self,
        events: impl IntoIterator<Item = E>,
    ) -> Result<Vec<EventId>, PublishError> {
        let mut framed = Vec::new();
        let mut bytes = 0;
        for event in events {
            let body = frame_of(&event)?;
            bytes += body.len() as u64;
            framed.push((Arc::new(event), body));
        }
        let count = framed.len() as u64;
        let ids = self
            .inner
            .storage
            .append_all(framed)
            .await
            .map_err(PublishError::Storage)?;
        let counters = &self.inner.counters;
        counters.published.fetch_add(count, Ordering::Relaxed);
        crate::metrics::hub_published(count);
        counters.published_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.touch();
        Ok(ids)
    }

    /// A subscription that starts right after `last_event_id` (usually
    /// [`Emitter::last_event_id`](crate::Emitter::last_event_id)), or with the next event when it is `None`; an error when
    /// the storage cannot serve subscribers now (a shared backend being unreachable). Inside
    /// a handler, prefer the [`Subscribed`] extractor: it subscribes before the stream starts,
    /// so that such an error answers `503` rather than failing an open stream.
    pub async fn try_subscribe(
        &self,
        last_event_id: Option<&str>,
    ) -> Result<Subscription<E, S>, StorageError> {
        let start = self.inner.storage.start(last_event_id).await?;
        Ok(self.subscription(start))
    }

    fn subscription(&self, start: Start) -> Subscription<E, S> {
        let (cursor, reset) = match start {
            Start::Live(cursor) => (cursor, None),
            Start::Resume(cursor) => {
                crate::metrics::hub_resume(ResumeOutcome::Resumed);
                (cursor, None)
            }
            Start::Reset {
                reason,
                oldest,
                latest,
                cursor,
            } => {
                self.inner.counters.resets.fetch_add(1, Ordering::Relaxed);
                crate::metrics::hub_resume(match reason {
                    ResetReason::Expired => ResumeOutcome::ResetExpired,
                    ResetReason::Unknown => ResumeOutcome::ResetUnknown,
                });
                (cursor, Some(reset_frame(reason, oldest, latest)))
            }
        };
        crate::metrics::hub_subscribers(1.0);
        self.inner
            .counters
            .subscribers
            .fetch_add(1, Ordering::Relaxed);
        self.inner.subscribers_changed();
        self.touch();
        Subscription {
            transient_seen: self.inner.transients.sent(),
            transient_queue: VecDeque::new(),
            head: self.inner.storage.head(),
            hub: self.clone(),
            cursor,
            reset,
            batch: Vec::new(),
            filter: None,
        }
    }

    /// The hub's counters now.
    pub fn stats(&self) -> HubStats {
        let c = &self.inner.counters;
        HubStats {
            subscribers: c.subscribers.load(Ordering::Relaxed),
            published: c.published.load(Ordering::Relaxed),
            published_bytes: c.published_bytes.load(Ordering::Relaxed),
            lagged: c.lagged.load(Ordering::Relaxed),
            disconnected: c.disconnected.load(Ordering::Relaxed),
            resets: c.resets.load(Ordering::Relaxed),
        }
    }

    /// The storage, e.g. to look at the window.
    pub fn storage(&self) -> &S {
        &self.inner.storage
    }
}

impl<E, S> Hub<E, S> {
    fn touch(&self) {
        let ms = self.inner.created.elapsed().as_millis() as u64;
        self.inner
            .counters
            .last_used_ms
            .store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = self.inner.counters.last_used_ms.load(Ordering::Relaxed);
        self.inner
            .created
            .elapsed()
            .saturating_sub(Duration::from_millis(last))
    }
}

/// The frame of `event` (without an id), once it passed its rules.
fn frame_of<E: EventSet>(event: &E) -> Result<Bytes, PublishError> {
    event
        .validate()
        .map_err(|violations| PublishError::Invalid {
            event: event.name(),
            violations,
        })?;
    frame::event(event, None).map_err(|error| match error {
        FrameError::Serialize(error) => PublishError::Serialize(error),
        FrameError::InvalidId => unreachable!("no id is given"),
    })
}

fn reset_frame(reason: ResetReason, oldest: Option<EventId>, latest: Option<EventId>) -> Bytes {
    let data = serde_json::json!({
        "reason": reason.as_str(),
        "oldest": oldest.map(|id| id.to_string()),
        "latest": latest.map(|id| id.to_string()),
    });
    // The `id:` moves the client's last event id to the newest event, so that a reconnect
    // after the reset resumes from here.
    let id = latest.map(|id| format!("id: {id}\n")).unwrap_or_default();
    Bytes::from(format!("{id}event: {RESET_EVENT}\ndata: {data}\n\n"))
}
