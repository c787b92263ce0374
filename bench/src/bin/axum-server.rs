//! The baseline: an ordinary axum 0.8 SSE server (`Sse`, `Event::json_data`, `KeepAlive`,
//! `tokio::sync::broadcast`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tidings_bench::{PAYLOAD, announce, now_micros, publish_loop, rate};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Clone, Serialize)]
struct Tick {
    seq: u64,
    ts: u64,
    payload: String,
}

fn tick(seq: u64) -> Tick {
    Tick {
        seq,
        ts: now_micros(),
        payload: PAYLOAD.to_owned(),
    }
}

async fn idle() -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(stream::pending()).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn broadcast(
    State(tx): State<broadcast::Sender<Tick>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = BroadcastStream::new(tx.subscribe()).filter_map(|tick| async move {
        // A lagging receiver skips what it missed.
        let tick = tick.ok()?;
        Some(Ok(Event::default().event("tick").json_data(&tick).unwrap()))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct Firehose {
    n: Option<u64>,
}

async fn firehose(
    Query(query): Query<Firehose>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = stream::iter(0..query.n.unwrap_or(u64::MAX))
        .map(|seq| Ok(Event::default().event("tick").json_data(tick(seq)).unwrap()));
    Sse::new(events).keep_alive(KeepAlive::default())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (tx, _) = broadcast::channel::<Tick>(1024);
    let publisher = tx.clone();
    tokio::spawn(publish_loop(rate(), move |seq| {
        // No subscriber is not an error: keep publishing.
        let _ = publisher.send(tick(seq));
        async { true }
    }));
    let app = axum::Router::new()
        .route("/idle", get(idle))
        .route("/broadcast", get(broadcast))
        .route("/firehose", get(firehose))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind(tidings_bench::addr()).await?;
    announce(listener.local_addr()?);
    axum::serve(listener, app).await
}
