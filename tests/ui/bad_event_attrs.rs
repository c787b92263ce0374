use tidings::event_stream;

#[event_stream(rename_all = "Title Case")]
enum Attrs {
    #[event(name = "x")]
    Unknown,
    #[event(rename)]
    Malformed,
    #[event(text)]
    NotText { line: String },
}

#[event_stream(path = "/x")]
enum WithPath {
    A,
}

#[event_stream(max_event_bytes = 1024)]
enum WithLargest {
    A,
}

#[event_stream(path = "/y", max_event_bytes = -1)]
async fn negative(events: tidings::Emitter<WithLargest>) -> tidings::Result<()> {
    let _ = events;
    Ok(())
}

#[event_stream(compress = true)]
enum Compressed {
    A,
}

#[event_stream(path = "/z", compress = "yes")]
async fn zipped(events: tidings::Emitter<Compressed>) -> tidings::Result<()> {
    let _ = events;
    Ok(())
}

fn main() {}
