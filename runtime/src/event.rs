//! The event set of a stream: what `#[event_stream]` generates for an enum.
//!
//! ```
//! use tidings::{event_stream, EventSet, Validate};
//!
//! /// Events of a long-running job.
//! #[event_stream]
//! #[derive(Debug, PartialEq)]
//! enum Job {
//!     /// Progress in percent.
//!     Progress {
//!         #[validate(range(max = 100))]
//!         percent: u8,
//!     },
//!     /// One log line, sent as plain text.
//!     #[event(text)]
//!     Log(String),
//!     #[event(rename = "done")]
//!     Finished,
//! }
//!
//! assert_eq!(Job::NAMES, ["progress", "log", "done"]);
//! assert_eq!(Job::Progress { percent: 4 }.name(), "progress");
//! assert_eq!(serde_json::to_string(&Job::Progress { percent: 4 }).unwrap(), r#"{"percent":4}"#);
//! assert_eq!(Job::decode("done", "null").unwrap(), Job::Finished);
//! assert!(Job::Progress { percent: 101 }.validate().is_err());
//! ```
//!
//! Wire shape: a unit variant's data is `null`, a newtype variant's is its value, a struct
//! variant's is an object of its fields. The enum's `Serialize` impl produces exactly that data
//! (the macro derives it with `#[serde(untagged)]`), so field attributes of serde and schemars
//! (`rename`, `skip_serializing_if`, `with`, descriptions) keep their usual meaning.
//! `#[event(text)]` on a newtype variant of a string type sends the text as is, one `data:`
//! line per line, instead of as a JSON string.

use std::borrow::Cow;
use std::fmt;

use schemars::{Schema, SchemaGenerator};
use serde::Serialize;

use crate::validate::Validate;

/// The name of the event that ends a failed stream; no event set may use it.
pub const ERROR_EVENT: &str = "error";

/// The event a subscriber gets when its `Last-Event-ID` cannot be resumed from.
pub const RESET_EVENT: &str = "tidings.reset";

/// The name of the last event of every stream that the server ends (rather than the
/// connection breaking): `{"reason": ..., "reconnect": true|false}`, with a reason of
/// [`EndReason`](crate::metrics::EndReason) (`handler_done`, `complete`, `error`, `lifetime`,
/// `shutdown`, `slow_consumer`). `reconnect` is false only after
/// [`Emitter::complete`](crate::Emitter::complete). Names starting with `tidings.` are tidings'
/// own: no event set may use them.
pub const END_EVENT: &str = "tidings.end";

/// The events of one stream. Implemented by `#[event_stream]` on an enum; not by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event set",
    label = "`Emitter<{Self}>` needs an enum marked `#[event_stream]`",
    note = "add `#[tidings::event_stream]` to the enum `{Self}`"
)]
pub trait EventSet: Serialize + Validate + Sized + Send + 'static {
    /// The enum's name, e.g. for the schema of the whole set.
    const TYPE_NAME: &'static str;

    /// Every event name, in declaration order.
    const NAMES: &'static [&'static str];

    /// The event name of this value, as written after `event:`.
    fn name(&self) -> &'static str;

    /// `Some` for variants marked `#[event(text)]`: the data is sent as plain text lines.
    fn text(&self) -> Option<&str> {
        None
    }

    /// `Some` for variants marked `#[event(base64)]`: the bytes are sent as base64 on one
    /// `data:` line.
    fn binary(&self) -> Option<(&[u8], crate::binary::Alphabet)> {
        None
    }

    /// Decodes a received event back into the enum. `data` is the event's data with its
    /// lines joined by `\n`, as an SSE parser dispatches it.
    fn decode(name: &str, data: &str) -> Result<Self, DecodeError>;

    /// The JSON Schema of each event's data, in declaration order.
    fn event_schemas(generator: &mut SchemaGenerator) -> Vec<EventSchema>;
}

/// The schema of one event, for documentation and client generation.
#[derive(Debug, Clone)]
pub struct EventSchema {
    /// The event name.
    pub name: &'static str,
    /// The variant's doc comment, if any.
    pub description: Option<&'static str>,
    /// Whether the data is plain text (`#[event(text)]`) rather than JSON.
    pub text: bool,
    /// The alphabet of a base64 payload (`#[event(base64)]`), rather than JSON.
    pub binary: Option<crate::binary::Alphabet>,
    /// The JSON Schema of the data.
    pub data: Schema,
}

/// Why a received event could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    /// The event name is not one of the set's.
    UnknownEvent(String),
    /// The data is not valid for the event.
    Data {
        /// The event name.
        event: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },
}

impl DecodeError {
    #[doc(hidden)]
    pub fn unknown(name: &str) -> Self {
        DecodeError::UnknownEvent(name.to_owned())
    }

