//! HTTP errors sent before a stream starts, as RFC 9457 problem details.
//!
//! ```
//! use http::StatusCode;
//! use tidings::Rejection;
//!
//! let rejection = Rejection::new(StatusCode::BAD_REQUEST)
//!     .detail("the query string is invalid")
//!     .error("query", "interval_ms", "range", "must be at least 10");
//! assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
//! ```

use std::borrow::Cow;
use std::sync::Arc;

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use serde::Serialize;

use crate::stream::body::ResponseBody;
use crate::validate::Violations;

/// A refusal to start a stream: status, headers and an `application/problem+json` body.
///
/// Extractors and middleware reject with it; a spec-following `EventSource` does not retry a
/// non-200 answer. The [`ErrorHandler`](crate::ErrorHandler) turns it into the response.
///
/// The detail and the problem list of a `5xx` rejection are hidden from the client (they are
/// logged) unless [`expose`](Rejection::expose) says otherwise.
#[derive(Debug, Clone)]
pub struct Rejection {
    status: StatusCode,
    // Boxed: rejections travel in `Err`s, which should stay small on the happy path.
    headers: Box<HeaderMap>,
    problem: Box<Problem>,
    exposed: bool,
    source: Option<Arc<crate::Error>>,
}

/// The body of a rejection (RFC 9457 problem details).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Problem {
    /// A URI naming the kind of problem; `about:blank` means "see the status".
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    /// A short summary; the status's reason phrase by default.
    pub title: Cow<'static, str>,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Every problem found, not just the first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemItem>,
}

/// One problem with the request: where, which field, which rule.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ProblemItem {
    /// `path`, `query`, `header` or `body`.
    pub location: &'static str,
    /// The field, e.g. `items[2].name`; empty for the whole input.
    pub path: String,
    /// The rule: `range`, `length`, `pattern`, `custom`, `type` (wrong shape), `required`...
    pub rule: Cow<'static, str>,
    /// What is wrong, for people.
    pub message: String,
}

impl Rejection {
    /// A rejection with the status's reason phrase as title.
    pub fn new(status: StatusCode) -> Self {
        Rejection {
            status,
            headers: Box::default(),
            problem: Box::new(Problem {
                kind: Cow::Borrowed("about:blank"),
                title: Cow::Borrowed(status.canonical_reason().unwrap_or("Error")),
                status: status.as_u16(),
                detail: None,
                errors: Vec::new(),
            }),
            exposed: false,
            source: None,
        }
    }

    /// `500 Internal Server Error` caused by `error`. The client sees the error's message only
    /// when it is [`Error::public`](crate::Error::public); the log gets all of it.
    pub fn internal(error: impl Into<crate::Error>) -> Self {
        let error = error.into();
        let mut rejection = Rejection::new(StatusCode::INTERNAL_SERVER_ERROR);
        if error.is_public() {
            rejection.problem.detail = Some(error.client_message().to_owned());
            rejection.exposed = true;
        }
        rejection.source = Some(Arc::new(error));
        rejection
    }

    /// Shows the detail and problem list of a `5xx` rejection to the client.
    pub fn expose(mut self) -> Self {
        self.exposed = true;
        self
    }

    /// Whether the client sees the detail and problem list: always for `4xx`.
    pub fn is_exposed(&self) -> bool {
        self.exposed || !self.status.is_server_error()
    }

    /// The error behind a `5xx` rejection, for the log.
    pub fn source(&self) -> Option<&crate::Error> {
        self.source.as_deref()
    }

    /// The problem details, as they stand before hiding.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// `400 Bad Request` with a detail.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Rejection::new(StatusCode::BAD_REQUEST).detail(detail)
    }

    /// Sets the human-readable explanation.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.problem.detail = Some(detail.into());
        self
    }

    /// Sets the title (defaults to the status's reason phrase).
    pub fn title(mut self, title: impl Into<Cow<'static, str>>) -> Self {
        self.problem.title = title.into();
        self
    }

    /// Adds a response header, e.g. `WWW-Authenticate` or `Allow`.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Adds one problem: where (`query`, `path`, `header`, `body`), the field, the rule broken.
    pub fn error(
        mut self,
        location: &'static str,
        path: impl Into<String>,
        rule: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        self.problem.errors.push(ProblemItem {
            location,
            path: path.into(),
            rule: rule.into(),
            message: message.into(),
        });
        self
    }

    /// Adds every broken rule of a validated input found at `location`.
    pub fn violations(mut self, location: &'static str, violations: &Violations) -> Self {
        for violation in violations {
            self = self.error(
                location,
                violation.path.clone(),
                violation.rule,
                violation.message.clone(),
            );
        }
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers set so far.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The response this rejection becomes under the default [`ErrorHandler`](crate::ErrorHandler):
    /// `application/problem+json`, with the details of an unexposed `5xx` left out.
    pub fn into_response(self) -> Response<ResponseBody> {
        let exposed = self.is_exposed();
        let mut problem = self.problem;
        if !exposed {
            problem.detail = None;
            problem.errors.clear();
        }
        // Serializing a struct of strings and numbers into JSON cannot fail.
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = Response::new(ResponseBody::full(body));
        *response.status_mut() = self.status;
        *response.headers_mut() = *self.headers;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// A handler's failure: `500`, its message shown only when [public](crate::Error::public).
impl From<crate::Error> for Rejection {
    fn from(error: crate::Error) -> Self {
        Rejection::internal(error)
    }
}

impl From<std::convert::Infallible> for Rejection {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
