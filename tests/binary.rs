//! Binary events (`#[event(base64)]`): bytes in, bytes out, over real sockets. The wire
//! format, round trips of random byte strings through the server and the Rust client (empty,
//! one byte, every length mod 3, 1 MiB), both alphabets, validation counting bytes, decode
//! errors, and what the schemas say.

use std::time::Duration;

use tidings::client::{Client, ClientError, Update};
use tidings::{Emitter, EventSet, Query, Router, Validate, event_stream};
use tidings_tests::{RawResponse, TestServer, parse_frame};

#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum Binary {
    /// Bytes, as standard base64.
    #[event(base64)]
    Blob(Vec<u8>),
    /// The same bytes in the URL-safe alphabet.
    #[event(base64 = "url")]
    UrlBlob(bytes::Bytes),
    #[event(base64)]
    Fixed([u8; 4]),
    /// Bytes inside a JSON event.
    Framed {
        seq: u64,
        #[event(base64 = "url")]
        #[validate(length(max = 1048576))]
        data: Vec<u8>,
    },
}

#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum Small {
    #[event(base64)]
    Chunk(#[validate(length(max = 8))] Vec<u8>),
    Field {
        #[event(base64)]
        #[validate(length(min = 1, max = 8))]
        bytes: Vec<u8>,
    },
}

/// Deterministic bytes from `seed`: the clock example's `/noise`.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    tidings_example_clock::noise_bytes(len, seed)
}

#[derive(serde::Deserialize, schemars::JsonSchema, Validate)]
struct Spec {
    len: usize,
    seed: u64,
}

/// The bytes of `?len=&seed=`, in every form, then the stream ends.
// 1 MiB of bytes is a 1.4 MB frame of base64: more than a route sends by default.
#[event_stream(path = "/bytes", max_event_bytes = 4_194_304)]
async fn send_bytes(Query(spec): Query<Spec>, events: Emitter<Binary>) -> tidings::Result<()> {
    let data = bytes(spec.len, spec.seed);
    events.emit(Binary::Blob(data.clone())).await?;
    events.emit(Binary::UrlBlob(data.clone().into())).await?;
    events
        .emit(Binary::Framed {
            seq: spec.seed,
            data,
        })
        .await?;
    events.emit(Binary::Fixed([0, 1, 254, 255])).await?;
    Ok(())
}

fn app() -> Router {
    Router::new().route(send_bytes)
}

#[tokio::test]
async fn bytes_go_out_as_base64_on_one_data_line() {
    let server = TestServer::start(app()).await;
    let mut stream = RawResponse::send(server.addr, "GET", "/bytes?len=5&seed=1", &[]).await;
    let data = bytes(5, 1);
    use base64::Engine as _;
    let standard = base64::engine::general_purpose::STANDARD.encode(&data);
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&data);
    assert_eq!(
        stream.event().await,
        format!("event: blob\ndata: {standard}\n\n")
    );
    assert_eq!(
        stream.event().await,
        format!("event: url_blob\ndata: {url}\n\n")
    );
    assert_eq!(
        stream.event().await,
        format!("event: framed\ndata: {{\"seq\":1,\"data\":\"{url}\"}}\n\n")
    );
    assert_eq!(stream.event().await, "event: fixed\ndata: AAH+/w==\n\n");
    // 1 MiB: one line of base64, never split.
    let mut stream = RawResponse::send(server.addr, "GET", "/bytes?len=1048576&seed=2", &[]).await;
    let frame = stream.event().await;
    assert_eq!(
        frame.lines().filter(|line| !line.is_empty()).count(),
        2,
        "event and one data line"
    );
    assert_eq!(
        frame.len(),
        "event: blob\ndata: \n\n".len() + 1048576usize.div_ceil(3) * 4
    );
}

#[tokio::test]
async fn random_byte_strings_round_trip_through_the_server_and_the_rust_client() {
    let server = TestServer::start(app()).await;
    let mut lengths: Vec<usize> = (0..=10).collect();
    lengths.extend([255, 256, 257, 1 << 20]);
    for (seed, len) in lengths.into_iter().enumerate() {
        let seed = seed as u64 + 100;
        let url = format!("http://{}/bytes?len={len}&seed={seed}", server.addr);
        let mut updates = Client::new()
            .subscribe::<Binary>(&url)
            .unwrap()
            .retry(Duration::from_secs(60))
            .start();
        let mut received = Vec::new();
        while received.len() < 4 {
            let update = tokio::time::timeout(Duration::from_secs(10), updates.next())
                .await
                .expect("an update in time")
                .expect("the subscription goes on");
            match update {
                Ok(Update::Event { event, .. }) => received.push(event),
                other => panic!("unexpected {other:?}"),
            }
        }
        let data = bytes(len, seed);
        assert_eq!(
            received,
            [
                Binary::Blob(data.clone()),
                Binary::UrlBlob(data.clone().into()),
                Binary::Framed { seq: seed, data },
                Binary::Fixed([0, 1, 254, 255]),
            ],
            "{len} bytes"
        );
    }
}

