//! The test kit (`tidings::testing`) itself: what it serves, what it waits for, and how it
//! fails a test.

use std::time::Duration;

use tidings::testing::{TestServer, eventually};
use tidings::{Emitter, Router, event_stream};

#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum Count {
    Number { n: u64 },
}

/// Numbers from just after `Last-Event-ID`, each with its number as id; `quiet` sends none.
#[event_stream(path = "/count")]
async fn count(events: Emitter<Count>) -> tidings::Result<()> {
    let after: u64 = events
        .last_event_id()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    for n in after + 1.. {
        events.emit_with_id(n, Count::Number { n }).await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Two numbers after `Last-Event-ID` per connection, then the stream ends (and the client
/// comes back).
#[event_stream(path = "/pairs")]
async fn pairs(events: Emitter<Count>) -> tidings::Result<()> {
    let after: u64 = events
        .last_event_id()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    for n in after + 1..=after + 2 {
        events.emit_with_id(n, Count::Number { n }).await?;
    }
    Ok(())
}

#[event_stream(path = "/quiet")]
async fn quiet(events: Emitter<Count>) {
    events.closed().await;
}

#[event_stream(path = "/fails")]
async fn fails(_events: Emitter<Count>) -> tidings::Result<()> {
    Err(tidings::Error::msg("out of numbers"))
}

fn app() -> Router {
    Router::new()
        .route(count)
        .route(pairs)
        .route(quiet)
        .route(fails)
        .retry(Duration::from_millis(10))
}

#[tokio::test]
async fn typed_events_ids_and_resume() {
    let server = TestServer::start(app()).await.unwrap();
    assert!(server.url("/count").starts_with("http://127.0.0.1:"));
    let mut numbers = server.subscribe::<Count>("/count");
    assert_eq!(
        numbers.take(3).await,
        [1, 2, 3].map(|n| Count::Number { n })
    );
    assert_eq!(numbers.last_event_id(), Some("3"));
    drop(numbers);
    let mut resumed = server.resume::<Count>("/count", "3");
    assert_eq!(resumed.next_event().await, Count::Number { n: 4 });
    // Gone first: a graceful shutdown lets connected clients' streams finish.
    drop(resumed);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn events_go_on_across_ends_the_server_chose() {
    let server = TestServer::start(app()).await.unwrap();
    let mut numbers = server.subscribe::<Count>("/pairs");
    // Three connections of two numbers each; their `tidings.end`s are passed over.
    assert_eq!(
        numbers.take(6).await,
        [1, 2, 3, 4, 5, 6].map(|n| Count::Number { n })
    );
}

#[tokio::test]
async fn conflicting_routes_are_refused_at_start() {
    let error = TestServer::start(Router::new().route(quiet).route(quiet))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_quiet_stream_passes_assert_quiet() {
    let server = TestServer::start(app()).await.unwrap();
    let mut quiet = server.subscribe::<Count>("/quiet");
    quiet.assert_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
#[should_panic(expected = "expected nothing from")]
async fn assert_quiet_fails_when_an_event_comes() {
    let server = TestServer::start(app()).await.unwrap();
    let mut numbers = server.subscribe::<Count>("/count");
    numbers.assert_quiet(Duration::from_secs(5)).await;
}

#[tokio::test]
#[should_panic(expected = "nothing from")]
async fn waiting_in_vain_fails_the_test() {
    let server = TestServer::start(app()).await.unwrap();
    let mut quiet = server
        .subscribe::<Count>("/quiet")
        .patience(Duration::from_millis(200));
    quiet.next_event().await;
}

#[tokio::test]
#[should_panic(expected = "expected an event from")]
async fn a_failed_handler_is_not_an_event() {
    let server = TestServer::start(app()).await.unwrap();
    let mut failing = server.subscribe::<Count>("/fails");
    failing.next_event().await;
}

#[tokio::test]
async fn eventually_waits_for_a_condition() {
    let started = tokio::time::Instant::now();
    eventually("50 ms have passed", || {
        started.elapsed() >= Duration::from_millis(50)
    })
    .await;
    // It returned once the condition held, not before, and not at its 5 s limit.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(50) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}
