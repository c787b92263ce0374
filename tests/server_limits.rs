//! The server's own bounds on what any request may hold, whatever app it serves: request heads,
//! request bodies (an axum route's too), connections per address, the first stream of an
//! HTTP/2 connection, shutdown with requests that never became streams, and a peer that
//! stops reading. Each over real sockets, each failing without its bound.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use tidings::{Emitter, Json, Router, Validate, event_stream};
use tidings_tests::raw_h2::RawH2;
use tidings_tests::{PATIENCE, RawResponse, TestServer, stalled_reader};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

#[event_stream]
enum Feed {
    Tick { n: u64, pad: String },
}

/// A tick every 20 ms until the client leaves (or the server shuts down).
#[event_stream(path = "/ticks")]
async fn ticks(events: Emitter<Feed>) -> tidings::Result<()> {
    for n in 0.. {
        events
            .emit(Feed::Tick {
                n,
                pad: String::new(),
            })
            .await?;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            _ = events.closed() => break,
        }
    }
    Ok(())
}

/// 4 KiB ticks as fast as the client takes them.
#[event_stream(path = "/firehose")]
async fn firehose(events: Emitter<Feed>) -> tidings::Result<()> {
    let pad = "f".repeat(4096);
    for n in 0.. {
        events
            .emit(Feed::Tick {
                n,
                pad: pad.clone(),
            })
            .await?;
    }
    Ok(())
}

#[derive(serde::Deserialize, schemars::JsonSchema, Validate)]
struct Order {
    #[allow(dead_code)]
    item: String,
}

#[event_stream(path = "/orders", method = "POST")]
async fn orders(Json(_order): Json<Order>, events: Emitter<Feed>) -> tidings::Result<()> {
    events
        .emit(Feed::Tick {
            n: 0,
            pad: String::new(),
        })
        .await?;
    Ok(())
}

fn streams() -> Router {
    Router::new().route(ticks).route(firehose).route(orders)
}

/// An axum app with an upload route that reads its whole body (axum's own limit off, so that
/// only the server's apply), and the tidings routes under `/events`.
fn axum_app() -> axum::Router {
    axum::Router::new()
        .route(
            "/upload",
            axum::routing::post(|body: String| async move { format!("{} bytes", body.len()) }),
        )
        .layer(DefaultBodyLimit::disable())
        .nest_service("/events", streams().into_service().unwrap())
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

/// The status of the response on `stream`, read to its end (the server closes after it).
async fn status_of(stream: TcpStream) -> u16 {
    RawResponse::read_head(stream).await.status
}

fn upload_head(addr: SocketAddr, length: usize) -> String {
    format!(
        "POST /upload HTTP/1.1\r\nhost: {addr}\r\ncontent-type: text/plain\r\n\
         content-length: {length}\r\n\r\n"
    )
}

#[tokio::test]
async fn a_stalled_body_on_an_axum_route_is_cut_at_the_server_deadline() {
    let server = TestServer::serve_service_with(axum_app(), |serve| {
        serve.body_timeout(Duration::from_millis(400))
    })
    .await;
    // HTTP/1.1: twenty uploads that stop halfway, each holding 256 KiB of its body.
    let half = vec![b'x'; 256 * 1024];
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(upload_head(server.addr, 1024 * 1024).as_bytes())
            .await
            .unwrap();
        stream.write_all(&half).await.unwrap();
        stalled.push(stream);
    }
    let start = Instant::now();
    for mut stream in stalled {
        let mut head = [0u8; 12];
        tokio::time::timeout(PATIENCE, stream.read_exact(&mut head))
            .await
            .expect("an answer before the test's patience")
            .unwrap();
        // axum answers a body that failed to arrive with 400.
        assert_eq!(
            &head,
            b"HTTP/1.1 400",
            "{:?}",
            String::from_utf8_lossy(&head)
        );
        assert!(
            closed_within(&mut stream, PATIENCE).await.is_some(),
            "the connection closes after the answer"
        );
    }
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");

    // HTTP/2: a stream whose body never comes is answered too, and the connection goes on.
    let mut h2 = RawH2::connect(server.addr).await;
    let upload = h2
        .open(
            "POST",
            &[("content-type", "text/plain"), ("content-length", "1000")],
            "/upload",
            false,
        )
        .await;
    h2.send_data(upload, b"half of it", false).await;
    let start = Instant::now();
    h2.rest_of(upload).await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    let stream = h2.get("/events/ticks").await;
    assert!(
        h2.read_until(|h2| h2.data.get(&stream).is_some_and(|d| !d.0.is_empty()))
            .await
    );

    // A body that arrives in time is read whole.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let mut request = upload_head(server.addr, 5).into_bytes();
    request.extend_from_slice(b"hello");
    stream.write_all(&request).await.unwrap();
    let mut response = RawResponse::read_head(stream).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.rest().await, "5 bytes");
}