    #[doc(hidden)]
    pub fn data(event: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| DecodeError::Data { event, source }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownEvent(name) => write!(f, "unknown event `{name}`"),
            DecodeError::Data { event, source } => {
                write!(f, "invalid data for event `{event}`: {source}")
            }
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DecodeError::UnknownEvent(_) => None,
            DecodeError::Data { source, .. } => Some(source),
        }
    }
}

/// Helpers for generated code.
#[doc(hidden)]
pub mod support {
    use super::*;

    /// The data of a unit variant: `null` (or nothing at all).
    pub fn decode_unit(event: &'static str, data: &str) -> Result<(), DecodeError> {
        if data.trim().is_empty() {
            return Ok(());
        }
        serde_json::from_str::<()>(data).map_err(DecodeError::data(event))
    }

    pub fn null_schema() -> Schema {
        schemars::json_schema!({ "type": "null" })
    }

    /// Adds the variant's doc comment to the data schema, unless schemars already did.
    pub fn describe(mut schema: Schema, description: Option<&'static str>) -> Schema {
        if let Some(text) = description
            && schema.get("description").is_none()
        {
            schema.insert("description".into(), text.into());
        }
        schema
    }

    pub fn schema(
        name: &'static str,
        description: Option<&'static str>,
        text: bool,
        binary: Option<crate::binary::Alphabet>,
        data: Schema,
    ) -> EventSchema {
        EventSchema {
            name,
            description,
            text,
            binary,
            data: describe(data, description),
        }
    }

    /// The data schema of a base64 event: a string of base64 (`contentEncoding`), as long as
    /// the base64 of the `length` rule's bounds (or of the array's fixed length).
    pub fn bytes_schema<T>(
        min: Option<usize>,
        max: Option<usize>,
        codec: &crate::binary::Codec<T>,
    ) -> Schema {
        let alphabet = codec.alphabet;
        let mut schema = schemars::json_schema!({
            "type": "string",
            "contentEncoding": alphabet.content_encoding(),
            "contentMediaType": "application/octet-stream",
        });
        if let Some(min) = min.or(codec.fixed_len()) {
            schema.insert("minLength".into(), alphabet.encoded_len(min).into());
        }
        if let Some(max) = max.or(codec.fixed_len()) {
            schema.insert("maxLength".into(), alphabet.encoded_len(max).into());
        }
        schema
    }

    /// A field of an event's data whose schema comes from its type. The macro implements it
    /// once per such field, with `DataSchema::of::<FieldType>()`, and points schemars at
    /// [`FieldSchema`]: a type without `JsonSchema` is then reported once, at the field, with the
    /// fix (schemars' derive would name a `__private` path, and no fix).
    pub trait DataField {
        fn schema() -> DataSchema;
    }

    /// Types whose JSON Schema the OpenAPI document can give.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is event data without a JSON Schema",
        label = "`{Self}` does not implement `JsonSchema`",
        note = "the OpenAPI document describes the data of every event: add `#[derive(schemars::JsonSchema)]` to `{Self}`, or for a type of another crate put `#[schemars(with = \"...\")]` on the field"
    )]
    pub trait Described: schemars::JsonSchema {}

    impl<T: schemars::JsonSchema + ?Sized> Described for T {}

    /// What a type's `JsonSchema` says of it.
    pub struct DataSchema {
        inline: fn() -> bool,
        name: fn() -> Cow<'static, str>,
        id: fn() -> Cow<'static, str>,
        schema: fn(&mut SchemaGenerator) -> Schema,
    }

    impl DataSchema {
        pub fn of<T: Described + ?Sized>() -> Self {
            DataSchema {
                inline: T::inline_schema,
                name: T::schema_name,
                id: T::schema_id,
                schema: T::json_schema,
            }
        }
    }

    /// The schema of a [`DataField`]'s type, name, id and inlining included, so that shared
    /// definitions stay shared.
    pub struct FieldSchema<F: ?Sized>(core::marker::PhantomData<F>);

    impl<F: DataField + ?Sized> schemars::JsonSchema for FieldSchema<F> {
        fn inline_schema() -> bool {
            (F::schema().inline)()
        }

        fn schema_name() -> Cow<'static, str> {
            (F::schema().name)()
        }

        fn schema_id() -> Cow<'static, str> {
            (F::schema().id)()
        }

        fn json_schema(generator: &mut SchemaGenerator) -> Schema {
            (F::schema().schema)(generator)
        }
    }

    /// The payload of a base64 event.
    pub fn decode_binary<T>(
        event: &'static str,
        data: &str,
        codec: &crate::binary::Codec<T>,
    ) -> Result<T, DecodeError> {
        codec.decode(data).map_err(|message| DecodeError::Data {
            event,
            source: <serde_json::Error as serde::de::Error>::custom(message),
        })
    }
}
