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

fn main() {}
