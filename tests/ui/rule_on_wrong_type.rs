use tidings::event_stream;

struct Plain;

#[event_stream]
enum Wrong {
    A {
        #[validate(range(max = 10))]
        name: String,
        #[validate(length(max = 10))]
        count: u32,
        #[validate(pattern = "^a")]
        flag: bool,
    },
}

#[derive(tidings::Validate)]
struct Outer {
    #[validate(nested)]
    inner: Plain,
}

fn main() {}
