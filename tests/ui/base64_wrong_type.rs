use tidings::event_stream;

#[event_stream]
enum Media {
    #[event(base64)]
    Caption(String),
    #[event(base64)]
    Samples(Vec<u16>),
}

fn main() {}
