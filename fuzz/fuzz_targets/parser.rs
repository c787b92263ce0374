//! The event stream parser: any bytes, split anywhere, never panic, and parse the same as
//! when fed whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidings::client::Parser;

fuzz_target!(|input: &[u8]| {
    // The first byte says where to split the rest: every `step` bytes.
    let Some((&step, stream)) = input.split_first() else {
        return;
    };
    let limits = (4096, 64 * 1024);
    let mut whole = Parser::new(limits.0, limits.1);
    let mut whole_events = Vec::new();
    let whole_result = whole.feed(stream, &mut whole_events);

    let mut split = Parser::new(limits.0, limits.1);
    let mut split_events = Vec::new();
    let mut split_result = Ok(());
    for chunk in stream.chunks(usize::from(step).max(1)) {
        split_result = split.feed(chunk, &mut split_events);
        if split_result.is_err() {
            break;
        }
    }
    assert_eq!(whole_result.is_ok(), split_result.is_ok());
    if whole_result.is_ok() {
        assert_eq!(whole_events, split_events);
        assert_eq!(whole.last_event_id(), split.last_event_id());
        assert_eq!(whole.retry(), split.retry());
    }
});
