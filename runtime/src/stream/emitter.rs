//! The typed sending half of a stream.
//!
//! Each stream owns a byte budget (`Serve::buffer_bytes`): an event's frame takes its size
//! from the budget until the connection takes the frame to write it (a frame larger than the
//! whole budget goes alone). [`Emitter::emit`] waits for room, so a client that reads slowly
//! slows its own handler and nothing else; [`Emitter::try_emit`] fails instead of waiting.
//!
//! An emit serializes its event straight into the stream's buffer, and frames that queue up
//! together leave as one chunk: one write for many events.
//!
//! ```no_run
//! use std::time::Duration;
//! use tidings::{event_stream, Emitter};
//!
//! #[event_stream]
//! enum Ticks {
//!     Tick { n: u64 },
//! }
//!
//! async fn ticks(events: Emitter<Ticks>) -> tidings::Result<()> {
//!     let mut n = 0;
//!     // `is_closed` turns true when the client leaves or the server shuts down.
//!     while !events.is_closed() {
//!         events.emit(Ticks::Tick { n }).await?;
//!         n += 1;
//!         tokio::select! {
//!             _ = tokio::time::sleep(Duration::from_secs(1)) => {}
//!             _ = events.closed() => break,
//!         }
//!     }
//!     Ok(())
//! }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use bytes::Bytes;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::event::EventSet;
use crate::frame::{self, FrameError};
use crate::metrics::EndReason;
use crate::stream::budget::{Charge, MemoryBudget};
use crate::stream::queue::{FrameQueue, Push};
use crate::validate::Violations;

/// State shared by the emitters of one stream and its response body.
pub(crate) struct Shared {
    /// Cancelled when the client is gone or the server shuts down.
    pub(crate) closed: CancellationToken,
    pub(crate) last_event_id: Option<String>,
    /// Frames waiting for the connection, within the stream's byte budget.
    pub(crate) queue: FrameQueue,
    /// The connection that serves the stream, when a tidings server does: dropped when the
    /// stream is ended to keep the server's memory budget.
    pub(crate) connection: Option<Arc<crate::stream::lifecycle::Connection>>,
    /// Set by [`Emitter::complete`]: clients are told not to come back.
    complete: AtomicBool,
    /// Why the stream ends ([`EndReason::to_code`]), once the handler returned; 0 before.
    end: AtomicU8,
    /// The route's metrics, and what this stream sent (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<Arc<crate::metrics::RouteMetrics>>,
    /// Events this stream sent (feature `metrics`).
    #[cfg(feature = "metrics")]
    events_sent: std::sync::atomic::AtomicU64,
    /// Bytes the connection took from this stream (feature `metrics`).
    #[cfg(feature = "metrics")]
    bytes_sent: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        closed: CancellationToken,
        buffer_bytes: usize,
        last_event_id: Option<String>,
    ) -> Self {
        Shared {
            closed,
            last_event_id,
            queue: FrameQueue::new(buffer_bytes),
            connection: None,
            complete: AtomicBool::new(false),
            end: AtomicU8::new(0),
            #[cfg(feature = "metrics")]
            metrics: None,
            #[cfg(feature = "metrics")]
            events_sent: Default::default(),
            #[cfg(feature = "metrics")]
            bytes_sent: Default::default(),
        }
    }

    /// Refuses events larger than `max_event_bytes`, and counts what the stream holds against
    /// its server's `budget`; register the stream with the budget once it is shared.
    pub(crate) fn limited(mut self, max_event_bytes: usize, budget: Arc<MemoryBudget>) -> Self {
        self.queue.limit(max_event_bytes, Charge::new(budget));
        self
    }

    /// Whether the handler marked the stream complete.
    pub(crate) fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Relaxed)
    }

    /// Records why the stream ends, when its handler returned.
    pub(crate) fn set_end(&self, reason: EndReason) {
        self.end.store(reason.to_code(), Ordering::Release);
    }

    /// Why the stream ends, if its handler returned.
    pub(crate) fn end(&self) -> Option<EndReason> {
        EndReason::from_code(self.end.load(Ordering::Acquire))
    }

    /// Counts one event sent by an emitter (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub(crate) fn event_sent(&self, name: &str) {
        use std::sync::atomic::Ordering;
        self.events_sent.fetch_add(1, Ordering::Relaxed);
        if let Some(metrics) = &self.metrics {
            metrics.event_sent(name);
        }
    }

    /// Counts bytes the connection took (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub(crate) fn bytes_sent(&self, bytes: usize) {
        use std::sync::atomic::Ordering;
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        if let Some(metrics) = &self.metrics {
            metrics.bytes_sent(bytes);
        }
    }

    /// Events and bytes this stream sent (feature `metrics`).
    #[cfg(feature = "metrics")]
    pub(crate) fn sent(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.events_sent.load(Ordering::Relaxed),
            self.bytes_sent.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(charge) = self.queue.charge() {
            charge.budget().forget(self as *const Shared as usize);
        }
    }
}

