//! tidings behind a real reverse proxy, configured with the file `deploy/` ships: two
//! instances (`tests/bin/deploy_server.rs`, separate processes) share a hub through a
//! `redis-server`, and the proxy balances between them; everything on free loopback ports,
//! started (and stopped, by PID) here.
//!
//! Through nginx, HAProxy and Caddy: events are not held back (latency through the proxy next to
//! direct, event by event), a quiet stream outlives the proxy's read timeout on heartbeats, a
//! client resumes through the proxy on either instance, and a rolling restart (SIGTERM to one
//! instance) moves the clients to the other with nothing lost and no `502`; a stream tidings
//! compresses passes through as it was encoded, each event on time.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use tidings::event::END_EVENT;
use tidings::hub::RESET_EVENT;
use tidings_tests::decode::Decoder;
use tidings_tests::deploy::{Instance, Proxy, StartProxy};
use tidings_tests::redis_server::RedisServer;
use tidings_tests::{RawResponse, parse_frame};

/// A deploy-server process on `redis`.
fn instance(redis: &RedisServer, heartbeat_ms: u64) -> Instance {
    Instance::start(
        Path::new(env!("CARGO_BIN_EXE_deploy-server")),
        redis,
        heartbeat_ms,
    )
}

/// Publishes tick `n` on the instance at `addr`; its event id.
async fn publish(addr: SocketAddr, n: u64) -> String {
    let body = format!("{{\"n\":{n}}}");
    let length = body.len().to_string();
    let mut response = RawResponse::send_body(
        addr,
        "POST",
        "/publish",
        &[
            ("content-type", "application/json"),
            ("content-length", &length),
            ("connection", "close"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(response.status, 201, "publish {n}");
    let answer: serde_json::Value = serde_json::from_str(&response.rest().await).unwrap();
    answer["id"].as_str().expect("an id").to_owned()
}

async fn subscribe(addr: SocketAddr, last_event_id: Option<&str>) -> RawResponse {
    let headers: Vec<(&str, &str)> = last_event_id
        .iter()
        .map(|id| ("last-event-id", *id))
        .collect();
    let response = RawResponse::send(addr, "GET", "/events", &headers).await;
    assert_eq!(response.status, 200, "{:?}", response.headers);
    response
}

/// The next tick of `stream` (heartbeats skipped): `(id, n)`; `None` when the stream ended
/// (`tidings.end`, as on a server's shutdown, or the connection closed) or nothing came within
/// `patience`.
async fn next_tick(stream: &mut RawResponse, patience: Duration) -> Option<(String, u64)> {
    let deadline = Instant::now() + patience;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(remaining, stream.next_frame())
            .await
            .ok()??;
        let Some(event) = parse_frame(&frame) else {
            continue; // a heartbeat
        };
        assert_ne!(event.event, RESET_EVENT, "no reset expected: {frame}");
        if event.event == END_EVENT {
            return None;
        }
        let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
        return Some((event.id.expect("an id"), data["n"].as_u64().unwrap()));
    }
}

/// Quantile `q` of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn events_arrive_as_soon_as_direct(start: StartProxy) {
    let redis = RedisServer::start();
    let (a, b) = (instance(&redis, 15_000), instance(&redis, 15_000));
    let proxy = start([a.addr, b.addr], "60s");
    let mut direct = subscribe(a.addr, None).await;
    let mut proxied = subscribe(proxy.addr, None).await;
    // Both streams hear every tick; the difference in arrival, event by event, is the proxy's.
    let mut direct_ms = Vec::new();
    let mut added_ms = Vec::new();
    for n in 1..=200 {
        let sent = Instant::now();
        publish(a.addr, n).await;
        let (_, got) = next_tick(&mut direct, Duration::from_secs(5))
            .await
            .expect("direct");
        let direct_at = sent.elapsed();
        let (_, through) = next_tick(&mut proxied, Duration::from_secs(5))
            .await
            .expect("an event held back by the proxy");
        let proxied_at = sent.elapsed();
        assert_eq!((got, through), (n, n));
        direct_ms.push(direct_at.as_secs_f64() * 1e3);
        added_ms.push((proxied_at.saturating_sub(direct_at)).as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    direct_ms.sort_by(f64::total_cmp);
    added_ms.sort_by(f64::total_cmp);
    eprintln!(
        "{}: publish-to-receive direct p50 {:.2} ms p99 {:.2} ms; added by the proxy p50 {:.2} ms p99 {:.2} ms",
        proxy.name,
        quantile(&direct_ms, 0.5),
        quantile(&direct_ms, 0.99),
        quantile(&added_ms, 0.5),
        quantile(&added_ms, 0.99)
    );
    // Generous: a buffering proxy holds small events for seconds (until its buffer fills).
    assert!(quantile(&added_ms, 0.99) < 50.0, "{added_ms:?}");
}

async fn a_quiet_stream_outlives_the_read_timeout_on_heartbeats(start: StartProxy) {
    let redis = RedisServer::start();
    // A 3 s read timeout, a heartbeat every second.
    let (a, b) = (instance(&redis, 1_000), instance(&redis, 1_000));
    let proxy = start([a.addr, b.addr], "3s");
    let mut stream = subscribe(proxy.addr, None).await;
    let quiet = Instant::now();
    // Twice the read timeout with no event: the heartbeats keep the stream open.
    let nothing = next_tick(&mut stream, Duration::from_secs(7)).await;
    assert!(nothing.is_none() && quiet.elapsed() >= Duration::from_secs(7));
    publish(a.addr, 1).await;
    let (_, n) = next_tick(&mut stream, Duration::from_secs(5))
        .await
        .expect("the same stream, still open after 7 quiet seconds");
    assert_eq!(n, 1);
}

async fn a_client_resumes_on_either_instance(start: StartProxy) {
    let redis = RedisServer::start();
    let (a, b) = (instance(&redis, 15_000), instance(&redis, 15_000));
    let proxy = start([a.addr, b.addr], "60s");
    let mut last: Option<String> = None;
    let (mut n, mut next_expected) = (0, 1);
    // Six times: two ticks published (alternately on each instance) and read, then the client
    // is cut, two more are published while it is away, and it resumes through the proxy (which
    // takes the instances in turn): every tick once, in order.
    for _ in 0..6 {
        let mut stream = subscribe(proxy.addr, last.as_deref()).await;
        for _ in 0..2 {
            n += 1;
            publish(if n % 2 == 0 { a.addr } else { b.addr }, n).await;
        }
        while next_expected <= n {
            let (id, got) = next_tick(&mut stream, Duration::from_secs(5))
                .await
                .expect("a tick");
            assert_eq!(got, next_expected);
            next_expected += 1;
            last = Some(id);
        }
        drop(stream);
        for _ in 0..2 {
            n += 1;
            publish(a.addr, n).await;
        }
    }
}

async fn a_rolling_restart_loses_nothing_and_never_answers_502(start: StartProxy) {
    let redis = RedisServer::start();
    let (mut a, b) = (instance(&redis, 1_000), instance(&redis, 1_000));
    let proxy = start([a.addr, b.addr], "60s");
    let proxy_addr = proxy.addr;
    let publisher = b.addr;
    // Eight clients through the proxy, each resuming with its last id whenever its stream
    // ends; every status the proxy answers is kept.
    let clients: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                let mut seen: Vec<u64> = Vec::new();
                let mut statuses = Vec::new();
                let mut last: Option<String> = None;
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline {
                    let headers: Vec<(&str, &str)> = last
                        .iter()
                        .map(|id| ("last-event-id", id.as_str()))
                        .collect();
                    let Ok(mut stream) =
                        RawResponse::try_send(proxy_addr, "GET", "/events", &headers).await
                    else {
                        continue;
                    };
                    statuses.push(stream.status);
                    if stream.status != 200 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    while let Some((id, n)) = next_tick(&mut stream, Duration::from_secs(3)).await {
                        seen.push(n);
                        last = Some(id);
                        if n == 0 {
                            return (seen, statuses);
                        }
                    }
                }
                (seen, statuses)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in 1..=300 {
        if n == 100 {
            a.terminate();
        }
        publish(publisher, n).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    publish(publisher, 0).await; // the end
    let mut moved = 0;
    for client in clients {
        let (seen, statuses) = client.await.unwrap();
        moved += usize::from(statuses.len() > 1);
        assert!(
            statuses.iter().all(|&status| status == 200),
            "the proxy answered {statuses:?}"
        );
        assert_eq!(seen.last(), Some(&0), "reached the end");
        let ticks = &seen[..seen.len() - 1];
        let first = ticks[0];
        let expected: Vec<u64> = (first..=300).collect();
        assert_eq!(ticks, expected, "every tick from the first, once, in order");
    }
    assert!(moved > 0, "the clients of the stopped instance reconnected");
    // The proxy did try the stopped instance, and sent the request on to the other.
    if let Some((log, refused)) = &proxy.refusals {
        let log = std::fs::read_to_string(log).unwrap_or_default();
        assert!(log.contains(refused), "{log}");
    }
    eprintln!(
        "{}: {moved} of 8 clients moved to the other instance",
        proxy.name
    );
}

/// What passes through the proxy unchanged: a request body, refusals as tidings writes them
/// (`application/problem+json`; `503` with `Retry-After` while Redis is away), and no
/// compression of an event stream, even for a client that accepts gzip.
async fn bodies_refusals_and_uncompressed_streams_pass_through(start: StartProxy) {
    let mut redis = RedisServer::start();
    let (a, b) = (instance(&redis, 15_000), instance(&redis, 15_000));
    let proxy = start([a.addr, b.addr], "60s");

    let mut stream = RawResponse::send(
        proxy.addr,
        "GET",
        "/events",
        &[("accept-encoding", "gzip, deflate, br, zstd")],
    )
    .await;
    assert_eq!(stream.status, 200);
    assert_eq!(
        stream.header("content-encoding"),
        None,
        "{:?}",
        stream.headers
    );
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    // A POST's body, through the proxy.
    publish(proxy.addr, 7).await;
    let (_, n) = next_tick(&mut stream, Duration::from_secs(5))
        .await
        .expect("the tick posted through the proxy");
    assert_eq!(n, 7);

    // A refusal with its problem details.
    let body = br#"{"n":"seven"}"#;
    let mut refused = RawResponse::send_body(
        proxy.addr,
        "POST",
        "/publish",
        &[
            ("content-type", "application/json"),
            ("content-length", &body.len().to_string()),
            ("connection", "close"),
        ],
        body,
    )
    .await;
    assert_eq!(refused.status, 400, "{:?}", refused.headers);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    let problem: serde_json::Value = serde_json::from_str(&refused.rest().await).unwrap();
    assert_eq!(problem["status"], 400, "{problem}");

    // Redis away: new subscribers wait up to 3 s, then get 503 with Retry-After, as the
    // instance sent it (not a proxy error page, not retried into a 502).
    redis.kill();
    // Each instance notices that Redis went away (its Pub/Sub connection breaks) first.
    for instance in [a.addr, b.addr] {
        let deadline = Instant::now() + Duration::from_secs(15);
        while RawResponse::send(instance, "GET", "/events", &[])
            .await
            .status
            != 503
        {
            assert!(
                Instant::now() < deadline,
                "{instance} still serves without Redis"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let unavailable = RawResponse::send(proxy.addr, "GET", "/events", &[]).await;
    assert_eq!(unavailable.status, 503, "{:?}", unavailable.headers);
    assert_eq!(unavailable.header("retry-after"), Some("1"));
    assert_eq!(
        unavailable.header("content-type"),
        Some("application/problem+json")
    );
}

/// A stream tidings compresses passes through as tidings encoded it (the proxy neither decodes
/// nor re-encodes it), and no tick waits in the proxy: each is decoded before the next is
/// published, 400 ms later.
async fn a_compressed_stream_passes_through_on_time(start: StartProxy) {
    let redis = RedisServer::start();
    let a = instance(&redis, 15_000);
    let proxy = start([a.addr, a.addr], "60s");
    let mut stream = RawResponse::send(
        proxy.addr,
        "GET",
        "/compressed",
        &[("accept-encoding", "gzip, deflate, br, zstd")],
    )
    .await;
    assert_eq!(stream.status, 200, "{:?}", stream.headers);
    assert_eq!(
        stream.header("content-encoding"),
        Some("gzip"),
        "{:?}",
        stream.headers
    );
    let mut decoder = Decoder::new(Some("gzip"));
    let mut text = String::new();
    for n in 0..5 {
        publish(a.addr, n).await;
        let expected = format!("data: {{\"n\":{n}}}\n");
        let deadline = Instant::now() + Duration::from_millis(400);
        while !text.contains(&expected) {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let bytes = tokio::time::timeout(remaining, stream.next_bytes())
                .await
                .unwrap_or_else(|_| panic!("tick {n} not decoded within 400 ms; got {text:?}"))
                .expect("the stream goes on");
            let decoded = decoder.feed(&bytes);
            text.push_str(std::str::from_utf8(decoded).unwrap());
            decoded.clear();
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// `GET path` on `addr` from the loopback address `source`; the answer's body.
async fn get_from(
    source: [u8; 4],
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> String {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut stream = socket.connect(addr).await.expect("connect");
    let mut request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = RawResponse::read_head(stream).await;
    assert_eq!(response.status, 200, "{:?}", response.headers);
    response.rest().await
}

/// The instances see the client's address, not the proxy's: they trust the proxy's
/// `X-Forwarded-For` (`TrustedProxies`), and only the proxy's. A client that sends its own
/// header is not believed, through the proxy or directly.
async fn instances_see_the_clients_address(start: StartProxy) {
    let redis = RedisServer::start();
    let (a, b) = (instance(&redis, 15_000), instance(&redis, 15_000));
    let proxy = start([a.addr, b.addr], "60s");
    let spoofed = [("x-forwarded-for", "203.0.113.7")];
    for _ in 0..2 {
        // Twice: each instance once.
        let through = get_from([127, 0, 0, 2], proxy.addr, "/whoami", &spoofed).await;
        assert_eq!(through, r#"{"address":"127.0.0.2"}"#, "{}", proxy.name);
    }
    let direct = get_from([127, 0, 0, 3], a.addr, "/whoami", &spoofed).await;
    assert_eq!(direct, r#"{"address":"127.0.0.3"}"#);
}

/// Over HTTPS the proxy speaks HTTP/2 (ALPN), which a browser needs to open more than six
/// event streams to one origin: twelve streams on one connection, as a page with twelve
/// `EventSource`s opens them, all live.
async fn twelve_streams_over_one_http2_connection(start: StartProxy) {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let redis = RedisServer::start();
    let (a, b) = (instance(&redis, 2_000), instance(&redis, 2_000));
    let proxy = start([a.addr, b.addr], "60s");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(proxy.certificate.clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    // What a browser offers.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(proxy.tls_addr)
        .await
        .unwrap();
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .expect("TLS handshake with the proxy");
    assert_eq!(
        tls.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "{}",
        proxy.name
    );
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);
    // All twelve at once, as a page opens them; the time each response head took.
    let opening = (0..12).map(|_| {
        let mut sender = sender.clone();
        async move {
            let request = http::Request::get("https://localhost/events")
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            let asked = Instant::now();
            let response = sender.send_request(request).await.expect("a stream");
            (response, asked.elapsed())
        }
    });
    let mut bodies = Vec::new();
    let mut slowest = Duration::ZERO;
    for (response, took) in futures_util::future::join_all(opening).await {
        assert_eq!(response.status(), 200, "{}", proxy.name);
        assert_eq!(response.version(), http::Version::HTTP_2);
        slowest = slowest.max(took);
        bodies.push(response.into_body());
    }
    eprintln!(
        "{}: 12 streams over one HTTP/2 connection, the slowest response head in {slowest:?}",
        proxy.name
    );
    // nginx over HTTP/2 holds a response head until the first bytes of its body: here the
    // heartbeat, after 2 s (README: Deploying). The others pass it at once.
    let bound = if proxy.name == "nginx" {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(500)
    };
    assert!(slowest < bound, "{}: {slowest:?}", proxy.name);
    for n in 1..=3 {
        publish(a.addr, n).await;
    }
    for (stream, body) in bodies.iter_mut().enumerate() {
        let mut text = String::new();
        let mut ticks = Vec::new();
        while ticks.len() < 3 {
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .unwrap_or_else(|_| panic!("{}: stream {stream} got {ticks:?}", proxy.name))
                .expect("the stream goes on")
                .unwrap();
            let Ok(data) = frame.into_data() else {
                continue;
            };
            text.push_str(std::str::from_utf8(&data).unwrap());
            while let Some(end) = text.find("\n\n") {
                let frame: String = text.drain(..end + 2).collect();
                if let Some(event) = parse_frame(&frame) {
                    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
                    ticks.push(data["n"].as_u64().unwrap());
                }
            }
        }
        assert_eq!(ticks, [1, 2, 3], "{}: stream {stream}", proxy.name);
    }
}

/// The tests above, through one proxy.
macro_rules! through {
    ($proxy:ident) => {
        mod $proxy {
            use super::*;

            #[tokio::test]
            async fn events_arrive_as_soon_as_direct() {
                super::events_arrive_as_soon_as_direct(Proxy::$proxy).await;
            }

            #[tokio::test]
            async fn a_quiet_stream_outlives_the_read_timeout_on_heartbeats() {
                super::a_quiet_stream_outlives_the_read_timeout_on_heartbeats(Proxy::$proxy).await;
            }

            #[tokio::test]
            async fn a_client_resumes_on_either_instance() {
                super::a_client_resumes_on_either_instance(Proxy::$proxy).await;
            }

            #[tokio::test]
            async fn bodies_refusals_and_uncompressed_streams_pass_through() {
                super::bodies_refusals_and_uncompressed_streams_pass_through(Proxy::$proxy).await;
            }

            #[tokio::test]
            async fn a_compressed_stream_passes_through_on_time() {
                super::a_compressed_stream_passes_through_on_time(Proxy::$proxy).await;
            }

            #[tokio::test]
            async fn instances_see_the_clients_address() {
                super::instances_see_the_clients_address(Proxy::$proxy).await;
            }

            #[tokio::test]
            async fn twelve_streams_over_one_http2_connection() {
                super::twelve_streams_over_one_http2_connection(Proxy::$proxy).await;
            }

            #[tokio::test]
            async fn a_rolling_restart_loses_nothing_and_never_answers_502() {
                super::a_rolling_restart_loses_nothing_and_never_answers_502(Proxy::$proxy).await;
            }
        }
    };
}

through!(nginx);
through!(haproxy);
through!(caddy);
