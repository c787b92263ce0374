//! Typed Server-Sent Events.
//!
//! Declare the events of a stream once, as an enum; write one `async fn`; serve it.
//!
//! ```no_run
//! use std::time::Duration;
//! use tidings::{event_stream, Emitter, Router};
//!
//! /// What the clock says.
//! #[event_stream]
//! enum Clock {
//!     /// The time, in milliseconds since the Unix epoch.
//!     Tick { unix_ms: u64 },
//! }
//!
//! /// The time, every second.
//! #[event_stream(path = "/clock")]
//! async fn clock(events: Emitter<Clock>) -> tidings::Result<()> {
//!     while !events.is_closed() {
//!         let unix_ms = std::time::SystemTime::now()
//!             .duration_since(std::time::UNIX_EPOCH)?
//!             .as_millis() as u64;
//!         events.emit(Clock::Tick { unix_ms }).await?;
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!     }
//!     Ok(())
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! tidings::serve(Router::new().route(clock)).bind("127.0.0.1:8080").await
//! # }
//! ```
//!
//! - [`event`]: what `#[event_stream]` generates for the enum, and the wire shape.
//! - [`validate`]: `#[validate(...)]` field rules.
//! - [`emitter`]: sending events, backpressure, closing.
//! - Cargo features, all off by default: `http2` (HTTP/2 next to HTTP/1.1 on one port: h2c,
//!   and by ALPN with `tls`), `tls` (HTTPS with rustls; turns on `http2`), `typed-header`
//!   (the `Header<T>` extractor of the `headers` crate's types), `metrics`, `rate-limit`
//!   (`limits::RateLimit`), `compression` (compressed streams, flushed after every write:
//!   `Router::compression`), and the two below.
//! - `axum` (cargo feature `axum`): `Json<T>` and `Rejection` in plain axum routes.
//! - `client` (cargo feature `client`): a typed client that reconnects and resumes;
//!   `client-tls` adds `https://`.
//! - `testing` (cargo feature `testing`): serve an app on an ephemeral port in a test,
//!   subscribe with the typed client, assert on typed events, drop the connection, resume.
//! - [`hub`]: broadcast to many subscribers, ids, lossless `Last-Event-ID` resume.
//! - [`extract`], [`json`]: handler arguments (`Path`, `Query`, `Json`, `Header` with the
//!   `typed-header` feature, your own).
//! - [`middleware`]: what runs before every route of a router; `State`, `Extension`.
//! - [`error_handler`]: how failures become responses and `error` events.
//! - [`openapi`]: OpenAPI 3.2 documents of the routes.
//! - [`typescript`]: a typed TypeScript client of the routes.
//! - [`reply`]: JSON routes (`#[json_route]`), such as the `POST` that feeds a stream: the
//!   same extractors, middleware and documents as the streams.
//! - [`router`], [`server`]: routing and the hyper server.
//!
//! The source is laid out by layer, with imports running one way: the wire (events, frames)
//! at the top of `src/`, then `stream/` (one stream), `http/` (routing, extractors,
//! middleware), and `server/`, `hub/`, `openapi/`, `typescript/` on those; the README's
//! Layout section has the table.

#![warn(missing_docs)]
// On docs.rs: each item behind a cargo feature says which one.
#![cfg_attr(docsrs, feature(doc_cfg))]

// The wire: events, their rules, frames and bytes.
pub mod binary;
mod boxed;
mod error;
pub mod event;
mod frame;
pub mod metrics;
pub mod validate;

#[cfg(feature = "axum")]
pub mod axum;
// One stream; the HTTP layer on it; servers, hubs, documents and clients on that.
#[cfg(feature = "client")]
pub mod client;
pub mod http;
pub mod hub;
pub mod openapi;
pub mod server;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;
pub mod typescript;

// The modules' public paths, wherever they live.
#[doc(inline)]
pub use self::http::{
    endpoint, error_handler, extract, forwarded, json, limits, middleware, rejection, reply,
    router, wiring,
};
#[cfg(feature = "compression")]
pub use stream::compress as compression;
pub use stream::emitter;

pub use self::http::json_route::JsonEndpoint;
pub use emitter::{EmitError, Emitter};
pub use endpoint::Endpoint;
pub use error::{Error, IntoStreamResult, Result};
pub use error_handler::{ErrorHandler, ProblemDetails, RequestInfo};
pub use event::{DecodeError, EventSchema, EventSet};
#[cfg(feature = "typed-header")]
pub use extract::Header;
pub use extract::{BoxError, FromRequest, Path, Query, RequestBody, RequestContext};
pub use json::Json;
pub use middleware::{Extension, Middleware, State};
pub use rejection::{Problem, ProblemItem, Rejection};
pub use reply::Reply;
pub use router::{IntoRoute, RouteInfo, Router, RouterError, RouterService};
pub use server::{Serve, serve, serve_service};
pub use stream::body::ResponseBody;
pub use validate::{Validate, Violation, Violations};

/// `headers`, for [`Header<T>`]: typed headers such as `headers::Authorization`.
#[cfg(feature = "typed-header")]
pub use headers;

/// Marks an enum as the event set of a stream, or an `async fn` as a streaming endpoint.
///
/// See the [`event`] module for enums and the [`endpoint`] module for functions.
pub use tidings_macros::event_stream;

/// Marks an `async fn` as a route that answers once with JSON, such as the `POST` that feeds
/// a stream: `#[json_route(path = "/notes", method = "POST")]`.
///
/// Its arguments are extractors, as a stream's are; it returns a [`Reply`]. See [`reply`].
pub use tidings_macros::json_route;

/// Derives [`Validate`] for a struct from its `#[validate(...)]` field rules.
pub use tidings_macros::Validate;

/// What generated code names. Not public API.
#[doc(hidden)]
pub mod __private {
    /// What `#[event_stream(compress = true)]` names: there only with the feature.
    #[cfg(feature = "compression")]
    pub mod compression_feature {
        /// The route compresses its streams.
        pub const ON: Option<bool> = Some(true);
    }
    pub use crate::boxed::BoxFuture;
    pub use crate::event::support;
    pub use crate::http::endpoint::StreamTask;
    pub use crate::validate::check::{Nested, SkipNested, ValidateNested};
    pub use crate::validate::{FieldPath, check};
    pub use ::http::Method;
    #[cfg(feature = "pattern")]
    pub use regex_lite::Regex;
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use std::sync::LazyLock;

    /// An extractor's rejection, as the router answers it.
    pub fn rejection(rejection: impl Into<crate::Rejection>) -> crate::Rejection {
        rejection.into()
    }
}

/// The examples of this crate's README (its page on crates.io), compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
