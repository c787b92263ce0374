//! Extractors: the arguments of a handler other than its `Emitter`.
//!
//! Each runs in argument order before the stream starts; the first that rejects answers the
//! request with its HTTP error and no stream starts. Any type can be an extractor: implement
//! [`FromRequest`], which may be async (look a user up) and may fail.
//!
//! ```
//! use http::{StatusCode, header};
//! use tidings::{FromRequest, Rejection, RequestContext};
//!
//! /// The caller's API key, from `Authorization: Bearer <key>`.
//! struct ApiKey(String);
//!
//! impl FromRequest for ApiKey {
//!     type Rejection = Rejection;
//!
//!     async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
//!         cx.headers()
//!             .get(header::AUTHORIZATION)
//!             .and_then(|value| value.to_str().ok())
//!             .and_then(|value| value.strip_prefix("Bearer "))
//!             .map(|key| ApiKey(key.to_owned()))
//!             .ok_or_else(|| Rejection::new(StatusCode::UNAUTHORIZED).detail("missing API key"))
//!     }
//! }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Extensions, HeaderMap, Method, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use serde::de::DeserializeOwned;

use schemars::{JsonSchema, SchemaGenerator};

use crate::http::inputs::InputDoc;
#[cfg(feature = "typed-header")]
use crate::http::inputs::describe_header;
use crate::http::inputs::{describe_path, describe_query};
use crate::http::path_params::Params;
use crate::http::rejection::Rejection;
use crate::http::wiring::Wiring;
use crate::stream::lifecycle::{SERVED_BY, ServedBy};
use crate::validate::Validate;

pub use crate::boxed::BoxError;

/// A request body, whatever server or framework it came from.
pub type RequestBody = UnsyncBoxBody<Bytes, BoxError>;

/// What extractors see of a request: its head, the matched path parameters, and the body
/// until an extractor takes it.
pub struct RequestContext {
    parts: Parts,
    params: Vec<(String, String)>,
    body: Option<RequestBody>,
    body_limit: usize,
    body_timeout: Duration,
    /// The router's state: shared, never copied into each request.
    state: Arc<Extensions>,
    /// The connection, when [`serve`](crate::serve) serves it.
    served_by: Option<ServedBy>,
    /// Values that middleware keeps alive for as long as the stream lasts.
    kept: Kept,
}

impl std::fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestContext")
            .field("parts", &self.parts)
            .field("params", &self.params)
            .field("body_taken", &self.body.is_none())
            .finish()
    }
}

impl RequestContext {
    pub(crate) fn new(
        parts: Parts,
        params: Vec<(String, String)>,
        body: RequestBody,
        limits: BodyLimits,
        state: Arc<Extensions>,
    ) -> Self {
        RequestContext {
            parts,
            params,
            body: Some(body),
            body_limit: limits.bytes,
            body_timeout: limits.timeout,
            state,
            served_by: SERVED_BY.try_with(ServedBy::clone).ok(),
            kept: Vec::new(),
        }
    }

    /// Takes the request body; `None` if an extractor already took it.
    pub fn take_body(&mut self) -> Option<RequestBody> {
        self.body.take()
    }

    /// The most bytes a body extractor reads (`Router::body_limit`, default 1 MiB).
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// How long a body extractor may take to read the body (`Router::body_timeout`, default
    /// 30 s); past it, the request answers `408`.
    pub fn body_timeout(&self) -> Duration {
        self.body_timeout
    }

    /// Keeps `value` alive until the stream ends (its response body is gone and its handler
    /// has returned), or until the request is answered without a stream. For middleware that
    /// hands out something per stream, such as
    /// [`StreamsPerClient`](crate::limits::StreamsPerClient)'s slots: the value's `Drop`
    /// gives it back. Only what middleware keeps lasts that long; an extractor's runs with
    /// the stream's start.
    pub fn keep_until_stream_ends(&mut self, value: impl Send + Sync + 'static) {
        self.kept.push(Box::new(value));
    }

    /// The router's state ([`Router::with_state`](crate::Router::with_state)).
    pub(crate) fn state(&self) -> &Extensions {
        &self.state
    }

    pub(crate) fn served_by(&self) -> Option<&ServedBy> {
        self.served_by.as_ref()
    }

    pub(crate) fn take_kept(&mut self) -> Option<Kept> {
        (!self.kept.is_empty()).then(|| std::mem::take(&mut self.kept))
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.parts.method
    }

    /// The request URI.
    pub fn uri(&self) -> &Uri {
        &self.parts.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// Request extensions: where middleware leaves values for later extractors.
    pub fn extensions(&self) -> &Extensions {
        &self.parts.extensions
    }

    /// Request extensions, mutably.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.parts.extensions
    }

