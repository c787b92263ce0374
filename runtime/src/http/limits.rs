//! Limits a router applies per client, as middleware.
//!
//! The server's own limits (connections, streams per HTTP/2 connection, timeouts) are set on
//! [`Serve`](crate::Serve); see [`server`](crate::server#limits). This module holds what a
//! router can add on top: [`StreamsPerClient`] caps the streams one client address has open
//! at once, so that one client cannot take every connection the server allows, and
//! `RateLimit` (feature `rate-limit`) how often one client may open them.
//!
//! ```
//! use tidings::{event_stream, Emitter, Router};
//! use tidings::limits::StreamsPerClient;
//!
//! #[event_stream]
//! enum Tick { Tick }
//!
//! #[event_stream(path = "/ticks")]
//! async fn ticks(events: Emitter<Tick>) -> tidings::Result<()> {
//!     events.emit(Tick::Tick).await?;
//!     Ok(())
//! }
//!
//! // At most 8 open streams per client IP address, over every route of this router.
//! let app = Router::new().route(ticks).middleware(StreamsPerClient::new(8));
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};

use crate::http::extract::RequestContext;
use crate::http::middleware::Middleware;
use crate::http::rejection::Rejection;
use crate::http::wiring::Wiring;

/// Middleware that caps the streams open at once from one client IP address; past the cap, a
/// request answers `429 Too Many Requests` with `Retry-After`, before any extractor runs.
///
/// A stream counts from the moment the middleware lets its request through until its handler
/// has returned (a handler sees [`closed()`](crate::Emitter::closed) as soon as its client
/// leaves), or until the request is refused by a later middleware or extractor. Clients are
/// told apart by [`RequestContext::peer_addr`]; behind a proxy, every client has the proxy's
/// address, unless [`TrustedProxies`](crate::forwarded::TrustedProxies) runs first and takes
/// the client's from the proxy's forwarded header. A request without an address is let
/// through.
#[derive(Clone)]
pub struct StreamsPerClient {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl StreamsPerClient {
    /// At most `max` open streams per client address.
    pub fn new(max: usize) -> Self {
        StreamsPerClient {
            max,
            open: Arc::default(),
        }
    }

    /// How many streams `client` has open now.
    pub fn open_streams(&self, client: IpAddr) -> usize {
        self.lock().get(&client).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counting is all that happens under the lock: a poisoned one is still consistent.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for StreamsPerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsPerClient")
            .field("max", &self.max)
            .field("clients", &self.lock().len())
            .finish()
    }
}

/// One client's place among its open streams, given back on drop.
struct StreamSlot {
    client: IpAddr,
    limit: StreamsPerClient,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.limit.lock();
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

impl Middleware for StreamsPerClient {
    async fn run(&self, cx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(peer) = cx.peer_addr() else {
            return Ok(());
        };
        let client = peer.ip();
        {
            let mut open = self.lock();
            let count = open.entry(client).or_insert(0);
            if *count >= self.max {
                return Err(Rejection::new(StatusCode::TOO_MANY_REQUESTS)
                    .detail(format!(
                        "this client has {} streams open, the most allowed; close one first",
                        self.max
                    ))
                    .header(RETRY_AFTER, HeaderValue::from_static("5")));
            }
            *count += 1;
        }
        cx.keep_until_stream_ends(StreamSlot {
            client,
            limit: self.clone(),
        });
        Ok(())
    }
    fn provides(&self, _provided: &mut Wiring) {
        // No extension for handlers: only a slot kept for the stream's life.
    }
}

/// Middleware that limits how often one client IP address may open streams: a token bucket
/// per address (governor's GCRA), refilled at a steady rate with room for a burst. Past it, a
/// request answers `429 Too Many Requests` with `Retry-After` (the seconds until the bucket
/// has a token again, at least 1), before any extractor runs; tidings' clients, Rust and
/// TypeScript, wait that long and retry, as for a `503`. Feature `rate-limit`.
///
/// It keeps a reconnect storm or a scripted client from opening thousands of streams a second;
/// [`StreamsPerClient`] caps how many stay open. Clients are told apart as there: by
/// [`RequestContext::peer_addr`], which behind a proxy is the proxy's address unless
/// [`TrustedProxies`](crate::forwarded::TrustedProxies) runs first and takes the client's from
/// your proxy's forwarded header.
///
/// ```
/// use std::time::Duration;
/// use tidings::{event_stream, Emitter, Router};
/// use tidings::limits::RateLimit;
///
/// #[event_stream]
/// enum Tick { Tick }
///
/// #[event_stream(path = "/ticks")]
/// async fn ticks(events: Emitter<Tick>) -> tidings::Result<()> {
///     events.emit(Tick::Tick).await?;
///     Ok(())
/// }
///
/// // Per client address: 10 opens at once, then one every 6 s (10 a minute).
/// let app = Router::new()
///     .route(ticks)
///     .middleware(RateLimit::every(Duration::from_secs(6)).burst(10));
/// ```
#[cfg(feature = "rate-limit")]
#[derive(Clone)]
pub struct RateLimit {
    quota: governor::Quota,
    limiter: Arc<KeyedLimiter>,
    /// Checks since the limiter last forgot clients whose buckets are full again.
    checks: Arc<std::sync::atomic::AtomicU32>,
}

#[cfg(feature = "rate-limit")]
type KeyedLimiter = governor::RateLimiter<
    IpAddr,
    governor::state::keyed::HashMapStateStore<IpAddr>,
    governor::clock::DefaultClock,
>;

/// How many checks between two sweeps of clients the limiter no longer needs to remember.
#[cfg(feature = "rate-limit")]
const SWEEP_EVERY: u32 = 4096;

#[cfg(feature = "rate-limit")]
impl RateLimit {
    /// One stream open per client address every `period` (at least a millisecond), with no
    /// burst: add one with [`burst`](Self::burst).
    pub fn every(period: std::time::Duration) -> Self {
        let period = period.max(std::time::Duration::from_millis(1));
        let quota = governor::Quota::with_period(period).expect("a period of at least 1 ms");
        RateLimit::with_quota(quota)
    }

