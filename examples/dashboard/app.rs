//! A live metrics dashboard: one sampler publishes the host's figures to a hub, every browser
//! tab subscribes, and a tab that reconnects resumes from its `Last-Event-ID` without losing a
//! sample. Run it with `cargo run --example dashboard` and open the printed address.
//!
//! The page is served next to the stream by axum, into which the tidings router is mounted
//! with `Router::into_service`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tidings::hub::Hub;
use tidings::{Emitter, Router, State, event_stream};

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

/// How often the sampler publishes.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// The page: plain HTML and an `EventSource`, no build step.
pub const PAGE: &str = include_str!("index.html");

/// The samples, live; a reconnecting tab resumes after the last one it saw.
#[event_stream(path = "/metrics")]
pub async fn metrics(
    State(hub): State<Hub<Metrics>>,
    events: Emitter<Metrics>,
) -> tidings::Result<()> {
    let samples = hub.subscribe(events.last_event_id()).await;
    events.forward(samples).await?;
    Ok(())
}

/// The routes, on `hub`.
pub fn app(hub: Hub<Metrics>) -> Router {
    Router::new().route(metrics).with_state(hub)
}

/// Publishes a sample every `SAMPLE_EVERY`, until the hub fails.
pub async fn sample(hub: Hub<Metrics>) {
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    loop {
        every.tick().await;
        let sample = read_host(hub.stats().subscribers);
        if hub.publish(sample).await.is_err() {
            return;
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
