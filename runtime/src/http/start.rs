//! Starting a stream for a request: the endpoint's extractors, then the emitter and body
//! pair with the handler driven by the body, and the response head.

use std::sync::Arc;

use http::Response;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};

use super::endpoint::Endpoint;
use super::error_handler::ErrorHandler;
use super::extract::RequestContext;
use super::rejection::Rejection;
use crate::boxed::BoxFuture;
use crate::metrics::RouteMetrics;
use crate::stream::StreamOptions;
use crate::stream::StreamTiming;
use crate::stream::body::{EventBody, ResponseBody};
use crate::stream::emitter::{Emitter, Shared};
use crate::stream::lifecycle::Lifecycle;
#[cfg(feature = "metrics")]
use crate::stream::scope::Observed;
use crate::stream::scope::{ErrorEventData, HandlerScope, RequestInfo};

/// What every stream of a router shares: options, the error policy, and the lifecycle used
/// when no server provides one.
pub(crate) struct StreamRuntime {
    pub(crate) options: StreamOptions,
    pub(crate) error_handler: Arc<dyn ErrorHandler>,
    /// The same policy, as a stream's scope sees it.
    error_events: Arc<dyn ErrorEventData>,
    lifecycle: Lifecycle,
}

impl StreamRuntime {
    pub(crate) fn new(options: StreamOptions, error_handler: Arc<dyn ErrorHandler>) -> Self {
        StreamRuntime {
            options,
            error_events: Arc::new(Policy(error_handler.clone())),
            error_handler,
            lifecycle: Lifecycle::default(),
        }
    }
}

/// The router's [`ErrorHandler`], as the stream layer asks it for `error` events.
struct Policy(Arc<dyn ErrorHandler>);

impl ErrorEventData for Policy {
    fn data(&self, error: &crate::Error, request: &RequestInfo) -> serde_json::Value {
        self.0.stream_error(error, request)
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
        let connection = cx.served_by().map(|served| served.0.clone());
        let kept = cx.take_kept().map(Box::new);
        let start = self.start(cx);
        Box::pin(async move {
            let task = start.await?;
            let lifecycle = lifecycle.unwrap_or_else(|| runtime.lifecycle.clone());
            let options = &runtime.options;
            #[allow(unused_mut)]
            let max_event_bytes = T::MAX_EVENT_BYTES.unwrap_or(options.max_event_bytes);
            let mut shared = Shared::new(
                lifecycle.shutdown.child_token(),
                options.buffer_bytes,
                last_event_id,
            )
            .limited(max_event_bytes, lifecycle.budget.clone());
            shared.connection = connection;
            #[cfg(feature = "metrics")]
            {
                metrics.stream_opened();
                shared.metrics = Some(metrics.clone());
            }
            let shared = Arc::new(shared);
            lifecycle.budget.register(&shared);
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
                errors: runtime.error_events.clone(),
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
