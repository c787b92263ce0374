//! Routes as data: what a route is ([`RouteInfo`], read by the documents), and how the function
//! an `#[event_stream]` or `#[json_route]` generates becomes one ([`IntoRoute`]).

use std::fmt;
use std::sync::Arc;

use http::Method;
use schemars::SchemaGenerator;

use super::endpoint::Endpoint;
use super::inputs::InputDoc;
use super::json_route::{JsonEndpoint, JsonRoute};
use super::middleware::ErasedMiddleware;
use super::reply::{Reply, ReplyDoc};
use super::start::ErasedEndpoint;
use super::wiring::Wiring;
use crate::event::{EventSchema, EventSet};

/// A route as a router keeps it: what it is, what answers it, and the middleware of the
/// routers it was nested from.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) info: RouteInfo,
    pub(crate) endpoint: Arc<dyn ErasedEndpoint>,
    /// Middleware of the routers this route was nested from, outermost first.
    pub(crate) middleware: Vec<Arc<dyn ErasedMiddleware>>,
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
    kind: RouteKind,
    describe_inputs: fn(&mut InputDoc, &mut SchemaGenerator),
    pub(crate) needs: fn(&mut Wiring),
    /// The middleware that guards the route, when the router documents it
    /// ([`Router::openapi`](crate::Router::openapi)); empty in
    /// [`Router::routes`](crate::Router::routes).
    pub(crate) guards: Guards,
    /// The encodings the route's streams may be compressed with, as documents show them.
    pub(crate) encodings: Vec<&'static str>,
}

/// Middleware, for its documentation.
#[derive(Clone, Default)]
pub(crate) struct Guards(pub(crate) Vec<Arc<dyn ErasedMiddleware>>);

impl fmt::Debug for Guards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} middleware", self.0.len())
    }
}

/// A stream, or a JSON route that answers once.
#[derive(Debug, Clone, Copy)]
enum RouteKind {
    Stream {
        event_type: &'static str,
        event_names: &'static [&'static str],
        event_schemas: fn(&mut SchemaGenerator) -> Vec<EventSchema>,
        /// `#[event_stream(compress = ...)]`.
        compress: Option<bool>,
    },
    Json {
        describe_reply: fn(&mut ReplyDoc, &mut SchemaGenerator),
    },
}

impl RouteInfo {
    /// Whether the route streams events (`#[event_stream]`), rather than answering once with
    /// JSON (`#[json_route]`).
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, RouteKind::Stream { .. })
    }

    /// The name of the stream's event enum; `None` for a JSON route.
    pub fn event_type(&self) -> Option<&'static str> {
        match self.kind {
            RouteKind::Stream { event_type, .. } => Some(event_type),
            RouteKind::Json { .. } => None,
        }
    }

    /// The names of the stream's events; none for a JSON route.
    pub fn event_names(&self) -> &'static [&'static str] {
        match self.kind {
            RouteKind::Stream { event_names, .. } => event_names,
            RouteKind::Json { .. } => &[],
        }
    }

    /// The JSON Schema of each event of the stream; none for a JSON route.
    pub fn event_schemas(&self, generator: &mut SchemaGenerator) -> Vec<EventSchema> {
        match self.kind {
            RouteKind::Stream { event_schemas, .. } => event_schemas(generator),
            RouteKind::Json { .. } => Vec::new(),
        }
    }

    /// What the route's attribute says of compression (`#[event_stream(compress = ...)]`):
    /// `None` when it leaves it to the router.
    pub fn compress(&self) -> Option<bool> {
        match self.kind {
            RouteKind::Stream { compress, .. } => compress,
            RouteKind::Json { .. } => Some(false),
        }
    }

    /// The encodings the route's streams may be compressed with, preferred first; empty when
    /// they are never compressed. Known once the route is in the router it is served from:
    /// filled for documents ([`Router::openapi`](crate::Router::openapi)).
    pub(crate) fn encodings(&self) -> &[&'static str] {
        &self.encodings
    }

    /// What a JSON route answers (its [`Reply`] type's documentation); `None` for a stream.
    pub fn reply(&self, generator: &mut SchemaGenerator) -> Option<ReplyDoc> {
        match self.kind {
            RouteKind::Stream { .. } => None,
            RouteKind::Json { describe_reply } => {
                let mut doc = ReplyDoc::default();
                describe_reply(&mut doc, generator);
                Some(doc)
            }
        }
    }

    /// What the route's middleware and extractors read and how they fail.
    pub fn describe_inputs(&self, doc: &mut InputDoc, generator: &mut SchemaGenerator) {
        for middleware in &self.guards.0 {
            middleware.describe(doc, generator);
        }
        (self.describe_inputs)(doc, generator)
    }
}

