//! Starting a stream: the response head, the emitter/body pair, and the handler future (driven
//! by the body) with its error and panic handling.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::CatchUnwind;
use http::Response;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use pin_project_lite::pin_project;
use tokio_util::sync::CancellationToken;

use crate::body::{EventBody, ResponseBody};
use crate::emitter::{EmitError, Emitter, Shared};
use crate::endpoint::{BoxFuture, Endpoint};
use crate::error_handler::{ErrorHandler, RequestInfo};
use crate::event::EventSet;
use crate::extract::{Kept, RequestContext};
use crate::frame;
use crate::metrics::{EndReason, RouteMetrics};
use crate::rejection::Rejection;

/// How streams behave; set on the [`Router`](crate::Router).
#[derive(Debug, Clone)]
pub(crate) struct StreamOptions {
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) retry: Option<Duration>,
    pub(crate) buffer_bytes: usize,
    /// How long a stream may live before it ends so that its client reconnects.
    pub(crate) max_duration: Option<Duration>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            heartbeat: Some(Duration::from_secs(15)),
            retry: None,
            buffer_bytes: 64 * 1024,
            max_duration: None,
        }
    }
}

/// What a server tells the streams it serves: shutdown has begun, the grace period is over;
/// and which handlers still run.
///
/// [`serve`](crate::serve) puts its own in every request's extensions, so that routers
/// mounted anywhere inside a served tower app follow its graceful shutdown; a router served
/// some other way uses one of its own, which nothing cancels.
#[derive(Clone, Default)]
pub(crate) struct Lifecycle {
    /// Cancelled when shutdown begins: handlers see `closed()` resolve.
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when the grace period is over: what still runs is dropped.
    pub(crate) hard_stop: CancellationToken,
    /// Every running handler holds a token of it, in its body or in its own task.
    pub(crate) handlers: Handlers,
}

/// The handlers that still run, for a graceful shutdown to wait for.
///
/// tokio-util's `TaskTracker` does this, behind its `rt` feature, which builds futures-util
/// with all its default features and a proc-macro: more compile time for every app than these
/// few lines.
#[derive(Clone, Default)]
pub(crate) struct Handlers(Arc<HandlerCount>);

#[derive(Default)]
pub(crate) struct HandlerCount {
    running: AtomicUsize,
    closed: AtomicBool,
    changed: tokio::sync::Notify,
}

/// Held by a running handler; dropped when it ends.
pub(crate) struct HandlerToken(Arc<HandlerCount>);

impl Handlers {
    /// Counts a handler as running until the token is dropped.
    pub(crate) fn token(&self) -> HandlerToken {
        self.0.running.fetch_add(1, Ordering::AcqRel);
        HandlerToken(self.0.clone())
    }

    /// How many handlers run.
    pub(crate) fn len(&self) -> usize {
        self.0.running.load(Ordering::Acquire)
    }

    /// Lets [`wait`](Self::wait) return once no handler runs.
    pub(crate) fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.changed.notify_waiters();
    }

    /// Resolves when the set is closed and no handler runs.
    pub(crate) async fn wait(&self) {
        loop {
            let changed = self.0.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before checking, so that a change in between is not missed.
            changed.as_mut().enable();
            if self.0.closed.load(Ordering::Acquire) && self.len() == 0 {
                return;
            }
            changed.await;
        }
    }
}

impl Drop for HandlerToken {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_waiters();
        }
    }
}

/// What [`serve`](crate::serve) tells each request: who sent it, and the server's lifecycle;
/// one per connection, shared by its requests.
#[derive(Clone)]
pub(crate) struct ServedBy(pub(crate) Arc<Connection>);

tokio::task_local! {
    /// The connection a request came in on, while the server runs its service's call: a
    /// router reads it as it starts routing. Not a request extension, which would cost an
    /// allocation per request, and memory per stream after it.
    pub(crate) static SERVED_BY: ServedBy;
}

/// See [`ServedBy`].
pub(crate) struct Connection {
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) lifecycle: Lifecycle,
}

/// What every stream of a router shares: options, the error policy, and the lifecycle used
/// when no server provides one.
pub(crate) struct StreamRuntime {
    pub(crate) options: StreamOptions,
    pub(crate) error_handler: Arc<dyn ErrorHandler>,
    lifecycle: Lifecycle,
}

