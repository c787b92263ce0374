//! The typed Rust client against real servers: decoding, reconnection with `Last-Event-ID`
//! (plain streams and hubs), and the answers that stop it for good.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;
use tidings::client::{Client, ClientError, Update};
use tidings::hub::Hub;
use tidings::{Emitter, FromRequest, Rejection, RequestContext, Router, State, event_stream};
use tidings_tests::TestServer;
use tidings_tests::scripted::{header, scripted_server};

#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum Count {
    Number {
        n: u64,
    },
    #[event(text)]
    Line(String),
}

/// Numbers from just after the client's `Last-Event-ID`, five per connection, then the stream
/// ends (and the client comes back).
#[event_stream(path = "/count")]
async fn count(events: Emitter<Count>) -> tidings::Result<()> {
    let after: u64 = events
        .last_event_id()
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    for n in after + 1..=after + 5 {
        events.emit_with_id(n, Count::Number { n }).await?;
    }
    events.emit(Count::Line("two\nlines".into())).await?;
    Ok(())
}

static ASKED_WITH: AtomicU64 = AtomicU64::new(0);

#[event_stream(path = "/hub")]
async fn hub_feed(State(hub): State<Hub<Count>>, events: Emitter<Count>) -> tidings::Result<()> {
    ASKED_WITH.fetch_add(1, Ordering::SeqCst);
    let subscription = hub.subscribe(events.last_event_id()).await;
    // End every connection after 60 ms, as a flaky network would.
    tokio::select! {
        forwarded = events.forward(subscription) => forwarded?,
        _ = tokio::time::sleep(Duration::from_millis(60)) => {}
    }
    Ok(())
}

static COMPLETE_ASKED: AtomicU64 = AtomicU64::new(0);

/// Three numbers, then the stream is complete: nothing will ever follow.
#[event_stream(path = "/complete")]
async fn complete(events: Emitter<Count>) -> tidings::Result<()> {
    COMPLETE_ASKED.fetch_add(1, Ordering::SeqCst);
    for n in 1..=3 {
        events.emit_with_id(n, Count::Number { n }).await?;
    }
    events.complete();
    Ok(())
}

struct Gone;
impl FromRequest for Gone {
    type Rejection = Rejection;
    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        match cx.uri().query() {
            Some("204") => Err(Rejection::new(StatusCode::NO_CONTENT)),
            _ => Err(Rejection::new(StatusCode::FORBIDDEN)),
        }
    }
}

#[event_stream(path = "/gone")]
async fn gone(_gone: Gone, events: Emitter<Count>) {
    let _ = events;
}

fn app(hub: &Hub<Count>) -> Router {
    Router::new()
        .route(count)
        .route(hub_feed)
        .route(gone)
        .route(complete)
        .with_state(hub.clone())
        .retry(Duration::from_millis(10))
}

