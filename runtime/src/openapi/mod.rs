//! OpenAPI 3.2 documents generated from the routes, their extractors and their event sets.
//!
//! ```
//! use tidings::{event_stream, Emitter, Router};
//!
//! /// Events of the clock.
//! #[event_stream]
//! enum Clock {
//!     /// The time.
//!     Tick { unix_ms: u64 },
//! }
//!
//! /// The time, every second.
//! #[event_stream(path = "/clock")]
//! async fn clock(events: Emitter<Clock>) -> tidings::Result<()> {
//!     events.emit(Clock::Tick { unix_ms: 0 }).await?;
//!     Ok(())
//! }
//!
//! let document = Router::new().route(clock).openapi().title("Clock").version("1.0.0").to_json();
//! assert_eq!(document["openapi"], "3.2.0");
//! let stream = &document["paths"]["/clock"]["get"]["responses"]["200"]["content"]["text/event-stream"];
//! assert_eq!(stream["itemSchema"]["$ref"], "#/components/schemas/Clock");
//! ```
//!
//! Each stream's `200` response is `text/event-stream` with an `itemSchema`: a `oneOf` of one
//! object per event, discriminated by `event` (a `const`), whose `data` is a string with
//! `contentMediaType: application/json` and `contentSchema` set to the event's schema (plain
//! text for `#[event(text)]` events), plus the optional `id` and `retry`. The `error` event
//! every stream may end with is one of them. Parameters, request bodies and error answers
//! come from the extractors ([`FromRequest::describe`](crate::FromRequest::describe)); doc
//! comments become summaries and descriptions; schemas of named types are shared in
//! `components/schemas`. A stream that compresses (feature `compression`,
//! `Router::compression`) lists its encodings under its `200` response's `Content-Encoding`
//! header, with `Vary`.

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

pub use crate::http::inputs::{InputDoc, ParamLocation};

use crate::event::{END_EVENT, ERROR_EVENT};
use crate::http::router::{RouteInfo, Router};
use crate::metrics::EndReason;

// Here rather than with the router: documents read routes, routes know nothing of documents.
impl Router {
    /// An OpenAPI 3.2 document of every route; see [`openapi`](crate::openapi).
    pub fn openapi(&self) -> OpenApi {
        OpenApi::new(self.guarded_routes())
    }
}

const SCHEMAS: &str = "#/components/schemas/";

/// An OpenAPI document being configured; made by [`Router::openapi`](crate::Router::openapi).
#[derive(Debug, Clone)]
pub struct OpenApi {
    routes: Vec<RouteInfo>,
    title: String,
    version: String,
    description: Option<String>,
    servers: Vec<String>,
}

impl OpenApi {
    pub(crate) fn new(routes: Vec<RouteInfo>) -> Self {
        OpenApi {
            routes,
            title: "API".to_owned(),
            version: "0.1.0".to_owned(),
            description: None,
            servers: Vec::new(),
        }
    }

    /// The API's title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The API's version (not OpenAPI's).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// A description of the API.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a server URL, e.g. `https://api.example.com`.
    pub fn server(mut self, url: impl Into<String>) -> Self {
        self.servers.push(url.into());
        self
    }

    /// The document as JSON.
    pub fn to_json(&self) -> Value {
        let mut generator = SchemaSettings::draft2020_12()
            .with(|settings| settings.definitions_path = SCHEMAS.into())
            .into_generator();
        let mut schemas = Map::new();
        schemas.insert("tidings.Problem".to_owned(), problem_schema());
        schemas.insert(format!("tidings.{ERROR_EVENT}"), error_event_schema());
        schemas.insert(END_EVENT.to_owned(), end_event_schema());
        let mut paths = Map::new();
        let mut security_schemes = Map::new();
        for route in &self.routes {
            let operation =
                self.operation(route, &mut generator, &mut schemas, &mut security_schemes);
            let path = openapi_path(&route.path);
            let item = paths.entry(path).or_insert_with(|| json!({}));
            item[route.method.as_str().to_ascii_lowercase()] = operation;
        }
        schemas.extend(generator.take_definitions(true));
        let mut info = json!({ "title": self.title, "version": self.version });
        if let Some(description) = &self.description {
            info["description"] = json!(description);
        }
        let mut document = json!({
            "openapi": "3.2.0",
            "info": info,
            "paths": paths,
            "components": { "schemas": schemas },
        });
        if !security_schemes.is_empty() {
            document["components"]["securitySchemes"] = Value::Object(security_schemes);
        }
        if !self.servers.is_empty() {
            document["servers"] = self
                .servers
                .iter()
                .map(|url| json!({ "url": url }))
                .collect();
        }
        document
    }

