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

use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use serde::Serialize;

use crate::body::ResponseBody;
use crate::validate::Violations;

/// A refusal to start a stream: status, headers and an `application/problem+json` body.
///
/// Extractors reject with it; a spec-following `EventSource` does not retry a non-200 answer.
#[derive(Debug, Clone)]
pub struct Rejection {
    status: StatusCode,
    headers: HeaderMap,
    problem: Problem,
}

/// The body of a rejection (RFC 9457).
#[derive(Debug, Clone, Serialize)]
struct Problem {
    #[serde(rename = "type")]
    kind: Cow<'static, str>,
    title: Cow<'static, str>,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ProblemItem>,
}

/// One problem with the request: where, which field, which rule.
#[derive(Debug, Clone, Serialize)]
struct ProblemItem {
    location: &'static str,
    path: String,
    rule: Cow<'static, str>,
    message: String,
}

impl Rejection {
    /// A rejection with the status's reason phrase as title.
    pub fn new(status: StatusCode) -> Self {
        Rejection {
            status,
            headers: HeaderMap::new(),
            problem: Problem {
                kind: Cow::Borrowed("about:blank"),
                title: Cow::Borrowed(status.canonical_reason().unwrap_or("Error")),
                status: status.as_u16(),
                detail: None,
                errors: Vec::new(),
            },
        }
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

    /// The response this rejection becomes.
    pub fn into_response(self) -> Response<ResponseBody> {
        // Serializing a struct of strings and numbers into JSON cannot fail.
        let body = serde_json::to_vec(&self.problem).unwrap_or_default();
        let mut response = Response::new(ResponseBody::full(body));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<std::convert::Infallible> for Rejection {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