    /// The token of an `Authorization: Bearer <token>` header, or `None` without one. The
    /// scheme is matched without regard to case (RFC 9110, section 11.1), so `bearer x` and
    /// `BEARER x` give `x` too; spaces around the token are dropped.
    ///
    /// ```
    /// # use tidings::{Rejection, RequestContext};
    /// # fn check(cx: &RequestContext) -> Result<(), Rejection> {
    /// let token = cx.bearer_token().ok_or_else(|| {
    ///     Rejection::new(tidings::http::StatusCode::UNAUTHORIZED).detail("sign in first")
    /// })?;
    /// # let _ = token; Ok(())
    /// # }
    /// ```
    pub fn bearer_token(&self) -> Option<&str> {
        bearer_token(self.headers())
    }

    /// The `{name}` parameters of the matched route, percent-decoded, in path order.
    pub fn path_params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The `{name}` parameter of the matched route, percent-decoded; `None` when the route
    /// has no such parameter. For middleware, which reads the request before any `Path<T>`:
    /// `cx.path_param("team")` on `/teams/{team}/events`.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(param, _)| param == name)
            .map(|(_, value)| value.as_str())
    }

    /// The address of the client: from [`serve`](crate::serve), or a
    /// [`PeerAddr`] that another server or a middleware put in the
    /// request's extensions (which wins).
    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        let extensions = &self.parts.extensions;
        extensions
            .get::<PeerAddr>()
            .map(|peer| peer.0)
            .or_else(|| self.served_by.as_ref().map(|served| served.0.peer))
    }

    /// The client's `Last-Event-ID`, or the `lastEventId` query parameter that EventSource
    /// polyfills send (what [`Emitter::last_event_id`](crate::Emitter::last_event_id) gives).
    ///
    /// Browsers send the id as UTF-8 bytes. A header that is not UTF-8 gives way to the query
    /// parameter; without one it is kept with its invalid bytes replaced: it still says the
    /// client saw something (that this server never wrote), so a hub answers `tidings.reset`
    /// rather than silently starting live.
    pub fn last_event_id(&self) -> Option<String> {
        let header = self
            .headers()
            .get("last-event-id")
            .map(|value| value.as_bytes());
        if let Some(Ok(id)) = header.map(std::str::from_utf8) {
            return Some(id.to_owned());
        }
        let from_query = self.uri().query().and_then(|query| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(key, _)| key == "lastEventId")
                .map(|(_, value)| value.into_owned())
        });
        from_query.or_else(|| header.map(|bytes| String::from_utf8_lossy(bytes).into_owned()))
    }

    /// The request head.
    pub fn parts(&self) -> &Parts {
        &self.parts
    }
}

/// What middleware keeps alive while a stream lasts.
pub(crate) use crate::stream::scope::Kept;

/// The address of a client, as [`RequestContext::peer_addr`](crate::RequestContext::peer_addr)
/// reads it: [`serve`](crate::serve) and [`serve_service`](crate::serve_service) tell it to every request; an app served another
/// way (or behind a proxy, from its forwarded header) can put this in the request's
/// extensions instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// What a body extractor may read: at most `bytes`, within `timeout`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    pub(crate) bytes: usize,
    pub(crate) timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        BodyLimits {
            bytes: 1024 * 1024,
            timeout: Duration::from_secs(30),
        }
    }
}

/// What a [`ServedBody`](crate::server::ServedBody) fails with when the client does not send the whole body within
/// [`Serve::body_timeout`](crate::Serve::body_timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimedOut(pub Duration);

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body did not arrive within {} ms",
            self.0.as_millis()
        )
    }
}

impl std::error::Error for BodyTimedOut {}

/// A value built from the request before the stream starts.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an extractor",
    label = "every handler argument but the `Emitter` must implement `tidings::FromRequest`",
    note = "use `Path<T>` or `Query<T>`, or implement `FromRequest` for `{Self}`"
)]
pub trait FromRequest: Sized + Send {
    /// The error answered when extraction fails.
    type Rejection: Into<Rejection>;

    /// Builds the value; a rejection ends the request with an HTTP error.
    fn from_request(
        cx: &mut RequestContext,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;

    /// Documents what this extractor reads and how it can fail, for
    /// [`Router::openapi`](crate::Router::openapi). The default documents nothing; an
    /// authentication extractor would add its `401`.
    fn describe(doc: &mut InputDoc, generator: &mut SchemaGenerator) {
        let _ = (doc, generator);
    }

    /// Says what this extractor needs from its router (a state, an extension), checked when
    /// the router is served: [`State<T>`](crate::State) needs a `with_state` of a `T`. The
    /// default needs nothing.
    fn needs(needs: &mut Wiring) {
        let _ = needs;
    }
}

/// The `{name}` segments of the route, deserialized, then checked against the type's
/// `#[validate]` rules: `Path<u64>` for one parameter, a tuple in path order, or a struct by
/// name (a struct needs `#[derive(Validate)]`, with or without rules). A value that does not
/// parse or breaks a rule answers `400`.
///
/// ```
/// use tidings::{event_stream, Emitter, Path};
/// # #[event_stream] enum Job { Done }
///
/// #[event_stream(path = "/jobs/{id}")]
/// async fn job(Path(id): Path<u64>, events: Emitter<Job>) -> tidings::Result<()> {
///     # let _ = id;
///     events.emit(Job::Done).await?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Validate + JsonSchema + Send> FromRequest for Path<T> {
    type Rejection = Rejection;