#[tokio::test]
async fn decodes_events_and_resumes_after_the_stream_ends() {
    let hub = Hub::new();
    let server = TestServer::start(app(&hub)).await;
    let mut counting = Client::new()
        .subscribe::<Count>(&format!("http://{}/count", server.addr))
        .unwrap()
        .start();
    let mut numbers = Vec::new();
    let mut ends = 0;
    while numbers.len() < 12 {
        match counting.next().await.unwrap().unwrap() {
            Update::Event {
                id,
                event: Count::Number { n },
            } => {
                assert_eq!(id, Some(n.to_string()));
                numbers.push(n);
            }
            Update::Event {
                event: Count::Line(text),
                ..
            } => assert_eq!(text, "two\nlines"),
            // The handler returned: the server says so, and the client comes back.
            Update::Ended { reason, reconnect } => {
                assert_eq!((reason.as_str(), reconnect), ("handler_done", true));
                ends += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    // Three connections; each resumed right after the last id of the one before.
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
    assert_eq!(
        ends, 2,
        "each of the first two connections ended with `tidings.end`"
    );
}

#[tokio::test]
async fn a_complete_stream_ends_the_subscription_instead_of_reconnecting() {
    let server = TestServer::start(app(&Hub::new())).await;
    let mut numbers = Client::new()
        .subscribe::<Count>(&format!("http://{}/complete", server.addr))
        .unwrap()
        .start();
    let mut updates = Vec::new();
    while let Some(update) = tokio::time::timeout(Duration::from_secs(5), numbers.next())
        .await
        .unwrap()
    {
        updates.push(update.unwrap());
    }
    let number = |n| Update::Event {
        id: Some(format!("{n}")),
        event: Count::Number { n },
    };
    assert_eq!(
        updates,
        [
            number(1),
            number(2),
            number(3),
            Update::Ended {
                reason: "complete".into(),
                reconnect: false
            }
        ]
    );
    // Well past the server's `retry` of 10 ms: no second connection.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(COMPLETE_ASKED.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn resumes_from_a_hub_across_cut_connections() {
    let hub = Hub::new();
    let server = TestServer::start(app(&hub)).await;
    let mut feed = Client::new()
        .subscribe::<Count>(&format!("http://{}/hub", server.addr))
        .unwrap()
        .retry(Duration::from_millis(5))
        .start();
    let publisher = tokio::spawn({
        let hub = hub.clone();
        async move {
            for n in 1..=300 {
                hub.publish(Count::Number { n }).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let mut seen = Vec::new();
    let mut first = true;
    while seen.last() != Some(&300) {
        match tokio::time::timeout(Duration::from_secs(10), feed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Update::Event {
                event: Count::Number { n },
                id,
            } => {
                assert!(id.is_some());
                seen.push(n);
            }
            Update::Reset { .. } if first => {}
            // A slow subscriber cut by the hub is told so, and resumes.
            Update::Ended {
                reconnect: true, ..
            } => {}
            other => panic!("unexpected {other:?}"),
        }
        first = false;
    }
    publisher.await.unwrap();
    let start = seen[0];
    assert_eq!(
        seen,
        (start..=300).collect::<Vec<_>>(),
        "no loss, no duplicate across reconnects"
    );
    assert!(
        ASKED_WITH.load(Ordering::SeqCst) > 3,
        "the connection was cut and resumed several times"
    );
}

#[tokio::test]
async fn stops_for_good_on_204_other_statuses_and_wrong_content_types() {
    let hub = Hub::new();
    let server = TestServer::start(app(&hub)).await;
    let client = Client::new();
    let mut no_content = client
        .subscribe::<Count>(&format!("http://{}/gone?204", server.addr))
        .unwrap()
        .start();
    assert!(matches!(
        no_content.next().await,
        Some(Err(ClientError::NoContent))
    ));
    assert!(
        no_content.next().await.is_none(),
        "no reconnection after 204"
    );

    let mut forbidden = client
        .subscribe::<Count>(&format!("http://{}/gone", server.addr))
        .unwrap()
        .start();
    assert!(matches!(
        forbidden.next().await,
        Some(Err(ClientError::Status(StatusCode::FORBIDDEN, _)))
    ));
    assert!(forbidden.next().await.is_none());

    // An ordinary page, not an event stream.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let page = axum::Router::new().route("/", axum::routing::get(|| async { "<html>" }));
    let page = tokio::spawn(async move { axum::serve(listener, page).await });
    let mut html = client
        .subscribe::<Count>(&format!("http://{addr}/"))
        .unwrap()
        .start();
    match html.next().await {
        Some(Err(ClientError::ContentType(kind))) => {
            assert_eq!(kind.as_deref(), Some("text/plain; charset=utf-8"))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(html.next().await.is_none());
    page.abort();

    assert!(matches!(
        client.subscribe::<Count>("ftp://example.test/"),
        Err(ClientError::Url(_))
    ));
}

#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema, tidings::Validate)]
struct Prompt {
    text: String,
}

/// Answers a posted prompt with who asked; ends after one event.
#[event_stream(path = "/ask", method = "POST")]
async fn ask(
    tidings::Json(prompt): tidings::Json<Prompt>,
    tidings::Header(auth): tidings::Header<
        tidings::headers::Authorization<tidings::headers::authorization::Bearer>,
    >,
    events: Emitter<Count>,
) -> tidings::Result<()> {
    events
        .emit(Count::Line(format!(
            "{} from {}",
            prompt.text,
            auth.token()
        )))
        .await?;
    Ok(())
}

#[tokio::test]
async fn posts_a_body_and_evaluates_headers_again_on_every_connection() {
    let server = TestServer::start(Router::new().route(ask).retry(Duration::from_millis(5))).await;
    let tokens = std::sync::Arc::new(AtomicU64::new(0));
    let counter = tokens.clone();
    let mut answers = Client::new()
        .subscribe::<Count>(&format!("http://{}/ask", server.addr))
        .unwrap()
        .post_json(&Prompt {
            text: "hello".into(),
        })
        .unwrap()
        .headers(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::header::AUTHORIZATION,
                format!("Bearer token-{n}").parse().unwrap(),
            );
            headers
        })
        .start();
    for n in 0..3 {
        match answers.next().await.unwrap().unwrap() {
            Update::Event {
                event: Count::Line(text),
                ..
            } => assert_eq!(text, format!("hello from token-{n}")),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            answers.next().await.unwrap().unwrap(),
            Update::Ended {
                reconnect: true,
                ..
            }
        ));
    }
    assert!(tokens.load(Ordering::SeqCst) >= 3);
}

/// A subscription to `/numbers` of a scripted server.
fn numbers_from(addr: std::net::SocketAddr) -> tidings::client::Subscribe<Count> {
    Client::new()
        .subscribe::<Count>(&format!("http://{addr}/numbers"))
        .unwrap()
}

#[tokio::test]
async fn the_last_event_id_is_kept_across_connections_as_browsers_keep_it() {
    let (addr, mut heads) = scripted_server(vec![
        "retry: 5\nid: abc\nevent: number\ndata: {\"n\":1}\n\n",
        // No `id:` field: the event keeps the last id.
        "event: number\ndata: {\"n\":2}\n\n",
        "event: number\ndata: {\"n\":3}\n\n",
    ])
    .await;
    let mut numbers = numbers_from(addr).retry(Duration::from_millis(5)).start();
    for n in 1..=3 {
        match next_update(&mut numbers).await.unwrap() {
            Update::Event {
                event: Count::Number { n: got },
                id,
            } => {
                assert_eq!(got, n);
                assert_eq!(id.as_deref(), Some("abc"), "event {n}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let first = heads.recv().await.unwrap();
    assert_eq!(header(&first, "last-event-id"), None);
    for connection in 2..=3 {
        let head = heads.recv().await.unwrap();
        assert_eq!(
            header(&head, "last-event-id"),
            Some("abc"),
            "connection {connection} resends the id of the first: {head}"
        );
    }
}

#[tokio::test]
async fn a_posted_content_type_is_sent_as_the_caller_set_it() {
    let (addr, mut heads) = scripted_server(vec!["event: number\ndata: {\"n\":1}\n\n"]).await;
    let mut numbers = numbers_from(addr)
        .post_json(&serde_json::json!({ "from": 1 }))
        .unwrap()
        .headers(|| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::header::CONTENT_TYPE,
                "application/json; charset=utf-8".parse().unwrap(),
            );
            headers
        })
        .start();
    numbers.next().await.unwrap().unwrap();
    let head = heads.recv().await.unwrap();
    assert!(head.starts_with("POST /numbers"), "{head}");
    assert_eq!(
        header(&head, "content-type"),
        Some("application/json; charset=utf-8")
    );
}

/// The next update within the test's patience.
async fn next_update(
    subscription: &mut tidings::client::Subscription<Count>,
) -> Result<Update<Count>, ClientError> {
    tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("an update in time")
        .expect("the subscription goes on")
}

#[tokio::test]
async fn a_silent_connection_is_dropped_after_the_read_timeout_and_resumed() {
    let (addr, mut requests) = scripted_server(vec![
        // An event, then silence on an open connection.
        "HOLD id: 7\nevent: number\ndata: {\"n\":7}\n\n",
        "event: number\ndata: {\"n\":8}\n\n",
    ])
    .await;
    let started = std::time::Instant::now();
    let mut numbers = numbers_from(addr)
        .retry(Duration::from_millis(5))
        .read_timeout(Duration::from_millis(300))
        .start();
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Event {
            event: Count::Number { n: 7 },
            ..
        })
    ));
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Event {
            event: Count::Number { n: 8 },
            ..
        })
    ));
    assert!(started.elapsed() >= Duration::from_millis(300));
    requests.recv().await.unwrap();
    let second = requests.recv().await.unwrap();
    assert_eq!(header(&second, "last-event-id"), Some("7"), "{second}");
}

#[tokio::test]
async fn any_method_and_body_go_out_exactly_as_given() {
    let (addr, mut requests) = scripted_server(vec!["event: number\ndata: {\"n\":1}\n\n"]).await;
    let mut numbers = numbers_from(addr)
        .method(http::Method::from_bytes(b"REPORT").unwrap())
        .body(
            "<query>all</query>",
            http::HeaderValue::from_static("application/xml"),
        )
        .start();
    next_update(&mut numbers).await.unwrap();
    let request = requests.recv().await.unwrap();
    assert!(request.starts_with("REPORT /numbers HTTP/1.1"), "{request}");
    assert_eq!(header(&request, "content-type"), Some("application/xml"));
    assert!(request.ends_with("\r\n\r\n<query>all</query>"), "{request}");
}

#[tokio::test]
async fn a_last_event_id_is_sent_as_utf8_and_one_that_cannot_be_sent_is_reported() {
    let (addr, mut requests) = scripted_server(vec![
        "retry: 5\nid: étape-1\nevent: number\ndata: {\"n\":1}\n\n",
        "id: bell\u{7}\nevent: number\ndata: {\"n\":2}\n\n",
        "event: number\ndata: {\"n\":3}\n\n",
    ])
    .await;
    let mut numbers = numbers_from(addr).retry(Duration::from_millis(5)).start();
    next_update(&mut numbers).await.unwrap();
    next_update(&mut numbers).await.unwrap();
    // The control character cannot go in a header: said, then the stream goes on.
    match next_update(&mut numbers).await {
        Err(ClientError::LastEventId(id)) => assert_eq!(id, "bell\u{7}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Event {
            event: Count::Number { n: 3 },
            ..
        })
    ));
    requests.recv().await.unwrap();
    let second = requests.recv().await.unwrap();
    assert_eq!(
        header(&second, "last-event-id"),
        Some("étape-1"),
        "{second}"
    );
    let third = requests.recv().await.unwrap();
    assert_eq!(header(&third, "last-event-id"), None, "{third}");
}

