use tidings::event_stream;

#[event_stream]
enum Misused {
    #[event(base64 = "hex")]
    Hex(Vec<u8>),
    #[event(base64)]
    Pair { bytes: Vec<u8> },
    #[event(text, base64)]
    Both(String),
    Newtype(#[event(base64)] Vec<u8>),
    Struct {
        #[event(base64 = "url", text)]
        bytes: Vec<u8>,
    },
}

fn main() {}