/// Sends the events of one stream. Handed to an `#[event_stream]` handler.
///
/// Cloning an emitter is cheap; the stream ends when the handler has returned and every clone
/// is dropped.
pub struct Emitter<E> {
    shared: Arc<Shared>,
    _events: PhantomData<fn(E)>,
}

impl<E> Clone for Emitter<E> {
    fn clone(&self) -> Self {
        self.shared.queue.add_sender();
        Emitter {
            shared: self.shared.clone(),
            _events: PhantomData,
        }
    }
}

impl<E> Drop for Emitter<E> {
    fn drop(&mut self) {
        self.shared.queue.remove_sender();
    }
}

impl<E> fmt::Debug for Emitter<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("closed", &self.is_closed())
            .field("last_event_id", &self.shared.last_event_id)
            .finish_non_exhaustive()
    }
}

impl<E: EventSet> Emitter<E> {
    /// The first emitter of a stream (its queue starts with one sender).
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Emitter {
            shared,
            _events: PhantomData,
        }
    }

    /// An emitter and the response body it feeds, outside any server: for tests, benchmarks
    /// and custom servers. The body yields the frames (no heartbeats, no `retry:`) and ends
    /// when every emitter is dropped; dropping the body closes the emitters.
    ///
    /// ```
    /// use http_body_util::BodyExt;
    /// use tidings::{event_stream, Emitter};
    ///
    /// #[event_stream]
    /// enum Ping { Ping }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (events, body) = Emitter::<Ping>::pair(64 * 1024);
    /// events.emit(Ping::Ping).await.unwrap();
    /// drop(events);
    /// let bytes = body.collect().await.unwrap().to_bytes();
    /// assert_eq!(&bytes[..], b"event: ping\ndata: null\n\n");
    /// # });
    /// ```
    pub fn pair(buffer_bytes: usize) -> (Emitter<E>, crate::ResponseBody) {
        let shared = Arc::new(Shared::new(CancellationToken::new(), buffer_bytes, None));
        let body = crate::stream::body::EventBody::new(shared.clone(), Default::default());
        (Emitter::new(shared), crate::ResponseBody::stream(body))
    }

    /// Validates, serializes and sends one event, waiting while the stream's buffer is full.
    ///
    /// Fails with [`EmitError::Invalid`] (nothing is sent) when a field breaks its
    /// `#[validate]` rules, and with [`EmitError::Closed`] once the client is gone. A wait for
    /// room ends as soon as the client is gone.
    pub async fn emit(&self, event: E) -> Result<(), EmitError> {
        // The event is dropped once serialized: a wait for room holds only its frame.
        let pushed = {
            let event = event;
            self.write(&event, None)?
        };
        self.settle(pushed).await
    }

    /// Like [`emit`](Self::emit), with an `id:` line. Browsers send the last id they saw back
    /// in `Last-Event-ID` when they reconnect. The id must not contain CR, LF or NUL.
    pub async fn emit_with_id(&self, id: impl fmt::Display, event: E) -> Result<(), EmitError> {
        let pushed = {
            let (id, event) = (id, event);
            self.write(&event, Some(&id))?
        };
        self.settle(pushed).await
    }

    /// Sends one event if the buffer has room now, and fails with [`EmitError::Full`] if not.
    pub fn try_emit(&self, event: E) -> Result<(), EmitError> {
        match self.write(&event, None)? {
            Push::Queued => Ok(()),
            Push::Full(_) => Err(EmitError::Full),
            Push::Closed => Err(EmitError::Closed),
            Push::TooLarge { len, max } => Err(EmitError::TooLarge {
                event: Some(event.name()),
                len,
                max,
            }),
        }
    }

    /// Sends a comment (ignored by clients; useful to debug with `curl -N`). Each line of
    /// `text` becomes one comment line.
    pub async fn comment(&self, text: &str) -> Result<(), EmitError> {
        self.send(frame::comment(text)).await
    }

    /// Validates `event`, then serializes its frame straight into the stream's queue; a frame
    /// past the stream's largest event is an error.
    fn write(&self, event: &E, id: Option<&dyn fmt::Display>) -> Result<Push, EmitError> {
        event.validate().map_err(|violations| EmitError::Invalid {
            event: event.name(),
            violations,
        })?;
        let pushed = self
            .shared
            .queue
            .write(|out| frame::write_event(out, event, id))
            .map_err(|error| match error {
                FrameError::Serialize(source) => EmitError::Serialize {
                    event: event.name(),
                    source,
                },
                FrameError::InvalidId => EmitError::InvalidId,
            })?;
        if let Push::TooLarge { len, max } = pushed {
            return Err(EmitError::TooLarge {
                event: Some(event.name()),
                len,
                max,
            });
        }
        #[cfg(feature = "metrics")]
        if !matches!(pushed, Push::Closed) {
            self.shared.event_sent(event.name());
        }
        Ok(pushed)
    }
}

