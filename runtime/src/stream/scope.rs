//! The scope a stream's handler runs in: its place in the shutdown count, what middleware
//! kept for it, and what happens when it ends (the `error` event of a failed handler, the log,
//! the metrics).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_util::FutureExt;
use futures_util::future::CatchUnwind;
use http::Method;
use pin_project_lite::pin_project;

use super::emitter::{EmitError, Emitter, Shared};
use super::lifecycle::HandlerToken;
use super::panic_message;
use crate::error::Error;
use crate::event::EventSet;
use crate::frame;
use crate::metrics::EndReason;
#[cfg(feature = "metrics")]
use crate::metrics::RouteMetrics;

/// What the error policy knows of the request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestInfo {
    /// The request method.
    pub method: Method,
    /// The request path.
    pub path: String,
}

/// What middleware asked to keep while a stream lasts (e.g. a per-client stream slot).
pub(crate) type Kept = Vec<Box<dyn Any + Send + Sync>>;

/// What a failed handler's `error` event carries: the router's error policy
/// ([`ErrorHandler::stream_error`](crate::ErrorHandler::stream_error)), seen from here.
pub(crate) trait ErrorEventData: Send + Sync {
    /// The event's data for `error`, in the stream of `request`.
    fn data(&self, error: &Error, request: &RequestInfo) -> serde_json::Value;
}

/// What a running handler keeps: the error policy, the request it serves for logs, and its
/// place in the shutdown count.
pub(crate) struct HandlerScope {
    pub(crate) errors: Arc<dyn ErrorEventData>,
    pub(crate) info: RequestInfo,
    /// Graceful shutdown waits for this handler while it runs.
    pub(crate) _tracked: HandlerToken,
    /// What middleware asked to keep while the stream lasts; boxed, as it is mostly empty
    /// and this lives as long as the stream.
    pub(crate) _kept: Option<Box<Kept>>,
    /// The stream's metrics and span, reported when the handler ends.
    #[cfg(feature = "metrics")]
    pub(crate) observed: Box<Observed>,
}

/// What a stream reports when it ends (feature `metrics`).
#[cfg(feature = "metrics")]
pub(crate) struct Observed {
    pub(crate) metrics: Arc<RouteMetrics>,
    pub(crate) span: tracing::Span,
    pub(crate) started: std::time::Instant,
    /// Holds why the stream ended once the handler returned; a handler dropped unfinished
    /// ended with the server.
    pub(crate) shared: Arc<Shared>,
}

/// Why a stream whose handler returned (or failed to emit, with `outcome`) ended.
fn ended_because(shared: &Shared, outcome: Option<&EmitError>) -> EndReason {
    let queue = &shared.queue;
    let body_gone = queue.is_body_gone();
    match outcome {
        _ if queue.is_aborted() => EndReason::MemoryBudget,
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
                Error::msg(format!("panic: {panic}"))
            }
        };
        let data = self.errors.data(&error, &self.info);
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