    /// The document as pretty-printed JSON.
    pub fn to_string_pretty(&self) -> String {
        // A `Value` always serializes.
        serde_json::to_string_pretty(&self.to_json()).unwrap_or_default()
    }

    fn operation(
        &self,
        route: &RouteInfo,
        generator: &mut SchemaGenerator,
        schemas: &mut Map<String, Value>,
        security_schemes: &mut Map<String, Value>,
    ) -> Value {
        let mut inputs = InputDoc::new(&route.path);
        route.describe_inputs(&mut inputs, generator);
        declare_path_params(&mut inputs);
        let mut responses = Map::new();
        if let Some(events) = route.event_type() {
            if !schemas.contains_key(events) {
                let item = event_set_schema(route, generator, schemas);
                schemas.insert(events.to_owned(), item);
            }
            let mut stream = json!({
                "description": format!("A stream of `{events}` events"),
                "content": {
                    "text/event-stream": { "itemSchema": { "$ref": format!("{SCHEMAS}{events}") } }
                },
            });
            if !route.encodings().is_empty() {
                stream["headers"] = compression_headers(route.encodings());
            }
            responses.insert("200".to_owned(), stream);
            inputs.response(406, "The client does not accept `text/event-stream`");
            inputs.response(500, "The server failed before the stream started");
        }
        if let Some(reply) = route.reply(generator) {
            let mut success = json!({ "description": reply.description });
            if let Some(schema) = reply.schema {
                success["content"] = json!({ "application/json": { "schema": schema } });
            }
            responses.insert(reply.status.to_string(), success);
            for (status, description) in reply.errors {
                inputs.response(status, description);
            }
            inputs.response(500, "The server failed");
        }
        for (status, description) in &inputs.responses {
            responses.insert(
                status.to_string(),
                json!({
                    "description": description,
                    "content": {
                        "application/problem+json": {
                            "schema": { "$ref": format!("{SCHEMAS}tidings.Problem") }
                        }
                    },
                }),
            );
        }
        let mut operation = json!({ "operationId": route.name, "responses": responses });
        if let Some(docs) = route.description {
            operation["summary"] = json!(summary(docs));
            operation["description"] = json!(docs);
        }
        if !inputs.parameters.is_empty() {
            operation["parameters"] = Value::Array(inputs.parameters);
        }
        if let Some(body) = inputs.request_body {
            operation["requestBody"] = body;
        }
        if !inputs.security.is_empty() {
            // One requirement object: every scheme of the route applies at once.
            let requirement: Map<String, Value> = inputs
                .security
                .keys()
                .map(|name| (name.clone(), json!([])))
                .collect();
            operation["security"] = json!([requirement]);
            security_schemes.extend(inputs.security);
        }
        operation
    }
}

/// The first sentence of a doc comment: a summary is a line, the description the rest.
fn summary(docs: &str) -> String {
    let paragraph = docs.split("\n\n").next().unwrap_or(docs).replace('\n', " ");
    // A sentence ends at ". " before a capital, so "e.g. this" does not end one.
    let end = paragraph
        .match_indices(". ")
        .map(|(at, _)| at + 1)
        .find(|&at| paragraph[at..].trim_start().starts_with(char::is_uppercase))
        .unwrap_or(paragraph.len());
    paragraph[..end].trim().to_owned()
}

/// A `{name}` of the path that no extractor described (middleware read it, or nothing did)
/// is still a parameter of the operation: a string, as the path carries it.
fn declare_path_params(inputs: &mut InputDoc) {
    for name in inputs.path_param_names().to_vec() {
        let declared = inputs
            .parameters
            .iter()
            .any(|parameter| parameter["in"] == "path" && parameter["name"] == name.as_str());
        if !declared {
            inputs.parameter(
                ParamLocation::Path,
                &name,
                true,
                json!({ "type": "string" }),
            );
        }
    }
}

