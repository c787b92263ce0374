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

/// What the dashboard shows.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Metrics {
    /// One reading of the host, every `SAMPLE_EVERY`.
    Sample {
        /// Milliseconds since the Unix epoch.
        unix_ms: u64,
        /// Load average over the last minute (0 where `/proc/loadavg` is missing).
        load_1m: f64,
        /// Memory in use, in MiB (0 where `/proc/meminfo` is missing).
        memory_used_mib: u64,
        /// Memory installed, in MiB.
        memory_total_mib: u64,
        /// Dashboards watching now.
        viewers: u64,
    },
}

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
    Router::new().route(metrics).with_state(hub)
}

/// Publishes a sample `every` so often, for as long as the process runs. A sample that cannot
/// be published (Redis down) is skipped, with a warning; the next one tries again.
pub async fn sample(hub: MetricsHub, every: Duration) {
    let mut every = tokio::time::interval(every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let sample = read_host(hub.stats().subscribers);
        if let Err(error) = hub.publish(sample).await {
            tracing::warn!(%error, "sample skipped");
        }
    }
}

fn read_host(viewers: u64) -> Metrics {
    let load_1m = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |field: &str| -> u64 {
        meminfo
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    let (total, available) = (kib("MemTotal:"), kib("MemAvailable:"));
    Metrics::Sample {
        unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        load_1m,
        memory_used_mib: total.saturating_sub(available) / 1024,
        memory_total_mib: total / 1024,
        viewers,
    }
}
