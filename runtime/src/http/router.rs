//! Routing: which endpoint answers which request.
//!
//! ```
//! use tidings::{event_stream, Emitter, Router};
//!
//! #[event_stream]
//! enum Tick { Tick }
//!
//! #[event_stream(path = "/clock")]
//! async fn clock(events: Emitter<Tick>) -> tidings::Result<()> {
//!     events.emit(Tick::Tick).await?;
//!     Ok(())
//! }
//!
//! let v1 = Router::new().route(clock);
//! let app = Router::new().route(clock).nest("/v1", v1);
//! let paths: Vec<_> = app.routes().map(|route| route.path.as_str()).collect();
//! assert_eq!(paths, ["/clock", "/v1/clock"]);
//! ```
//!
//! Paths are matched by [`matchit`]: `{name}` matches one segment, `{*name}` the rest of the
//! path. A path that matches no route answers `404`; a path that matches with another method
//! answers `405` with an `Allow` header; a request whose `Accept` header excludes
//! `text/event-stream` answers `406` (no `Accept`, `*/*` and `text/*` are fine). Route
//! conflicts are reported when the router is served, as an error, never a panic.
//!
//! Besides routes, a router carries what applies to all of them: [`middleware`](Router::middleware)
//! (outer routers' first, when nested), [state](Router::with_state), the
//! [error policy](Router::error_handler), the body limit and the stream settings. Settings
//! are read from the router that is served; a nested router brings its routes, middleware
//! and state.

