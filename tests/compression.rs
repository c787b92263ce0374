//! Compressed streams (feature `compression`), over real sockets: each encoding negotiated from
//! `Accept-Encoding`, every event decodable as soon as it is emitted (nothing held in a
//! compressor), over HTTP/1.1, HTTP/2 and TLS; identity when the client offers nothing, when the
//! router does not compress, and when the server's budget has no room; the Rust client decodes;
//! curl `--compressed` reads the same events.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use tidings::client::{Client, Update};
use tidings::compression::{Compression, Encoding};
use tidings::server::TlsConfig;
use tidings::{Emitter, FromRequest, Rejection, RequestContext, Router, event_stream};
use tidings_tests::decode::Decoder;
use tidings_tests::tls::{Certificate, connect};
use tidings_tests::{PATIENCE, TestServer};
use tokio::net::TcpStream;

#[event_stream]
enum Stamp {
    /// `sent_us`: when the handler emitted it, in microseconds since the Unix epoch.
    Stamp { n: u64, sent_us: u64, note: String },
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Five events, 200 ms apart, then the end: an event held in a compressor until the next one
/// would arrive 200 ms late.
#[event_stream(path = "/slow")]
async fn slow(events: Emitter<Stamp>) -> tidings::Result<()> {
    five_stamps(events).await
}

async fn five_stamps(events: Emitter<Stamp>) -> tidings::Result<()> {
    for n in 0..5 {
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let note = "the same words in every event compress well ".repeat(2);
        events
            .emit(Stamp::Stamp {
                n,
                sent_us: now_us(),
                note,
            })
            .await?;
    }
    Ok(())
}

/// The same stream, never compressed.
#[event_stream(path = "/plain", compress = false)]
async fn plain(events: Emitter<Stamp>) -> tidings::Result<()> {
    five_stamps(events).await
}

/// The same stream, compressed even on a router that does not compress.
#[event_stream(path = "/always", compress = true)]
async fn always(events: Emitter<Stamp>) -> tidings::Result<()> {
    five_stamps(events).await
}

fn compressing() -> Router {
    Router::new()
        .route(slow)
        .route(plain)
        .route(always)
        .compression(Compression::new())
}

/// How a test reaches the server.
#[derive(Clone, Copy, Debug)]
enum Transport {
    Http1,
    /// HTTP/2 in cleartext, with prior knowledge.
    H2c,
    /// HTTPS, HTTP/2 or HTTP/1.1 by ALPN.
    Tls(&'static [u8]),
}

/// `GET path` with `Accept-Encoding: accept_encoding` (none when `None`).
async fn get(
    addr: SocketAddr,
    transport: Transport,
    trusted: Option<&CertificateDer<'static>>,
    path: &str,
    accept_encoding: Option<&str>,
) -> http::Response<hyper::body::Incoming> {
    let mut request =
        http::Request::get(format!("http://localhost{path}")).header("accept", "text/event-stream");
    if let Some(accept_encoding) = accept_encoding {
        request = request.header("accept-encoding", accept_encoding);
    }
    let request = request.body(Empty::<Bytes>::new()).unwrap();
    let tcp = || TcpStream::connect(addr);
    match transport {
        Transport::Http1 => send_http1(TokioIo::new(tcp().await.unwrap()), request).await,
        Transport::H2c => send_h2(TokioIo::new(tcp().await.unwrap()), request).await,
        Transport::Tls(alpn) => {
            let tls = connect(addr, trusted.expect("a certificate"), &[alpn]).await;
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
            if alpn == b"h2" {
                send_h2(TokioIo::new(tls), request).await
            } else {
                send_http1(TokioIo::new(tls), request).await
            }
        }
    }
}

async fn send_http1<I>(
    io: I,
    request: http::Request<Empty<Bytes>>,
) -> http::Response<hyper::body::Incoming>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    sender.send_request(request).await.unwrap()
}

async fn send_h2<I>(
    io: I,
    request: http::Request<Empty<Bytes>>,
) -> http::Response<hyper::body::Incoming>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    tokio::spawn(connection);
    sender.send_request(request).await.unwrap()
}

/// What a client read of a stream.
struct Read {
    content_encoding: Option<String>,
    vary: Option<String>,
    /// Each event's data line, with how long after its emit the client could decode it.
    events: Vec<(String, Duration)>,
    /// The bytes that crossed the wire, and the text they decode to.
    wire_bytes: usize,
    text_bytes: usize,
}

