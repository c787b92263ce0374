//! The quick start: a clock that streams the time. Run it with `cargo run --example clock`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::Deserialize;
use sha2::Digest as _;
use tidings::compression::Compression;
use tidings::hub::Hub;
use tidings::{Emitter, Json, Path, Query, Router, State, Validate, event_stream};

/// What the clock says.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Clock {
    /// The current time, every `interval_ms`.
    Tick {
        /// Ticks since the stream started, from 0.
        seq: u64,
        /// Milliseconds since the Unix epoch.
        unix_ms: u64,
    },
    /// A new minute began.
    Minute {
        /// Minutes since the Unix epoch.
        #[validate(range(min = 1))]
        unix_minutes: u64,
    },
}

/// Query string of `/clock`.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub struct ClockQuery {
    /// Milliseconds between ticks (default 1000).
    #[validate(range(min = 10, max = 60_000))]
    interval_ms: Option<u64>,
    /// How many ticks to send; then the stream is complete and clients do not come back
    /// (default: no end).
    count: Option<u64>,
}

/// The time, every `interval_ms`, and a `minute` event when the minute changes; with `count`,
/// that many ticks and no more.
#[event_stream(path = "/clock")]
pub async fn clock(Query(query): Query<ClockQuery>, events: Emitter<Clock>) -> tidings::Result<()> {
    let mut ticks = tokio::time::interval(Duration::from_millis(query.interval_ms.unwrap_or(1000)));
    let mut last_minute = None;
    for seq in 0..query.count.unwrap_or(u64::MAX) {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = events.closed() => break,
        }
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
        events.emit(Clock::Tick { seq, unix_ms }).await?;
        let unix_minutes = unix_ms / 60_000;
        if last_minute.is_some_and(|last| last != unix_minutes) {
            events.emit(Clock::Minute { unix_minutes }).await?;
        }
        last_minute = Some(unix_minutes);
    }
    if query.count.is_some() && !events.is_closed() {
        events.complete();
    }
    Ok(())
}

/// What an alarm says.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Alarm {
    /// Time left before it rings, every 100 ms.
    Remaining {
        /// Milliseconds left.
        ms: u64,
    },
    /// It rings: the alarm's label, as plain text.
    #[event(text)]
    Ring(String),
}

/// Body of `POST /alarms/{label}`.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub struct AlarmRequest {
    /// When to ring, in milliseconds from now.
    #[validate(range(max = 60_000))]
    in_ms: u64,
}

/// The `{label}` of `POST /alarms/{label}`: what the alarm says when it rings.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub struct AlarmLabel {
    #[validate(length(min = 1, max = 40))]
    label: String,
}

/// Counts down to a posted alarm, then rings; a rung alarm is over, so the stream is complete
/// (clients do not post it again).
#[event_stream(path = "/alarms/{label}", method = "POST")]
pub async fn alarm(
    Path(AlarmLabel { label }): Path<AlarmLabel>,
    Json(request): Json<AlarmRequest>,
    events: Emitter<Alarm>,
) -> tidings::Result<()> {
    let mut left = request.in_ms;
    while left > 0 {
        events.emit(Alarm::Remaining { ms: left }).await?;
        let step = left.min(100);
        tokio::time::sleep(Duration::from_millis(step)).await;
        left -= step;
    }
    events.emit(Alarm::Ring(label)).await?;
    events.complete();
    Ok(())
}

/// One clock for everybody: a hub that ticks every 100 ms, with event ids, so that a client
/// that comes back with `Last-Event-ID` gets every tick it missed.
#[event_stream(path = "/ticks")]
pub async fn ticks(State(hub): State<Hub<Clock>>, events: Emitter<Clock>) -> tidings::Result<()> {
    events
        .forward(hub.subscribe(events.last_event_id()).await)
        .await?;
    Ok(())
}

/// Bytes, streamed as base64 and typed as bytes on both ends.
#[event_stream]
#[derive(Debug, Clone, PartialEq)]
pub enum Noise {
    /// The bytes, as standard base64 on one `data:` line (`Uint8Array` in TypeScript).
    #[event(base64)]
    Chunk(Vec<u8>),
    /// The same bytes inside a JSON object, as URL-safe base64.
    Framed {
        /// Which chunk.
        seq: u64,
        /// The bytes.
        #[event(base64 = "url")]
        bytes: Vec<u8>,
    },
    /// The SHA-256 of the bytes, in hex, for the client to check what it decoded.
    Digest {
        /// 64 hex digits.
        sha256: String,
    },
}

/// The bytes to send.
#[derive(Deserialize, JsonSchema, Validate)]
pub struct NoiseQuery {
    /// How many (at most 4 MiB).
    #[validate(range(max = 4194304))]
    pub len: usize,
    /// Which ones: the same seed gives the same bytes.
    pub seed: u64,
}

/// `len` pseudo-random bytes from `seed` (xorshift64*), sent as a `chunk`, then `framed`,
/// then their `digest`; then the stream ends, and a client comes back for them again.
// 4 MiB of bytes is about 5.6 MB of base64 in a frame: more than the 1 MiB routes send by
// default. Not compressed: base64 of random bytes shrinks by a quarter at most, for megabytes
// through a compressor.
#[event_stream(path = "/noise", max_event_bytes = 8_388_608, compress = false)]
pub async fn noise(Query(query): Query<NoiseQuery>, events: Emitter<Noise>) -> tidings::Result<()> {
    let bytes = noise_bytes(query.len, query.seed);
    let digest = sha2::Sha256::digest(&bytes);
    let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    events.emit(Noise::Chunk(bytes.clone())).await?;
    events
        .emit(Noise::Framed {
            seq: query.seed,
            bytes,
        })
        .await?;
    events.emit(Noise::Digest { sha256 }).await?;
    Ok(())
}

/// The bytes of `/noise?len=&seed=`.
pub fn noise_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// The routes, around the shared `hub` of `GET /ticks`. Their streams are compressed for
/// clients that accept zstd, gzip, brotli or deflate (`curl --compressed`, browsers), but
/// `/noise`'s.
pub fn routes(hub: Hub<Clock>) -> Router {
    Router::new()
        .route(clock)
        .route(alarm)
        .route(ticks)
        .route(noise)
        .with_state(hub)
        .compression(Compression::new())
}

/// The clock's routes (`GET /clock`, `POST /alarms/{label}`, `GET /ticks`, `GET /noise`), with
/// the task that feeds the shared ticks. Call it inside a Tokio runtime.
pub fn app() -> Router {
    let hub = Hub::new();
    tokio::spawn(publish_ticks(hub.clone()));
    routes(hub)
}

/// Publishes a tick every 100 ms to `hub`, until it fails.
pub async fn publish_ticks(hub: Hub<Clock>) {
    let mut every = tokio::time::interval(Duration::from_millis(100));
    for seq in 0.. {
        every.tick().await;
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if hub.publish(Clock::Tick { seq, unix_ms }).await.is_err() {
            break;
        }
    }
}

/// The clock's OpenAPI document.
pub fn openapi() -> tidings::openapi::OpenApi {
    routes(Hub::new())
        .openapi()
        .title("Clock")
        .version("1.0.0")
        .description("The time, streamed as Server-Sent Events.")
        .server("http://127.0.0.1:8080")
}

/// The clock's TypeScript client.
pub fn typescript() -> String {
    tidings::typescript::generate(&routes(Hub::new()))
}
