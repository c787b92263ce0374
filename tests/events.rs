//! What `#[event_stream]` generates for an enum, and `#[derive(Validate)]` for a struct:
//! names, wire data, decoding, JSON Schemas and rules. (Pure functions: no socket needed.)

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tidings::{EventSet, Validate, event_stream};

fn even(value: &u32) -> Result<(), String> {
    if value.is_multiple_of(2) {
        Ok(())
    } else {
        Err(format!("{value} is odd"))
    }
}

/// A place, with its own rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Validate)]
pub struct Place {
    #[validate(range(min = -90.0, max = 90.0))]
    lat: f64,
    #[validate(length(max = 8))]
    name: String,
}

/// Events of a job.
#[event_stream(rename_all = "camelCase")]
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// Progress in percent.
    JobProgress {
        /// Done so far.
        #[validate(range(min = 0, max = 100))]
        percent: u8,
        #[serde(
            rename = "etaSeconds",
            skip_serializing_if = "Option::is_none",
            default
        )]
        #[validate(range(max = 3600))]
        eta: Option<u32>,
    },
    /// One log line.
    #[event(text)]
    LogLine(#[validate(length(max = 20))] String),
    #[event(rename = "done")]
    Finished,
    Tags(#[validate(length(min = 1, max = 3))] Vec<String>),
    Code {
        #[validate(pattern = "^[A-Z]{3}-[0-9]+$", custom = even_len)]
        code: String,
        #[validate(custom = even)]
        count: u32,
    },
    Moved {
        #[validate(nested)]
        to: Place,
        #[validate(nested)]
        via: Vec<Place>,
    },
}

/// A custom rule takes a reference to the field's type.
#[allow(clippy::ptr_arg)]
fn even_len(code: &String) -> Result<(), &'static str> {
    if code.len().is_multiple_of(2) {
        Ok(())
    } else {
        Err("odd length")
    }
}

#[test]
fn names_follow_rename_all_and_rename() {
    assert_eq!(
        Job::NAMES,
        ["jobProgress", "logLine", "done", "tags", "code", "moved"]
    );
    assert_eq!(Job::Finished.name(), "done");
    assert_eq!(Job::LogLine("x".into()).name(), "logLine");
}

#[test]
fn data_is_the_variant_payload_with_serde_attributes() {
    let data = |event: &Job| serde_json::to_value(event).unwrap();
    assert_eq!(
        data(&Job::JobProgress {
            percent: 5,
            eta: None
        }),
        json!({ "percent": 5 })
    );
    assert_eq!(
        data(&Job::JobProgress {
            percent: 5,
            eta: Some(9)
        }),
        json!({ "percent": 5, "etaSeconds": 9 })
    );
    assert_eq!(data(&Job::Finished), json!(null));
    assert_eq!(data(&Job::Tags(vec!["a".into()])), json!(["a"]));
    assert_eq!(Job::LogLine("a\nb".into()).text(), Some("a\nb"));
    assert_eq!(Job::Finished.text(), None);
}

#[test]
fn decoding_round_trips_every_shape() {
    let events = [
        Job::JobProgress {
            percent: 5,
            eta: Some(9),
        },
        Job::JobProgress {
            percent: 5,
            eta: None,
        },
        Job::Finished,
        Job::Tags(vec!["a".into(), "b".into()]),
        Job::Code {
            code: "ABC-12".into(),
            count: 2,
        },
        Job::Moved {
            to: Place {
                lat: 1.5,
                name: "x".into(),
            },
            via: vec![],
        },
    ];
    for event in events {
        let data = serde_json::to_string(&event).unwrap();
        assert_eq!(Job::decode(event.name(), &data).unwrap(), event, "{data}");
    }
    assert_eq!(
        Job::decode("logLine", "two\nlines").unwrap(),
        Job::LogLine("two\nlines".into())
    );
    assert_eq!(Job::decode("done", "").unwrap(), Job::Finished);
    assert_eq!(
        Job::decode("nope", "null").unwrap_err().to_string(),
        "unknown event `nope`"
    );
    let error = Job::decode("jobProgress", r#"{"percent":"x"}"#).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("invalid data for event `jobProgress`: invalid type"),
        "{error}"
    );
    assert!(Job::decode("done", "1").is_err());
}

#[test]
fn every_rule_is_checked_with_its_path() {
    assert!(
        Job::JobProgress {
            percent: 100,
            eta: Some(3600)
        }
        .validate()
        .is_ok()
    );
    let paths = |event: Job| -> Vec<(String, &'static str)> {
        event
            .validate()
            .unwrap_err()
            .iter()
            .map(|v| (v.path.clone(), v.rule))
            .collect()
    };
    assert_eq!(
        paths(Job::JobProgress {
            percent: 101,
            eta: Some(3601)
        }),
        [
            ("percent".to_owned(), "range"),
            ("etaSeconds".to_owned(), "range")
        ]
    );
    assert_eq!(
        paths(Job::LogLine("x".repeat(21))),
        [(String::new(), "length")]
    );
    assert_eq!(paths(Job::Tags(vec![])), [(String::new(), "length")]);
    assert_eq!(
        paths(Job::Code {
            code: "abc".into(),
            count: 3
        }),
        [
            ("code".to_owned(), "pattern"),
            ("code".to_owned(), "custom"),
            ("count".to_owned(), "custom")
        ]
    );
    let moved = Job::Moved {
        to: Place {
            lat: 91.0,
            name: "ok".into(),
        },
        via: vec![
            Place {
                lat: 0.0,
                name: "ok".into(),
            },
            Place {
                lat: 0.0,
                name: "much too long".into(),
            },
        ],
    };
    assert_eq!(
        paths(moved.clone()),
        [
            ("to.lat".to_owned(), "range"),
            ("via[1].name".to_owned(), "length")
        ]
    );
    let message = moved.validate().unwrap_err().to_string();
    assert_eq!(
        message,
        "to.lat: must be at most 90 (range); via[1].name: must be at most 8 characters long (length)"
    );
    let count = Job::Code {
        code: "ABC-12".into(),
        count: 3,
    }
    .validate()
    .unwrap_err();
    assert_eq!(count.iter().next().unwrap().message, "3 is odd");
}