#[tokio::test]
async fn a_body_larger_than_the_server_takes_is_refused_whoever_reads_it() {
    let server =
        TestServer::serve_service_with(axum_app(), |serve| serve.max_body_bytes(64 * 1024)).await;
    let too_long = vec![b'y'; 100 * 1024];
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(upload_head(server.addr, too_long.len()).as_bytes())
        .await
        .unwrap();
    // The server may answer before it has read everything: write from another task.
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&too_long).await;
        writer
    });
    let mut head = [0u8; 12];
    tokio::time::timeout(PATIENCE, reader.read_exact(&mut head))
        .await
        .expect("an answer in time")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    drop(writing);

    // Within the limit: read.
    let body = vec![b'z'; 60 * 1024];
    let response = RawResponse::send_body(
        server.addr,
        "POST",
        "/upload",
        &[("content-type", "text/plain"), ("content-length", "61440")],
        &body,
    )
    .await;
    assert_eq!(response.status, 200);
}

#[tokio::test]
async fn request_heads_are_bounded() {
    let server = TestServer::start_with(streams(), |serve| serve.max_header_bytes(16 * 1024)).await;
    // A head of 12 KiB (a few big cookies) is served.
    let cookie = "c".repeat(12 * 1024);
    let mut response =
        RawResponse::send(server.addr, "GET", "/ticks", &[("cookie", &cookie)]).await;
    assert_eq!(response.status, 200);
    response.event().await;

    // Heads that never end are refused once they pass the limit, not buffered up to 400 KB.
    let mut refused = Vec::new();
    for _ in 0..50 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(b"GET /ticks HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let line = format!("x-filler: {}\r\n", "f".repeat(1000));
        // 24 KiB of header lines, and no end of the head.
        for _ in 0..24 {
            if stream.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
        refused.push(stream);
    }
    for stream in refused {
        assert_eq!(status_of(stream).await, 431);
    }

    // HTTP/2 has the same bound on its header list (each field counts its name, its value
    // and 32): 120 fields of 144 are 17 KB, in a HEADERS frame of 14 KB (under the 16 KiB
    // largest frame).
    let mut h2 = RawH2::connect(server.addr).await;
    let line = "h".repeat(100);
    let big: Vec<(String, String)> = (0..120)
        .map(|i| (format!("x-filler-{i:03}"), line.clone()))
        .collect();
    let headers: Vec<(&str, &str)> = big.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let stream = h2.request(&headers, "/ticks").await;
    let answered = h2
        .read_until(|h2| h2.data.get(&stream).is_some_and(|d| d.1))
        .await;
    eprintln!(
        "a 17 KB HTTP/2 header list: stream ended {answered}, reset {:?}, GOAWAY {:?}",
        h2.resets.get(&stream),
        h2.goaway
    );
    let served = h2.data.get(&stream).is_some_and(|d| !d.0.is_empty());
    assert!(!served, "a 17 KB header list is refused, not served");
    assert!(
        h2.resets.contains_key(&stream) || h2.goaway.is_some() || answered,
        "the refusal is said"
    );
}

/// A socket bound to `source` (another loopback address) before it connects.
async fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test]
async fn connections_per_address_are_capped_when_asked() {
    let server = TestServer::start_with(streams(), |serve| {
        serve.max_connections_per_address(Some(3))
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let response = RawResponse::send(server.addr, "GET", "/ticks", &[]).await;
        assert_eq!(response.status, 200);
        held.push(response);
    }
    // The fourth from the same address: 429 with Retry-After, and closed.
    let mut refused = RawResponse::send(server.addr, "GET", "/ticks", &[]).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("retry-after"), Some("1"));
    let problem: serde_json::Value = serde_json::from_str(&refused.rest().await).unwrap();
    assert_eq!(problem["status"], 429);

    // Another address is served.
    let mut other = connect_from("127.0.0.2", server.addr).await;
    other
        .write_all(b"GET /ticks HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(RawResponse::read_head(other).await.status, 200);

    // One closes: the address may open another.
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        let response = RawResponse::send(server.addr, "GET", "/ticks", &[]).await;
        if response.status == 200 {
            again = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a closed connection gives its place back");
}

#[tokio::test]
async fn an_http2_connection_opens_its_first_stream_within_the_head_timeout() {
    // The idle timeout is long; the time to a first stream is the request-head timeout.
    let server = TestServer::start_with(streams(), |serve| {
        serve
            .header_read_timeout(Duration::from_millis(300))
            .idle_timeout(Duration::from_secs(60))
    })
    .await;
    let mut preface_only = RawH2::connect(server.addr).await;
    let start = Instant::now();
    assert!(preface_only.read_until(|h2| h2.goaway.is_some()).await);
    let elapsed = start.elapsed();
    assert!(
        (Duration::from_millis(250)..Duration::from_secs(5)).contains(&elapsed),
        "{elapsed:?}"
    );
    assert!(
        closed_within(&mut preface_only.stream, PATIENCE)
            .await
            .is_some()
    );

    // After a first stream, the idle timeout applies: a connection whose stream ended stays.
    let mut used = RawH2::connect(server.addr).await;
    let stream = used.get("/nowhere").await;
    used.rest_of(stream).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let ping = used.get("/nowhere").await;
    used.rest_of(ping).await;
    assert_eq!(used.goaway, None);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_requests_that_never_became_streams() {
    let mut server = TestServer::start_with(streams(), |serve| {
        serve.grace_period(Duration::from_secs(30))
    })
    .await;
    // An unfinished request head.
    let mut head = TcpStream::connect(server.addr).await.unwrap();
    head.write_all(b"GET /ticks HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // A request body that stalls, over HTTP/1.1 and over HTTP/2.
    let mut body = TcpStream::connect(server.addr).await.unwrap();
    body.write_all(
        b"POST /orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 1000\r\n\r\n{\"item\":",
    )
    .await
    .unwrap();
    let mut h2 = RawH2::connect(server.addr).await;
    let stalled = h2
        .open(
            "POST",
            &[
                ("content-type", "application/json"),
                ("content-length", "100"),
            ],
            "/orders",
            false,
        )
        .await;
    h2.send_data(stalled, b"{\"item\":", false).await;
    // And a live stream, which ends when its handler sees the shutdown.
    let mut live = server.get("/ticks").await;
    live.event().await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let start = Instant::now();
    let stopped = server.begin_shutdown();
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the shutdown waited for requests that never became streams")
        .unwrap()
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(live.ends().await, "the live stream ended cleanly");
    for stream in [&mut head, &mut body] {
        assert!(
            closed_within(stream, Duration::from_secs(2))
                .await
                .is_some()
        );
    }
}

/// Whether the server closed `stream`: reads what is buffered, until the end or an error.
async fn server_closed(stream: &mut TcpStream) -> bool {
    closed_within(stream, Duration::from_secs(5))
        .await
        .is_some()
}

#[tokio::test]
async fn a_peer_that_stops_reading_counts_as_dead_after_the_dead_peer_timeout() {
    // One knob, documented as such: the kernel counts a peer that acknowledges nothing, and
    // one whose receive window stays closed, alike (`TCP_USER_TIMEOUT` on Linux).
    let strict = TestServer::start_with(streams(), |serve| {
        serve.dead_peer_timeout(Some(Duration::from_secs(2)))
    })
    .await;
    let off = TestServer::start_with(streams(), |serve| serve.dead_peer_timeout(None)).await;
    let mut cut = stalled_reader(strict.addr, "/firehose").await;
    let mut kept = stalled_reader(off.addr, "/firehose").await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert!(
        server_closed(&mut cut).await,
        "a reader stalled for 7 s is dropped with a 2 s dead-peer timeout"
    );
    // Without it, the stalled reader is kept: reading again, it gets more events.
    let mut buffer = vec![0u8; 64 * 1024];
    let mut read = 0;
    let start = Instant::now();
    while read < 256 * 1024 && start.elapsed() < PATIENCE {
        match tokio::time::timeout(Duration::from_secs(2), kept.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => read += n,
            other => panic!("the kept reader's stream ended: {other:?}"),
        }
    }
    assert!(read >= 256 * 1024);
}

#[tokio::test]
async fn stream_opens_are_rate_limited_per_client_and_clients_wait_it_out() {
    use tidings::EventSet;
    use tidings::client::{Client, Update};
    use tidings::limits::RateLimit;
    let limited = streams().middleware(RateLimit::every(Duration::from_millis(1500)).burst(2));
    let server = TestServer::start(limited).await;
    // A burst of two, then 429 with the wait in Retry-After.
    for _ in 0..2 {
        assert_eq!(server.get("/ticks").await.status, 200);
    }
    let mut refused = server.get("/ticks").await;
    assert_eq!(refused.status, 429);
    let wait: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    let problem: serde_json::Value = serde_json::from_str(&refused.rest().await).unwrap();
    assert_eq!(problem["status"], 429);
    assert_eq!(
        problem["detail"],
        "a client may send at most 2 requests at once, then one every 1.5 s"
    );
    // Another client address has its own bucket.
    let mut other = connect_from("127.0.0.3", server.addr).await;
    other
        .write_all(b"GET /ticks HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(RawResponse::read_head(other).await.status, 200);

    // tidings' client waits the 429 out, then streams.
    let start = Instant::now();
    let url = format!("http://{}/ticks", server.addr);
    let mut updates = Client::new()
        .subscribe::<Feed>(&url)
        .unwrap()
        .retry(Duration::from_millis(10))
        .start();
    let first = loop {
        let update = tokio::time::timeout(PATIENCE, updates.next())
            .await
            .expect("an update in time")
            .expect("the subscription goes on");
        match update {
            Ok(Update::Event { event, .. }) => break event,
            Ok(_) => continue,
            Err(error) => panic!("a 429 with Retry-After is not final: {error}"),
        }
    };
    assert_eq!(first.name(), "tick");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}