impl<E> Emitter<E> {
    /// Whether the stream should wind down: the client is gone or the server is shutting down.
    ///
    /// During a graceful shutdown, emits still work until the client is gone or the grace
    /// period ends, so a handler can send a last event; once the client is gone every emit
    /// fails with [`EmitError::Closed`].
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Resolves when the client is gone or the server is shutting down (see
    /// [`is_closed`](Self::is_closed)).
    ///
    /// A client that closes its connection is noticed even while nothing is being sent.
    pub fn closed(&self) -> WaitForCancellationFuture<'_> {
        self.shared.closed.cancelled()
    }

    /// A token that is cancelled with the stream, for tasks the handler spawns. Cancelling it
    /// yourself does not end the stream.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.shared.closed.child_token()
    }

    /// The id of the last event the client saw, from the `Last-Event-ID` header or, for
    /// EventSource polyfills that cannot set headers, the `lastEventId` query parameter.
    pub fn last_event_id(&self) -> Option<&str> {
        self.shared.last_event_id.as_deref()
    }

    /// Marks the stream complete: there is nothing more to send, ever, so clients should not
    /// come back. The stream still ends when the handler returns; its last event,
    /// `tidings.end`, then says `"reconnect":false`, and tidings' clients (the Rust client,
    /// the generated TypeScript client) stop instead of reconnecting.
    ///
    /// Without it, a stream whose handler returns ends with `"reconnect":true`: the client
    /// comes back after the server's `retry` (with `Last-Event-ID`), as an `EventSource`
    /// does. A browser's own `EventSource` ignores `tidings.end` and reconnects anyway; a
    /// route that wants it to stop answers its next request with `204 No Content`.
    ///
    /// ```no_run
    /// use tidings::{event_stream, Emitter};
    ///
    /// #[event_stream]
    /// enum Upload { Progress { percent: u8 }, Done }
    ///
    /// async fn upload(events: Emitter<Upload>) -> tidings::Result<()> {
    ///     for percent in [25, 50, 75, 100] {
    ///         events.emit(Upload::Progress { percent }).await?;
    ///     }
    ///     events.emit(Upload::Done).await?;
    ///     events.complete();
    ///     Ok(())
    /// }
    /// ```
    pub fn complete(&self) {
        self.shared.complete.store(true, Ordering::Relaxed);
    }

    /// Sends a frame made beforehand (a hub's, a comment), waiting for room.
    pub(crate) async fn send(&self, frame: Bytes) -> Result<(), EmitError> {
        let pushed = self.shared.queue.push(frame, true);
        self.settle(pushed).await
    }

    /// Finishes an emit: a frame the budget had no room for waits for it.
    async fn settle(&self, pushed: Push) -> Result<(), EmitError> {
        match pushed {
            // Each event costs the task a unit of tokio's budget: a handler that emits
            // without pause, inside the connection's task, yields every so often, as it would
            // on a channel, instead of holding its worker for as long as the client reads.
            Push::Queued => {
                tokio::task::coop::consume_budget().await;
                Ok(())
            }
            // The wait ends when the body is dropped, which is when the client is gone.
            Push::Full(frame) => {
                #[cfg(feature = "metrics")]
                let waiting = std::time::Instant::now();
                let queued = self.shared.queue.push_waiting(frame).await;
                #[cfg(feature = "metrics")]
                if let Some(metrics) = &self.shared.metrics {
                    metrics.emit_waited(waiting.elapsed());
                }
                queued.map_err(|()| EmitError::Closed)
            }
            Push::Closed => Err(EmitError::Closed),
            Push::TooLarge { len, max } => Err(EmitError::TooLarge {
                event: None,
                len,
                max,
            }),
        }
    }

    /// The stream's shared state.
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Sends a frame past the budget: the one `error` event of a failed handler.
    pub(crate) fn push_unbudgeted(&self, frame: Bytes) {
        let _ = self.shared.queue.push(frame, false);
    }
}