use std::convert::Infallible;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{ACCEPT, ALLOW, HeaderValue};
use http::{Extensions, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;

use super::route::{Guards, Route};
use super::start::{ErasedEndpoint, StreamRuntime};
use crate::boxed::BoxFuture;
use crate::http::error_handler::{ErrorHandler, ProblemDetails, RequestInfo, log_rejection};
use crate::http::extract::{BodyLimits, BoxError, FromRequest, RequestContext};
use crate::http::middleware::{ErasedMiddleware, Middleware, Require, StateValue};
use crate::http::rejection::Rejection;
use crate::http::wiring::Wiring;
use crate::metrics::RouteMetrics;
use crate::stream::StreamOptions;
use crate::stream::body::ResponseBody;

pub use super::route::{IntoRoute, JsonKind, RouteInfo, RouteToAdd, StreamKind};

/// A set of streaming routes, and what applies to all of them.
#[derive(Clone)]
pub struct Router {
    routes: Vec<Route>,
    middleware: Vec<Arc<dyn ErasedMiddleware>>,
    state: Extensions,
    /// The types of `state`, for the wiring check.
    state_types: Wiring,
    options: StreamOptions,
    body_limits: BodyLimits,
    error_handler: Arc<dyn ErrorHandler>,
}

impl Default for Router {
    fn default() -> Self {
        Router {
            routes: Vec::new(),
            middleware: Vec::new(),
            state: Extensions::new(),
            state_types: Wiring::default(),
            options: StreamOptions::default(),
            body_limits: BodyLimits::default(),
            error_handler: Arc::new(ProblemDetails),
        }
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds a route: the name of an `async fn` marked `#[event_stream(path = ...)]` (a
    /// stream) or `#[json_route(path = ...)]` (a JSON answer).
    pub fn route<K>(mut self, route: impl IntoRoute<K>) -> Self {
        self.routes.push(route.into_route().0);
        self
    }

    /// Adds every route of `other` under `prefix` (e.g. `"/v1"`), with `other`'s middleware
    /// and state. A route `/` of `other` becomes `prefix` itself.
    pub fn nest(mut self, prefix: &str, other: Router) -> Self {
        let prefix = prefix.trim_end_matches('/');
        for mut route in other.routes {
            route.info.path = match route.info.path.as_str() {
                "/" if !prefix.is_empty() => prefix.to_owned(),
                path => format!("{prefix}{path}"),
            };
            let mut middleware = other.middleware.clone();
            middleware.append(&mut route.middleware);
            route.middleware = middleware;
            self.routes.push(route);
        }
        // This router's own state wins over a nested one's of the same type.
        let mut state = other.state;
        state.extend(std::mem::take(&mut self.state));
        self.state = state;
        self.state_types.extend(other.state_types);
        self
    }

    /// Runs `middleware` before the extractors of every route of this router, including routes
    /// nested into it, whether added before or after this call.
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Runs the extractor `T` before every route of this router (e.g. authentication) and keeps
    /// its value for handlers, which take it as [`Extension<T>`](crate::Extension).
    pub fn require<T>(self) -> Self
    where
        T: FromRequest + Clone + Sync + 'static,
    {
        self.middleware(Require::<T>::new())
    }

    /// Shares `state` with every handler and extractor, as [`State<T>`](crate::State).
    /// Several states of different types can be added.
    pub fn with_state<T: Clone + Send + Sync + 'static>(mut self, state: T) -> Self {
        self.state.insert(StateValue(state));
        self.state_types.state::<T>();
        self
    }

    /// Replaces the error policy (default: [`ProblemDetails`]).
    pub fn error_handler(mut self, handler: impl ErrorHandler) -> Self {
        self.error_handler = Arc::new(handler);
        self
    }

    /// The most bytes a body extractor such as [`Json`](crate::Json) reads (default 1 MiB);
    /// larger bodies answer `413`.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limits.bytes = bytes;
        self
    }

    /// How long a body extractor such as [`Json`](crate::Json) may take to read the whole
    /// body (default 30 s); a client that sends it slower, or stops, gets `408`. Bounds how
    /// long a request can hold its connection and its partial body before any stream starts.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_limits.timeout = timeout;
        self
    }

    /// Ends every stream this long after it started (default: never). The handler sees
    /// [`closed()`](crate::Emitter::closed) resolve, the events already queued still go out,
    /// then the response ends; clients reconnect on their own, and a hub stream resumes after
    /// the last event its client got. Use it to spread long-lived clients over new server
    /// instances, or to make them come back with fresh credentials.
    pub fn max_stream_duration(mut self, lifetime: Option<Duration>) -> Self {
        self.options.max_duration = lifetime;
        self
    }

    /// Sends a comment on a stream idle this long (default 15 s), so that proxies keep the
    /// connection and the server notices dead peers. `None` turns heartbeats off.
    pub fn heartbeat(mut self, every: Option<Duration>) -> Self {
        self.options.heartbeat = every;
        self
    }

    /// Sends `retry: <ms>` first on every stream: how long clients wait before reconnecting.
    pub fn retry(mut self, after: Duration) -> Self {
        self.options.retry = Some(after);
        self
    }

    /// The bytes of frames a stream may have waiting for its client (default 64 KiB). When
    /// they are used up, `emit` waits and `try_emit` fails.
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.options.buffer_bytes = bytes;
        self
    }

    /// The largest event a stream of this router sends, in bytes of its frame (default
    /// 1 MiB); a route can set its own with `#[event_stream(path = "...", max_event_bytes =
    /// N)]`. A larger event is not sent: `emit` fails with
    /// [`EmitError::TooLarge`](crate::EmitError::TooLarge), which the handler sees. Each
    /// stream may hold this much beyond its [`buffer_bytes`](Self::buffer_bytes), and all
    /// streams together no more than the server's
    /// [`max_queued_bytes`](crate::Serve::max_queued_bytes).
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.options.max_event_bytes = bytes;
        self
    }

    /// Compresses the streams of this router for clients that accept one of `compression`'s
    /// encodings (default: never compressed). A route can say otherwise with
    /// `#[event_stream(path = "...", compress = false)]` (or `true`, to compress it on a router
    /// that does not, with [`Compression::new`](crate::compression::Compression::new)).
    ///
    /// Each compressed stream keeps its own compressor (its memory counts in the server's
    /// budget, [`Encoding::memory`](crate::compression::Encoding::memory)) and flushes it after
    /// every write, so that no event waits in it. See the [`compression`](crate::compression)
    /// module.
    #[cfg(feature = "compression")]
    pub fn compression(mut self, compression: crate::compression::Compression) -> Self {
        self.options.compression = Some(compression);
        self
    }

    /// Builds the router into a `tower::Service` (and `hyper::service::Service`), e.g. to
    /// mount it into an axum application with `nest_service`. Fails on conflicting routes,
    /// and on a route whose extractors need what the router does not give: a
    /// [`State<T>`](crate::State) without `with_state` of a `T`, an
    /// [`Extension<T>`](crate::Extension) that no middleware provides.
    ///
    /// Served by [`serve_service`](crate::serve_service), its streams follow that server's
    /// graceful shutdown; served another way, they end when their clients leave or their
    /// handlers return.
    pub fn into_service(self) -> Result<RouterService, RouterError> {
        let runtime = StreamRuntime::new(self.options.clone(), self.error_handler.clone());
        let table = self.build()?;
        Ok(RouterService {
            table: Arc::new(table),
            runtime: Arc::new(runtime),
        })
    }

    /// Every route, in the order they were added.
    pub fn routes(&self) -> impl Iterator<Item = &RouteInfo> {
        self.routes.iter().map(|route| &route.info)
    }

    /// Every route with the middleware that guards it, for documents.
    pub(crate) fn guarded_routes(&self) -> Vec<RouteInfo> {
        self.routes
            .iter()
            .map(|route| {
                let mut info = route.info.clone();
                let mut guards = self.middleware.clone();
                guards.extend(route.middleware.iter().cloned());
                info.guards = Guards(guards);
                #[cfg(feature = "compression")]
                if let Some(compression) =
                    super::negotiate::for_route(info.compress(), self.options.compression.as_ref())
                {
                    info.encodings = compression.offered().iter().map(|e| e.as_str()).collect();
                }
                info
            })
            .collect()
    }

    /// Builds the matcher; fails on conflicting or malformed routes.
    fn build(self) -> Result<RouteTable, RouterError> {
        let mut paths: Vec<(String, MethodTable)> = Vec::new();
        for route in self.routes {
            let mut needs = Wiring::default();
            (route.info.needs)(&mut needs);
            let mut provided = self.state_types.clone();
            for middleware in self.middleware.iter().chain(&route.middleware) {
                middleware.needs(&mut needs);
                middleware.provides(&mut provided);
            }
            let missing = provided.missing(&needs);
            if !missing.is_empty() {
                return Err(RouterError(format!(
                    "route `{} {}` takes {}",
                    route.info.method,
                    route.info.path,
                    missing.join("; and ")
                )));
            }
            let stream = route.info.is_stream();
            let event_names = route.info.event_names();
            let RouteInfo { method, path, .. } = route.info;
            let mut middleware = self.middleware.clone();
            middleware.extend(route.middleware);
            let entry = RouteEntry {
                stream,
                endpoint: route.endpoint,
                middleware: middleware.into(),
                metrics: Arc::new(RouteMetrics::new(method.as_str(), &path, event_names)),
            };
            if !path.starts_with('/') {
                return Err(RouterError(format!("route `{path}` must start with `/`")));
            }
            let index = match paths.iter().position(|(p, _)| *p == path) {
                Some(index) => index,
                None => {
                    paths.push((path.clone(), Vec::new()));
                    paths.len() - 1
                }
            };
            let methods = &mut paths[index].1;
            if methods.iter().any(|(m, _)| *m == method) {
                return Err(RouterError(format!(
                    "route `{method} {path}` is defined twice"
                )));
            }
            methods.push((method, entry));
        }
        let mut matcher = matchit::Router::new();
        for (path, methods) in paths {
            let allow = methods
                .iter()
                .map(|(m, _)| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let allow = HeaderValue::from_str(&allow).expect("method names are valid header text");
            matcher
                .insert(path.clone(), Methods { methods, allow })
                .map_err(|error| RouterError(format!("route `{path}`: {error}")))?;
        }
        Ok(RouteTable {
            matcher,
            state: Arc::new(self.state),
            body_limits: self.body_limits,
        })
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.routes().map(|r| format!("{} {}", r.method, r.path)))
            .finish()
    }
}

