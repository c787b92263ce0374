// Every payload of an event enum needs `JsonSchema` for the OpenAPI document. A payload type
// that lacks it is named once, with the derive to add.
use tidings::event_stream;

#[derive(serde::Serialize, serde::Deserialize)]
struct Reading {
    celsius: f32,
}

#[event_stream]
enum Sensor {
    Reading(Reading),
    Pair { first: Reading, second: Option<Reading> },
}

fn main() {}