/// Why an event was not sent.
#[derive(Debug)]
#[non_exhaustive]
pub enum EmitError {
    /// The client is gone (or the server stopped after its grace period).
    Closed,
    /// The buffer is full ([`Emitter::try_emit`] only).
    Full,
    /// A field broke its `#[validate]` rules; nothing was sent.
    Invalid {
        /// The event name.
        event: &'static str,
        /// Every broken rule, with the field path.
        violations: Violations,
    },
    /// serde could not serialize the event (e.g. a map with non-string keys).
    Serialize {
        /// The event name.
        event: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The id given to `emit_with_id` contains CR, LF or NUL.
    InvalidId,
    /// The subscriber fell too far behind its hub and was disconnected; the client resumes
    /// from the hub's window when it reconnects. Returned by [`Emitter::forward`].
    Lagged,
    /// The event's frame is larger than the route's largest event
    /// ([`Router::max_event_bytes`](crate::Router::max_event_bytes), or the route's
    /// `max_event_bytes`); nothing was sent, and the stream goes on.
    TooLarge {
        /// The event name (`None` for a frame made beforehand: a hub's, a comment).
        event: Option<&'static str>,
        /// The frame's size in bytes.
        len: usize,
        /// The largest the route sends.
        max: usize,
    },
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::Closed => f.write_str("the stream is closed"),
            EmitError::Full => f.write_str("the stream's buffer is full"),
            EmitError::Invalid { event, violations } => {
                write!(f, "invalid `{event}` event: {violations}")
            }
            EmitError::Serialize { event, source } => {
                write!(f, "cannot serialize `{event}` event: {source}")
            }
            EmitError::InvalidId => f.write_str("an event id must not contain CR, LF or NUL"),
            EmitError::Lagged => f.write_str("the subscriber fell too far behind its hub"),
            EmitError::TooLarge { event, len, max } => {
                match event {
                    Some(event) => write!(f, "the `{event}` event")?,
                    None => f.write_str("the frame")?,
                }
                write!(
                    f,
                    " is {len} bytes long, more than the route's largest event ({max} bytes)"
                )
            }
        }
    }
}

impl std::error::Error for EmitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EmitError::Invalid { violations, .. } => Some(violations),
            EmitError::Serialize { source, .. } => Some(source),
            _ => None,
        }
    }
}
