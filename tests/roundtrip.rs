//! Any event the server can write parses back to the same event with
//! `tidings::client::Parser`, however the bytes are split: names, ids, text with CR, LF,
//! CRLF, NUL or a BOM, any JSON, with comments in between. The TypeScript transport parses a
//! corpus of the same streams (`tools/test/frames.json`, checked here to be what the server
//! writes) in `tools/test/fetch-transport.test.ts`.

use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};
use schemars::SchemaGenerator;
use serde::{Serialize, Serializer};
use tidings::client::{Parser, RawEvent};
use tidings::validate::FieldPath;
use tidings::{DecodeError, Emitter, EventSchema, EventSet, Validate, Violations};

/// An event whose name and data are chosen at run time, as no `#[event_stream]` enum can be:
/// the test's way to write every event the frame writer can write.
#[derive(Debug, Clone)]
struct AnyEvent {
    name: &'static str,
    data: Data,
}

#[derive(Debug, Clone)]
enum Data {
    Text(String),
    Json(serde_json::Value),
}

impl Serialize for AnyEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.data {
            Data::Json(value) => value.serialize(serializer),
            Data::Text(text) => text.serialize(serializer),
        }
    }
}

impl Validate for AnyEvent {
    fn validate_at(&self, _at: &FieldPath<'_>, _report: &mut Violations) {}
}

impl EventSet for AnyEvent {
    const TYPE_NAME: &'static str = "AnyEvent";
    const NAMES: &'static [&'static str] = &[];

    fn name(&self) -> &'static str {
        self.name
    }

    fn text(&self) -> Option<&str> {
        match &self.data {
            Data::Text(text) => Some(text),
            Data::Json(_) => None,
        }
    }

    fn decode(name: &str, _data: &str) -> Result<Self, DecodeError> {
        Err(DecodeError::UnknownEvent(name.to_owned()))
    }

    fn event_schemas(_generator: &mut SchemaGenerator) -> Vec<EventSchema> {
        Vec::new()
    }
}

/// What the stream holds, in order.
#[derive(Debug, Clone)]
enum Item {
    Event { id: Option<String>, event: AnyEvent },
    Comment(String),
}

/// Text of anything, weighted towards what framing must get right.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\r".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\0".to_owned()),
        Just("\u{feff}".to_owned()),
        Just(":".to_owned()),
        Just(" ".to_owned()),
        Just("data: x".to_owned()),
        "\\PC{0,6}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

/// What the frame writer accepts on an `event:` or `id:` line: no CR, LF or NUL.
fn one_line(min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        any::<char>().prop_filter("one line", |c| !matches!(c, '\r' | '\n' | '\0')),
        min..12,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

fn item() -> impl Strategy<Value = Item> {
    let data = prop_oneof![text().prop_map(Data::Text), json().prop_map(Data::Json)];
    prop_oneof![
        4 => (prop::option::of(one_line(0)), one_line(1), data).prop_map(|(id, name, data)| {
            // Event names are `&'static str`, as an enum's are; a test leaks a few bytes.
            let name: &'static str = Box::leak(name.into_boxed_str());
            Item::Event { id, event: AnyEvent { name, data } }
        }),
        1 => text().prop_map(Item::Comment),
    ]
}

/// The bytes a stream of `items` sends.
fn write(items: &[Item]) -> Vec<u8> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (events, body) = Emitter::<AnyEvent>::pair(usize::MAX);
        for item in items {
            match item {
                Item::Event {
                    id: Some(id),
                    event,
                } => events.emit_with_id(id, event.clone()).await.unwrap(),
                Item::Event { id: None, event } => events.emit(event.clone()).await.unwrap(),
                Item::Comment(text) => events.comment(text).await.unwrap(),
            }
        }
        drop(events);
        body.collect().await.unwrap().to_bytes().to_vec()
    })
}

/// What a client must see for `items`.
fn expected(items: &[Item]) -> Vec<RawEvent> {
    let mut last_event_id = String::new();
    let mut seen = Vec::new();
    for item in items {
        let Item::Event { id, event } = item else {
            continue;
        };
        if let Some(id) = id {
            last_event_id.clone_from(id);
        }
        let data = match &event.data {
            // Every line break, CR, LF or CRLF, arrives as LF.
            Data::Text(text) => text.replace("\r\n", "\n").replace('\r', "\n"),
            Data::Json(value) => serde_json::to_string(value).unwrap(),
        };
        seen.push(RawEvent {
            event: event.name.to_owned(),
            data,
            last_event_id: last_event_id.clone(),
        });
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn what_the_server_writes_parses_back_however_it_is_split(
        items in prop::collection::vec(item(), 0..12),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let bytes = write(&items);
        let mut at: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
        at.push(0);
        at.push(bytes.len());
        at.sort_unstable();
        let mut parser = Parser::new(usize::MAX, usize::MAX);
        let mut parsed = Vec::new();
        for window in at.windows(2) {
            parser.feed(&bytes[window[0]..window[1]], &mut parsed).unwrap();
        }
        prop_assert_eq!(parsed, expected(&items), "bytes: {:?}", String::from_utf8_lossy(&bytes));
    }
}

/// The corpus of the TypeScript transport's property test: streams drawn from the same
/// strategies with a fixed seed, written by the server's frame writer, with the events a
/// client must see.
#[test]
fn the_typescript_corpus_is_what_the_server_writes() {
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(ProptestConfig::default(), rng);
    let streams = prop::collection::vec(item(), 0..12);
    let cases: Vec<serde_json::Value> = (0..120)
        .map(|_| {
            let items = streams.new_tree(&mut runner).unwrap().current();
            let stream = String::from_utf8(write(&items)).expect("the server writes UTF-8");
            let events: Vec<serde_json::Value> = expected(&items)
                .into_iter()
                .map(|raw| {
                    serde_json::json!({ "event": raw.event, "data": raw.data, "id": raw.last_event_id })
                })
                .collect();
            serde_json::json!({ "stream": stream, "events": events })
        })
        .collect();
    let corpus = serde_json::to_string(&cases).unwrap() + "\n";
    tidings_tests::assert_up_to_date("tools/test/frames.json", &corpus);
}
