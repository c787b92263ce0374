//! `Json<T>`: a JSON request body, for streams answered to a `POST` (the way LLM-style APIs
//! stream a response to a posted prompt).
//!
//! ```
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use tidings::{event_stream, Emitter, Json, Validate};
//!
//! #[derive(Deserialize, JsonSchema, Validate)]
//! struct Prompt {
//!     #[validate(length(min = 1, max = 4000))]
//!     text: String,
//! }
//!
//! #[event_stream]
//! enum Answer {
//!     #[event(text)]
//!     Token(String),
//! }
//!
//! #[event_stream(path = "/complete", method = "POST")]
//! async fn complete(Json(prompt): Json<Prompt>, events: Emitter<Answer>) -> tidings::Result<()> {
//!     for word in prompt.text.split(' ') {
//!         events.emit(Answer::Token(word.to_owned())).await?;
//!     }
//!     Ok(())
//! }
//! ```

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use schemars::{JsonSchema, SchemaGenerator};

use crate::boxed::BoxError;
use crate::http::extract::{BodyLimits, BodyTimedOut, FromRequest, RequestBody, RequestContext};
use crate::http::inputs::InputDoc;
use crate::http::inputs::describe_json;
use crate::http::rejection::Rejection;
use crate::validate::Validate;

/// The request body as JSON, deserialized and then checked against the type's `#[validate]`
/// rules.
///
/// Answers `415` unless the `content-type` is `application/json` (or `+json`), `413` past the
/// body limit (`Router::body_limit`, default 1 MiB), `408` when the whole body has not arrived
/// within `Router::body_timeout` (default 30 s), and `400` for malformed JSON, a wrong
/// shape (with the path of the offending field) or broken rules (every one listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T: DeserializeOwned + Validate + JsonSchema + Send> FromRequest for Json<T> {
    type Rejection = Rejection;

    fn describe(doc: &mut InputDoc, generator: &mut SchemaGenerator) {
        describe_json::<T>(doc, generator)
    }

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let limits = BodyLimits {
            bytes: cx.body_limit(),
            timeout: cx.body_timeout(),
        };
        let headers = cx.headers().clone();
        let body = cx.take_body().ok_or_else(|| {
            Rejection::internal(crate::Error::msg(
                "the request body was already taken by another extractor",
            ))
        })?;
        read_json(&headers, body, limits).await.map(Json)
    }
}

/// Reads, parses and validates a JSON body: what [`Json`] does on any route.
pub(crate) async fn read_json<T: DeserializeOwned + Validate>(
    headers: &HeaderMap,
    body: RequestBody,
    limits: BodyLimits,
) -> Result<T, Rejection> {
    if !is_json(headers) {
        return Err(Rejection::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .detail("the request body must be `content-type: application/json`"));
    }
    let BodyLimits {
        bytes: limit,
        timeout,
    } = limits;
    let bytes = tokio::time::timeout(timeout, read_limited(body, limit))
        .await
        .map_err(|_| {
            Rejection::new(StatusCode::REQUEST_TIMEOUT).detail(format!(
                "the request body did not arrive within {} ms",
                timeout.as_millis()
            ))
        })??;
    let shape_error = |path: String, error: serde_json::Error| {
        Rejection::bad_request("invalid JSON body").error("body", path, "type", error.to_string())
    };
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        // The path of the body itself prints as ".".
        let path = if path == "." { String::new() } else { path };
        shape_error(path, error.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|error| shape_error(String::new(), error))?;
    value.validate().map_err(|violations| {
        Rejection::bad_request("invalid JSON body").violations("body", &violations)
    })?;
    Ok(value)
}

/// Reads a whole body, refusing with `413` as soon as it passes `limit` bytes.
async fn read_limited(mut body: RequestBody, limit: usize) -> Result<Bytes, Rejection> {
    let too_large = || {
        Rejection::new(StatusCode::PAYLOAD_TOO_LARGE)
            .detail(format!("the request body is larger than {limit} bytes"))
    };
    if http_body::Body::size_hint(&body).lower() > limit as u64 {
        return Err(too_large());
    }
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            // The server's own bounds (`Serve::body_timeout`, `Serve::max_body_bytes`) end a
            // body with these; they keep their status here.
            let error: BoxError = error;
            if let Some(timed_out) = error.downcast_ref::<BodyTimedOut>() {
                return Rejection::new(StatusCode::REQUEST_TIMEOUT).detail(timed_out.to_string());
            }
            if error.is::<http_body_util::LengthLimitError>() {
                return Rejection::new(StatusCode::PAYLOAD_TOO_LARGE)
                    .detail("the request body is larger than the server takes");
            }
            Rejection::bad_request("the request body could not be read").error(
                "body",
                "",
                "read",
                error.to_string(),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes.freeze())
}
