use tidings::{Emitter, event_stream};

struct NotAnExtractor;

enum NotEvents {
    A,
}

#[event_stream]
enum Tick {
    Tick,
}

#[event_stream(path = "/a")]
async fn bad_extractor(x: NotAnExtractor, events: Emitter<Tick>) {
    let _ = (x, events);
}

#[event_stream(path = "/b")]
async fn bad_events(events: Emitter<NotEvents>) {
    let _ = events;
}

#[event_stream(path = "/c")]
async fn bad_return(events: Emitter<Tick>) -> u32 {
    let _ = events;
    1
}

fn main() {
    let _ = tidings::Router::new().route(main);
}
