use tidings::{Emitter, event_stream};

#[event_stream]
enum Tick {
    Tick,
}

#[event_stream(path = "clock")]
async fn no_slash(events: Emitter<Tick>) {
    let _ = events;
}

#[event_stream(path = "/jobs/{id")]
async fn unclosed(events: Emitter<Tick>) {
    let _ = events;
}

#[event_stream(path = "/jobs/{}/x")]
async fn empty_param(events: Emitter<Tick>) {
    let _ = events;
}

#[event_stream(path = "/jobs/id}")]
async fn stray(events: Emitter<Tick>) {
    let _ = events;
}

#[event_stream(path = "/jobs", method = "TRACE")]
async fn bad_method(events: Emitter<Tick>) {
    let _ = events;
}

#[event_stream]
async fn no_path(events: Emitter<Tick>) {
    let _ = events;
}

fn main() {}
