//! Middleware: work that runs before the extractors of every route of a router, such as
//! authentication, and hands typed context to the handlers.
//!
//! A middleware may reject (no stream starts) or leave values in the request's extensions,
//! which handlers then take with [`Extension<T>`]. [`Router::require`](crate::Router::require)
//! turns any extractor into such a middleware; [`State<T>`] reads the shared state given to
//! [`Router::with_state`](crate::Router::with_state).
//!
//! ```
//! use http::{StatusCode, header};
//! use tidings::{event_stream, Emitter, Extension, FromRequest, Rejection, RequestContext, Router};
//!
//! /// The signed-in user.
//! #[derive(Clone)]
//! struct User { name: String }
//!
//! impl FromRequest for User {
//!     type Rejection = Rejection;
//!     async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
//!         match cx.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
//!             Some("Bearer let-me-in") => Ok(User { name: "ann".into() }),
//!             _ => Err(Rejection::new(StatusCode::UNAUTHORIZED)
//!                 .header(header::WWW_AUTHENTICATE, "Bearer".parse().unwrap())),
//!         }
//!     }
//! }
//!
//! #[event_stream]
//! enum Audit { Line(String) }
//!
//! #[event_stream(path = "/audit")]
//! async fn audit(Extension(user): Extension<User>, events: Emitter<Audit>) -> tidings::Result<()> {
//!     events.emit(Audit::Line(format!("hello {}", user.name))).await?;
//!     Ok(())
//! }
//!
//! // Every route under /admin runs `User` first.
//! let admin = Router::new().route(audit).require::<User>();
//! let app = Router::new().nest("/admin", admin);
//! ```

use std::future::Future;
use std::marker::PhantomData;

use schemars::SchemaGenerator;

use crate::boxed::BoxFuture;
use crate::http::extract::{FromRequest, RequestContext};
use crate::http::inputs::InputDoc;
use crate::http::rejection::Rejection;
use crate::http::wiring::Wiring;

/// Runs before the extractors of each route it applies to.
pub trait Middleware: Send + Sync + 'static {
    /// Checks or enriches the request; a rejection answers it.
    fn run(&self, cx: &mut RequestContext) -> impl Future<Output = Result<(), Rejection>> + Send;

    /// Documents what it reads and how it refuses, in every route it guards (e.g. a `401` and
    /// a security scheme, through [`InputDoc::bearer_auth`]). The default documents nothing.
    fn describe(&self, doc: &mut InputDoc, generator: &mut SchemaGenerator) {
        let _ = (doc, generator);
    }

    /// Says which extensions it leaves for handlers ([`Wiring::extension`]), so that a
    /// handler's [`Extension<T>`] can be checked against them when the router is served. The
    /// default says "unknown", which turns that check off for the routes it guards.
    fn provides(&self, provided: &mut Wiring) {
        provided.unknown_extensions();
    }

    /// Says what it needs from its router, like [`FromRequest::needs`]. The default needs
    /// nothing.
    fn needs(&self, needs: &mut Wiring) {
        let _ = needs;
    }
}

/// Object-safe [`Middleware`], as routers store it.
pub(crate) trait ErasedMiddleware: Send + Sync {
    fn run<'a>(&'a self, cx: &'a mut RequestContext) -> BoxFuture<'a, Result<(), Rejection>>;
    fn describe(&self, doc: &mut InputDoc, generator: &mut SchemaGenerator);
    fn provides(&self, provided: &mut Wiring);
    fn needs(&self, needs: &mut Wiring);
}

impl<M: Middleware> ErasedMiddleware for M {
    fn run<'a>(&'a self, cx: &'a mut RequestContext) -> BoxFuture<'a, Result<(), Rejection>> {
        Box::pin(Middleware::run(self, cx))
    }

    fn describe(&self, doc: &mut InputDoc, generator: &mut SchemaGenerator) {
        Middleware::describe(self, doc, generator)
    }

    fn provides(&self, provided: &mut Wiring) {
        Middleware::provides(self, provided)
    }

    fn needs(&self, needs: &mut Wiring) {
        Middleware::needs(self, needs)
    }
}

/// The middleware of [`Router::require`](crate::Router::require): runs the extractor `T` and
/// keeps its value in the request's extensions for [`Extension<T>`].
pub struct Require<T>(PhantomData<fn() -> T>);

impl<T> Require<T> {
    /// The middleware that requires `T`.
    pub fn new() -> Self {
        Require(PhantomData)
    }
}

impl<T> Default for Require<T> {
    fn default() -> Self {
        Require::new()
    }
}

impl<T> Middleware for Require<T>
where
    T: FromRequest + Clone + Sync + 'static,
{
    async fn run(&self, cx: &mut RequestContext) -> Result<(), Rejection> {
        let value = T::from_request(cx).await.map_err(Into::into)?;
        cx.extensions_mut().insert(value);
        Ok(())
    }

    fn describe(&self, doc: &mut InputDoc, generator: &mut SchemaGenerator) {
        T::describe(doc, generator)
    }

    fn provides(&self, provided: &mut Wiring) {
        provided.extension::<T>();
    }

    fn needs(&self, needs: &mut Wiring) {
        T::needs(needs)
    }
}

/// A value a middleware left in the request's extensions. Missing, it is a server bug: `500`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extension<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromRequest for Extension<T> {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        cx.extensions()
            .get::<T>()
            .cloned()
            .map(Extension)
            .ok_or_else(|| {
                Rejection::internal(crate::Error::msg(format!(
                    "no `{}` in the request extensions: add the middleware that provides it \
                 (e.g. `Router::require::<{0}>()`)",
                    std::any::type_name::<T>()
                )))
            })
    }

    fn needs(needs: &mut Wiring) {
        needs.extension::<T>();
    }
}

/// The application state given to [`Router::with_state`](crate::Router::with_state). Missing,
/// it is a server bug: `500`.
#[derive(Debug, Clone, Copy, Default)]
pub struct State<T>(pub T);

/// Marks a state value, so that it never mixes with other extensions.
#[derive(Clone)]
pub(crate) struct StateValue<T>(pub(crate) T);

impl<T: Clone + Send + Sync + 'static> FromRequest for State<T> {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        cx.state()
            .get::<StateValue<T>>()
            .map(|state| State(state.0.clone()))
            .ok_or_else(|| {
                Rejection::internal(crate::Error::msg(format!(
                    "no state of type `{}`: call `Router::with_state` with it",
                    std::any::type_name::<T>()
                )))
            })
    }

    fn needs(needs: &mut Wiring) {
        needs.state::<T>();
    }
}