#[tokio::test]
async fn big_events_and_long_comments_are_taken_as_browsers_take_them() {
    // A 7 MB event on one line, a 64 KiB comment, an event of 1 MiB data lines.
    let big = "7".repeat(7 * 1000 * 1000);
    let comment = "c".repeat(64 * 1024);
    let megabyte = "m".repeat(1024 * 1024);
    let stream: &'static str = Box::leak(
        format!(
            "event: number\ndata: {{\"n\":1,\"pad\":\"{big}\"}}\n\n:{comment}\n\n\
             event: number\ndata: {{\"n\":2,\ndata: \"pad\":\"{megabyte}\"}}\n\n"
        )
        .into_boxed_str(),
    );
    let (addr, _requests) = scripted_server(vec![stream]).await;
    let mut numbers = numbers_from(addr).start();
    for expected in 1..=2 {
        match next_update(&mut numbers).await {
            Ok(Update::Event {
                event: Count::Number { n },
                ..
            }) => assert_eq!(n, expected),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_event_past_the_limit_is_reported_and_the_client_resumes() {
    let big: &'static str = Box::leak(
        format!(
            "retry: 5\nid: 1\nevent: number\ndata: {{\"n\":1}}\n\n\
             id: 2\nevent: number\ndata: {{\"n\":2,\"pad\":\"{}\"}}\n\n",
            "x".repeat(4096)
        )
        .into_boxed_str(),
    );
    let (addr, mut requests) =
        scripted_server(vec![big, "id: 3\nevent: number\ndata: {\"n\":3}\n\n"]).await;
    let mut numbers = numbers_from(addr)
        .retry(Duration::from_millis(5))
        .max_event_bytes(1024)
        .start();
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Event {
            event: Count::Number { n: 1 },
            ..
        })
    ));
    assert!(matches!(
        next_update(&mut numbers).await,
        Err(ClientError::Parse(_))
    ));
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Event {
            event: Count::Number { n: 3 },
            ..
        })
    ));
    requests.recv().await.unwrap();
    let second = requests.recv().await.unwrap();
    assert_eq!(header(&second, "last-event-id"), Some("1"), "{second}");
}

