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

use http::request::Parts;
use http::{Extensions, HeaderMap, Method, Uri};
use serde::de::DeserializeOwned;

use crate::path_params::Params;
use crate::rejection::Rejection;
use crate::validate::Validate;

/// What extractors see of a request: its head and the matched path parameters.
#[derive(Debug)]
pub struct RequestContext {
    parts: Parts,
    params: Vec<(String, String)>,
}

impl RequestContext {
    pub(crate) fn new(parts: Parts, params: Vec<(String, String)>) -> Self {
        RequestContext { parts, params }
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

    /// The `{name}` parameters of the matched route, percent-decoded, in path order.
    pub fn path_params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The request head.
    pub fn parts(&self) -> &Parts {
        &self.parts
    }
}

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
}

/// The `{name}` segments of the route, deserialized: `Path<u64>` for one parameter, a tuple
/// in path order, or a struct by name. A value that does not parse answers `400`.
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

impl<T: DeserializeOwned + Send> FromRequest for Path<T> {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        T::deserialize(Params(&cx.params))
            .map(Path)
            .map_err(|error| {
                Rejection::bad_request("invalid path parameters").error(
                    "path",
                    "",
                    "type",
                    error.to_string(),
                )
            })
    }
}

/// The query string, deserialized with serde (`serde_html_form`: repeated keys fill a `Vec`,
/// missing `Option`s are `None`) and then checked against the type's `#[validate]` rules.
/// Any failure answers `400` with every problem listed.
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

impl<T: DeserializeOwned + Validate + Send> FromRequest for Query<T> {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let query = cx.uri().query().unwrap_or("");
        let value: T = serde_html_form::from_str(query).map_err(|error| {
            Rejection::bad_request("invalid query string").error(
                "query",
                "",
                "type",
                error.to_string(),
            )
        })?;
        value.validate().map_err(|violations| {
            Rejection::bad_request("invalid query string").violations("query", &violations)
        })?;
        Ok(Query(value))
    }
}