/// A router that cannot be served: two routes conflict, or a path is malformed.
#[derive(Debug, Clone)]
pub struct RouterError(String);

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RouterError {}

type MethodTable = Vec<(Method, RouteEntry)>;

struct RouteEntry {
    /// Streams refuse clients that do not accept `text/event-stream`.
    stream: bool,
    endpoint: Arc<dyn ErasedEndpoint>,
    middleware: Arc<[Arc<dyn ErasedMiddleware>]>,
    metrics: Arc<RouteMetrics>,
}

struct Methods {
    methods: MethodTable,
    allow: HeaderValue,
}

struct RouteTable {
    matcher: matchit::Router<Methods>,
    state: Arc<Extensions>,
    body_limits: BodyLimits,
}

/// What a request was routed to.
struct Routed {
    endpoint: Arc<dyn ErasedEndpoint>,
    middleware: Arc<[Arc<dyn ErasedMiddleware>]>,
    metrics: Arc<RouteMetrics>,
}

/// The future of one answer of a [`RouterService`].
pub type ResponseFuture = BoxFuture<'static, Result<Response<ResponseBody>, Infallible>>;

/// A built router that answers requests: a [`hyper::service::Service`].
#[derive(Clone)]
pub struct RouterService {
    table: Arc<RouteTable>,
    runtime: Arc<StreamRuntime>,
}