#[tokio::test]
async fn redirects_are_followed_as_fetch_follows_them() {
    const ONE: &str = "event: number\ndata: {\"n\":1}\n\n";
    for (status, method, body) in [
        ("301", "GET", ""),
        ("302", "GET", ""),
        ("303", "GET", ""),
        ("307", "POST", "{\"from\":1}"),
        ("308", "POST", "{\"from\":1}"),
    ] {
        let redirect: &'static str =
            Box::leak(format!("REDIRECT {status} /moved?to=here").into_boxed_str());
        let (addr, mut requests) = scripted_server(vec![redirect, ONE]).await;
        let mut numbers = numbers_from(addr)
            .post_json(&serde_json::json!({ "from": 1 }))
            .unwrap()
            .start();
        assert!(
            matches!(next_update(&mut numbers).await, Ok(Update::Event { .. })),
            "{status}"
        );
        let first = requests.recv().await.unwrap();
        assert!(first.starts_with("POST /numbers "), "{first}");
        let second = requests.recv().await.unwrap();
        assert!(
            second.starts_with(&format!("{method} /moved?to=here ")),
            "{status}: {second}"
        );
        assert!(
            second.ends_with(&format!("\r\n\r\n{body}")),
            "{status}: {second}"
        );
        assert_eq!(
            header(&second, "content-type").is_some(),
            !body.is_empty(),
            "{status}: {second}"
        );
    }
}

