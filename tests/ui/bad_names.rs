use tidings::event_stream;

#[event_stream]
enum BadNames {
    #[event(rename = "two\nlines")]
    Lf,
    #[event(rename = "back\r")]
    Cr,
    #[event(rename = "nul\0")]
    Nul,
    #[event(rename = "")]
    Empty,
}

fn main() {}