    fn describe(doc: &mut InputDoc, generator: &mut SchemaGenerator) {
        describe_path::<T>(doc, generator)
    }

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let value = T::deserialize(Params(&cx.params)).map_err(|error| {
            Rejection::bad_request("invalid path parameters").error(
                "path",
                "",
                "type",
                error.to_string(),
            )
        })?;
        value.validate().map_err(|violations| {
            Rejection::bad_request("invalid path parameters").violations("path", &violations)
        })?;
        Ok(Path(value))
    }
}

/// The query string, deserialized with serde and then checked against the type's
/// `#[validate]` rules. Any failure answers `400` with every problem listed.
///
/// The format is `application/x-www-form-urlencoded`, read by `serde_html_form`:
///
/// - `?n=5&name=a%20b`: numbers and strings parse from their text; `+` is a space.
/// - A missing key is `None` for an `Option` field, the default for `#[serde(default)]`, and
///   an error otherwise. An empty value (`?n=`, what an HTML form sends for an empty input)
///   counts as missing; for a required number it is an error.
/// - `?tag=a&tag=b` fills a `Vec<String>` field: repeat the key, no brackets.
/// - A unit-variant enum parses from the variant's serde name (`?order=newest`).
/// - `true`/`false` for booleans; unknown keys are ignored unless the type says
///   `#[serde(deny_unknown_fields)]`.
///
/// ```
/// use serde::Deserialize;
/// use tidings::Validate;
///
/// #[derive(Deserialize, Validate)]
/// struct Options {
///     #[validate(range(min = 10, max = 60_000))]
///     interval_ms: Option<u64>,
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Validate + JsonSchema + Send> FromRequest for Query<T> {
    type Rejection = Rejection;

    fn describe(doc: &mut InputDoc, generator: &mut SchemaGenerator) {
        describe_query::<T>(doc, generator)
    }

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let query = cx.uri().query().unwrap_or("");
        let deserializer = serde_html_form::Deserializer::from_bytes(query.as_bytes());
        let value: T = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            // The field at fault, when serde knows it (`"path":"limit"`); the top level
            // prints as ".".
            let path = error.path().to_string();
            let path = if path == "." { String::new() } else { path };
            Rejection::bad_request("invalid query string").error(
                "query",
                path,
                "type",
                error.into_inner().to_string(),
            )
        })?;
        value.validate().map_err(|violations| {
            Rejection::bad_request("invalid query string").violations("query", &violations)
        })?;
        Ok(Query(value))
    }
}

/// One typed header, parsed by the [`headers`] crate (e.g. `Header<headers::UserAgent>`).
/// A missing or malformed header answers `400`; take `Option<Header<T>>` when the header is
/// optional. With the `typed-header` feature.
#[cfg(feature = "typed-header")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<T>(pub T);

#[cfg(feature = "typed-header")]
fn decode_header<T: headers::Header>(cx: &RequestContext) -> Result<Option<T>, Rejection> {
    let mut values = cx.headers().get_all(T::name()).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    T::decode(&mut values).map(Some).map_err(|_| {
        Rejection::bad_request("invalid header").error(
            "header",
            T::name().as_str(),
            "type",
            format!("`{}` is malformed", T::name()),
        )
    })
}

#[cfg(feature = "typed-header")]
impl<T: headers::Header + Send> FromRequest for Header<T> {
    type Rejection = Rejection;

    fn describe(doc: &mut InputDoc, _generator: &mut SchemaGenerator) {
        describe_header::<T>(doc, true)
    }

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        decode_header(cx)?.map(Header).ok_or_else(|| {
            Rejection::bad_request("missing header").error(
                "header",
                T::name().as_str(),
                "required",
                format!("`{}` is required", T::name()),
            )
        })
    }
}

#[cfg(feature = "typed-header")]
impl<T: headers::Header + Send> FromRequest for Option<Header<T>> {
    type Rejection = Rejection;

    fn describe(doc: &mut InputDoc, _generator: &mut SchemaGenerator) {
        describe_header::<T>(doc, false)
    }

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        Ok(decode_header(cx)?.map(Header))
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any case).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
