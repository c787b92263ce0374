use tidings::event_stream;

#[event_stream]
enum Wrapper<T> {
    Value(T),
}

fn main() {}
