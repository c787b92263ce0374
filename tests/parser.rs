//! The client's parser against byte-level cases from the WHATWG "Interpreting an event
//! stream" algorithm, each fed whole, one byte at a time, and split at every point.

use tidings::client::{ParseError, Parsed, Parser, RawEvent};

struct Case {
    name: &'static str,
    input: &'static [u8],
    /// (type, data, last event id)
    events: &'static [(&'static str, &'static str, &'static str)],
    retry: Option<u64>,
}

const CASES: &[Case] = &[
    Case {
        name: "lf",
        input: b"data: a\n\n",
        events: &[("message", "a", "")],
        retry: None,
    },
    Case {
        name: "crlf",
        input: b"data:a\r\n\r\n",
        events: &[("message", "a", "")],
        retry: None,
    },
    Case {
        name: "lone cr",
        input: b"data: a\r\rdata: b\r\r",
        events: &[("message", "a", ""), ("message", "b", "")],
        retry: None,
    },
    Case {
        name: "mixed endings",
        input: b"data: a\r\ndata: b\rdata: c\n\r\n",
        events: &[("message", "a\nb\nc", "")],
        retry: None,
    },
    Case {
        name: "bom",
        input: b"\xEF\xBB\xBFdata: a\n\n",
        events: &[("message", "a", "")],
        retry: None,
    },
    Case {
        name: "only one bom",
        input: b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n",
        events: &[("message", "b", "")],
        retry: None,
    },
    Case {
        name: "almost a bom",
        input: b"\xEF\xBBdata: a\n\ndata: b\n\n",
        events: &[("message", "b", "")],
        retry: None,
    },
    Case {
        name: "comments",
        input: b": hello\n:\ndata: x\n: inside\n\n",
        events: &[("message", "x", "")],
        retry: None,
    },
    Case {
        name: "data without colon",
        input: b"data\n\n",
        events: &[("message", "", "")],
        retry: None,
    },
    Case {
        name: "empty data",
        input: b"data:\n\n",
        events: &[("message", "", "")],
        retry: None,
    },
    Case {
        name: "no data no dispatch",
        input: b"event: x\n\ndata: y\n\n",
        events: &[("message", "y", "")],
        retry: None,
    },
    Case {
        name: "event type",
        input: b"event: add\ndata: 1\n\n",
        events: &[("add", "1", "")],
        retry: None,
    },
    Case {
        name: "data lines join",
        input: b"data: a\ndata: b\ndata\n\n",
        events: &[("message", "a\nb\n", "")],
        retry: None,
    },
    Case {
        name: "one space stripped",
        input: b"data:  two\n\n",
        events: &[("message", " two", "")],
        retry: None,
    },
    Case {
        name: "field names are exact",
        input: b"Data: x\ndata : y\ndata: z\n\n",
        events: &[("message", "z", "")],
        retry: None,
    },
    Case {
        name: "id",
        input: b"id: 7\ndata: a\n\ndata: b\n\n",
        events: &[("message", "a", "7"), ("message", "b", "7")],
        retry: None,
    },
    Case {
        name: "id with nul ignored",
        input: b"id: 1\ndata: a\n\nid: 2\x00\ndata: b\n\n",
        events: &[("message", "a", "1"), ("message", "b", "1")],
        retry: None,
    },
    Case {
        name: "empty id resets",
        input: b"id: 1\ndata: a\n\nid\ndata: b\n\n",
        events: &[("message", "a", "1"), ("message", "b", "")],
        retry: None,
    },
    Case {
        name: "id without data still counts",
        input: b"id: 5\n\ndata: a\n\n",
        events: &[("message", "a", "5")],
        retry: None,
    },
    Case {
        name: "retry",
        input: b"retry: 1500\n\n",
        events: &[],
        retry: Some(1500),
    },
    Case {
        name: "retry not digits",
        input: b"retry: 15a\n\nretry: -1\n\nretry:\n\nretry:  20\n\n",
        events: &[],
        retry: None,
    },
    Case {
        name: "retry then valid",
        input: b"retry: 10\nretry: x\n\n",
        events: &[],
        retry: Some(10),
    },
    Case {
        name: "partial event discarded",
        input: b"data: a\n\ndata: b\n",
        events: &[("message", "a", "")],
        retry: None,
    },
    Case {
        name: "no final newline",
        input: b"data: a",
        events: &[],
        retry: None,
    },
    Case {
        name: "unknown fields ignored",
        input: b"foo: bar\nevent\ndata: x\n\n",
        events: &[("message", "x", "")],
        retry: None,
    },
    Case {
        name: "invalid utf-8 replaced",
        input: b"data: \xFF\xFEok\n\n",
        events: &[("message", "\u{FFFD}\u{FFFD}ok", "")],
        retry: None,
    },
    Case {
        name: "multibyte",
        input: "data: caf\u{e9} \u{2028} \u{1F600}\n\n".as_bytes(),
        events: &[("message", "caf\u{e9} \u{2028} \u{1F600}", "")],
        retry: None,
    },
    Case {
        name: "colon in value",
        input: b"data: a:b: c\n\n",
        events: &[("message", "a:b: c", "")],
        retry: None,
    },
];