impl fmt::Debug for RouterService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterService").finish_non_exhaustive()
    }
}

impl RouterService {
    /// Answers one request: routing, middleware and extractors, then the stream. Never
    /// fails: every error is an HTTP answer. Both service impls return this future as is.
    pub fn respond<B>(&self, request: Request<B>) -> ResponseFuture
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let info = RequestInfo {
            method: request.method().clone(),
            path: request.uri().path().to_owned(),
        };
        let runtime = self.runtime.clone();
        let (entry, cx) = match self.route(request) {
            Ok(routed) => routed,
            Err(rejection) => {
                return Box::pin(std::future::ready(Ok(reject(&runtime, rejection, &info))));
            }
        };
        Box::pin(async move {
            let start = async {
                let mut cx = cx;
                for middleware in entry.middleware.iter() {
                    middleware.run(&mut cx).await?;
                }
                let metrics = entry.metrics.clone();
                entry
                    .endpoint
                    .call(cx, runtime.clone(), info.clone(), metrics)
                    .await
            };
            Ok(match AssertUnwindSafe(start).catch_unwind().await {
                Ok(Ok(response)) => response,
                Ok(Err(rejection)) => reject(&runtime, rejection, &info),
                Err(panic) => {
                    let message = crate::stream::panic_message(&*panic).to_owned();
                    let rejection = Rejection::internal(crate::Error::msg(format!(
                        "panicked before the stream started: {message}"
                    )));
                    reject(&runtime, rejection, &info)
                }
            })
        })
    }

    fn route<B>(&self, request: Request<B>) -> Result<(Routed, RequestContext), Rejection>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = request.into_parts();
        let matched = self
            .table
            .matcher
            .at(parts.uri.path())
            .map_err(|_| Rejection::new(StatusCode::NOT_FOUND))?;
        let methods = matched.value;
        let Some((_, entry)) = methods.methods.iter().find(|(m, _)| *m == parts.method) else {
            return Err(Rejection::new(StatusCode::METHOD_NOT_ALLOWED)
                .detail(format!("{} is not allowed here", parts.method))
                .header(ALLOW, methods.allow.clone()));
        };
        if entry.stream && !accepts_event_stream(&parts.headers) {
            return Err(Rejection::new(StatusCode::NOT_ACCEPTABLE)
                .detail("this endpoint answers `text/event-stream`, which `Accept` excludes"));
        }
        let mut params = Vec::with_capacity(matched.params.len());
        for (name, raw) in matched.params.iter() {
            let value = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| {
                    Rejection::bad_request("invalid path parameters").error(
                        "path",
                        name,
                        "utf8",
                        "is not valid UTF-8 once percent-decoded",
                    )
                })?;
            params.push((name.to_owned(), value.into_owned()));
        }
        let body = body.map_err(Into::into).boxed_unsync();
        let cx = RequestContext::new(
            parts,
            params,
            body,
            self.table.body_limits,
            self.table.state.clone(),
        );
        let routed = Routed {
            endpoint: entry.endpoint.clone(),
            middleware: entry.middleware.clone(),
            metrics: entry.metrics.clone(),
        };
        Ok((routed, cx))
    }
}