impl StreamRuntime {
    pub(crate) fn new(options: StreamOptions, error_handler: Arc<dyn ErrorHandler>) -> Self {
        StreamRuntime {
            options,
            error_handler,
            lifecycle: Lifecycle::default(),
        }
    }
}

/// Type-erased [`Endpoint`], as the router stores it.
pub(crate) trait ErasedEndpoint: Send + Sync {
    /// Runs the extractors, then starts the stream; a rejection comes back as `Err`.
    fn call(
        &self,
        cx: RequestContext,
        runtime: Arc<StreamRuntime>,
        info: RequestInfo,
        metrics: Arc<RouteMetrics>,
    ) -> BoxFuture<'static, Result<Response<ResponseBody>, Rejection>>;
}

impl<T: Endpoint> ErasedEndpoint for T {
    fn call(
        &self,
        cx: RequestContext,
        runtime: Arc<StreamRuntime>,
        info: RequestInfo,
        metrics: Arc<RouteMetrics>,
    ) -> BoxFuture<'static, Result<Response<ResponseBody>, Rejection>> {
        let mut cx = cx;
        #[cfg(feature = "metrics")]
        let (peer, protocol) = (cx.peer_addr(), cx.parts().version);
        let last_event_id = cx.last_event_id();
        let lifecycle = cx.served_by().map(|served| served.0.lifecycle.clone());
        let kept = cx.take_kept().map(Box::new);
        let start = self.start(cx);
        Box::pin(async move {
            let task = start.await?;
            let lifecycle = lifecycle.unwrap_or_else(|| runtime.lifecycle.clone());
            let options = &runtime.options;
            #[allow(unused_mut)]
            let mut shared = Shared::new(
                lifecycle.shutdown.child_token(),
                options.buffer_bytes,
                last_event_id,
            );
            #[cfg(feature = "metrics")]
            {
                metrics.stream_opened();
                shared.metrics = Some(metrics.clone());
            }
            let shared = Arc::new(shared);
            #[cfg(feature = "metrics")]
            let observed = Box::new(Observed {
                span: tracing::info_span!(
                    "stream",
                    method = %info.method,
                    route = metrics.route(),
                    // An address, or nothing when the router is not served by tidings.
                    peer = peer.map(tracing::field::display),
                    protocol = ?protocol,
                ),
                metrics,
                started: std::time::Instant::now(),
                shared: shared.clone(),
            });
            #[cfg(not(feature = "metrics"))]
            let _ = metrics;
            let events = Emitter::<T::Event>::new(shared.clone());
            let timing = StreamTiming {
                retry: options.retry,
                heartbeat: options.heartbeat,
                max_duration: options.max_duration,
                end_event: true,
            };
            let scope = HandlerScope {
                _tracked: lifecycle.handlers.token(),
                runtime,
                info,
                _kept: kept,
                #[cfg(feature = "metrics")]
                observed,
            };
            let handler = task.run(events, scope);
            let body = EventBody::new(shared, timing).driving(handler, lifecycle.hard_stop);
            Ok(event_stream_response(body))
        })
    }
}

/// What a running handler keeps: the error policy, the request it serves for logs, and its
/// place in the shutdown count.
pub(crate) struct HandlerScope {
    runtime: Arc<StreamRuntime>,
    info: RequestInfo,
    /// Graceful shutdown waits for this handler while it runs.
    _tracked: HandlerToken,
    /// What middleware asked to keep while the stream lasts (e.g. a per-client stream slot);
    /// boxed, as it is mostly empty and this lives as long as the stream.
    _kept: Option<Box<Kept>>,
    /// The stream's metrics and span, reported when the handler ends.
    #[cfg(feature = "metrics")]
    observed: Box<Observed>,
}

/// What a stream reports when it ends (feature `metrics`).
#[cfg(feature = "metrics")]
pub(crate) struct Observed {
    metrics: Arc<RouteMetrics>,
    span: tracing::Span,
    started: std::time::Instant,
    /// Holds why the stream ended once the handler returned; a handler dropped unfinished
    /// ended with the server.
    shared: Arc<Shared>,
}

