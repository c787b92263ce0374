use tidings::event_stream;

#[event_stream]
enum Point {
    At(f64, f64),
}

fn main() {}
