//! The tidings side of the benchmark.

use std::time::Duration;

use tidings::compression::Compression;
use tidings::hub::{Hub, HubOptions, SlowConsumer};
use tidings::{Emitter, Query, Router, State, Validate, event_stream};
use tidings_bench::{Bench, announce, publish_loop, rate, tick};
use tidings_example_dashboard::host::Host;
use tidings_example_dashboard::{Metrics, to_sample};

#[event_stream(path = "/idle")]
async fn idle(events: Emitter<Bench>) {
    events.closed().await;
}

#[event_stream(path = "/broadcast")]
async fn broadcast(State(hub): State<Hub<Bench>>, events: Emitter<Bench>) -> tidings::Result<()> {
    events.forward(hub.subscribe(None).await).await?;
    Ok(())
}

#[derive(serde::Deserialize, schemars::JsonSchema, Validate)]
struct Firehose {
    n: Option<u64>,
}

#[event_stream(path = "/firehose")]
async fn firehose(Query(query): Query<Firehose>, events: Emitter<Bench>) -> tidings::Result<()> {
    for seq in 0..query.n.unwrap_or(u64::MAX) {
        events.emit(tick(seq)).await?;
    }
    Ok(())
}

#[derive(serde::Deserialize, schemars::JsonSchema, Validate)]
struct Samples {
    /// How many samples.
    n: u64,
    /// Milliseconds between them.
    every_ms: u64,
}

/// The dashboard example's samples of this host, `every_ms` apart: what its browsers receive.
#[event_stream(path = "/samples")]
async fn samples(Query(query): Query<Samples>, events: Emitter<Metrics>) -> tidings::Result<()> {
    let mut host = Host::new();
    for _ in 0..query.n {
        tokio::time::sleep(Duration::from_millis(query.every_ms)).await;
        events.emit(to_sample(host.read(), 1)).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let hub = Hub::with_options(HubOptions {
        // "Latest wins" for subscribers that fall behind, like a lagging tokio broadcast
        // receiver in the axum baseline.
        slow_consumer: SlowConsumer::SkipToLatest,
        ..HubOptions::default()
    });
    let publisher = hub.clone();
    tokio::spawn(publish_loop(rate(), move |seq| {
        let hub = publisher.clone();
        async move { hub.publish(tick(seq)).await.is_ok() }
    }));
    let mut app = Router::new()
        .route(idle)
        .route(broadcast)
        .route(firehose)
        .route(samples)
        .with_state(hub);
    // `COMPRESSION=1`: every stream compressed for clients that ask.
    if std::env::var("COMPRESSION").is_ok_and(|on| on == "1") {
        app = app.compression(Compression::new());
    }
    let listener = tokio::net::TcpListener::bind(tidings_bench::addr()).await?;
    announce(listener.local_addr()?);
    // The idle scenario holds 15,000 connections, and the HTTP/2 one 102 streams on each of
    // its connections: more than the default limits allow.
    tidings::serve(app)
        .max_connections(100_000)
        .max_streams_per_connection(200)
        .run(listener)
        .await
}
