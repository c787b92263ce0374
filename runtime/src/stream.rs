//! Starting a stream: the response head, the emitter/body pair, and the handler task with its
//! error and panic handling.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::Response;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::body::{EventBody, ResponseBody};
use crate::emitter::{EmitError, Emitter, Shared};
use crate::endpoint::{BoxFuture, Endpoint};
use crate::error_handler::{ErrorHandler, RequestInfo};
use crate::event::EventSet;
use crate::extract::RequestContext;
use crate::frame;
use crate::rejection::Rejection;

/// How streams behave; set on the [`Router`](crate::Router).
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

/// What every stream of a service shares: options, the error policy, the shutdown signal,
/// the handler tasks.
pub(crate) struct StreamRuntime {
    pub(crate) options: StreamOptions,
    pub(crate) error_handler: Arc<dyn ErrorHandler>,
    /// Cancelled when shutdown begins: handlers see `closed()` resolve.
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when the grace period is over: what still runs is dropped.
    pub(crate) hard_stop: CancellationToken,
    pub(crate) handlers: TaskTracker,
}

impl StreamRuntime {
    pub(crate) fn new(options: StreamOptions, error_handler: Arc<dyn ErrorHandler>) -> Self {
        StreamRuntime {
            options,
            error_handler,
            shutdown: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
            handlers: TaskTracker::new(),
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
    ) -> BoxFuture<'static, Result<Response<ResponseBody>, Rejection>>;
}

impl<T: Endpoint> ErasedEndpoint for T {
    fn call(
        &self,
        cx: RequestContext,
        runtime: Arc<StreamRuntime>,
        info: RequestInfo,
    ) -> BoxFuture<'static, Result<Response<ResponseBody>, Rejection>> {
        let last_event_id = last_event_id(&cx);
        let start = self.start(cx);
        Box::pin(async move {
            let task = start.await?;
            let options = &runtime.options;
            let shared = Arc::new(Shared::new(
                runtime.shutdown.child_token(),
                options.buffer_bytes,
                last_event_id,
            ));
            let events = Emitter::<T::Event>::new(shared.clone());
            let body = EventBody::new(shared, options.retry, options.heartbeat);
            let hard_stop = runtime.hard_stop.clone();
            let handler_runtime = runtime.clone();
            runtime.handlers.spawn(async move {
                let handler = task.run(events.clone());
                tokio::select! {
                    _ = run_handler(handler, &events, &handler_runtime, &info) => {}
                    _ = hard_stop.cancelled() => {}
                }
            });
            Ok(event_stream_response(body))
        })
    }
}

/// Runs a handler to its end; a failure or a panic becomes one `error` event.
async fn run_handler<E: EventSet>(
    handler: BoxFuture<'static, crate::Result<()>>,
    events: &Emitter<E>,
    runtime: &StreamRuntime,
    info: &RequestInfo,
) {
    let (method, path) = (&info.method, &info.path);
    let error = match AssertUnwindSafe(handler).catch_unwind().await {
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
    let data = runtime.error_handler.stream_error(&error, info);
    events.push_unbudgeted(frame::error_event(&data));
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