#[test]
fn decoding_takes_either_padding_and_reports_malformed_base64() {
    // The frame the server writes for a fixed array, read back as a client reads it.
    let frame = parse_frame("event: fixed\ndata: AAH+/w==\n\n").unwrap();
    assert_eq!(
        Binary::decode(&frame.event, &frame.data).unwrap(),
        Binary::Fixed([0, 1, 254, 255])
    );
    assert_eq!(
        Binary::decode("blob", "AAH+/w==").unwrap(),
        Binary::Blob(vec![0, 1, 254, 255])
    );
    assert_eq!(
        Binary::decode("blob", "AAH+/w").unwrap(),
        Binary::Blob(vec![0, 1, 254, 255])
    );
    assert_eq!(
        Binary::decode("url_blob", "AAH-_w").unwrap(),
        Binary::UrlBlob(vec![0, 1, 254, 255].into())
    );
    for (event, data) in [
        ("blob", "not base64!"),
        ("blob", "AAH-_w"),
        ("fixed", "AAH+"),
        ("framed", r#"{"seq":1,"data":"%%%"}"#),
    ] {
        let error = Binary::decode(event, data).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("invalid data for event `{event}`")),
            "{error}"
        );
    }
    let error = Binary::decode("fixed", "AAH+").unwrap_err().to_string();
    assert!(error.contains("3 bytes where 4 were expected"), "{error}");
}

#[tokio::test]
async fn a_malformed_payload_is_a_decode_error_of_the_client_and_the_stream_goes_on() {
    let (addr, _requests) = tidings_tests::scripted::scripted_server(vec![
        "event: blob\ndata: ###\n\nevent: blob\ndata: AQID\n\n",
    ])
    .await;
    let mut updates = Client::new()
        .subscribe::<Binary>(&format!("http://{addr}/bytes"))
        .unwrap()
        .start();
    let next = tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(next, Err(ClientError::Decode(_))), "{next:?}");
    let next = tokio::time::timeout(Duration::from_secs(10), updates.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(next, Ok(Update::Event { event: Binary::Blob(ref b), .. }) if b == &[1, 2, 3]),
        "{next:?}"
    );
}

#[test]
fn length_rules_count_bytes_not_base64_characters() {
    // 8 bytes are 12 base64 characters: allowed.
    assert!(Small::Chunk(vec![7; 8]).validate().is_ok());
    assert!(Small::Field { bytes: vec![7; 8] }.validate().is_ok());
    let too_long = Small::Chunk(vec![7; 9]).validate().unwrap_err().to_string();
    assert!(too_long.contains("8"), "{too_long}");
    assert!(Small::Field { bytes: vec![7; 9] }.validate().is_err());
    assert!(Small::Field { bytes: Vec::new() }.validate().is_err());
}

#[test]
fn schemas_say_base64_and_bound_the_encoded_length() {
    #[event_stream(path = "/small")]
    async fn small(events: Emitter<Small>) {
        events.closed().await;
    }
    let router = Router::new().route(send_bytes).route(small);
    let document = router.openapi().to_json();
    let schemas = &document["components"]["schemas"];
    let blob = &schemas["Binary.blob"]["properties"]["data"];
    assert_eq!(blob["contentEncoding"], "base64");
    assert_eq!(blob["contentMediaType"], "application/octet-stream");
    assert_eq!(
        schemas["Binary.url_blob"]["properties"]["data"]["contentEncoding"],
        "base64url"
    );
    let fixed = &schemas["Binary.fixed"]["properties"]["data"];
    assert_eq!(
        (fixed["minLength"].as_u64(), fixed["maxLength"].as_u64()),
        (Some(8), Some(8))
    );
    let chunk = &schemas["Small.chunk"]["properties"]["data"];
    assert_eq!(chunk["maxLength"], 12, "8 bytes of base64: {chunk}");
    let field =
        &schemas["Small.field"]["properties"]["data"]["contentSchema"]["properties"]["bytes"];
    assert_eq!(field["type"], "string", "{field}");
    assert_eq!(field["contentEncoding"], "base64");
    assert_eq!(
        (field["minLength"].as_u64(), field["maxLength"].as_u64()),
        (Some(4), Some(12))
    );
    let framed =
        &schemas["Binary.framed"]["properties"]["data"]["contentSchema"]["properties"]["data"];
    assert_eq!(framed["contentEncoding"], "base64url");
}