#[tokio::test]
async fn a_redirect_without_location_or_past_ten_hops_is_a_final_error() {
    let (addr, _requests) = scripted_server(vec!["REDIRECT 302"]).await;
    let mut numbers = numbers_from(addr).start();
    assert!(matches!(
        next_update(&mut numbers).await,
        Err(ClientError::Redirect(_))
    ));
    assert!(numbers.next().await.is_none(), "final");

    let (addr, _requests) = scripted_server(vec!["REDIRECT 307 /again"; 11]).await;
    let mut numbers = numbers_from(addr).start();
    match next_update(&mut numbers).await {
        Err(ClientError::Redirect(why)) => assert!(why.contains("more than 10"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(numbers.next().await.is_none(), "final");
}

#[tokio::test]
async fn restart_drops_the_connection_and_resumes_at_once() {
    let (addr, mut requests) = scripted_server(vec![
        "HOLD retry: 60000\nid: 5\nevent: number\ndata: {\"n\":5}\n\n",
        "HOLD event: number\ndata: {\"n\":6}\n\n",
    ])
    .await;
    let mut numbers = numbers_from(addr).start();
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Event {
            event: Count::Number { n: 5 },
            ..
        })
    ));
    requests.recv().await.unwrap();
    // The server asked for a minute between connections; a restart does not wait for it.
    let asked = std::time::Instant::now();
    numbers.restart();
    let second = tokio::time::timeout(Duration::from_secs(5), requests.recv())
        .await
        .expect("a new connection at once")
        .unwrap();
    assert!(asked.elapsed() < Duration::from_secs(5));
    assert_eq!(header(&second, "last-event-id"), Some("5"), "{second}");
    match next_update(&mut numbers).await {
        Ok(Update::Event {
            event: Count::Number { n: 6 },
            id,
        }) => assert_eq!(id.as_deref(), Some("5")),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn an_error_event_keeps_its_data_and_id() {
    let (addr, _requests) = scripted_server(vec![
        "id: 9\nevent: error\ndata: not json, just text\n\nevent: error\ndata: {\"message\":\"boom\"}\n\n",
    ])
    .await;
    let mut numbers = numbers_from(addr).start();
    match next_update(&mut numbers).await {
        Ok(Update::Failed { data, id }) => {
            assert_eq!(data, serde_json::json!("not json, just text"));
            assert_eq!(id.as_deref(), Some("9"));
        }
        other => panic!("unexpected {other:?}"),
    }
    match next_update(&mut numbers).await {
        Ok(Update::Failed { data, id }) => {
            assert_eq!(data["message"], "boom");
            assert_eq!(id.as_deref(), Some("9"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn connections_and_retries_are_reported_when_asked() {
    let (addr, _requests) = scripted_server(vec![
        "retry: 50\nevent: number\ndata: {\"n\":1}\n\n",
        "event: number\ndata: {\"n\":2}\n\n",
    ])
    .await;
    let mut numbers = numbers_from(addr).report_connections(true).start();
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Connected)
    ));
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Event {
            event: Count::Number { n: 1 },
            ..
        })
    ));
    match next_update(&mut numbers).await {
        Ok(Update::Retrying { reason, delay }) => {
            assert_eq!(reason, "the server ended the stream");
            assert!(
                (Duration::from_millis(50)..Duration::from_millis(63)).contains(&delay),
                "the server's retry, with jitter: {delay:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Connected)
    ));
    assert!(matches!(
        next_update(&mut numbers).await,
        Ok(Update::Event {
            event: Count::Number { n: 2 },
            ..
        })
    ));
    match next_update(&mut numbers).await {
        Ok(Update::Retrying { reason, .. }) => assert_eq!(reason, "the server ended the stream"),
        other => panic!("unexpected {other:?}"),
    }

    // Nothing listens: each failed connection is reported, and the wait doubles.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = closed.local_addr().unwrap();
    drop(closed);
    let mut numbers = numbers_from(nowhere)
        .retry(Duration::from_millis(20))
        .report_connections(true)
        .start();
    let mut delays = Vec::new();
    for _ in 0..3 {
        match next_update(&mut numbers).await {
            Ok(Update::Retrying { reason, delay }) => {
                assert!(reason.starts_with("the connection failed"), "{reason}");
                delays.push(delay);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        delays[1] >= Duration::from_millis(80) && delays[2] >= Duration::from_millis(160),
        "backoff: {delays:?}"
    );
}
