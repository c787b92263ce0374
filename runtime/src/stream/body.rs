//! The response body of a stream, and of the plain responses around it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

use crate::boxed::{BoxError, BoxFuture};
use crate::frame;
use crate::metrics::EndReason;
use crate::stream::StreamTiming;
use crate::stream::emitter::Shared;
use crate::stream::hard_stop::until_stopped;

/// The body of every response tidings sends: an event stream, or a small complete body
/// (errors).
pub struct ResponseBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Stream(Box<EventBody>),
}

impl ResponseBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ResponseBody {
            kind: Kind::Full(Some(bytes.into())),
        }
    }

    pub(crate) fn stream(body: EventBody) -> Self {
        ResponseBody {
            kind: Kind::Stream(Box::new(body)),
        }
    }
}

impl From<String> for ResponseBody {
    fn from(text: String) -> Self {
        ResponseBody::full(text)
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        ResponseBody::full(bytes)
    }
}

impl From<&'static str> for ResponseBody {
    fn from(text: &'static str) -> Self {
        ResponseBody::full(text)
    }
}

/// An empty body (tower-http's CORS layer answers preflights with it).
impl Default for ResponseBody {
    fn default() -> Self {
        ResponseBody {
            kind: Kind::Full(None),
        }
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Full(bytes) => f.debug_tuple("Full").field(bytes).finish(),
            Kind::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// What a stream's body fails with when the server ended the stream to keep its queued bytes
/// within their budget (`Serve::max_queued_bytes`): the connection then aborts the response.
#[derive(Debug)]
pub(crate) struct StreamAborted;

impl std::fmt::Display for StreamAborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the stream was ended: the server's queued bytes reached their budget, and its \
             client read the slowest",
        )
    }
}

impl std::error::Error for StreamAborted {}

