//! What goes over the wire while a stream runs: framing, validation, ids, comments, retry,
//! heartbeats and backpressure, read off real sockets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tidings::{EmitError, Emitter, Router, event_stream};
use tidings_tests::{TestServer, h2_get};

#[event_stream(rename_all = "kebab-case")]
#[derive(Debug, Clone)]
enum Feed {
    /// A log line, sent as plain text.
    #[event(text)]
    LogLine(String),
    Progress {
        #[validate(range(max = 100))]
        percent: u8,
        #[validate(length(min = 1), pattern = "^[a-z]+$")]
        stage: String,
    },
    Blob(String),
    /// What a handler reports about its own emits.
    Report(String),
    #[event(rename = "done")]
    Finished,
}

#[event_stream(path = "/text")]
async fn text(events: Emitter<Feed>) -> tidings::Result<()> {
    events
        .emit(Feed::LogLine("one\r\ntwo\rthree\nfour".into()))
        .await?;
    events.emit(Feed::LogLine(String::new())).await?;
    events
        .emit(Feed::Blob("line\nbreak \"quoted\" \u{2028}".into()))
        .await?;
    events.comment("first\nsecond").await?;
    events.emit(Feed::Finished).await?;
    Ok(())
}

#[event_stream(path = "/invalid")]
async fn invalid(events: Emitter<Feed>) -> tidings::Result<()> {
    let bad = Feed::Progress {
        percent: 101,
        stage: "Build 1".into(),
    };
    match events.emit(bad).await {
        Err(error @ EmitError::Invalid { .. }) => {
            events.emit(Feed::Report(error.to_string())).await?
        }
        other => {
            events
                .emit(Feed::Report(format!("unexpected: {other:?}")))
                .await?
        }
    }
    events
        .emit(Feed::Progress {
            percent: 100,
            stage: "done".into(),
        })
        .await?;
    Ok(())
}

#[event_stream(path = "/ids")]
async fn ids(events: Emitter<Feed>) -> tidings::Result<()> {
    events.emit_with_id(7, Feed::Finished).await?;
    let refused = events.emit_with_id("a\nb", Feed::Finished).await;
    events.emit(Feed::Report(format!("{refused:?}"))).await?;
    Ok(())
}

#[event_stream(path = "/idle")]
async fn idle(events: Emitter<Feed>) -> tidings::Result<()> {
    events.closed().await;
    Ok(())
}

#[tokio::test]
async fn text_is_split_into_lines_and_json_stays_on_one() {
    let server = TestServer::start(Router::new().route(text)).await;
    let mut response = server.get("/text").await;
    assert_eq!(
        response.frame().await,
        "event: log-line\ndata: one\ndata: two\ndata: three\ndata: four\n\n"
    );
    assert_eq!(response.frame().await, "event: log-line\ndata: \n\n");
    assert_eq!(
        response.frame().await,
        "event: blob\ndata: \"line\\nbreak \\\"quoted\\\" \u{2028}\"\n\n"
    );
    assert_eq!(response.frame().await, ": first\n: second\n\n");
    assert_eq!(response.frame().await, "event: done\ndata: null\n\n");
    assert!(response.ends().await);
}

#[tokio::test]
async fn an_independent_parser_agrees_on_text_and_comments() {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    let server = TestServer::start(Router::new().route(text)).await;
    let body = h2_get(server.addr, "/text")
        .await
        .into_body()
        .into_data_stream();
    let events: Vec<_> = eventsource_stream::Eventsource::eventsource(body)
        .map(|event| event.unwrap())
        .collect()
        .await;
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.event.as_str(), e.data.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("log-line", "one\ntwo\nthree\nfour"),
            ("log-line", ""),
            ("blob", "\"line\\nbreak \\\"quoted\\\" \u{2028}\""),
            ("done", "null"),
            (
                "tidings.end",
                r#"{"reason":"handler_done","reconnect":true}"#
            ),
        ]
    );
    use tidings::EventSet;
    let decoded: Vec<Feed> = events[..4]
        .iter()
        .map(|e| Feed::decode(&e.event, &e.data).unwrap())
        .collect();
    assert!(matches!(&decoded[0], Feed::LogLine(text) if text == "one\ntwo\nthree\nfour"));
    assert!(matches!(&decoded[2], Feed::Blob(text) if text == "line\nbreak \"quoted\" \u{2028}"));
    assert!(matches!(decoded[3], Feed::Finished));
}

