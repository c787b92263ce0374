//! A live metrics dashboard: one sampler publishes the host's figures to a hub, every browser
//! tab subscribes, and a tab that reconnects resumes from its `Last-Event-ID` without losing a
//! sample. Run it with `cargo run -p tidings-example-dashboard --example dashboard` and open the printed address.
//!
//! The hub keeps its events in memory, or in a Redis stream when `REDIS_URL` is set: then any
//! number of instances serve the same samples, and a tab whose instance died resumes on
//! another without losing one.
//!
//! The page is served next to the stream by axum, into which the tidings router is mounted
//! with `Router::into_service`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tidings::hub::{EitherStorage, Hub, HubOptions, MemoryStorage, Subscribed};
use tidings::{Emitter, Router, event_stream};
use tidings_redis::{Redis, RedisStorage};

pub mod host;

/// What the dashboard shows. A figure the host cannot give (no `/proc`, or a rate on the first
/// sample) is `null`, and the page leaves a gap.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Metrics {
    /// One reading of the host, every `SAMPLE_EVERY`.
    Sample {
        /// Milliseconds since the Unix epoch.
        unix_ms: u64,
        /// CPU busy since the sample before, in percent of all cores.
        cpu_percent: Option<f64>,
        /// Load average over the last minute.
        load_1m: Option<f64>,
        /// Memory in use (total less available), in MiB.
        memory_used_mib: Option<u64>,
        /// Memory installed, in MiB.
        memory_total_mib: Option<u64>,
        /// Bytes received per second, on every interface but loopback.
        net_rx_bytes_per_s: Option<f64>,
        /// Bytes sent per second, on every interface but loopback.
        net_tx_bytes_per_s: Option<f64>,
        /// Bytes read per second, from whole disks.
        disk_read_bytes_per_s: Option<f64>,
        /// Bytes written per second, to whole disks.
        disk_write_bytes_per_s: Option<f64>,
        /// Dashboards watching now.
        viewers: u64,
    },
}

/// How long a browser waits before it reconnects (sent as the stream's `retry:`).
pub const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// How often the sampler publishes by default.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// Where the samples are kept: in memory, or in Redis.
pub type Storage = EitherStorage<MemoryStorage<Metrics>, RedisStorage<Metrics>>;

/// The dashboard's hub, on either storage.
pub type MetricsHub = Hub<Metrics, Storage>;

/// The Redis stream of the samples.
pub const REDIS_KEY: &str = "tidings:dashboard";

/// A hub in memory: one instance.
pub fn memory_hub() -> MetricsHub {
    let options = HubOptions::default();
    Hub::with_storage(
        EitherStorage::Left(MemoryStorage::new(options.window)),
        options,
    )
}

/// A hub on the Redis at `url`, shared by every instance that uses it. Fails only for a URL
/// that is not one: Redis may come up later (until then `/metrics` answers `503`).
pub fn redis_hub(url: &str) -> Result<MetricsHub, Box<dyn std::error::Error>> {
    let options = HubOptions::default();
    let storage = Redis::open(url)?.storage(REDIS_KEY, options.window);
    Ok(Hub::with_storage(EitherStorage::Right(storage), options))
}

/// The page: plain HTML and an `EventSource`, no build step.
pub const PAGE: &str = include_str!("index.html");

/// The samples, live; a reconnecting tab resumes after the last one it saw (on any instance,
/// with Redis). While Redis is unreachable, new tabs get `503` and try again.
#[event_stream(path = "/metrics")]
pub async fn metrics(
    Subscribed(samples): Subscribed<Metrics, Storage>,
    events: Emitter<Metrics>,
) -> tidings::Result<()> {
    events.forward(samples).await?;
    Ok(())
}

/// The routes, on `hub`.
pub fn app(hub: MetricsHub) -> Router {
    // A browser that lost the stream comes back in 2 s (its default is about 3); the page's
    // badge counts it down.
    Router::new()
        .route(metrics)
        .retry(RECONNECT_AFTER)
        .with_state(hub)
}

/// Publishes a sample `every` so often, for as long as the process runs. A sample that cannot
/// be published (Redis down) is skipped, with a warning; the next one tries again.
pub async fn sample(hub: MetricsHub, every: Duration) {
    let mut every = tokio::time::interval(every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut host = host::Host::new();
    loop {
        every.tick().await;
        let sample = to_sample(host.read(), hub.stats().subscribers);
        if let Err(error) = hub.publish(sample).await {
            tracing::warn!(%error, "sample skipped");
        }
    }
}

/// The sample of `reading`, stamped now, for `viewers` dashboards.
pub fn to_sample(reading: host::Reading, viewers: u64) -> Metrics {
    Metrics::Sample {
        unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        cpu_percent: reading.cpu_percent,
        load_1m: reading.load_1m,
        memory_used_mib: reading.memory_used_mib,
        memory_total_mib: reading.memory_total_mib,
        net_rx_bytes_per_s: reading.net_rx_bytes_per_s,
        net_tx_bytes_per_s: reading.net_tx_bytes_per_s,
        disk_read_bytes_per_s: reading.disk_read_bytes_per_s,
        disk_write_bytes_per_s: reading.disk_write_bytes_per_s,
        viewers,
    }
}