/// What [`Router::route`](crate::Router::route) takes: the function `#[event_stream(path = ...)]` or
/// `#[json_route(path = ...)]` generates in place of the `async fn`, which returns the
/// endpoint. `K` tells the two kinds apart ([`StreamKind`], [`JsonKind`]) and is inferred.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a route",
    label = "`route` takes an `async fn` marked `#[event_stream(path = \"...\")]` or `#[json_route(path = \"...\")]`",
    note = "pass the function's name, e.g. `Router::new().route(clock)`"
)]
pub trait IntoRoute<K> {
    /// The route, ready to add.
    fn into_route(self) -> RouteToAdd;
}

/// A route made by [`IntoRoute`], for [`Router::route`](crate::Router::route).
pub struct RouteToAdd(pub(crate) Route);

impl fmt::Debug for RouteToAdd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0.info.method, self.0.info.path)
    }
}

/// The [`IntoRoute`] kind of streams.
#[derive(Debug)]
pub enum StreamKind {}

/// The [`IntoRoute`] kind of JSON routes.
#[derive(Debug)]
pub enum JsonKind {}

impl<F, T> IntoRoute<StreamKind> for F
where
    F: FnOnce() -> T,
    T: Endpoint,
{
    fn into_route(self) -> RouteToAdd {
        let kind = RouteKind::Stream {
            event_type: <T::Event as EventSet>::TYPE_NAME,
            event_names: <T::Event as EventSet>::NAMES,
            event_schemas: <T::Event as EventSet>::event_schemas,
            compress: T::COMPRESS,
        };
        let head = RouteHead {
            method: T::METHOD,
            path: T::PATH,
            name: T::NAME,
            description: T::DESCRIPTION,
            describe_inputs: T::describe_inputs,
            needs: T::needs,
        };
        RouteToAdd::new(head, kind, Arc::new(self()))
    }
}

impl<F, T> IntoRoute<JsonKind> for F
where
    F: FnOnce() -> T,
    T: JsonEndpoint,
{
    fn into_route(self) -> RouteToAdd {
        let kind = RouteKind::Json {
            describe_reply: <T::Reply as Reply>::describe,
        };
        let head = RouteHead {
            method: T::METHOD,
            path: T::PATH,
            name: T::NAME,
            description: T::DESCRIPTION,
            describe_inputs: T::describe_inputs,
            needs: T::needs,
        };
        RouteToAdd::new(head, kind, Arc::new(JsonRoute(self())))
    }
}

/// What every endpoint's generated items say of its route, streams and JSON routes alike.
struct RouteHead {
    method: Method,
    path: &'static str,
    name: &'static str,
    description: Option<&'static str>,
    describe_inputs: fn(&mut InputDoc, &mut SchemaGenerator),
    needs: fn(&mut Wiring),
}

impl RouteToAdd {
    fn new(head: RouteHead, kind: RouteKind, endpoint: Arc<dyn ErasedEndpoint>) -> Self {
        RouteToAdd(Route {
            info: RouteInfo {
                method: head.method,
                path: head.path.to_owned(),
                name: head.name,
                description: head.description,
                kind,
                describe_inputs: head.describe_inputs,
                needs: head.needs,
                guards: Guards::default(),
                encodings: Vec::new(),
            },
            endpoint,
            middleware: Vec::new(),
        })
    }
}