#[tokio::test]
async fn invalid_events_are_refused_with_every_broken_rule() {
    let server = TestServer::start(Router::new().route(invalid)).await;
    let mut response = server.get("/invalid").await;
    let report = response.frame().await;
    assert_eq!(
        report,
        "event: report\ndata: \"invalid `progress` event: percent: must be at most 100 (range); \
         stage: must match the pattern `^[a-z]+$` (pattern)\"\n\n"
    );
    // Nothing of the invalid event was written: the next frame is the valid one.
    assert_eq!(
        response.frame().await,
        "event: progress\ndata: {\"percent\":100,\"stage\":\"done\"}\n\n"
    );
}

#[tokio::test]
async fn ids_are_written_and_line_breaks_in_ids_refused() {
    let server = TestServer::start(Router::new().route(ids)).await;
    let mut response = server.get("/ids").await;
    assert_eq!(response.frame().await, "id: 7\nevent: done\ndata: null\n\n");
    assert_eq!(
        response.frame().await,
        "event: report\ndata: \"Err(InvalidId)\"\n\n"
    );
}

#[tokio::test]
async fn retry_is_sent_first() {
    let server =
        TestServer::start(Router::new().route(ids).retry(Duration::from_millis(1500))).await;
    let mut response = server.get("/ids").await;
    assert_eq!(response.frame().await, "retry: 1500\n\n");
    assert_eq!(response.frame().await, "id: 7\nevent: done\ndata: null\n\n");
}

#[tokio::test]
async fn heartbeats_on_idle_streams() {
    let server = TestServer::start(
        Router::new()
            .route(idle)
            .heartbeat(Some(Duration::from_millis(200))),
    )
    .await;
    let mut response = server.get("/idle").await;
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(response.frame().await, ":\n\n");
    }
    let elapsed = started.elapsed();
    // Three heartbeats 200 ms apart: not sooner, and (generously, for a loaded machine) not
    // much later.
    assert!(elapsed >= Duration::from_millis(590), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn heartbeats_can_be_turned_off() {
    let server = TestServer::start(Router::new().route(idle).heartbeat(None)).await;
    let mut response = server.get("/idle").await;
    let nothing = tokio::time::timeout(Duration::from_millis(700), response.next_frame()).await;
    assert!(
        nothing.is_err(),
        "no frame on an idle stream without heartbeats"
    );
}

const BIG: usize = 16 * 1024;
const COUNT: usize = 2000;

#[event_stream]
#[derive(Clone)]
enum Bulk {
    Chunk { seq: usize, filler: String },
}

static SENT: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);

#[event_stream(path = "/bulk")]
async fn bulk(events: Emitter<Bulk>) -> tidings::Result<()> {
    let filler = "x".repeat(BIG);
    for seq in 0..COUNT {
        let chunk = Bulk::Chunk {
            seq,
            filler: filler.clone(),
        };
        // try_emit refuses when the buffer is full; emit then waits for room.
        match events.try_emit(chunk.clone()) {
            Ok(()) => {}
            Err(EmitError::Full) => {
                REFUSED.fetch_add(1, Ordering::SeqCst);
                events.emit(chunk).await?;
            }
            Err(error) => return Err(error.into()),
        }
        SENT.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

#[tokio::test]
async fn a_client_that_does_not_read_makes_emit_wait() {
    let server = TestServer::start(Router::new().route(bulk).buffer_bytes(64 * 1024)).await;
    let mut response = server.get("/bulk").await;
    // Do not read: the kernel's socket buffers fill, then the stream's buffer, then emit waits.
    let mut last = usize::MAX;
    let stalled = loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = SENT.load(Ordering::SeqCst);
        if now == last {
            break now;
        }
        last = now;
    };
    assert!(
        stalled < COUNT,
        "emit kept going without a reader: {stalled} of {COUNT}"
    );
    assert!(
        REFUSED.load(Ordering::SeqCst) > 0,
        "try_emit refused while the buffer was full"
    );

    // Now drain: every chunk arrives, in order, with no loss.
    for next in 0..COUNT {
        let frame = response.event().await;
        let expected = format!("event: chunk\ndata: {{\"seq\":{next},");
        assert!(frame.starts_with(&expected), "chunk {next} out of order");
    }
    assert!(response.ends().await);
    assert_eq!(SENT.load(Ordering::SeqCst), COUNT);
}
