//! What a hostile client can do to a server, and the limits that stop it: each over real
//! sockets, each failing without its protection.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use tidings::hub::{Hub, HubOptions, RESET_EVENT, SlowConsumer, WindowLimits};
use tidings::limits::StreamsPerClient;
use tidings::{Emitter, EventSet, Json, Query, Router, State, Validate, event_stream};
use tidings_tests::raw_h2::RawH2;
use tidings_tests::{PATIENCE, RawResponse, ResumingClient, TestServer, parse_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum Feed {
    Tick {
        n: u64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pad: String,
    },
    /// The `Last-Event-ID` the handler saw.
    Resumed(Option<String>),
    Done,
}

fn tick(n: u64) -> Feed {
    Feed::Tick {
        n,
        pad: String::new(),
    }
}

/// A tick every 20 ms until the client leaves.
#[event_stream(path = "/ticks")]
async fn ticks(events: Emitter<Feed>) -> tidings::Result<()> {
    for n in 0.. {
        events.emit(tick(n)).await?;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            _ = events.closed() => break,
        }
    }
    Ok(())
}

#[event_stream(path = "/resumed")]
async fn resumed(events: Emitter<Feed>) -> tidings::Result<()> {
    let id = events.last_event_id().map(str::to_owned);
    events.emit(Feed::Resumed(id)).await?;
    Ok(())
}

#[event_stream(path = "/feed")]
async fn feed(State(hub): State<Hub<Feed>>, events: Emitter<Feed>) -> tidings::Result<()> {
    events
        .forward(hub.subscribe(events.last_event_id()).await)
        .await?;
    Ok(())
}

#[derive(Deserialize, JsonSchema, Validate)]
struct Order {
    #[allow(dead_code)]
    item: String,
}

#[event_stream(path = "/orders", method = "POST")]
async fn orders(Json(_order): Json<Order>, events: Emitter<Feed>) -> tidings::Result<()> {
    events.emit(Feed::Done).await?;
    Ok(())
}

#[derive(Deserialize, JsonSchema, Validate)]
struct Page {
    limit: Option<u32>,
    from: u32,
}

#[event_stream(path = "/page")]
async fn page(Query(page): Query<Page>, events: Emitter<Feed>) -> tidings::Result<()> {
    events
        .emit(tick(page.limit.map_or(0, u64::from) + u64::from(page.from)))
        .await?;
    Ok(())
}

fn app() -> Router {
    Router::new()
        .route(ticks)
        .route(resumed)
        .route(orders)
        .route(page)
}

/// Reads until the peer closes; how long that took, or `None` if it did not within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut sink = [0u8; 4096];
    tokio::time::timeout(limit, async {
        while stream.read(&mut sink).await.unwrap_or(0) > 0 {}
    })
    .await
    .ok()
    .map(|()| start.elapsed())
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_head_timeout() {
    let server = TestServer::start_with(app(), |serve| {
        serve.header_read_timeout(Duration::from_millis(300))
    })
    .await;
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let closed = closed_within(&mut silent, PATIENCE)
        .await
        .expect("the server closed the silent connection");
    assert!(closed >= Duration::from_millis(250), "{closed:?}");
    // A client that talks is served as usual.
    let mut response = server.get("/ticks").await;
    assert_eq!(response.status, 200);
    response.event().await;
}

