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
//! answers `405` with an `Allow` header. Route conflicts are reported when the router is
//! served, as an error, never a panic.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use http::header::{ALLOW, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use schemars::SchemaGenerator;

use crate::body::ResponseBody;
use crate::endpoint::{BoxFuture, Endpoint};
use crate::event::{EventSchema, EventSet};
use crate::extract::RequestContext;
use crate::rejection::Rejection;
use crate::stream::{ErasedEndpoint, StreamRuntime};

/// A set of streaming routes.
#[derive(Default, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

#[derive(Clone)]
struct Route {
    info: RouteInfo,
    endpoint: Arc<dyn ErasedEndpoint>,
}

/// What a route is, for documentation and clients.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    /// The HTTP method.
    pub method: Method,
    /// The full path pattern, prefixes of `nest` included.
    pub path: String,
    /// The handler's function name.
    pub name: &'static str,
    /// The handler's doc comment.
    pub description: Option<&'static str>,
    /// The names of the stream's events.
    pub event_names: &'static [&'static str],
    event_schemas: fn(&mut SchemaGenerator) -> Vec<EventSchema>,
}

impl RouteInfo {
    /// The JSON Schema of each event of the stream.
    pub fn event_schemas(&self, generator: &mut SchemaGenerator) -> Vec<EventSchema> {
        (self.event_schemas)(generator)
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Adds an endpoint: the name of an `async fn` marked `#[event_stream(path = ...)]`.
    pub fn route(mut self, endpoint: impl IntoEndpoint) -> Self {
        self.push(endpoint.into_endpoint());
        self
    }

    fn push<T: Endpoint>(&mut self, endpoint: T) {
        self.routes.push(Route {
            info: RouteInfo {
                method: T::METHOD,
                path: T::PATH.to_owned(),
                name: T::NAME,
                description: T::DESCRIPTION,
                event_names: <T::Event as EventSet>::NAMES,
                event_schemas: <T::Event as EventSet>::event_schemas,
            },
            endpoint: Arc::new(endpoint),
        });
    }

    /// Adds every route of `other` under `prefix` (e.g. `"/v1"`). A route `/` of `other`
    /// becomes `prefix` itself.
    pub fn nest(mut self, prefix: &str, other: Router) -> Self {
        let prefix = prefix.trim_end_matches('/');
        for mut route in other.routes {
            route.info.path = match route.info.path.as_str() {
                "/" if !prefix.is_empty() => prefix.to_owned(),
                path => format!("{prefix}{path}"),
            };
            self.routes.push(route);
        }
        self
    }

    /// Every route, in the order they were added.
    pub fn routes(&self) -> impl Iterator<Item = &RouteInfo> {
        self.routes.iter().map(|route| &route.info)
    }

    /// Builds the matcher; fails on conflicting or malformed routes.
    pub(crate) fn build(self) -> Result<RouteTable, RouterError> {
        let mut paths: Vec<(String, MethodTable)> = Vec::new();
        for route in self.routes {
            let RouteInfo { method, path, .. } = route.info;
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
            methods.push((method, route.endpoint));
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
        Ok(RouteTable { matcher })
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.routes().map(|r| format!("{} {}", r.method, r.path)))
            .finish()
    }
}

/// What [`Router::route`] takes: the function `#[event_stream(path = ...)]` generates in
/// place of the `async fn`, which returns the endpoint.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an endpoint",
    label = "`route` takes an `async fn` marked `#[event_stream(path = \"...\")]`",
    note = "pass the function's name, e.g. `Router::new().route(clock)`"
)]
pub trait IntoEndpoint {
    /// The endpoint.
    type Endpoint: Endpoint;
    /// Builds it.
    fn into_endpoint(self) -> Self::Endpoint;
}

impl<F, T> IntoEndpoint for F
where
    F: FnOnce() -> T,
    T: Endpoint,
{
    type Endpoint = T;
    fn into_endpoint(self) -> T {
        self()
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

type MethodTable = Vec<(Method, Arc<dyn ErasedEndpoint>)>;

struct Methods {
    methods: MethodTable,
    allow: HeaderValue,
}

pub(crate) struct RouteTable {
    matcher: matchit::Router<Methods>,
}

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
    pub(crate) fn new(table: RouteTable, runtime: Arc<StreamRuntime>) -> Self {
        RouterService {
            table: Arc::new(table),
            runtime,
        }
    }

    /// Answers one request. The request body is not read.
    pub fn call<B>(&self, request: Request<B>) -> BoxFuture<'static, Response<ResponseBody>> {
        let (parts, _body) = request.into_parts();
        let matched = match self.table.matcher.at(parts.uri.path()) {
            Ok(matched) => matched,
            Err(_) => return ready(Rejection::new(StatusCode::NOT_FOUND).into_response()),
        };
        let methods = matched.value;
        let Some((_, endpoint)) = methods.methods.iter().find(|(m, _)| *m == parts.method) else {
            let rejection = Rejection::new(StatusCode::METHOD_NOT_ALLOWED)
                .detail(format!("{} is not allowed here", parts.method))
                .header(ALLOW, methods.allow.clone());
            return ready(rejection.into_response());
        };
        let mut params = Vec::with_capacity(matched.params.len());
        for (name, raw) in matched.params.iter() {
            match percent_encoding::percent_decode_str(raw).decode_utf8() {
                Ok(value) => params.push((name.to_owned(), value.into_owned())),
                Err(_) => {
                    let rejection = Rejection::bad_request("invalid path parameters").error(
                        "path",
                        name,
                        "utf8",
                        "is not valid UTF-8 once percent-decoded",
                    );
                    return ready(rejection.into_response());
                }
            }
        }
        endpoint.call(RequestContext::new(parts, params), self.runtime.clone())
    }
}

fn ready(response: Response<ResponseBody>) -> BoxFuture<'static, Response<ResponseBody>> {
    Box::pin(std::future::ready(response))
}

impl<B> hyper::service::Service<Request<B>> for RouterService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<ResponseBody>, Infallible>>;

    fn call(&self, request: Request<B>) -> Self::Future {
        let response = RouterService::call(self, request);
        Box::pin(async move { Ok(response.await) })
    }
}
