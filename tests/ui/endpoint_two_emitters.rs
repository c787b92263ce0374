use tidings::{Emitter, event_stream};

#[event_stream]
enum Tick {
    Tick,
}

#[event_stream(path = "/two")]
async fn two(a: Emitter<Tick>, b: Emitter<Tick>) -> tidings::Result<()> {
    let _ = (a, b);
    Ok(())
}

fn main() {}