/// Reads the whole of a stream, decoding each chunk as it arrives.
async fn read(response: http::Response<hyper::body::Incoming>) -> Read {
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (content_encoding, vary) = (header("content-encoding"), header("vary"));
    let mut decoder = Decoder::new(content_encoding.as_deref());
    let mut body = response.into_body();
    let (mut events, mut wire_bytes, mut text_bytes) = (Vec::new(), 0, 0);
    while let Some(frame) = tokio::time::timeout(PATIENCE, body.frame())
        .await
        .expect("data in time")
    {
        let Ok(data) = frame.expect("the stream goes on").into_data() else {
            continue;
        };
        let received = now_us();
        wire_bytes += data.len();
        let text = decoder.feed(&data);
        text_bytes += text.len();
        let text = String::from_utf8(std::mem::take(text)).expect("UTF-8 text");
        for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(sent) = value["sent_us"].as_u64() {
                events.push((line.to_owned(), Duration::from_micros(received - sent)));
            }
        }
    }
    decoder.finish();
    Read {
        content_encoding,
        vary,
        events,
        wire_bytes,
        text_bytes,
    }
}

/// The five events arrived, each within 100 ms of its emit.
fn assert_on_time(read: &Read, what: &str) {
    assert_eq!(read.events.len(), 5, "{what}: {:?}", read.events);
    for (event, delay) in &read.events {
        assert!(
            *delay < Duration::from_millis(100),
            "{what}: {event} came {delay:?} after its emit"
        );
    }
}

#[tokio::test]
async fn each_encoding_delivers_every_event_as_it_is_emitted_and_ends_whole() {
    let server = TestServer::start(compressing()).await;
    for encoding in ["zstd", "br", "gzip", "deflate"] {
        let response = get(server.addr, Transport::Http1, None, "/slow", Some(encoding)).await;
        let read = read(response).await;
        assert_eq!(read.content_encoding.as_deref(), Some(encoding));
        assert_eq!(read.vary.as_deref(), Some("accept-encoding"));
        assert_on_time(&read, encoding);
        assert!(
            read.wire_bytes * 2 < read.text_bytes,
            "{encoding}: {} bytes on the wire for {} of text",
            read.wire_bytes,
            read.text_bytes
        );
    }
}

#[tokio::test]
async fn the_clients_q_values_choose_and_nothing_acceptable_is_identity() {
    let server = TestServer::start(compressing()).await;
    let cases = [
        (Some("gzip, deflate, br, zstd"), Some("gzip")),
        (Some("deflate, br, zstd"), Some("zstd")),
        (Some("gzip;q=0.8, br"), Some("br")),
        (Some("*;q=0.5, gzip;q=0"), Some("zstd")),
        (None, None),
        (Some("identity"), None),
        (Some("compress, zstd;q=0"), None),
    ];
    for (offered, chosen) in cases {
        let read = read(get(server.addr, Transport::Http1, None, "/slow", offered).await).await;
        assert_eq!(
            read.content_encoding.as_deref(),
            chosen,
            "offered {offered:?}"
        );
        // The answer depends on Accept-Encoding, compressed or not: caches must know.
        assert_eq!(read.vary.as_deref(), Some("accept-encoding"));
        assert_on_time(&read, &format!("{offered:?}"));
    }
}

#[tokio::test]
async fn compression_is_off_unless_asked_for_and_a_route_can_say_otherwise() {
    let server = TestServer::start(compressing()).await;
    let read_of = |path| get(server.addr, Transport::Http1, None, path, Some("gzip"));
    let plain = read(read_of("/plain").await).await;
    assert_eq!((&plain.content_encoding, &plain.vary), (&None, &None));
    assert_on_time(&plain, "compress = false");

    let server = TestServer::start(Router::new().route(slow).route(always)).await;
    let default = read(get(server.addr, Transport::Http1, None, "/slow", Some("gzip")).await).await;
    assert_eq!((default.content_encoding, default.vary), (None, None));
    let always =
        read(get(server.addr, Transport::Http1, None, "/always", Some("gzip")).await).await;
    assert_eq!(always.content_encoding.as_deref(), Some("gzip"));
    assert_on_time(&always, "compress = true");
}

