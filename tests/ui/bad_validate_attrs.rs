use tidings::event_stream;

#[event_stream]
enum Rules {
    A {
        #[validate(between(1, 2))]
        unknown: u8,
        #[validate(range(min = 1, maximum = 2))]
        bad_bound: u8,
        #[validate(range())]
        no_bound: u8,
        #[validate(pattern = "([a-z]")]
        bad_regex: String,
        #[validate(pattern = "^\\p{L}+$")]
        unicode_class: String,
        #[validate(range(min = 10, max = 1))]
        impossible: u8,
        #[validate(length(max = 1), length(max = 2))]
        twice: String,
    },
}

fn main() {}
