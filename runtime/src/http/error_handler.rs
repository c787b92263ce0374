//! The error policy: how failures become what the client sees.
//!
//! Before the stream starts, a [`Rejection`] becomes an HTTP response; after it started, a
//! handler error becomes the data of one `error` event. The default, [`ProblemDetails`],
//! answers `application/problem+json` and sends `{"message": ...}`. Replace it with
//! [`Router::error_handler`](crate::Router::error_handler) to use your own body format. The
//! log does not depend on the policy: every `5xx` rejection and every handler error is logged
//! with tracing (method, path, status, error chain).
//!
//! ```
//! use http::Response;
//! use tidings::{ErrorHandler, Rejection, RequestInfo, ResponseBody, Router};
//!
//! /// Answers `{"error": "<title>"}` with the rejection's status.
//! struct Plain;
//!
//! impl ErrorHandler for Plain {
//!     fn rejection(&self, rejection: Rejection, _request: &RequestInfo) -> Response<ResponseBody> {
//!         let body = serde_json::json!({ "error": rejection.problem().title });
//!         let mut response = Response::new(ResponseBody::from(body.to_string()));
//!         *response.status_mut() = rejection.status();
//!         response
//!     }
//! }
//!
//! let app = Router::new().error_handler(Plain);
//! ```

use http::Response;

use crate::error::Error;
use crate::http::rejection::Rejection;
use crate::stream::body::ResponseBody;

pub use crate::stream::scope::RequestInfo;

/// Turns failures into responses and `error` events. See the [module docs](self).
pub trait ErrorHandler: Send + Sync + 'static {
    /// The response for a request refused before its stream started.
    fn rejection(&self, rejection: Rejection, request: &RequestInfo) -> Response<ResponseBody> {
        let _ = request;
        rejection.into_response()
    }

    /// The data of the `error` event that ends a stream whose handler failed or panicked.
    fn stream_error(&self, error: &Error, request: &RequestInfo) -> serde_json::Value {
        let _ = request;
        serde_json::json!({ "message": error.client_message() })
    }
}

/// The default policy: RFC 9457 problem details, and `{"message": ...}` error events.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProblemDetails;

impl ErrorHandler for ProblemDetails {}

/// Logs a rejection: `5xx` as errors with their cause, the rest at debug level.
pub(crate) fn log_rejection(rejection: &Rejection, request: &RequestInfo) {
    let status = rejection.status().as_u16();
    if rejection.status().is_server_error() {
        match rejection.source() {
            Some(error) => tracing::error!(
                method = %request.method, path = %request.path, status, error = %error,
                "request failed"
            ),
            None => tracing::error!(
                method = %request.method, path = %request.path, status,
                detail = ?rejection.problem().detail, "request failed"
            ),
        }
    } else {
        tracing::debug!(method = %request.method, path = %request.path, status, "request refused");
    }
}
