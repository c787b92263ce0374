use tidings::event_stream;

#[event_stream]
enum Outcome {
    Ok,
    Error { message: String },
}

fn main() {}
