//! What a JSON route answers: a [`Reply`], such as [`Json<T>`](crate::Json) (`200`),
//! [`Created<T>`] (`201`), [`NoContent`] (`204`), or a `Result` of one whose error becomes a
//! problem+json answer.
//!
//! ```
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use tidings::reply::Created;
//! use tidings::{json_route, Json, Path, Rejection, Validate};
//!
//! #[derive(Deserialize, JsonSchema, Validate)]
//! struct NewNote {
//!     #[validate(length(min = 1, max = 500))]
//!     text: String,
//! }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Note { id: u64, text: String }
//!
//! /// Posts a note to a team.
//! #[json_route(path = "/teams/{team}/notes", method = "POST")]
//! async fn post_note(
//!     Path(team): Path<String>,
//!     Json(note): Json<NewNote>,
//! ) -> Result<Created<Note>, Rejection> {
//!     if team == "closed" {
//!         return Err(Rejection::new(http::StatusCode::FORBIDDEN).detail("this team is closed"));
//!     }
//!     Ok(Created(Note { id: 1, text: note.text }))
//! }
//! ```
//!
//! The reply type is documented too: its status and schema enter the OpenAPI document and the
//! typed TypeScript client next to the streams.

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use schemars::{JsonSchema, SchemaGenerator};
use serde::Serialize;
use serde_json::Value;

use crate::http::json::Json;
use crate::http::rejection::Rejection;
use crate::stream::body::ResponseBody;

/// What a `#[json_route]` handler returns: turned into the response, and described for the
/// documentation.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reply of a JSON route",
    label = "a `#[json_route]` handler returns a `tidings::reply::Reply`",
    note = "return `Json<T>` (200), `Created<T>` (201), `NoContent` (204), or a `Result` of one \
            with a `Rejection` or `tidings::Error` as its error"
)]
pub trait Reply: Send + 'static {
    /// The response; a failure (e.g. a `Result`'s error) is answered by the router's
    /// [`ErrorHandler`](crate::ErrorHandler), like an extractor's rejection.
    fn into_response(self) -> Result<Response<ResponseBody>, Rejection>;

    /// Documents the success answer (and the errors this type can give).
    fn describe(doc: &mut ReplyDoc, generator: &mut SchemaGenerator);
}

/// The answer of a JSON route, as its [`Reply`] type describes it.
#[derive(Debug, Clone)]
pub struct ReplyDoc {
    pub(crate) status: u16,
    pub(crate) description: String,
    pub(crate) schema: Option<Value>,
    pub(crate) errors: Vec<(u16, String)>,
}

impl Default for ReplyDoc {
    fn default() -> Self {
        ReplyDoc {
            status: 200,
            description: "OK".to_owned(),
            schema: None,
            errors: Vec::new(),
        }
    }
}

impl ReplyDoc {
    /// The success status and what it means.
    pub fn success(&mut self, status: StatusCode, description: impl Into<String>) {
        self.status = status.as_u16();
        self.description = description.into();
    }

    /// The JSON Schema of the success body (`application/json`).
    pub fn json_schema(&mut self, schema: Value) {
        self.schema = Some(schema);
    }

    /// An error answer (problem+json) the reply may give.
    pub fn error(&mut self, status: u16, description: impl Into<String>) {
        if !self.errors.iter().any(|(seen, _)| *seen == status) {
            self.errors.push((status, description.into()));
        }
    }
}

/// `201 Created` with a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Created<T>(pub T);

/// `204 No Content`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoContent;

pub(crate) fn json_response<T: Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<Response<ResponseBody>, Rejection> {
    let body = serde_json::to_vec(value).map_err(|error| {
        Rejection::internal(crate::Error::msg(format!(
            "the reply did not serialize: {error}"
        )))
    })?;
    let mut response = Response::new(ResponseBody::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

fn describe_json<T: JsonSchema>(
    doc: &mut ReplyDoc,
    generator: &mut SchemaGenerator,
    status: StatusCode,
    description: &str,
) {
    doc.success(status, description);
    doc.json_schema(generator.subschema_for::<T>().to_value());
}

impl<T: Serialize + JsonSchema + Send + 'static> Reply for Json<T> {
    fn into_response(self) -> Result<Response<ResponseBody>, Rejection> {
        json_response(StatusCode::OK, &self.0)
    }

    fn describe(doc: &mut ReplyDoc, generator: &mut SchemaGenerator) {
        describe_json::<T>(doc, generator, StatusCode::OK, "OK");
    }
}

impl<T: Serialize + JsonSchema + Send + 'static> Reply for Created<T> {
    fn into_response(self) -> Result<Response<ResponseBody>, Rejection> {
        json_response(StatusCode::CREATED, &self.0)
    }

    fn describe(doc: &mut ReplyDoc, generator: &mut SchemaGenerator) {
        describe_json::<T>(doc, generator, StatusCode::CREATED, "Created");
    }
}

impl Reply for NoContent {
    fn into_response(self) -> Result<Response<ResponseBody>, Rejection> {
        let mut response = Response::new(ResponseBody::default());
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }

    fn describe(doc: &mut ReplyDoc, _: &mut SchemaGenerator) {
        doc.success(StatusCode::NO_CONTENT, "No Content");
    }
}

impl<R: Reply, E: Into<Rejection> + Send + 'static> Reply for Result<R, E> {
    fn into_response(self) -> Result<Response<ResponseBody>, Rejection> {
        self.map_err(Into::into)?.into_response()
    }

    fn describe(doc: &mut ReplyDoc, generator: &mut SchemaGenerator) {
        R::describe(doc, generator);
        doc.error(500, "The server failed");
    }
}