    /// At most `per_second` opens a second per client address (at least 1), as a burst too.
    pub fn per_second(per_second: u32) -> Self {
        let rate = std::num::NonZeroU32::new(per_second).unwrap_or(std::num::NonZeroU32::MIN);
        RateLimit::with_quota(governor::Quota::per_second(rate))
    }

    /// Lets a client open up to `burst` streams at once (at least 1) before the steady rate
    /// applies.
    pub fn burst(self, burst: u32) -> Self {
        let burst = std::num::NonZeroU32::new(burst).unwrap_or(std::num::NonZeroU32::MIN);
        RateLimit::with_quota(self.quota.allow_burst(burst))
    }

    fn with_quota(quota: governor::Quota) -> Self {
        RateLimit {
            quota,
            limiter: Arc::new(governor::RateLimiter::hashmap(quota)),
            checks: Arc::default(),
        }
    }

    /// What a client may do, in words: "at most 40 requests at once, then one every 500 ms".
    fn allowance(&self) -> String {
        let period = self.quota.replenish_interval();
        let every = if period.as_millis() < 1000 {
            format!("{} ms", period.as_millis())
        } else {
            format!("{:.1} s", period.as_secs_f64())
        };
        format!(
            "a client may send at most {} requests at once, then one every {every}",
            self.quota.burst_size()
        )
    }

    /// Forgets, now and then, the clients whose buckets are full again: their state would
    /// otherwise stay for every address ever seen.
    fn sweep_now_and_then(&self) {
        use std::sync::atomic::Ordering;
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }
}

#[cfg(feature = "rate-limit")]
impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("every", &self.quota.replenish_interval())
            .field("burst", &self.quota.burst_size())
            .field("clients", &self.limiter.len())
            .finish()
    }
}

#[cfg(feature = "rate-limit")]
impl Middleware for RateLimit {
    async fn run(&self, cx: &mut RequestContext) -> Result<(), Rejection> {
        use governor::clock::Clock;
        let Some(peer) = cx.peer_addr() else {
            return Ok(());
        };
        self.sweep_now_and_then();
        let Err(not_until) = self.limiter.check_key(&peer.ip()) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(self.limiter.clock().now());
        // Whole seconds, rounded up: a client that waits that long gets a token.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        Err(Rejection::new(StatusCode::TOO_MANY_REQUESTS)
            .detail(self.allowance())
            .header(RETRY_AFTER, HeaderValue::from(seconds)))
    }

    fn describe(
        &self,
        doc: &mut crate::http::inputs::InputDoc,
        _generator: &mut schemars::SchemaGenerator,
    ) {
        doc.response(
            429,
            "This client opens streams too often; `Retry-After` says when to retry.",
        );
    }

    fn provides(&self, _provided: &mut Wiring) {
        // Nothing for handlers.
    }
}