#[tokio::test]
async fn http2_and_tls_streams_compress_alike() {
    let server = TestServer::start(compressing()).await;
    let read_h2c = read(get(server.addr, Transport::H2c, None, "/slow", Some("zstd")).await).await;
    assert_eq!(read_h2c.content_encoding.as_deref(), Some("zstd"));
    assert_on_time(&read_h2c, "h2c");

    let cert = Certificate::localhost();
    let tls = TlsConfig::from_pem(cert.chain_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = TestServer::start_with(compressing(), |serve| serve.tls(tls)).await;
    for (alpn, encoding) in [(&b"h2"[..], "br"), (&b"http/1.1"[..], "gzip")] {
        let transport = Transport::Tls(alpn);
        let response = get(
            server.addr,
            transport,
            Some(&cert.der),
            "/slow",
            Some(encoding),
        )
        .await;
        let read = read(response).await;
        assert_eq!(read.content_encoding.as_deref(), Some(encoding));
        assert_on_time(&read, &format!("TLS {}", String::from_utf8_lossy(alpn)));
    }
}

#[tokio::test]
async fn a_stream_the_budget_has_no_room_for_goes_uncompressed() {
    // Room for two zstd compressors, not three.
    let budget = 2 * Encoding::Zstd.memory() + Encoding::Zstd.memory() / 2;
    let server =
        TestServer::start_with(compressing(), |serve| serve.max_queued_bytes(budget)).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(get(server.addr, Transport::Http1, None, "/slow", Some("zstd")).await);
    }
    let encodings: Vec<_> = open
        .iter()
        .map(|r| {
            r.headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(
        encodings,
        [Some("zstd".to_owned()), Some("zstd".to_owned()), None]
    );
    for response in open {
        assert_eq!(read(response).await.events.len(), 5);
    }
    // The compressors' memory was given back: a new stream compresses again.
    let again = read(get(server.addr, Transport::Http1, None, "/slow", Some("zstd")).await).await;
    assert_eq!(again.content_encoding.as_deref(), Some("zstd"));
}

#[tokio::test]
async fn the_rust_client_asks_for_and_decodes_compressed_streams() {
    let server = TestServer::start(compressing()).await;
    // Its own offer (gzip, the server's first choice), then each other encoding alone.
    for only in [None, Some("zstd"), Some("br"), Some("deflate")] {
        let mut subscribe = Client::new()
            .subscribe::<Stamp>(&format!("http://{}/slow", server.addr))
            .unwrap();
        if let Some(only) = only {
            subscribe = subscribe.header(
                http::header::ACCEPT_ENCODING,
                http::HeaderValue::from_static(only),
            );
        }
        let mut subscription = subscribe.start();
        for expected in 0..5 {
            let update = tokio::time::timeout(PATIENCE, subscription.next())
                .await
                .expect("an event in time")
                .expect("the subscription goes on");
            let Ok(Update::Event {
                event: Stamp::Stamp { n, sent_us, .. },
                ..
            }) = update
            else {
                panic!("{only:?}: expected event {expected}, got something else");
            };
            assert_eq!(n, expected, "{only:?}");
            let delay = Duration::from_micros(now_us() - sent_us);
            assert!(
                delay < Duration::from_millis(100),
                "{only:?}: event {n} came {delay:?} late"
            );
        }
    }
}

/// What the client asks for by default, and that the stream it read was compressed: a route
/// that answers with the request's `Accept-Encoding`.
#[event_stream]
enum Asked {
    Asked { accept_encoding: Option<String> },
}

/// The request's `Accept-Encoding`.
struct AcceptEncoding(Option<String>);

impl FromRequest for AcceptEncoding {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let value = cx.headers().get("accept-encoding");
        Ok(AcceptEncoding(
            value.map(|v| v.to_str().unwrap_or("").to_owned()),
        ))
    }
}

#[event_stream(path = "/asked")]
async fn asked(events: Emitter<Asked>, offered: AcceptEncoding) -> tidings::Result<()> {
    let accept_encoding = offered.0;
    events.emit(Asked::Asked { accept_encoding }).await?;
    events.closed().await;
    Ok(())
}

#[tokio::test]
async fn the_rust_client_offers_every_encoding_it_decodes() {
    let server =
        TestServer::start(Router::new().route(asked).compression(Compression::new())).await;
    let mut subscription = Client::new()
        .subscribe::<Asked>(&format!("http://{}/asked", server.addr))
        .unwrap()
        .start();
    let update = tokio::time::timeout(PATIENCE, subscription.next())
        .await
        .unwrap()
        .unwrap();
    let Ok(Update::Event {
        event: Asked::Asked { accept_encoding },
        ..
    }) = update
    else {
        panic!("expected the event");
    };
    assert_eq!(accept_encoding.as_deref(), Some("zstd, br, gzip, deflate"));
}

/// curl, the way the README shows the clock: `--compressed` asks for what curl decodes.
#[tokio::test]
async fn curl_compressed_reads_the_same_events() {
    let server = TestServer::start(compressing()).await;
    let url = format!("http://{}/slow", server.addr);
    let curl = move || {
        std::process::Command::new("curl")
            .args(["--compressed", "-sSN", "--max-time", "10", "-D", "-", &url])
            .output()
    };
    let output = tokio::task::spawn_blocking(curl)
        .await
        .unwrap()
        .unwrap_or_else(|error| tidings_tests::cannot_start("curl", "apt-get install curl", error));
    assert!(output.status.success(), "curl failed: {output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(
        head.contains("content-encoding: zstd")
            || head.contains("content-encoding: br")
            || head.contains("content-encoding: gzip"),
        "curl got no compressed stream:\n{head}"
    );
    let numbers: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["n"].as_u64())
        .collect();
    assert_eq!(numbers, [0, 1, 2, 3, 4], "curl printed:\n{text}");
    assert!(text.contains("event: tidings.end"), "curl printed:\n{text}");
}
