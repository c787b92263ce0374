//! Metrics (feature `metrics`), scraped as Prometheus would from an example's `GET /metrics`
//! over TCP: the numbers move as streams open, send and close.

use std::time::Duration;

use tidings::hub::Hub;
use tidings::{Emitter, Router, State, event_stream};
use tidings_tests::{PATIENCE, RawResponse};

#[event_stream]
#[derive(Debug, Clone)]
enum Beat {
    Beat { n: u64 },
    Done,
}

#[event_stream(path = "/beats/{name}")]
async fn beats(events: Emitter<Beat>) -> tidings::Result<()> {
    for n in 0..3 {
        events.emit(Beat::Beat { n }).await?;
    }
    events.closed().await;
    Ok(())
}

#[event_stream(path = "/short")]
async fn short(events: Emitter<Beat>) -> tidings::Result<()> {
    events.emit(Beat::Done).await?;
    Ok(())
}

#[event_stream(path = "/feed")]
async fn feed(State(hub): State<Hub<Beat>>, events: Emitter<Beat>) -> tidings::Result<()> {
    events
        .forward(hub.subscribe(events.last_event_id()).await)
        .await?;
    Ok(())
}

/// The value of the sample `name{labels}` in a scrape (labels in any order), 0 if absent.
fn sample(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            (metric == name
                && labels
                    .iter()
                    .all(|(key, value)| rest.contains(&format!("{key}=\"{value}\""))))
            .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut response = RawResponse::send(addr, "GET", "/metrics", &[]).await;
    assert_eq!(response.status, 200);
    response.rest().await
}

/// Scrapes until `check` holds, failing after the test's patience.
async fn until(addr: std::net::SocketAddr, what: &str, check: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    loop {
        let text = scrape(addr).await;
        if check(&text) {
            return text;
        }
        assert!(start.elapsed() < PATIENCE, "{what}; last scrape:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_numbers_move_as_streams_open_send_and_close() {
    let log = tidings_tests::CapturedLog::install();
    // The recorder first: routes register their metrics when the app is served.
    let pages = tidings_examples::prometheus();
    // Installed this way, the recorder keeps every histogram sample until its upkeep runs:
    // the examples run it on a thread of its own, scraped or not.
    let threads = || -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .collect()
    };
    // A new thread names itself as it starts: give it a moment.
    let mut named = false;
    for _ in 0..100 {
        named = threads().iter().any(|name| name == "metrics-upkeep");
        if named {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(named, "no upkeep thread among {:?}", threads());
    let hub = Hub::new();
    let streams = Router::new()
        .route(beats)
        .route(short)
        .route(feed)
        .with_state(hub.clone())
        .heartbeat(Some(Duration::from_millis(50)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(
        tidings_examples::with_streams(pages, streams)
            .unwrap()
            .run(listener),
    );
    let route = [("method", "GET"), ("route", "/beats/{name}")];

    let mut open = RawResponse::send(addr, "GET", "/beats/a", &[]).await;
    for _ in 0..3 {
        open.event().await;
    }
    let text = until(
        addr,
        "a stream open, three events and a heartbeat",
        |text| sample(text, "tidings_heartbeats_total", &route) >= 1.0,
    )
    .await;
    assert_eq!(sample(&text, "tidings_streams_open", &route), 1.0, "{text}");
    assert_eq!(sample(&text, "tidings_streams_opened_total", &route), 1.0);
    let beat = [("route", "/beats/{name}"), ("event", "beat")];
    assert_eq!(sample(&text, "tidings_events_sent_total", &beat), 3.0);
    assert!(sample(&text, "tidings_sent_bytes_total", &route) > 50.0);

    // The client leaves: the gauge falls, the end is counted with its reason.
    drop(open);
    let left = [("route", "/beats/{name}"), ("reason", "client_left")];
    let text = until(addr, "the stream ended", |text| {
        sample(text, "tidings_streams_ended_total", &left) == 1.0
    })
    .await;
    assert_eq!(sample(&text, "tidings_streams_open", &route), 0.0, "{text}");
    // Its span's closing event says the same, with what it sent.
    let logged = log.text();
    let ended = logged
        .lines()
        .find(|line| line.contains("stream ended") && line.contains("/beats/{name}"))
        .unwrap_or_else(|| panic!("no `stream ended` event in:\n{logged}"));
    for field in [
        "reason=\"client_left\"",
        "events=3",
        "protocol=HTTP/1.1",
        // An address, not `Some(...)`.
        "peer=127.0.0.1:",
    ] {
        assert!(ended.contains(field), "{field} in {ended}");
    }

    // A handler that returns; a request refused before any stream.
    RawResponse::send(addr, "GET", "/short", &[])
        .await
        .rest()
        .await;
    let mut missing = RawResponse::send(addr, "GET", "/nowhere", &[]).await;
    missing.rest().await;
    let done = [("route", "/short"), ("reason", "handler_done")];
    let text = until(addr, "the short stream ended", |text| {
        sample(text, "tidings_streams_ended_total", &done) == 1.0
    })
    .await;
    // The unknown path reaches the tidings router, axum's fallback, which answers 404.
    assert!(
        sample(&text, "tidings_rejections_total", &[("status", "404")]) >= 1.0,
        "{text}"
    );

    // A hub: a publish, a subscriber, a resume that resets.
    let mut subscriber =
        RawResponse::send(addr, "GET", "/feed", &[("last-event-id", "1-999")]).await;
    subscriber.frame().await;
    hub.publish(Beat::Done).await.unwrap();
    subscriber.event().await;
    let text = until(addr, "hub figures", |text| {
        sample(text, "tidings_hub_published_total", &[]) >= 1.0
    })
    .await;
    assert_eq!(sample(&text, "tidings_hub_subscribers", &[]), 1.0, "{text}");
    assert_eq!(
        sample(
            &text,
            "tidings_hub_resumes_total",
            &[("outcome", "reset_unknown")]
        ),
        1.0
    );
    let forwarded = [("route", "/feed"), ("event", "done")];
    assert_eq!(sample(&text, "tidings_events_sent_total", &forwarded), 1.0);
    drop(subscriber);
    until(addr, "the subscriber left", |text| {
        sample(text, "tidings_hub_subscribers", &[]) == 0.0
    })
    .await;
    server.abort();
}