/// A stream's body fails only when the server ended the stream to stay within its memory
/// budget (`Serve::max_queued_bytes`): the connection then aborts the response instead of
/// finishing it, and drops what it buffered for a client that reads too slowly.
impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(body) => match body.poll_next(cx) {
                Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
                Poll::Ready(None) => match body.failure.take() {
                    Some(failure) => Poll::Ready(Some(Err(failure))),
                    None => Poll::Ready(None),
                },
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            // No content-length: an event stream has no end known in advance.
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

/// The receiving half of a stream: frames from the emitters, heartbeats while idle.
///
/// The body also drives its handler: polling the handler inside the connection's own task
/// costs no task of its own per stream, and an event goes from `emit` to the socket without
/// a wake-up between tasks. When the connection lets go of a body whose handler still runs,
/// the handler moves to a task of its own, where it sees `closed()` and finishes.
pub(crate) struct EventBody {
    shared: Arc<Shared>,
    preamble: Option<Bytes>,
    heartbeat: Option<Heartbeat>,
    /// When the stream ends by itself (`Router::max_stream_duration`).
    deadline: Option<Pin<Box<Sleep>>>,
    handler: Option<Handler>,
    /// Whether the stream still owes its client the `tidings.end` event.
    end_event: bool,
    /// Why the response is aborted instead of finished (the stream was ended to make room in
    /// the server's budget, or its compressor failed): the body fails with it.
    failure: Option<BoxError>,
    /// The stream's compressor, when its client asked for a compressed stream.
    #[cfg(feature = "compression")]
    encoder: Option<crate::stream::compress::Encoder>,
}

/// Chunks the body may take from a queue that never runs dry before it polls the handler.
const HANDLER_AT_LEAST_EVERY: u8 = 16;

struct Handler {
    future: BoxFuture<'static, ()>,
    chunks_since_poll: u8,
    /// Cancelled when the grace period of a shutdown is over: a handler still running then is
    /// dropped, not moved to a task.
    hard_stop: CancellationToken,
}

struct Heartbeat {
    every: Duration,
    last_sent: Instant,
    timer: Pin<Box<Sleep>>,
}

impl EventBody {
    pub(crate) fn new(shared: Arc<Shared>, timing: StreamTiming) -> Self {
        let now = Instant::now();
        EventBody {
            shared,
            preamble: timing.retry.map(|r| frame::retry(r.as_millis())),
            heartbeat: timing.heartbeat.map(|every| Heartbeat {
                every,
                last_sent: now,
                timer: Box::pin(tokio::time::sleep_until(now + every)),
            }),
            deadline: timing
                .max_duration
                .map(|lifetime| Box::pin(tokio::time::sleep_until(now + lifetime))),
            handler: None,
            end_event: timing.end_event,
            failure: None,
            #[cfg(feature = "compression")]
            encoder: None,
        }
    }

    /// Compresses every chunk with `encoder`, flushed at the end of each.
    #[cfg(feature = "compression")]
    pub(crate) fn compressed(mut self, encoder: crate::stream::compress::Encoder) -> Self {
        self.encoder = Some(encoder);
        self
    }

    /// Runs `handler` whenever the body is polled and has no frame ready.
    pub(crate) fn driving(
        mut self,
        handler: BoxFuture<'static, ()>,
        hard_stop: CancellationToken,
    ) -> Self {
        self.handler = Some(Handler {
            future: handler,
            chunks_since_poll: 0,
            hard_stop,
        });
        self
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        // Every chunk costs the task a unit of tokio's budget. Nothing else here does: a
        // handler that emits without pause to a client that reads as fast keeps the queue
        // full, hyper writes only when its buffer is full, and the connection's task would
        // run for seconds without yielding, starving the other tasks of its worker and the
        // I/O driver (with every worker so busy, the server accepted no connection).
        let budget = ready!(tokio::task::coop::poll_proceed(cx));
        let chunk = self.poll_chunk(cx);
        #[cfg(feature = "compression")]
        let chunk = self.compress(chunk);
        if let Poll::Ready(Some(_)) = &chunk {
            budget.made_progress();
        }
        chunk
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(preamble) = self.preamble.take() {
            return Poll::Ready(Some(preamble));
        }
        if let Some(deadline) = &mut self.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            // The stream has lived long enough: the handler sees `closed()`, what is queued
            // still goes out, then the stream ends and the client reconnects (a hub resumes
            // it after the last event it got).
            self.deadline = None;
            self.shared.closed.cancel();
            self.shared.queue.end();
        }
        // Frames already queued go first; the handler runs when they are gone, and then
        // fills the buffer in one go. Its emits wake nothing: the body looks again right after.
        // It also runs after every few chunks, in case other tasks holding emitters keep the
        // queue from ever running dry.
        let queue = &self.shared.queue;
        let popped = match &mut self.handler {
            Some(handler) => match queue.try_pop() {
                Some(chunk) if handler.chunks_since_poll < HANDLER_AT_LEAST_EVERY => {
                    handler.chunks_since_poll += 1;
                    Poll::Ready(Some(chunk))
                }
                popped => {
                    handler.chunks_since_poll = 0;
                    if handler.future.as_mut().poll(cx).is_ready() {
                        self.handler = None;
                    }
                    match popped {
                        Some(chunk) => Poll::Ready(Some(chunk)),
                        None => queue.poll_pop(cx),
                    }
                }
            },
            None => queue.poll_pop(cx),
        };
        match popped {
            Poll::Ready(Some(chunk)) => {
                #[cfg(feature = "metrics")]
                self.shared.bytes_sent(chunk.len());
                if let Some(heartbeat) = &mut self.heartbeat {
                    // Cheaper than resetting the timer on every frame: the timer checks this
                    // when it fires and sleeps again if there was traffic meanwhile.
                    heartbeat.last_sent = Instant::now();
                }
                return Poll::Ready(Some(chunk));
            }
            // Every emitter is gone: the handler finished (or the stream's lifetime is over).
            Poll::Ready(None) => return Poll::Ready(self.end_frame()),
            Poll::Pending => {}
        }
        let Some(heartbeat) = &mut self.heartbeat else {
            return Poll::Pending;
        };
        loop {
            ready!(heartbeat.timer.as_mut().poll(cx));
            let due = heartbeat.last_sent + heartbeat.every;
            if due <= Instant::now() {
                heartbeat.last_sent = Instant::now();
                let next = heartbeat.last_sent + heartbeat.every;
                heartbeat.timer.as_mut().reset(next);
                #[cfg(feature = "metrics")]
                if let Some(metrics) = &self.shared.metrics {
                    metrics.heartbeat();
                    self.shared.bytes_sent(frame::HEARTBEAT.len());
                }
                return Poll::Ready(Some(Bytes::from_static(frame::HEARTBEAT)));
            }
            heartbeat.timer.as_mut().reset(due);
        }
    }
}

