// `#[event_stream]` derives serde's traits itself: deriving them too is a mistake it names.
use tidings::event_stream;

#[event_stream]
#[derive(Debug, Clone, serde::Serialize)]
enum Sensor {
    Reading { celsius: f32 },
}

fn main() {}