fn run(chunks: &[&[u8]]) -> (Vec<RawEvent>, Option<u64>) {
    let mut parser = Parser::default();
    let mut events = Vec::new();
    for chunk in chunks {
        parser.feed(chunk, &mut events).unwrap();
    }
    (events, parser.retry())
}

fn expected(case: &Case) -> Vec<RawEvent> {
    case.events
        .iter()
        .map(|(event, data, id)| RawEvent {
            event: event.to_string(),
            data: data.to_string(),
            last_event_id: id.to_string(),
        })
        .collect()
}

#[test]
fn every_case_whole_byte_by_byte_and_split_anywhere() {
    for case in CASES {
        let want = (expected(case), case.retry);
        assert_eq!(run(&[case.input]), want, "{}: whole", case.name);
        let bytes: Vec<&[u8]> = case.input.chunks(1).collect();
        assert_eq!(run(&bytes), want, "{}: byte by byte", case.name);
        for split in 0..=case.input.len() {
            let (a, b) = case.input.split_at(split);
            assert_eq!(run(&[a, b]), want, "{}: split at {split}", case.name);
        }
    }
}

#[test]
fn the_last_event_id_survives_reconnection_and_buffers_do_not() {
    let mut parser = Parser::default();
    let mut events = Vec::new();
    parser
        .feed(b"id: 3\ndata: a\n\nid: 4\ndata: partial", &mut events)
        .unwrap();
    assert_eq!(
        parser.last_event_id(),
        "3",
        "an id counts once its event is dispatched"
    );
    parser.reconnect();
    parser
        .feed(b"\xEF\xBB\xBFdata: b\n\n", &mut events)
        .unwrap();
    let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(
        data,
        ["a", "b"],
        "the partial event of the broken connection was dropped"
    );
    assert_eq!(
        events[1].last_event_id, "3",
        "an event without `id:` after a reconnect keeps the last id, as in browsers"
    );
    parser.reconnect();
    parser
        .feed(b": heartbeat\n\ndata: c\n\n", &mut events)
        .unwrap();
    assert_eq!(
        parser.last_event_id(),
        "3",
        "still the id of the first connection"
    );
}

#[test]
fn lines_and_events_are_bounded() {
    let mut parser = Parser::new(16, 32);
    let mut events = Vec::new();
    assert_eq!(
        parser.feed(b"data: 0123456789abcdef\n", &mut events),
        Err(ParseError::LineTooLong)
    );
    let mut parser = Parser::new(16, 32);
    let result = parser.feed(
        b"data: 0123456789\ndata: 0123456789\ndata: 0123456789\n",
        &mut events,
    );
    assert_eq!(result, Err(ParseError::EventTooLarge));
}

#[test]
fn comments_of_any_length_are_skipped_without_being_kept() {
    // A line limit of 16 bytes, and a comment of 100 KB, fed in pieces.
    let mut parser = Parser::new(16, 1024);
    let mut events = Vec::new();
    let comment = format!(":{}\n", "c".repeat(100_000));
    for piece in comment.as_bytes().chunks(7) {
        parser.feed(piece, &mut events).unwrap();
    }
    parser.feed(b"data: after\n\n", &mut events).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, "after");
}

#[test]
fn feed_all_keeps_comments_in_stream_order_however_split() {
    let stream = b":one\r\ndata: a\r\n: two\r\r\n:\n\n";
    for cut in 0..=stream.len() {
        let mut parser = Parser::default();
        let mut out = Vec::new();
        parser.feed_all(&stream[..cut], &mut out).unwrap();
        parser.feed_all(&stream[cut..], &mut out).unwrap();
        assert_eq!(
            out,
            [
                Parsed::Comment("one".into()),
                Parsed::Comment("two".into()),
                Parsed::Event(RawEvent {
                    event: "message".into(),
                    data: "a".into(),
                    last_event_id: String::new(),
                }),
                Parsed::Comment(String::new()),
            ],
            "cut at {cut}"
        );
    }
}