/// `{*rest}` is a matchit catch-all; OpenAPI templates know only `{rest}`.
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

/// The `oneOf` of a stream's events; each event's item lands in `schemas` as
/// `<EventSet>.<event>`.
fn event_set_schema(
    route: &RouteInfo,
    generator: &mut SchemaGenerator,
    schemas: &mut Map<String, Value>,
) -> Value {
    let events = route.event_type().unwrap_or_default();
    let mut one_of = Vec::new();
    let mut mapping = Map::new();
    for event in route.event_schemas(generator) {
        let name = format!("{events}.{}", event.name);
        let data = if event.text {
            json!({ "type": "string", "contentMediaType": "text/plain" })
        } else if event.binary.is_some() {
            // Already the string of base64 that goes out.
            event.data.to_value()
        } else {
            json!({
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": event.data.to_value(),
            })
        };
        let mut item = event_item(event.name, data);
        if let Some(description) = event.description {
            item["description"] = json!(description);
        }
        schemas.insert(name.clone(), item);
        one_of.push(json!({ "$ref": format!("{SCHEMAS}{name}") }));
        mapping.insert(event.name.to_owned(), json!(format!("{SCHEMAS}{name}")));
    }
    let error = format!("{SCHEMAS}tidings.{ERROR_EVENT}");
    one_of.push(json!({ "$ref": error }));
    mapping.insert(ERROR_EVENT.to_owned(), json!(error));
    let end = format!("{SCHEMAS}{END_EVENT}");
    one_of.push(json!({ "$ref": end }));
    mapping.insert(END_EVENT.to_owned(), json!(end));
    json!({
        "oneOf": one_of,
        "discriminator": { "propertyName": "event", "mapping": mapping },
    })
}

fn event_item(name: &str, data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": { "type": "string", "const": name },
            "data": data,
            "id": { "type": "string" },
            "retry": { "type": "integer", "minimum": 0 },
        },
    })
}

fn error_event_schema() -> Value {
    let mut item = event_item(
        ERROR_EVENT,
        json!({
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "type": "object",
                "properties": { "message": { "type": "string" } },
            },
        }),
    );
    item["description"] = json!("The handler failed; the stream ends after this event.");
    item
}

fn end_event_schema() -> Value {
    let reasons: Vec<&str> = [
        EndReason::HandlerDone,
        EndReason::Complete,
        EndReason::Error,
        EndReason::Lifetime,
        EndReason::Shutdown,
        EndReason::SlowConsumer,
    ]
    .into_iter()
    .map(EndReason::as_str)
    .collect();
    let mut item = event_item(
        END_EVENT,
        json!({
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {
                "type": "object",
                "required": ["reason", "reconnect"],
                "properties": {
                    "reason": { "enum": reasons },
                    "reconnect": { "type": "boolean" },
                },
            },
        }),
    );
    item["description"] = json!(
        "The server ended the stream (rather than the connection breaking): the last event of \
         every stream it ends. `reconnect` is false when the stream is complete: come back \
         later and nothing new would follow."
    );
    item
}

/// The headers of a stream that compresses for clients that accept one of `encodings`.
fn compression_headers(encodings: &[&'static str]) -> Value {
    json!({
        "Content-Encoding": {
            "description": format!(
                "Present when the stream is compressed: the first of {} (the server's order) \
                 among those the request's `Accept-Encoding` likes best. Absent (identity) \
                 when it accepts none of them.",
                encodings.join(", ")
            ),
            "schema": { "type": "string", "enum": encodings },
        },
        "Vary": {
            "description": "`accept-encoding`: the answer depends on it.",
            "schema": { "type": "string", "const": "accept-encoding" },
        },
    })
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status"],
        "properties": {
            "type": { "type": "string" },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "detail": { "type": "string" },
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["location", "path", "rule", "message"],
                    "properties": {
                        "location": { "enum": ["path", "query", "header", "body"] },
                        "path": { "type": "string" },
                        "rule": { "type": "string" },
                        "message": { "type": "string" },
                    },
                },
            },
        },
    })
}
