use tidings::{Emitter, event_stream};

#[event_stream]
enum Tick {
    Tick,
}

#[event_stream(path = "/sync")]
fn sync(events: Emitter<Tick>) -> tidings::Result<()> {
    let _ = events;
    Ok(())
}

fn main() {}
