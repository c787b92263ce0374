//! The Rust client as a general-purpose SSE client: `RawEvent` subscriptions take any
//! server's events as they come (`error` and `tidings.reset` included, as ordinary names),
//! and comments are reported when asked.

use std::time::Duration;

use tidings::client::{Client, ClientError, RawEvent, Subscription, Update};
use tidings_tests::scripted::scripted_server;

async fn next_update(
    subscription: &mut Subscription<RawEvent>,
) -> Result<Update<RawEvent>, ClientError> {
    tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("an update in time")
        .expect("the subscription goes on")
}

fn raw(event: &str, data: &str, id: &str) -> RawEvent {
    RawEvent {
        event: event.to_owned(),
        data: data.to_owned(),
        last_event_id: id.to_owned(),
    }
}

#[tokio::test]
async fn a_raw_subscription_yields_every_event_as_the_server_sent_it() {
    let (addr, _requests) = scripted_server(vec![
        "data: plain\n\n\
         id: 1\nevent: error\ndata: not json\n\n\
         event: tidings.reset\ndata: {\"reason\":\"x\"}\n\n\
         id: 2\nevent: anything\ndata: two\ndata: lines\n\n",
    ])
    .await;
    let mut feed = Client::new()
        .subscribe::<RawEvent>(&format!("http://{addr}/feed"))
        .unwrap()
        .start();
    let expected = [
        (None, raw("message", "plain", "")),
        (Some("1"), raw("error", "not json", "1")),
        (Some("1"), raw("tidings.reset", "{\"reason\":\"x\"}", "1")),
        (Some("2"), raw("anything", "two\nlines", "2")),
    ];
    for (id, event) in expected {
        match next_update(&mut feed).await {
            Ok(Update::Event {
                id: got_id,
                event: got,
            }) => {
                assert_eq!(got, event);
                assert_eq!(got_id.as_deref(), id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn comments_are_reported_in_order_when_asked_and_skipped_otherwise() {
    let stream = ": hello\n:no space\n\ndata: a\n\n: heartbeat\n\n";
    let (addr, _requests) = scripted_server(vec![stream, stream]).await;
    let url = format!("http://{addr}/feed");
    let mut with = Client::new()
        .subscribe::<RawEvent>(&url)
        .unwrap()
        .comments(true)
        .start();
    let mut seen = Vec::new();
    for _ in 0..4 {
        match next_update(&mut with).await {
            Ok(Update::Comment(text)) => seen.push(format!(":{text}")),
            Ok(Update::Event { event, .. }) => seen.push(event.data),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, [":hello", ":no space", "a", ":heartbeat"]);
    drop(with);

    let mut without = Client::new().subscribe::<RawEvent>(&url).unwrap().start();
    assert!(matches!(
        next_update(&mut without).await,
        Ok(Update::Event { event, .. }) if event.data == "a"
    ));
}

#[tokio::test]
async fn a_comment_past_the_line_limit_is_reported_when_comments_are_kept() {
    let long = Box::leak(format!(": {}\n\ndata: after\n\n", "x".repeat(100)).into_boxed_str());
    let (addr, _requests) = scripted_server(vec![long, "data: resumed\n\n"]).await;
    let mut feed = Client::new()
        .subscribe::<RawEvent>(&format!("http://{addr}/feed"))
        .unwrap()
        .comments(true)
        .max_event_bytes(64)
        .retry(Duration::from_millis(5))
        .start();
    assert!(matches!(
        next_update(&mut feed).await,
        Err(ClientError::Parse(_))
    ));
    assert!(matches!(
        next_update(&mut feed).await,
        Ok(Update::Event { event, .. }) if event.data == "resumed"
    ));
}

#[tokio::test]
async fn a_503_with_retry_after_is_waited_out_and_retried() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = tokio::spawn(async move {
        let mut at = Vec::new();
        for answer in [
            "HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 11\r\n\r\ndata: up\n\n\n",
        ] {
            let (mut socket, _) = listener.accept().await.unwrap();
            at.push(tokio::time::Instant::now());
            let mut head = [0u8; 1024];
            let _ = socket.read(&mut head).await;
            socket.write_all(answer.as_bytes()).await.unwrap();
        }
        at
    });
    let mut feed = Client::new()
        .subscribe::<RawEvent>(&format!("http://{addr}/feed"))
        .unwrap()
        .retry(Duration::from_millis(10))
        .report_connections(true)
        .start();
    match next_update(&mut feed).await {
        Ok(Update::Retrying { reason, delay }) => {
            assert!(reason.contains("503"), "{reason}");
            assert!(delay >= Duration::from_secs(1), "{delay:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        next_update(&mut feed).await,
        Ok(Update::Connected)
    ));
    assert!(matches!(
        next_update(&mut feed).await,
        Ok(Update::Event { event, .. }) if event.data == "up"
    ));
    let at = answered.await.unwrap();
    assert!(
        at[1] - at[0] >= Duration::from_secs(1),
        "waited {:?}",
        at[1] - at[0]
    );
}
