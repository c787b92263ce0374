//! The shared pieces of the benchmark: the event every server sends, and the environment the
//! servers read (`ADDR`, `RATE`). Each server serves `GET /idle` (heartbeats only),
//! `GET /broadcast` (one publisher, every subscriber) and `GET /firehose?n=K` (K events, as
//! fast as the client reads), so that any load tool can be pointed at it.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use tidings::event_stream;

pub mod load;
pub mod workload;

/// The one event of the benchmark.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Bench {
    /// `{"seq":u64,"ts":micros,"payload":"<64 chars>"}`
    Tick {
        /// Position in its stream.
        seq: u64,
        /// When it was made, in microseconds since the Unix epoch.
        ts: u64,
        /// 64 characters.
        payload: Cow<'static, str>,
    },
}

/// Tick number `seq`, made now.
pub fn tick(seq: u64) -> Bench {
    Bench::Tick {
        seq,
        ts: now_micros(),
        payload: Cow::Borrowed(PAYLOAD),
    }
}

/// Microseconds since the Unix epoch: the `ts` of an event, for delivery latency.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The 64-character payload of every event.
pub const PAYLOAD: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `ADDR` (default `127.0.0.1:0`).
pub fn addr() -> String {
    std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:0".to_owned())
}

/// `RATE`: broadcast events per second; 0 (the default) publishes flat out.
pub fn rate() -> u64 {
    env_u64("RATE", 0)
}

/// The number in the environment variable `name`, or `default` when it is unset or not one.
pub fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Prints the address a server listens on, the line the runner waits for.
pub fn announce(addr: std::net::SocketAddr) {
    println!("listening on {addr}");
}

/// Runs `publish` at `rate` events per second, or flat out (yielding now and then) when 0.
pub async fn publish_loop<F, Fut>(rate: u64, mut publish: F)
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut ticker = (rate > 0).then(|| {
        let mut interval =
            tokio::time::interval(std::time::Duration::from_micros(1_000_000 / rate));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    for seq in 0.. {
        match &mut ticker {
            Some(ticker) => {
                ticker.tick().await;
            }
            None if seq % 64 == 0 => tokio::task::yield_now().await,
            None => {}
        }
        if !publish(seq).await {
            return;
        }
    }
}