fn reject(
    runtime: &StreamRuntime,
    rejection: Rejection,
    info: &RequestInfo,
) -> Response<ResponseBody> {
    log_rejection(&rejection, info);
    let response = runtime.error_handler.rejection(rejection, info);
    crate::metrics::rejection(response.status().as_u16());
    response
}

/// Whether `Accept` (absent, or any of its ranges) allows `text/event-stream`.
///
/// The most specific range that matches decides (RFC 9110, 12.5.1): `text/event-stream;q=0,
/// */*` refuses, `text/*;q=0, text/event-stream` accepts. Parameter names are
/// case-insensitive.
fn accepts_event_stream(headers: &http::HeaderMap) -> bool {
    let mut values = headers.get_all(ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    // (specificity, accepted) of the most specific matching range.
    let mut best: Option<(u8, bool)> = None;
    let ranges = values
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for range in ranges {
        let mut params = range.split(';');
        let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let specificity = match media.as_str() {
            "text/event-stream" => 2,
            "text/*" => 1,
            "*/*" => 0,
            _ => continue,
        };
        let refused = params.any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("q") && value.trim().parse::<f32>().ok() == Some(0.0)
        });
        if best.is_none_or(|(seen, _)| specificity > seen) {
            best = Some((specificity, !refused));
        } else if let Some((seen, accepted)) = &mut best
            && *seen == specificity
        {
            // The same range twice: either acceptance counts.
            *accepted |= !refused;
        }
    }
    best.is_some_and(|(_, accepted)| accepted)
}

impl<B> hyper::service::Service<Request<B>> for RouterService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn call(&self, request: Request<B>) -> Self::Future {
        self.respond(request)
    }
}

impl<B> tower_service::Service<Request<B>> for RouterService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.respond(request)
    }
}

#[cfg(test)]
mod tests {
    use super::accepts_event_stream;
    use http::HeaderMap;

    fn accepts(value: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(http::header::ACCEPT, value.parse().unwrap());
        }
        accepts_event_stream(&headers)
    }

    #[test]
    fn accept_ranges() {
        assert!(accepts(None));
        assert!(accepts(Some("text/event-stream")));
        assert!(accepts(Some("application/json, */*;q=0.5")));
        assert!(accepts(Some("TEXT/*")));
        assert!(!accepts(Some("application/json")));
        assert!(!accepts(Some("text/event-stream;q=0")));
        assert!(!accepts(Some("text/event-stream; q=0.000")));
        assert!(!accepts(Some("text/event-stream;q=0, */*")));
        assert!(!accepts(Some("*/*, text/event-stream; Q=0")));
        assert!(accepts(Some("text/*;q=0, text/event-stream")));
        assert!(!accepts(Some("text/*;q=0, */*")));
        assert!(accepts(Some("text/event-stream;q=0.5, */*;q=0")));
    }
}