#[tokio::test]
async fn an_http2_connection_without_streams_is_closed_after_the_idle_timeout() {
    let server = TestServer::start_with(app(), |serve| {
        serve.idle_timeout(Duration::from_millis(300))
    })
    .await;
    // One stream that ends, then nothing. (Before its first stream a connection is bounded by
    // the request-head timeout instead: `tests/server_limits.rs`.)
    let mut idle = RawH2::connect(server.addr).await;
    let first = idle.get("/resumed").await;
    idle.rest_of(first).await;
    let start = Instant::now();
    assert!(idle.read_until(|h2| h2.goaway.is_some()).await);
    assert_eq!(idle.goaway, Some(0), "GOAWAY with NO_ERROR");
    assert!(start.elapsed() >= Duration::from_millis(250));
    assert!(closed_within(&mut idle.stream, PATIENCE).await.is_some());

    // A connection with a stream open stays, however long the stream lasts.
    let mut busy = RawH2::connect(server.addr).await;
    let stream = busy.get("/ticks").await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let before = busy.data.get(&stream).map_or(0, |d| d.0.len());
    assert!(
        busy.read_until(|h2| h2
            .data
            .get(&stream)
            .is_some_and(|d| d.0.len() > before + 200))
            .await
    );
    assert_eq!(busy.goaway, None);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_connections_that_stream_nothing() {
    let mut server =
        TestServer::start_with(app(), |serve| serve.grace_period(Duration::from_secs(30))).await;
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    let _preface_only = RawH2::connect(server.addr).await;
    // An HTTP/1.1 connection idle between two requests.
    let mut keep_alive = TcpStream::connect(server.addr).await.unwrap();
    keep_alive
        .write_all(b"GET /nowhere HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    assert!(keep_alive.read(&mut answer).await.unwrap() > 0);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let start = Instant::now();
    let stopped = server.begin_shutdown();
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("shutdown did not wait for the grace period")
        .unwrap()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_body_that_stops_arriving_answers_408() {
    let server = TestServer::start(app().body_timeout(Duration::from_millis(300))).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              content-length: 1000\r\n\r\n{\"item\":",
        )
        .await
        .unwrap();
    let start = Instant::now();
    let mut response = RawResponse::read_head(stream).await;
    assert_eq!(response.status, 408);
    assert!(start.elapsed() >= Duration::from_millis(250));
    let body: serde_json::Value = serde_json::from_str(&response.rest().await).unwrap();
    assert_eq!(body["status"], 408);

    // Trickled chunks are bounded by the same deadline, however steadily they come.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST /orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
              transfer-encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            if stream.write_all(b"1\r\n \r\n").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stream
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let stream = trickle.await.unwrap();
    let response = RawResponse::read_head(stream).await;
    assert_eq!(response.status, 408);

    // A body that arrives in time is read.
    let mut response = RawResponse::send(
        server.addr,
        "POST",
        "/orders",
        &[
            ("content-type", "application/json"),
            ("content-length", "0"),
        ],
    )
    .await;
    assert_eq!(response.status, 400, "an empty body is malformed JSON");
    response.rest().await;
}

/// Sends a request with a `Last-Event-ID` of raw bytes.
async fn with_last_event_id(server: &TestServer, path: &str, id: &[u8]) -> RawResponse {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nlast-event-id: ").into_bytes();
    request.extend_from_slice(id);
    request.extend_from_slice(b"\r\n\r\n");
    stream.write_all(&request).await.unwrap();
    RawResponse::read_head(stream).await
}

async fn resumed_id(response: &mut RawResponse) -> Option<String> {
    let event = parse_frame(&response.event().await).unwrap();
    match Feed::decode(&event.event, &event.data).unwrap() {
        Feed::Resumed(id) => id,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_utf8_last_event_id_reaches_the_handler() {
    let server = TestServer::start(app()).await;
    let mut response = with_last_event_id(&server, "/resumed", "étape-7 ✓".as_bytes()).await;
    assert_eq!(
        resumed_id(&mut response).await.as_deref(),
        Some("étape-7 ✓")
    );

    // Not UTF-8: the query parameter of polyfills takes over...
    let mut response = with_last_event_id(&server, "/resumed?lastEventId=q-1", b"\xff\xfe").await;
    assert_eq!(resumed_id(&mut response).await.as_deref(), Some("q-1"));
    // ...and without one the id is kept, its bad bytes replaced: the client did see something.
    let mut response = with_last_event_id(&server, "/resumed", b"a\xffb").await;
    assert_eq!(
        resumed_id(&mut response).await.as_deref(),
        Some("a\u{fffd}b")
    );
}

#[tokio::test]
async fn a_hub_resets_a_client_whose_id_is_not_utf8_instead_of_starting_it_live() {
    let hub = Hub::new();
    let server = TestServer::start(Router::new().route(feed).with_state(hub.clone())).await;
    hub.publish(tick(1)).await.unwrap();
    for id in ["é-1".as_bytes(), b"\xff-1"] {
        let mut response = with_last_event_id(&server, "/feed", id).await;
        let reset = parse_frame(&response.frame().await).unwrap();
        assert_eq!(reset.event, RESET_EVENT, "{id:?}");
    }
}

#[tokio::test]
async fn accept_is_decided_by_its_most_specific_range() {
    let server = TestServer::start(app()).await;
    for (accept, status) in [
        ("text/event-stream;q=0, */*", 406),
        ("*/*, text/event-stream; Q=0", 406),
        ("text/*;q=0, text/event-stream", 200),
        ("text/event-stream;q=0.5, */*;q=0", 200),
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let request = format!("GET /resumed HTTP/1.1\r\nhost: x\r\naccept: {accept}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let response = RawResponse::read_head(stream).await;
        assert_eq!(response.status, status, "{accept}");
    }
}

#[tokio::test]
async fn query_errors_name_their_field_and_empty_values_count_as_missing() {
    let server = TestServer::start(app()).await;
    let problem = |mut response: RawResponse| async move {
        assert_eq!(response.status, 400);
        let body: serde_json::Value = serde_json::from_str(&response.rest().await).unwrap();
        body["errors"][0].clone()
    };
    let error = problem(server.get("/page?from=1&limit=ten").await).await;
    assert_eq!(error["path"], "limit", "{error}");
    assert_eq!(error["location"], "query");
    // An empty value is what an HTML form sends for an empty input: missing.
    let mut response = server.get("/page?from=2&limit=").await;
    assert_eq!(response.status, 200);
    let event = parse_frame(&response.event().await).unwrap();
    assert_eq!(Feed::decode(&event.event, &event.data).unwrap(), tick(2));
    // Missing where it is required, it is an error that names the field.
    let error = problem(server.get("/page?from=").await).await;
    assert_eq!(error["path"], "from", "{error}");
}

#[tokio::test]
async fn past_max_connections_new_clients_get_503_and_open_streams_go_on() {
    let server = TestServer::start_with(app(), |serve| serve.max_connections(2)).await;
    let mut first = server.get("/ticks").await;
    let mut second = server.get("/ticks").await;
    first.event().await;
    second.event().await;

    let mut refused = server.get("/ticks").await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    let body: serde_json::Value = serde_json::from_str(&refused.rest().await).unwrap();
    assert_eq!(body["status"], 503);
    // HTTP/2 clients are told with GOAWAY before any stream.
    let mut h2 = RawH2::connect(server.addr).await;
    assert!(h2.read_until(|h2| h2.goaway.is_some()).await);
    assert_eq!(h2.goaway, Some(0xb), "ENHANCE_YOUR_CALM");

    // The open streams never noticed.
    for _ in 0..5 {
        first.event().await;
        second.event().await;
    }
    // A connection that closes makes room.
    drop(first);
    let mut third = None;
    for _ in 0..100 {
        let response = server.get("/ticks").await;
        if response.status == 200 {
            third = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    third.expect("a new client was served").event().await;
}

#[tokio::test]
async fn an_http2_connection_opens_at_most_the_configured_streams() {
    let server = TestServer::start_with(app(), |serve| serve.max_streams_per_connection(3)).await;
    let mut h2 = RawH2::connect(server.addr).await;
    let streams = [
        h2.get("/ticks").await,
        h2.get("/ticks").await,
        h2.get("/ticks").await,
    ];
    // Read until the server's SETTINGS and data on every stream have come.
    assert!(
        h2.read_until(
            |h2| streams.iter().all(|id| h2.data.contains_key(id)) && !h2.settings.is_empty()
        )
        .await
    );
    assert_eq!(h2.setting(0x3), Some(3), "SETTINGS_MAX_CONCURRENT_STREAMS");
    let fourth = h2.get("/ticks").await;
    assert!(h2.read_until(|h2| h2.resets.contains_key(&fourth)).await);
    assert_eq!(h2.resets[&fourth], 0x7, "REFUSED_STREAM");
    assert!(streams.iter().all(|id| !h2.resets.contains_key(id)));
}

#[tokio::test]
async fn a_stream_ends_after_its_lifetime_and_a_hub_client_resumes_without_loss() {
    let server = TestServer::start(
        app()
            .max_stream_duration(Some(Duration::from_millis(300)))
            .heartbeat(None),
    )
    .await;
    let start = Instant::now();
    let mut response = server.get("/ticks").await;
    let rest = response.rest().await;
    let lived = start.elapsed();
    assert!(
        (Duration::from_millis(280)..Duration::from_secs(3)).contains(&lived),
        "{lived:?}"
    );
    assert!(rest.matches("event: tick").count() >= 5, "{rest}");

    let hub = Hub::new();
    let server = TestServer::start(
        Router::new()
            .route(feed)
            .with_state(hub.clone())
            .max_stream_duration(Some(Duration::from_millis(150))),
    )
    .await;
    let mut client = ResumingClient::new(server.addr, "/feed");
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let event = client.next().await;
            if event.event == "tidings.end" {
                // Each cut is the server's own: its last event says why.
                assert_eq!(event.data, r#"{"reason":"lifetime","reconnect":true}"#);
                continue;
            }
            match Feed::decode(&event.event, &event.data).unwrap() {
                Feed::Tick { n, .. } => seen.push(n),
                Feed::Done => return (seen, client.connects),
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    while hub.stats().subscribers == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for n in 1..=200 {
        hub.publish(tick(n)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    hub.publish(Feed::Done).await.unwrap();
    let (seen, connects) = tokio::time::timeout(PATIENCE, reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen,
        (1..=200).collect::<Vec<_>>(),
        "nothing lost or repeated"
    );
    assert!(
        connects >= 3,
        "the stream ended and resumed: {connects} connections"
    );
}

#[tokio::test]
async fn streams_per_client_caps_one_address_and_frees_slots_when_streams_end() {
    let limit = StreamsPerClient::new(2);
    let server = TestServer::start(app().middleware(limit.clone())).await;
    let mut first = server.get("/ticks").await;
    let mut second = server.get("/ticks").await;
    first.event().await;
    second.event().await;
    assert_eq!(limit.open_streams("127.0.0.1".parse().unwrap()), 2);

    let mut refused = server.get("/ticks").await;
    assert_eq!(refused.status, 429);
    assert!(refused.header("retry-after").is_some());
    refused.rest().await;
    // Over HTTP/2 as well: the cap is per address, not per connection.
    let mut h2 = RawH2::connect(server.addr).await;
    let stream = h2.get("/ticks").await;
    assert!(
        h2.read_until(|h2| h2.data.get(&stream).is_some_and(|d| d.1))
            .await
    );

    drop(first);
    let mut admitted = None;
    for _ in 0..100 {
        let response = server.get("/ticks").await;
        if response.status == 200 {
            admitted = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    admitted.expect("a slot came free").event().await;
    second.event().await;
}

#[tokio::test]
async fn an_http2_subscriber_that_stops_reading_is_a_slow_consumer_like_any_other() {
    let options = HubOptions {
        window: WindowLimits {
            max_events: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_age: None,
        },
        subscriber_lag_bytes: 256 * 1024,
        slow_consumer: SlowConsumer::Disconnect,
    };
    let hub = Hub::with_options(options);
    let server = TestServer::start(
        Router::new()
            .route(feed)
            .with_state(hub.clone())
            .buffer_bytes(16 * 1024),
    )
    .await;
    let mut slow = RawH2::connect(server.addr).await;
    let stream = slow.get("/feed").await;
    while hub.stats().subscribers == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    const COUNT: u64 = 4000;
    let pad = "p".repeat(1000);
    for n in 1..=COUNT {
        hub.publish(Feed::Tick {
            n,
            pad: pad.clone(),
        })
        .await
        .unwrap();
        if n % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    hub.publish(Feed::Done).await.unwrap();
    // The client reads at last: what was buffered, then the end of a cut-off stream.
    let rest = slow.rest_of(stream).await;
    let delivered = rest.matches("event: tick").count();
    assert!(
        delivered < COUNT as usize,
        "the stream was cut off after what was buffered: {delivered}"
    );
    assert!(!rest.contains("event: done"));
    assert_eq!(hub.stats().disconnected, 1);
}

/// Events as fast as the client reads them, for as long as it stays.
#[event_stream(path = "/flood")]
async fn flood(events: Emitter<Feed>) -> tidings::Result<()> {
    for n in 0.. {
        events.emit(tick(n)).await?;
    }
    Ok(())
}

// Three clients that read as fast as a handler emits, on a server with two workers (and a
// publisher that never pauses): a new connection must still be answered at once. Before each
// emit and each chunk cost the task a unit of tokio's budget, a flooding stream's task ran for
// seconds without yielding, the I/O driver went unpolled, and the new connection waited in the
// listen queue for as long as the floods lasted (axum answered it in 60 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_accepted_while_every_worker_is_busy() {
    use std::io::{Read, Write};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = Hub::<Feed>::new();
    let publisher = tokio::spawn(async move {
        for n in 0.. {
            if n % 64 == 0 {
                tokio::task::yield_now().await;
            }
            let _ = hub.publish(tick(n)).await;
        }
    });
    // The clients, and the verdict, on threads of their own with wall-clock deadlines: the
    // test's future cannot time anything while it is starved.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let clients = std::thread::spawn(move || {
        for _ in 0..3 {
            let mut flood = std::net::TcpStream::connect(addr).unwrap();
            flood
                .write_all(b"GET /flood HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            std::thread::spawn(move || {
                let mut sink = vec![0u8; 64 * 1024];
                while matches!(flood.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let mut late = std::net::TcpStream::connect(addr).unwrap();
        late.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        late.write_all(b"GET /ticks HTTP/1.1\r\nhost: x\r\n\r\n")
            .unwrap();
        let mut head = [0u8; 12];
        let answer = late.read_exact(&mut head).map(|()| head);
        let _ = stop.send(());
        (answer, started.elapsed())
    });
    tidings::serve(Router::new().route(flood).route(ticks))
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .grace_period(Duration::from_secs(1))
        .run(listener)
        .await
        .unwrap();
    publisher.abort();
    let (answer, took) = clients.join().unwrap();
    let head = answer
        .unwrap_or_else(|e| panic!("no answer in {took:?} to a connection made under load: {e}"));
    assert_eq!(&head, b"HTTP/1.1 200");
}
