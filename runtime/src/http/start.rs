//! Starting a stream for a request: the endpoint's extractors, then the emitter and body
//! pair with the handler driven by the body, and the response head.

use std::sync::Arc;

use http::Response;
use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, HeaderName, HeaderValue, VARY};

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
        #[cfg(feature = "compression")]
        let compression =
            super::negotiate::for_route(T::COMPRESS, runtime.options.compression.as_ref())
                .map(|offered| super::negotiate::negotiate(&cx.parts().headers, &offered));
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
            #[allow(unused_mut)]
            let mut head = StreamHead::default();
            #[cfg(feature = "compression")]
            let encoder = compression.map(|encoding| {
                head.varies = true;
                let encoder = encoding.and_then(|encoding| compressor(encoding, &shared));
                head.encoding = encoder.as_ref().map(|encoder| encoder.encoding().as_str());
                encoder
            });
            let body = EventBody::new(shared, timing).driving(handler, lifecycle.hard_stop);
            #[cfg(feature = "compression")]
            let body = match encoder.flatten() {
                Some(encoder) => body.compressed(encoder),
                None => body,
            };
            Ok(event_stream_response(body, head))
        })
    }
}

/// A compressor for a stream whose client accepts `encoding`, when the server's budget has room
/// for its memory; `None`: the stream goes uncompressed.
#[cfg(feature = "compression")]
fn compressor(
    encoding: crate::compression::Encoding,
    shared: &Shared,
) -> Option<crate::stream::compress::Encoder> {
    let reserved = match shared.queue.charge() {
        Some(charge) => match charge.reserve(encoding.memory()) {
            Some(reserved) => Some(reserved),
            None => {
                tracing::debug!(%encoding, "the server's budget is full: an uncompressed stream");
                return None;
            }
        },
        None => None,
    };
    match crate::stream::compress::Encoder::new(encoding, reserved) {
        Ok(encoder) => Some(encoder),
        Err(error) => {
            tracing::warn!(%encoding, %error, "no compressor: an uncompressed stream");
            None
        }
    }
}

/// What the head of a stream's response says besides the fixed headers.
#[derive(Default)]
struct StreamHead {
    /// `Content-Encoding`, when the stream is compressed.
    encoding: Option<&'static str>,
    /// `Vary: Accept-Encoding`: the route compresses for clients that ask.
    varies: bool,
}

fn event_stream_response(body: EventBody, head: StreamHead) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::stream(body));
    let headers = response.headers_mut();
    if let Some(encoding) = head.encoding {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    if head.varies {
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells nginx not to buffer the stream.
    headers.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}