impl EventBody {
    /// The compressed form of `chunk`; at the end of the stream, the compressor's trailer.
    #[cfg(feature = "compression")]
    fn compress(&mut self, chunk: Poll<Option<Bytes>>) -> Poll<Option<Bytes>> {
        let Some(encoder) = &mut self.encoder else {
            return chunk;
        };
        let encoding = encoder.encoding();
        let encoded = match chunk {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(chunk)) => encoder.encode(&chunk),
            // An aborted response ends without the trailer.
            Poll::Ready(None) if self.failure.is_some() => return Poll::Ready(None),
            Poll::Ready(None) => match self.encoder.take().map(|encoder| encoder.finish()) {
                Some(trailer) => trailer,
                None => return Poll::Ready(None),
            },
        };
        match encoded {
            Ok(bytes) => Poll::Ready(Some(bytes)),
            Err(error) => {
                // Memory the compressor could not get: the client must not get a stream it
                // cannot decode, so the response is aborted and the client reconnects.
                tracing::error!(%encoding, %error, "compressing a stream failed: aborting it");
                self.encoder = None;
                self.shared.closed.cancel();
                self.shared.queue.close();
                self.failure =
                    Some(format!("compressing the stream ({encoding}) failed: {error}").into());
                Poll::Ready(None)
            }
        }
    }

    /// The last frame, once: `tidings.end` with why the stream ends, so that a client can tell
    /// an end the server chose from a broken connection.
    fn end_frame(&mut self) -> Option<Bytes> {
        if self.shared.queue.is_aborted() {
            // No last event: the response is aborted, not finished.
            self.failure = Some(StreamAborted.into());
            return None;
        }
        if !std::mem::take(&mut self.end_event) {
            return None;
        }
        let reason = self
            .shared
            .end()
            .unwrap_or(if self.shared.queue.is_ending() {
                EndReason::Lifetime
            } else {
                EndReason::Shutdown
            });
        let frame = frame::end_event(reason);
        #[cfg(feature = "metrics")]
        self.shared.bytes_sent(frame.len());
        Some(frame)
    }
}

impl Drop for EventBody {
    fn drop(&mut self) {
        // The connection let go of the body: the client is gone (or the response finished).
        self.shared.closed.cancel();
        self.shared.queue.close();
        if let Some(handler) = self.handler.take()
            && !handler.hard_stop.is_cancelled()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // The handler sees `closed()`, and may have work to finish (logging, cleanup).
            runtime.spawn(until_stopped(handler.future, handler.hard_stop));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Waker;

    use super::*;
    use crate::stream::queue::Push;

    #[test]
    fn the_handler_runs_even_when_other_emitters_keep_the_queue_full() {
        let shared = Arc::new(Shared::new(CancellationToken::new(), 64 * 1024, None));
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = polls.clone();
        let handler = Box::pin(std::future::poll_fn(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Poll::<()>::Pending
        }));
        let mut body = EventBody::new(shared.clone(), StreamTiming::default())
            .driving(handler, CancellationToken::new());
        let mut cx = Context::from_waker(Waker::noop());
        for _ in 0..100 {
            // Another task refills the queue before every poll of the body.
            let pushed = shared.queue.push(Bytes::from_static(b"data: x\n\n"), true);
            assert!(matches!(pushed, Push::Queued));
            assert!(matches!(body.poll_next(&mut cx), Poll::Ready(Some(_))));
        }
        let polls = polls.load(Ordering::SeqCst);
        assert!(
            (100 / (HANDLER_AT_LEAST_EVERY as usize + 1)..=100).contains(&polls),
            "the handler was polled {polls} times in 100 chunks"
        );
    }
}