/// Why a stream whose handler returned (or failed to emit, with `outcome`) ended.
fn ended_because(shared: &Shared, outcome: Option<&EmitError>) -> EndReason {
    let queue = &shared.queue;
    let body_gone = queue.is_body_gone();
    match outcome {
        Some(EmitError::Lagged) => EndReason::SlowConsumer,
        _ if shared.is_complete() && !body_gone => EndReason::Complete,
        _ if queue.is_ending() => EndReason::Lifetime,
        // With its body there and its lifetime not over, only a shutdown cancels a stream.
        _ if shared.closed.is_cancelled() && !body_gone => EndReason::Shutdown,
        Some(EmitError::Closed) => EndReason::ClientLeft,
        _ if body_gone => EndReason::ClientLeft,
        _ => EndReason::HandlerDone,
    }
}

#[cfg(feature = "metrics")]
impl Drop for HandlerScope {
    fn drop(&mut self) {
        let observed = &mut *self.observed;
        let reason = observed.shared.end().unwrap_or(EndReason::Shutdown);
        observed.metrics.stream_ended(reason);
        let (events, bytes) = observed.shared.sent();
        tracing::info!(
            parent: &observed.span,
            duration_ms = observed.started.elapsed().as_millis() as u64,
            events,
            bytes,
            reason = reason.as_str(),
            "stream ended"
        );
    }
}

/// When a stream sends what it sends by itself.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StreamTiming {
    /// `retry:` first.
    pub(crate) retry: Option<Duration>,
    /// A comment after this long without a frame.
    pub(crate) heartbeat: Option<Duration>,
    /// The end of the stream, this long after it started.
    pub(crate) max_duration: Option<Duration>,
    /// `tidings.end` last: on for served streams, off for [`Emitter::pair`].
    pub(crate) end_event: bool,
}

pin_project! {
    /// A handler's future and what happens when it ends: a failure or a panic becomes one
    /// `error` event.
    ///
    /// Written out rather than as an `async fn`, which would hold the handler's future twice
    /// (once as an argument, once being awaited): this lives as long as its stream.
    pub(crate) struct Driven<F, E> {
        #[pin]
        handler: CatchUnwind<AssertUnwindSafe<F>>,
        events: Emitter<E>,
        scope: HandlerScope,
    }
}

impl HandlerScope {
    /// Wraps a handler's future; `events` sends its `error` event if it fails.
    pub(crate) fn drive<F, E>(self, handler: F, events: Emitter<E>) -> Driven<F, E>
    where
        F: Future<Output = crate::Result<()>>,
        E: EventSet,
    {
        Driven {
            handler: AssertUnwindSafe(handler).catch_unwind(),
            events,
            scope: self,
        }
    }

    fn finish<E: EventSet>(
        &mut self,
        outcome: Result<crate::Result<()>, Box<dyn Any + Send>>,
        events: &Emitter<E>,
    ) {
        let (method, path) = (&self.info.method, &self.info.path);
        let shared = events.shared();
        let reason = match &outcome {
            Ok(Ok(())) => ended_because(shared, None),
            Ok(Err(error)) => match error.source().downcast_ref::<EmitError>() {
                Some(emit @ (EmitError::Closed | EmitError::Lagged)) => {
                    ended_because(shared, Some(emit))
                }
                _ => EndReason::Error,
            },
            Err(_) => EndReason::Error,
        };
        shared.set_end(reason);
        let error = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(error)) => {
                match error.source().downcast_ref::<EmitError>() {
                    Some(EmitError::Closed) => {
                        tracing::debug!(%method, %path, "stream ended: the client left");
                        return;
                    }
                    Some(EmitError::Lagged) => {
                        // Ending quietly lets the client reconnect and resume from the hub.
                        tracing::info!(%method, %path, "slow subscriber disconnected");
                        return;
                    }
                    _ => {}
                }
                tracing::error!(%method, %path, error = %error, "stream handler failed");
                error
            }
            Err(panic) => {
                let panic = panic_message(&*panic);
                tracing::error!(%method, %path, panic, "stream handler panicked");
                crate::Error::msg(format!("panic: {panic}"))
            }
        };
        let data = self.runtime.error_handler.stream_error(&error, &self.info);
        events.push_unbudgeted(frame::error_event(&data));
    }
}

impl<F, E> Future for Driven<F, E>
where
    F: Future<Output = crate::Result<()>>,
    E: EventSet,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let outcome = ready!(this.handler.poll(cx));
        this.scope.finish(outcome, this.events);
        Poll::Ready(())
    }
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

fn event_stream_response(body: EventBody) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::stream(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells nginx not to buffer the stream.
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}
