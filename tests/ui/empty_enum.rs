use tidings::event_stream;

#[event_stream]
enum Nothing {}

fn main() {}
