//! Starting a stream: the response head, the emitter/body pair, and the handler task with its
//! error and panic handling.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::{EventBody, ResponseBody};
use crate::emitter::{EmitError, Emitter, Shared};
use crate::endpoint::{BoxFuture, Endpoint};
use crate::event::EventSet;
use crate::extract::RequestContext;
use crate::frame;
use crate::rejection::Rejection;

/// How streams behave; set through [`Serve`](crate::Serve).
#[derive(Debug, Clone)]
pub(crate) struct StreamOptions {
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) retry: Option<Duration>,
    pub(crate) buffer_bytes: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            heartbeat: Some(Duration::from_secs(15)),
            retry: None,
            buffer_bytes: 64 * 1024,
        }
    }
}

/// What every stream of a server shares: options, the shutdown signal, the handler tasks.
#[derive(Debug, Default)]
pub(crate) struct StreamRuntime {
    pub(crate) options: StreamOptions,
    /// Cancelled when shutdown begins: handlers see `closed()` resolve.
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when the grace period is over: what still runs is dropped.
    pub(crate) hard_stop: CancellationToken,
    pub(crate) handlers: TaskTracker,
}

impl StreamRuntime {
    pub(crate) fn new(options: StreamOptions) -> Self {
        StreamRuntime {
            options,
            ..StreamRuntime::default()
        }
    }
}

/// Type-erased [`Endpoint`], as the router stores it.
pub(crate) trait ErasedEndpoint: Send + Sync {
    fn call(
        &self,
        cx: RequestContext,
        runtime: Arc<StreamRuntime>,
    ) -> BoxFuture<'static, Response<ResponseBody>>;
}

impl<T: Endpoint> ErasedEndpoint for T {
    fn call(
        &self,
        cx: RequestContext,
        runtime: Arc<StreamRuntime>,
    ) -> BoxFuture<'static, Response<ResponseBody>> {
        let last_event_id = last_event_id(&cx);
        let start = self.start(cx);
        Box::pin(async move {
            let task = match AssertUnwindSafe(start).catch_unwind().await {
                Ok(Ok(task)) => task,
                Ok(Err(rejection)) => return rejection.into_response(),
                Err(panic) => {
                    tracing::error!(
                        route = T::PATH,
                        panic = panic_message(&*panic),
                        "extractor panicked"
                    );
                    return Rejection::new(StatusCode::INTERNAL_SERVER_ERROR).into_response();
                }
            };
            let options = &runtime.options;
            let shared = Arc::new(Shared::new(
                runtime.shutdown.child_token(),
                options.buffer_bytes,
                last_event_id,
            ));
            let (tx, rx) = mpsc::unbounded_channel();
            let events = Emitter::<T::Event>::new(tx, shared.clone());
            let body = EventBody::new(rx, shared, options.retry, options.heartbeat);
            let hard_stop = runtime.hard_stop.clone();
            runtime.handlers.spawn(async move {
                tokio::select! {
                    _ = run_handler(T::PATH, task.run(events.clone()), &events) => {}
                    _ = hard_stop.cancelled() => {}
                }
            });
            event_stream_response(body)
        })
    }
}

/// Runs a handler to its end; a failure or a panic becomes one `error` event.
async fn run_handler<E: EventSet>(
    route: &'static str,
    handler: BoxFuture<'static, crate::Result<()>>,
    events: &Emitter<E>,
) {
    let message = match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(Ok(())) => return,
        Ok(Err(error)) => {
            if matches!(
                error.source().downcast_ref::<EmitError>(),
                Some(EmitError::Closed)
            ) {
                tracing::debug!(route, "stream ended: the client left");
                return;
            }
            tracing::error!(route, error = %error, "stream handler failed");
            error.client_message().to_owned()
        }
        Err(panic) => {
            tracing::error!(
                route,
                panic = panic_message(&*panic),
                "stream handler panicked"
            );
            "internal error".to_owned()
        }
    };
    events.push_unbudgeted(frame::error_event(&message));
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
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

/// `Last-Event-ID`, or the `lastEventId` query parameter that EventSource polyfills send.
fn last_event_id(cx: &RequestContext) -> Option<String> {
    if let Some(value) = cx.headers().get("last-event-id") {
        return value.to_str().ok().map(str::to_owned);
    }
    let query = cx.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "lastEventId")
        .map(|(_, value)| value.into_owned())
}
