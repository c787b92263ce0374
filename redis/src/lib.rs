//! Redis Streams storage for [`tidings`] hubs: one hub shared by many server instances.
//!
//! A [`Hub`] over a [`RedisStorage`] publishes to a Redis stream (`XADD`), and every instance
//! runs **one** `XREAD BLOCK` loop per hub that feeds a local window, from which all of its
//! subscribers read without a round trip: Redis work per event does not grow with the number
//! of subscribers. The Redis stream id is the event id, so a `Last-Event-ID` written by one
//! instance means the same on every other, and a client whose instance died resumes on
//! another with nothing lost and nothing twice.
//!
//! ```no_run
//! use tidings::hub::{HubOptions, Subscribed};
//! use tidings::{event_stream, Emitter, Router};
//! use tidings_redis::{Redis, RedisStorage};
//!
//! #[event_stream]
//! #[derive(Debug, Clone)]
//! enum Prices {
//!     Quote { symbol: String, cents: u64 },
//! }
//!
//! #[event_stream(path = "/prices")]
//! async fn prices(
//!     Subscribed(quotes): Subscribed<Prices, RedisStorage<Prices>>,
//!     events: Emitter<Prices>,
//! ) -> tidings::Result<()> {
//!     events.forward(quotes).await?;
//!     Ok(())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let redis = Redis::open("redis://127.0.0.1:6379/")?; // connects lazily
//! let hub = redis.hub::<Prices>("tidings:prices", HubOptions::default());
//! let app = Router::new().route(prices).with_state(hub.clone());
//! hub.publish(Prices::Quote { symbol: "ACME".into(), cents: 1234 }).await?;
//! # Ok(()) }
//! ```
//!
//! **Guarantees.**
//! - *Publish* validates and serializes once, then appends the frame with one atomic
//!   `MULTI`/`XADD`/`EXEC` (trimmed with `MAXLEN ~` to the window's event count, `MINID ~` for
//!   its age); when Redis is unreachable it returns [`PublishError::Storage`] within about two
//!   seconds and nothing is written.
//! - *Resume* is served from the local window, which the loop fills from the stream when it
//!   starts (`XREVRANGE`, so a fresh instance resumes clients of the others) and keeps
//!   current with `XREAD`: a `Last-Event-ID` inside the window resumes with no gap or
//!   duplicate at the seam. An id the loop has not read yet but Redis holds (the client was
//!   just on a quicker instance) waits for the loop; an id older than the window, malformed, or
//!   newer than the stream gets the same `tidings.reset` as the memory storage. On a stream
//!   that was empty when the loop started, the window begins at Redis's clock then (`TIME`):
//!   an id from before it belongs to a history that is gone, and gets a reset too. A
//!   `Last-Event-ID` is resumed from the window, never by a round trip per subscriber, so an id
//!   older than the window gets a reset even while Redis's approximate trimming (`MAXLEN ~`)
//!   still holds it.
//! - *Redis unreachable*: subscribers stay connected (heartbeats go on), new subscribers
//!   ([`Subscribed`](tidings::hub::Subscribed)) get `503` with `Retry-After`, and when Redis is
//!   back the loop goes on from the last entry it read: nothing published meanwhile is missed.
//! - *Redis restarted empty* (no persistence), or the last entry read trimmed away during an
//!   outage: the history broke, so every subscriber gets one `tidings.reset` (with
//!   `"reason":"unknown"`), then the live events. With AOF persistence the stream survives and
//!   nothing is reset.
//! - *Down at startup*: nothing fails to start; hub routes answer `503` until Redis is
//!   reachable.
//!
//! **Costs.** Each hub holds one Redis connection of its own for its blocking `XREAD`; all
//! hubs of a [`Redis`] share one multiplexed connection for everything else.
//!
//! **Why redis-rs.** It is the Redis client maintained under the Redis organisation, its
//! tokio `ConnectionManager` reconnects on its own and can start without a server (hub routes
//! must come up while Redis is down), and it speaks every command used here without a
//! wrapper; fred would do as well, with more machinery than this crate needs.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod follow;
mod reader;
mod storage;
mod window;

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tidings::EventSet;
use tidings::hub::{Hub, HubOptions, Hubs, WindowLimits};

pub use storage::RedisStorage;

#[doc(no_inline)]
pub use tidings::hub::PublishError;

use follow::Follower;
use reader::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT};

/// One Redis server (or proxy), shared by every hub storage made from it.
///
/// Cheap to clone. Nothing connects until a storage needs it, so a server can start while
/// Redis is down.
#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    commands: ConnectionManager,
    follower: Arc<Follower>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("server", &self.client.get_connection_info().addr())
            .finish_non_exhaustive()
    }
}

impl Redis {
    /// A Redis at `url` (`redis://host:port/db`, `redis://:password@host/`...). Fails only
    /// for a URL that is not one; connects on first use. Call it inside a Tokio runtime.
    pub fn open(url: &str) -> Result<Redis, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            // A publish fails fast while Redis is down, and the next one tries again.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let follower = Follower::new(client.clone());
        Ok(Redis {
            client,
            commands,
            follower,
        })
    }

    /// A storage on the Redis stream `key`, with a local window bounded by `window` (the
    /// stream is trimmed to its event count and age). Starts its `XREAD` loop at once; call it
    /// inside a Tokio runtime.
    pub fn storage<E: EventSet + Sync>(
        &self,
        key: impl Into<String>,
        window: WindowLimits,
    ) -> RedisStorage<E> {
        RedisStorage::new(
            &self.follower,
            self.commands.clone(),
            key.into(),
            window,
            None,
        )
    }

    /// A hub on the Redis stream `key`.
    pub fn hub<E: EventSet + Sync>(
        &self,
        key: impl Into<String>,
        options: HubOptions,
    ) -> Hub<E, RedisStorage<E>> {
        Hub::with_storage(self.storage(key, options.window), options)
    }

    /// One hub per topic, each on its own stream `{prefix}:{topic}`. A hub nobody uses for
    /// `idle` is dropped here (its `XREAD` loop stops); its Redis key expires `expire` after
    /// the last event published to it.
    pub fn hubs<K, E>(
        &self,
        prefix: &str,
        options: HubOptions,
        idle: Duration,
        expire: Duration,
    ) -> Hubs<K, E, RedisStorage<E>>
    where
        K: std::hash::Hash + Eq + Clone + Display,
        E: EventSet + Sync,
    {
        let redis = self.clone();
        let prefix = prefix.to_owned();
        Hubs::with_storage(options, idle, move |topic: &K| {
            RedisStorage::new(
                &redis.follower,
                redis.commands.clone(),
                format!("{prefix}:{topic}"),
                options.window,
                Some(expire),
            )
        })
    }
}

/// The examples of this crate's README (its page on crates.io), compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
