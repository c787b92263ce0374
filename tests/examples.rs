//! The examples, served exactly as `cargo run --example NAME` serves them, over real sockets.

use std::time::{Duration, Instant};

use tidings::EventSet;
use tidings_examples::clock::{self, Clock};
use tidings_tests::TestServer;

#[tokio::test]
async fn the_clock_ticks_at_the_requested_interval() {
    let server = TestServer::start(clock::app()).await;
    let mut response = server.get("/clock?interval_ms=50").await;
    assert_eq!(response.status, 200);
    let started = Instant::now();
    let mut last_ms = 0;
    for expected_seq in 0..5 {
        let frame = response.event().await;
        let data = frame.strip_prefix("event: ").unwrap();
        let (name, data) = data.split_once("\ndata: ").unwrap();
        if name == "minute" {
            continue;
        }
        match Clock::decode(name, data.trim_end()).unwrap() {
            Clock::Tick { seq, unix_ms } => {
                assert_eq!(seq, expected_seq);
                assert!(unix_ms >= last_ms);
                last_ms = unix_ms;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Five ticks 50 ms apart (the first is immediate): at least 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(190));
}

#[tokio::test]
async fn the_clock_refuses_an_interval_out_of_range() {
    let server = TestServer::start(clock::app()).await;
    for query in ["interval_ms=5", "interval_ms=60001", "interval_ms=soon"] {
        let mut response = server.get(&format!("/clock?{query}")).await;
        assert_eq!(response.status, 400, "{query}");
        let body = response.rest().await;
        assert!(body.contains("\"location\":\"query\""), "{body}");
    }
}

/// The committed `examples/clock/openapi.json` is what the code generates; rerun with
/// `TIDINGS_BLESS=1` after a deliberate change.
#[test]
fn the_clock_openapi_document_is_up_to_date() {
    let document = clock::openapi().to_string_pretty() + "\n";
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/clock/openapi.json");
    if std::env::var_os("TIDINGS_BLESS").is_some() {
        std::fs::write(&path, &document).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == document,
        "examples/clock/openapi.json is stale: rerun with TIDINGS_BLESS=1"
    );
}

/// The committed `examples/clock/client.ts` is what the code generates (CI compiles it with
/// `tsc --strict` and runs it against the example server).
#[test]
fn the_clock_typescript_client_is_up_to_date() {
    let client = clock::typescript();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/clock/client.ts");
    if std::env::var_os("TIDINGS_BLESS").is_some() {
        std::fs::write(&path, &client).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == client,
        "examples/clock/client.ts is stale: rerun with TIDINGS_BLESS=1"
    );
}
