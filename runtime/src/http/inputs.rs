//! What extractors say about themselves for the documentation.

use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::validate::Validate;

/// Where a parameter is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    /// A `{name}` segment of the path.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
}

impl ParamLocation {
    fn as_str(self) -> &'static str {
        match self {
            ParamLocation::Path => "path",
            ParamLocation::Query => "query",
            ParamLocation::Header => "header",
        }
    }
}

/// The inputs of one route, as its extractors describe them
/// ([`FromRequest::describe`](crate::FromRequest::describe)).
#[derive(Debug, Clone, Default)]
pub struct InputDoc {
    path_params: Vec<String>,
    pub(crate) parameters: Vec<Value>,
    pub(crate) request_body: Option<Value>,
    pub(crate) responses: BTreeMap<u16, String>,
    /// Security schemes the route requires, by name.
    pub(crate) security: BTreeMap<String, Value>,
}

impl InputDoc {
    pub(crate) fn new(path: &str) -> Self {
        let path_params = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}'))
            .map(|(name, _)| name.trim_start_matches('*').to_owned())
            .collect();
        InputDoc {
            path_params,
            ..InputDoc::default()
        }
    }

    /// The names of the route's `{name}` parameters, in path order.
    pub fn path_param_names(&self) -> &[String] {
        &self.path_params
    }

    /// Documents one parameter.
    pub fn parameter(
        &mut self,
        location: ParamLocation,
        name: &str,
        required: bool,
        schema: Value,
    ) {
        let mut parameter = json!({
            "name": name,
            "in": location.as_str(),
            "required": required || location == ParamLocation::Path,
            "schema": schema,
        });
        if let Some(description) = parameter["schema"].get("description").cloned() {
            parameter["description"] = description;
        }
        let is_array = parameter["schema"].get("type") == Some(&json!("array"));
        if location == ParamLocation::Query && is_array {
            // `?tag=a&tag=b`, as `Query` parses it.
            parameter["style"] = json!("form");
            parameter["explode"] = json!(true);
        }
        self.parameters.push(parameter);
    }

    /// Documents the request body.
    pub fn request_body(&mut self, content_type: &str, schema: Value, required: bool) {
        self.request_body = Some(json!({
            "required": required,
            "content": { content_type: { "schema": schema } },
        }));
    }

    /// Documents that the route requires the security scheme `name`, an OpenAPI Security
    /// Scheme Object such as `{"type": "http", "scheme": "bearer"}`; the document lists it in
    /// `components.securitySchemes`, and clients send credentials for it.
    pub fn security(&mut self, name: &str, scheme: Value) {
        self.security.insert(name.to_owned(), scheme);
    }

    /// Documents `Authorization: Bearer <token>` as required (the security scheme `bearer`),
    /// and the `401` that answers a missing or wrong token.
    pub fn bearer_auth(&mut self) {
        self.security("bearer", json!({ "type": "http", "scheme": "bearer" }));
        self.response(401, "The bearer token is missing or not valid");
    }

    /// Documents an error answer the route may give, e.g. `401` for an authentication
    /// extractor.
    pub fn response(&mut self, status: u16, description: impl Into<String>) {
        self.responses
            .entry(status)
            .or_insert_with(|| description.into());
    }
}

/// The schema of `T` itself (not a `$ref`), with the rules schemars does not read.
fn inline_schema<T: JsonSchema + Validate>(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = T::json_schema(generator);
    T::describe_rules(&mut schema);
    schema
}

fn properties(schema: &Schema) -> (Map<String, Value>, Vec<String>) {
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (properties, required)
}

const INVALID: &str = "Invalid input: every problem is listed (problem+json)";

/// Describes the parameters of a `Path<T>`.
pub(crate) fn describe_path<T: JsonSchema + Validate>(
    doc: &mut InputDoc,
    generator: &mut SchemaGenerator,
) {
    let schema = inline_schema::<T>(generator);
    let names = doc.path_params.clone();
    if schema.get("properties").is_some() {
        let (properties, _) = properties(&schema);
        for (name, property) in properties {
            doc.parameter(ParamLocation::Path, &name, true, property);
        }
    } else if let Some(items) = schema.get("prefixItems").and_then(Value::as_array).cloned() {
        for (name, item) in names.iter().zip(items) {
            doc.parameter(ParamLocation::Path, name, true, item);
        }
    } else {
        for name in &names {
            doc.parameter(ParamLocation::Path, name, true, schema.clone().to_value());
        }
    }
    doc.response(400, INVALID);
}

pub(crate) fn describe_query<T: JsonSchema + Validate>(
    doc: &mut InputDoc,
    generator: &mut SchemaGenerator,
) {
    let schema = inline_schema::<T>(generator);
    let (properties, required) = properties(&schema);
    for (name, property) in properties {
        let is_required = required.contains(&name);
        doc.parameter(ParamLocation::Query, &name, is_required, property);
    }
    doc.response(400, INVALID);
}

pub(crate) fn describe_json<T: JsonSchema + Validate>(
    doc: &mut InputDoc,
    generator: &mut SchemaGenerator,
) {
    let schema = inline_schema::<T>(generator).to_value();
    doc.request_body("application/json", schema, true);
    doc.response(400, INVALID);
    doc.response(413, "The request body is too large");
    doc.response(415, "The request body is not JSON");
}

#[cfg(feature = "typed-header")]
pub(crate) fn describe_header<T: headers::Header>(doc: &mut InputDoc, required: bool) {
    doc.parameter(
        ParamLocation::Header,
        T::name().as_str(),
        required,
        json!({ "type": "string" }),
    );
    doc.response(400, INVALID);
}
