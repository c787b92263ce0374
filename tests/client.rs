//! The typed Rust client against real servers: decoding, reconnection with `Last-Event-ID`
//! (plain streams and hubs), and the answers that stop it for good.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;
use tidings::client::{Client, ClientError, Update};
use tidings::hub::Hub;
use tidings::{Emitter, FromRequest, Rejection, RequestContext, Router, State, event_stream};
use tidings_tests::TestServer;

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
            other => panic!("unexpected {other:?}"),
        }
    }
    // Three connections; each resumed right after the last id of the one before.
    assert_eq!(numbers, (1..=12).collect::<Vec<_>>());
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
        Some(Err(ClientError::Status(StatusCode::FORBIDDEN)))
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
    }
    assert!(tokens.load(Ordering::SeqCst) >= 3);
}

/// A server that is not tidings: raw TCP, one scripted answer per connection, and the
/// request heads it received.
async fn scripted_server(
    answers: Vec<&'static str>,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (heads, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for body in answers {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = heads.send(String::from_utf8_lossy(&head).into_owned());
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    (addr, received)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
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
    let mut numbers = Client::new()
        .subscribe::<Count>(&format!("http://{addr}/numbers"))
        .unwrap()
        .retry(Duration::from_millis(5))
        .start();
    for n in 1..=3 {
        match tokio::time::timeout(Duration::from_secs(10), numbers.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
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
    let mut numbers = Client::new()
        .subscribe::<Count>(&format!("http://{addr}/numbers"))
        .unwrap()
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
