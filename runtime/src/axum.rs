//! axum integration (cargo feature `axum`): plain axum routes next to tidings' streams, with
//! the same input handling.
//!
//! - [`Json<T>`](crate::Json) is an axum extractor: `content-type` checked, the body limited
//!   (1 MiB, 30 s), parsed with the path of a field of the wrong shape, then validated against
//!   `#[validate]` rules; a refusal is tidings' problem+json with every broken rule.
//! - [`Rejection`] is an axum response, so handlers can return `Result<_, Rejection>`.
//! - [`Json<T>`](crate::Json), [`Created<T>`](crate::reply::Created) and
//!   [`NoContent`] are axum responses.
//!
//! ```
//! use axum::routing::post;
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use tidings::reply::Created;
//! use tidings::{Json, Rejection, Validate};
//!
//! #[derive(Deserialize, JsonSchema, Validate)]
//! struct NewNote {
//!     #[validate(length(min = 1))]
//!     text: String,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Note { text: String }
//!
//! async fn post_note(Json(note): Json<NewNote>) -> Result<Created<Note>, Rejection> {
//!     Ok(Created(Note { text: note.text }))
//! }
//!
//! let app: axum::Router = axum::Router::new().route("/notes", post(post_note));
//! ```
//!
//! To have such a route in the OpenAPI document and the TypeScript client too, write it as a
//! `#[json_route]` of the tidings router instead (see [`reply`](crate::reply)): it then also
//! runs the router's middleware, such as authentication.

use axum_core::body::Body;
use axum_core::extract::{FromRequest, Request};
use axum_core::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::extract::BodyLimits;
use crate::http::json::{Json, read_json};
use crate::http::rejection::Rejection;
use crate::http::reply::{Created, NoContent, Reply};
use crate::stream::body::ResponseBody;
use crate::validate::Validate;

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        Rejection::into_response(self).map(Body::new)
    }
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate + Send,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Rejection> {
        let (parts, body) = request.into_parts();
        let body = body.map_err(Into::into).boxed_unsync();
        read_json(&parts.headers, body, BodyLimits::default())
            .await
            .map(Json)
    }
}

/// Answers the way a JSON route would; a body that does not serialize is a `500`.
fn respond(reply: Result<http::Response<ResponseBody>, Rejection>) -> Response {
    match reply {
        Ok(response) => response.map(Body::new),
        Err(rejection) => IntoResponse::into_response(rejection),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        respond(crate::http::reply::json_response(
            http::StatusCode::OK,
            &self.0,
        ))
    }
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        respond(crate::http::reply::json_response(
            http::StatusCode::CREATED,
            &self.0,
        ))
    }
}

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        respond(Reply::into_response(self))
    }
}

/// A tower layer that gives the empty error answers of an axum app (its `404`, its `405`
/// with `Allow`, a `413` from a body limit...) the problem+json body tidings' routes answer
/// with, so that a client reads every refusal the same way. Answers with a body of their own
/// are left alone.
///
/// ```
/// let app: axum::Router = axum::Router::new()
///     .route("/notes", axum::routing::post(|| async { "posted" }))
///     .layer(tidings::axum::ProblemDetailsLayer);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemDetailsLayer;

impl<S> tower_layer::Layer<S> for ProblemDetailsLayer {
    type Service = ProblemDetailsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ProblemDetailsService { inner }
    }
}

/// The service of [`ProblemDetailsLayer`].
#[derive(Debug, Clone)]
pub struct ProblemDetailsService<S> {
    inner: S,
}

impl<S, R, B> tower_service::Service<R> for ProblemDetailsService<S>
where
    S: tower_service::Service<R, Response = http::Response<B>>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures_util::future::Map<
        S::Future,
        fn(Result<http::Response<B>, S::Error>) -> Result<Response, S::Error>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        use futures_util::FutureExt as _;
        self.inner
            .call(request)
            .map(|answer| answer.map(with_problem))
    }
}

/// The answer, with a problem+json body if it is an empty error.
fn with_problem<B>(response: http::Response<B>) -> Response
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    let status = response.status();
    let empty = http_body::Body::size_hint(response.body()).exact() == Some(0);
    let typed = response.headers().contains_key(http::header::CONTENT_TYPE);
    if !(status.is_client_error() || status.is_server_error()) || !empty || typed {
        return response.map(Body::new);
    }
    let (parts, _) = response.into_parts();
    let mut rejection = Rejection::new(status);
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_LENGTH {
            rejection = rejection.header(name.clone(), value.clone());
        }
    }
    IntoResponse::into_response(rejection)
}
