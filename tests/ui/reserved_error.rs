use tidings::event_stream;

#[event_stream]
enum Outcome {
    Ok,
    Error { message: String },
    #[event(rename = "tidings.end")]
    End,
}

fn main() {}
