//! What a schema promises is what validation enforces. For a request body and an event whose
//! types nest other validated types (in a field, a `Vec`, an `Option`, a newtype variant),
//! every rule keyword of the OpenAPI document (`minLength`, `maxLength`, `minimum`,
//! `maximum`, `minItems`, `maxItems`) is broken in turn on a valid instance, at its place,
//! and validation must then report exactly that place. Nested types are validated by default;
//! `nested = false` opts out.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tidings::hub::Hub;
use tidings::{Emitter, EventSet, Json, Router, Validate, event_stream};

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Validate)]
struct Tag {
    #[validate(length(min = 2, max = 12))]
    name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Validate)]
struct Note {
    #[validate(length(min = 1, max = 280))]
    text: String,
    #[validate(range(min = 1, max = 5))]
    priority: u8,
    #[validate(length(max = 3))]
    tags: Vec<Tag>,
    pinned: Option<Tag>,
    author: Author,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Validate)]
struct Author {
    #[validate(length(min = 1))]
    name: String,
}

/// A note whose author is not checked here (checked elsewhere, say).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, Validate)]
struct Imported {
    #[validate(nested = false)]
    author: Author,
}

#[event_stream]
#[derive(Debug, Clone)]
enum Board {
    Note(Note),
    Imported(Imported),
}

#[event_stream(path = "/board", method = "POST")]
async fn board(Json(note): Json<Note>, events: Emitter<Board>) -> tidings::Result<()> {
    events.emit(Board::Note(note)).await?;
    Ok(())
}

fn valid_note() -> Value {
    json!({
        "text": "hello",
        "priority": 3,
        "tags": [{ "name": "ops" }, { "name": "dev" }],
        "pinned": { "name": "top" },
        "author": { "name": "ann" },
    })
}

/// Follows `$ref`s into the document's components.
fn resolve<'a>(schema: &'a Value, document: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolve(&document["components"]["schemas"][name], document)
        }
        None => schema,
    }
}

/// Every way to break one rule keyword of `schema` in `instance`: the field path (as
/// problem details write it) and the broken instance.
fn breakages(
    schema: &Value,
    document: &Value,
    instance: &Value,
    path: &str,
) -> Vec<(String, Value)> {
    let schema = resolve(schema, document);
    let mut found = Vec::new();
    // `Option<T>`: an `anyOf` of T and null, or a `type` list.
    for key in ["anyOf", "oneOf"] {
        for option in schema[key].as_array().into_iter().flatten() {
            if !instance.is_null() && resolve(option, document)["type"] != "null" {
                found.extend(breakages(option, document, instance, path));
            }
        }
    }
    let broken = |value: Value| (path.to_owned(), value);
    if let (Some(min), Some(text)) = (schema["minLength"].as_u64(), instance.as_str()) {
        found.push(broken(json!(
            text.chars().take(min as usize - 1).collect::<String>()
        )));
    }
    if let (Some(max), Some(text)) = (schema["maxLength"].as_u64(), instance.as_str()) {
        found.push(broken(json!("x".repeat(max as usize + 1) + text)));
    }
    let number = |value: f64| match schema["type"].as_str() {
        Some("integer") => json!(value as i64),
        _ => json!(value),
    };
    if let (Some(min), Some(_)) = (schema["minimum"].as_f64(), instance.as_f64()) {
        found.push(broken(number(min - 1.0)));
    }
    if let (Some(max), Some(_)) = (schema["maximum"].as_f64(), instance.as_f64()) {
        found.push(broken(number(max + 1.0)));
    }
    if let Some(items) = instance.as_array() {
        if let Some(min) = schema["minItems"].as_u64() {
            found.push(broken(json!(items[..min as usize - 1])));
        }
        if let Some(max) = schema["maxItems"].as_u64() {
            let more: Vec<Value> = items
                .iter()
                .cycle()
                .take(max as usize + 1)
                .cloned()
                .collect();
            found.push(broken(json!(more)));
        }
        for (index, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{index}]");
            for (at, value) in breakages(&schema["items"], document, item, &item_path) {
                let mut items = items.clone();
                items[index] = value;
                found.push((at, json!(items)));
            }
        }
    }
    if let Some(fields) = instance.as_object() {
        for (name, value) in fields {
            let Some(property) = schema["properties"].get(name) else {
                continue;
            };
            let field_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            for (at, broken_value) in breakages(property, document, value, &field_path) {
                let mut fields = fields.clone();
                fields.insert(name.clone(), broken_value);
                found.push((at, Value::Object(fields)));
            }
        }
    }
    found
}

#[test]
fn every_rule_of_the_request_body_schema_is_enforced() {
    let document = Router::new().route(board).openapi().to_json();
    let body = &document["paths"]["/board"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let valid = valid_note();
    let note: Note = serde_json::from_value(valid.clone()).unwrap();
    note.validate().expect("the valid instance is valid");

    let broken = breakages(body, &document, &valid, "");
    // 2 on text, 2 on priority, 1 on tags, 2 on each tag's name (2 tags), 2 on pinned's name
    // (an `Option`), 1 on author's name: each rule the schema shows, through every nesting.
    assert_eq!(broken.len(), 12, "{broken:#?}");
    for (path, instance) in broken {
        let note: Note = serde_json::from_value(instance.clone())
            .unwrap_or_else(|error| panic!("{instance} does not deserialize: {error}"));
        let violations = note
            .validate()
            .expect_err(&format!("breaking `{path}` must be reported: {instance}"));
        let paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
        assert!(
            paths
                .iter()
                .any(|reported| reported.starts_with(path.as_str())),
            "breaking `{path}` reported at {paths:?}"
        );
    }
}

#[test]
fn every_rule_of_an_event_schema_is_enforced_on_publish() {
    let document = Router::new().route(board).openapi().to_json();
    let note_event =
        &document["components"]["schemas"]["Board.note"]["properties"]["data"]["contentSchema"];
    assert!(note_event.is_object(), "{document:#}");
    let broken = breakages(note_event, &document, &valid_note(), "");
    assert_eq!(broken.len(), 12);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let hub: Hub<Board> = Hub::new();
    for (path, instance) in broken {
        let note: Note = serde_json::from_value(instance).unwrap();
        let published = runtime.block_on(hub.publish(Board::Note(note)));
        assert!(
            published.is_err(),
            "a `note` event breaking `{path}` was published"
        );
    }
    assert_eq!(hub.stats().published, 0);
}

#[test]
fn nested_types_are_validated_by_default_and_nested_false_opts_out() {
    let mut note: Note = serde_json::from_value(valid_note()).unwrap();
    note.author.name.clear();
    let violations = Board::Note(note).validate().unwrap_err();
    let paths: Vec<&str> = violations.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["author.name"]);

    let imported = Imported {
        author: Author {
            name: String::new(),
        },
    };
    assert!(
        Board::Imported(imported).validate().is_ok(),
        "`nested = false` skips the author"
    );
    // The event set knows both events.
    assert_eq!(Board::NAMES, ["note", "imported"]);
}