#[test]
fn schemas_carry_rules_docs_and_serde_names() {
    let mut generator = schemars::SchemaGenerator::default();
    let schemas = Job::event_schemas(&mut generator);
    let names: Vec<_> = schemas.iter().map(|s| s.name).collect();
    assert_eq!(names, Job::NAMES);
    let schema = |name: &str| {
        let found = schemas.iter().find(|s| s.name == name).unwrap();
        serde_json::to_value(&found.data).unwrap()
    };

    let progress = schema("jobProgress");
    assert_eq!(progress["description"], "Progress in percent.");
    assert_eq!(progress["type"], "object");
    assert_eq!(progress["properties"]["percent"]["minimum"], 0);
    assert_eq!(progress["properties"]["percent"]["maximum"], 100);
    assert_eq!(
        progress["properties"]["percent"]["description"],
        "Done so far."
    );
    assert_eq!(progress["properties"]["etaSeconds"]["maximum"], 3600);
    assert_eq!(progress["required"], json!(["percent"]));

    let log = schema("logLine");
    assert_eq!(log["type"], "string");
    assert_eq!(log["maxLength"], 20);
    assert!(schemas.iter().find(|s| s.name == "logLine").unwrap().text);

    assert_eq!(schema("done")["type"], "null");
    let tags = schema("tags");
    assert_eq!(
        (tags["minItems"].clone(), tags["maxItems"].clone()),
        (json!(1), json!(3))
    );
    assert_eq!(
        schema("code")["properties"]["code"]["pattern"],
        "^[A-Z]{3}-[0-9]+$"
    );

    // A nested type's own rules live in its own schema (derived by schemars from the same
    // `#[validate]` attributes).
    let place = serde_json::to_value(schemars::schema_for!(Place)).unwrap();
    assert_eq!(place["properties"]["lat"]["maximum"], 90.0);
    assert_eq!(place["properties"]["name"]["maxLength"], 8);
}

/// A type without `JsonSchema`, described by a field attribute instead.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ticket(String);

/// Stops of a trip: payload types of the app's own, optional or not.
#[event_stream]
#[derive(Debug, Clone)]
enum Trip {
    Stop {
        at: Place,
        next: Option<Place>,
        #[schemars(with = "String")]
        ticket: Ticket,
    },
    Arrived(Place),
}

#[test]
fn data_types_keep_their_schemas_optional_fields_and_shared_definitions() {
    let mut generator = schemars::SchemaGenerator::default();
    let schemas = Trip::event_schemas(&mut generator);
    let stop = serde_json::to_value(&schemas[0].data).unwrap();
    assert_eq!(stop["properties"]["at"]["$ref"], "#/$defs/Place");
    assert_eq!(
        stop["properties"]["next"],
        json!({"anyOf": [{"$ref": "#/$defs/Place"}, {"type": "null"}]})
    );
    assert_eq!(stop["properties"]["ticket"]["type"], "string");
    assert_eq!(
        stop["required"],
        json!(["at", "ticket"]),
        "an Option stays optional"
    );
    let arrived = serde_json::to_value(&schemas[1].data).unwrap();
    assert_eq!(arrived["$ref"], "#/$defs/Place");
    let definitions: Vec<_> = generator.definitions().keys().cloned().collect();
    assert_eq!(definitions, ["Place"], "one shared definition");
    let place = serde_json::to_value(&generator.definitions()["Place"]).unwrap();
    assert_eq!(place["properties"]["name"]["maxLength"], 8);
}

#[derive(Validate)]
struct Tuple(
    #[validate(range(min = 1))] u8,
    #[validate(length(min = 1))] Vec<u8>,
);

#[test]
fn derive_validate_on_tuple_structs() {
    let errors = Tuple(0, vec![]).validate().unwrap_err();
    let paths: Vec<_> = errors.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["0", "1"]);
}

#[derive(Validate)]
struct Section {
    #[validate(length(max = 5))]
    section: String,
}

#[test]
fn derive_validate_on_named_structs() {
    assert!(
        Section {
            section: "toolong".into()
        }
        .validate()
        .is_err()
    );
}

#[derive(Deserialize, JsonSchema, Validate)]
struct Signup {
    #[serde(rename = "userName")]
    #[validate(length(min = 3), pattern = "^[a-z]+$")]
    user_name: String,
    #[validate(range(min = 13))]
    age: u8,
}

#[test]
fn input_schemas_carry_every_rule() {
    let mut schema = schemars::schema_for!(Signup);
    Signup::describe_rules(&mut schema);
    let schema = serde_json::to_value(&schema).unwrap();
    let user_name = &schema["properties"]["userName"];
    assert_eq!(
        user_name["minLength"], 3,
        "schemars reads length from #[validate]"
    );
    assert_eq!(
        user_name["pattern"], "^[a-z]+$",
        "describe_rules adds the pattern"
    );
    assert_eq!(schema["properties"]["age"]["minimum"], 13);
}
