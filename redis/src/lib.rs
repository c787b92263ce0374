//! Redis Streams storage for [`tidings`] hubs: one hub shared by many server instances.
//!
//! A [`Hub`] over a [`RedisStorage`] appends each event to a Redis stream and publishes it on
//! a channel of the same name, in one script call. Every instance holds **one** Pub/Sub
//! connection for all its hubs and topics, which feeds each topic's local window, from which
//! all of its subscribers read without a round trip: Redis work per event grows with neither
//! the number of subscribers nor the number of topics. The Redis stream id is the event id, so
//! a `Last-Event-ID` written by one instance means the same on every other, and a client whose
//! instance died resumes on another with nothing lost and nothing twice.
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
//! - *Publish* validates and serializes once, then runs one script (`EVALSHA`) that appends the
//!   frame (`XADD`, trimmed with `MAXLEN ~` to the window's event count, `MINID ~` for its
//!   age) and publishes it with its id (`PUBLISH`): all or nothing, and a topic's channel
//!   carries its events in the order of their ids. [`Hub::publish_all`] sends up to 256 events
//!   per script call, published as one message. When Redis is unreachable, publishing returns [`PublishError::Storage`]
//!   within about two seconds and nothing is written. Concurrent publishes share the one
//!   multiplexed commands connection, pipelined.
//! - *Live events* come on the channel. Pub/Sub forgets what it could not deliver, so each
//!   time a topic's channel is subscribed (a new topic, or after the connection broke) the
//!   topic first reads its stream past its window (`XRANGE`), holding what the channel brings
//!   meanwhile, then appends what it lacks of that: nothing published while the connection
//!   was down is missed, and nothing comes twice (by id).
//! - *Resume* is served from the local window, which a new topic fills from the stream
//!   (`XREVRANGE`, so a fresh instance resumes clients of the others): a `Last-Event-ID`
//!   inside the window resumes with no gap or duplicate at the seam. An id this instance has
//!   not received yet but Redis holds (the client was just on a quicker instance) waits for it;
//!   an id older than the window, malformed, or newer than the stream gets the same
//!   `tidings.reset` as the memory storage. On a stream that was empty when the topic started,
//!   the window begins at Redis's clock then (`TIME`):
//!   an id from before it belongs to a history that is gone, and gets a reset too. A
//!   `Last-Event-ID` is resumed from the window, never by a round trip per subscriber, so an id
//!   older than the window gets a reset even while Redis's approximate trimming (`MAXLEN ~`)
//!   still holds it.
//! - *A new topic*: its first subscriber waits while the topic catches up (one or two round
//!   trips), up to 3 s, rather than being refused.
//! - *Redis unreachable*: subscribers stay connected (heartbeats go on), new subscribers
//!   ([`Subscribed`](tidings::hub::Subscribed), [`TopicSubscribed`](tidings::hub::TopicSubscribed))
//!   wait up to 3 s, then get `503` with `Retry-After`, and when Redis is back each topic
//!   catches up from the last entry it has: nothing published meanwhile is missed.
//! - *Redis restarted empty* (no persistence), or the last entry read trimmed away during an
//!   outage: the history broke, so every subscriber gets one `tidings.reset` (with
//!   `"reason":"unknown"`), then the live events. With AOF persistence the stream survives and
//!   nothing is reset.
//! - *Down at startup*: nothing fails to start; hub routes answer `503` until Redis is
//!   reachable.
//!
//! **Costs.** A [`Redis`] holds two connections however many hubs and topics it serves: one
//! multiplexed connection for commands (publishing, catch-ups) and one Pub/Sub connection
//! (`PING`ed every 5 s, so that a peer that vanished is noticed). A topic costs Redis one
//! channel subscription per instance following it, and nothing while idle; [`Redis::hubs`]
//! unsubscribes a topic when its hub is dropped as idle. Per event, Redis runs one script
//! (an `XADD` and a `PUBLISH` to each instance that follows the topic); no command runs per
//! subscriber.
//!
//! **Redis Cluster.** [`Redis::open_cluster`] runs the same hubs and topics on a cluster, with
//! the same guarantees:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! # use tidings::hub::HubOptions;
//! # #[tidings::event_stream] #[derive(Debug, Clone)] enum Prices { Quote { cents: u64 } }
//! let redis = tidings_redis::Redis::open_cluster([
//!     "redis://10.0.0.1:6379/",
//!     "redis://10.0.0.2:6379/", // any nodes: the others are found from them
//! ])?;
//! // Each publish returns once a replica has the event: a failover cannot lose it.
//! let durable = redis.wait_for_replicas(1, std::time::Duration::from_millis(500));
//! let hub = durable.hub::<Prices>("tidings:prices", HubOptions::default());
//! # Ok(()) }
//! ```
//!
//! - A topic's stream and its channel have one name, so one slot and one primary: publishing
//!   is one script call on that primary (`SPUBLISH`, sharded Pub/Sub, Redis 7), heard only by
//!   that primary's subscribers. No hash tags are needed; the topics of [`Redis::hubs`] spread
//!   over the primaries.
//! - An instance holds the commands connections of redis-rs's cluster client (one per node)
//!   and one Pub/Sub connection per primary that owns a topic it follows: connections grow
//!   with the shards, not with the topics.
//! - *A slot moves* (resharding): Redis unsubscribes its channels on the old primary; the
//!   topics of that connection are placed again from a fresh slot map and catch up from their
//!   streams, as after any reconnection: nothing lost, nothing twice. Commands follow `MOVED`
//!   and `ASK`.
//! - *A primary fails* and its replica takes over: its topics catch up on the new primary.
//!   Replication is asynchronous, so what the old primary acknowledged in its last moments may
//!   be missing there. A topic whose last entry read is gone gives its subscribers a
//!   `tidings.reset`; a `Last-Event-ID` the new history lacks gets one too; a client never
//!   resumes into a different history, and never misses an event without a reset. Publishes
//!   fail (`PublishError::Storage`) until the replica has taken over (about
//!   `cluster-node-timeout` plus an election).
//! - With [`Redis::wait_for_replicas`], `publish` returns `Ok` only once the replicas have the
//!   event, so an event it acknowledged survives the failover; while a primary has no live
//!   replica, every publish on its slots fails after the timeout.
//!
//! **Why Pub/Sub and streams together.** One `XREAD BLOCK` over many keys would also bound the
//! connections, but it must be re-sent with every key after each wake-up, so its cost grows
//! with the number of topics; Pub/Sub costs nothing per idle topic and delivers in one hop,
//! and the stream keeps what Pub/Sub cannot: the history for resume and for catching up. It is
//! the shape Centrifugo uses.
//!
//! **Why redis-rs.** It is the Redis client maintained under the Redis organisation, its
//! tokio `ConnectionManager` reconnects on its own and can start without a server (hub routes
//! must come up while Redis is down), and it speaks every command used here without a
//! wrapper; fred would do as well, with more machinery than this crate needs.

#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cluster;
mod commands;
mod follow;
mod reader;
mod storage;
mod window;

use std::fmt::Display;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tidings::EventSet;
use tidings::hub::{Hub, HubOptions, Hubs, WindowLimits};

pub use storage::RedisStorage;

#[doc(no_inline)]
pub use tidings::hub::PublishError;

use cluster::ClusterFollower;
use commands::{ClusterCommands, Commands};
use follow::Follower;
use reader::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT};
use storage::{Backend, Followers};

/// One Redis server (or proxy), or one Redis Cluster, shared by every hub storage made from
/// it.
///
/// Cheap to clone. Nothing connects until a storage needs it, so a server can start while
/// Redis is down.
#[derive(Clone)]
pub struct Redis {
    /// What it was opened on, for `Debug`.
    target: String,
    backend: Backend,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("target", &self.target)
            .field("cluster", &self.backend.commands.is_cluster())
            .field("durability", &self.backend.durability)
            .finish_non_exhaustive()
    }
}

/// The longest `WAIT` a durable publish makes: a command's answer may take 2 s in all.
const MAX_WAIT: Duration = Duration::from_millis(1500);

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
        let target = client.get_connection_info().addr().to_string();
        Ok(Redis {
            target,
            backend: Backend {
                commands: Commands::Server(commands),
                followers: Followers::Server(Follower::new(client)),
                durability: None,
            },
        })
    }

    /// A Redis Cluster reached through `nodes` (any of its nodes: `redis://host:port`, with
    /// credentials if it needs them; the others are found from them). Fails only for an
    /// address that is not one, or none; connects on first use. Call it inside a Tokio
    /// runtime.
    ///
    /// The hubs and topics are the same as on one server, with the same guarantees. Each
    /// topic's stream lives in its key's slot, and its channel is a sharded one (`SPUBLISH`,
    /// Redis 7) in the same slot: an event costs only its primary. Commands follow `MOVED` and
    /// `ASK`; this instance holds one Pub/Sub connection per primary that owns a followed topic
    /// (connections grow with the shards, not with the topics). When a slot moves or a primary
    /// fails over, the topics it held catch up from their streams on the new primary, and a
    /// topic whose stream lost entries it had read (asynchronous replication: a failover can
    /// lose what the old primary acknowledged) gives its subscribers a `tidings.reset`. To make
    /// acknowledged events survive a failover, see [`Redis::wait_for_replicas`].
    pub fn open_cluster(
        nodes: impl IntoIterator<Item = impl AsRef<str>>,
    ) -> Result<Redis, redis::RedisError> {
        let nodes = nodes
            .into_iter()
            .map(|url| redis::IntoConnectionInfo::into_connection_info(url.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(seed) = nodes.first().cloned() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "Redis::open_cluster needs at least one node",
            )));
        };
        let target = nodes
            .iter()
            .map(|node| node.addr().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            // A publish fails within seconds while a slot has no primary (a failover is under
            // way), and the next one tries again.
            .retries(3)
            .min_retry_wait(50)
            .max_retry_wait(500)
            .build()?;
        let config = redis::cluster::ClusterConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        let commands = Commands::Cluster(ClusterCommands::new(client, config));
        let follower = ClusterFollower::new(seed, commands.clone());
        Ok(Redis {
            target,
            backend: Backend {
                commands,
                followers: Followers::Cluster(follower),
                durability: None,
            },
        })
    }

    /// This Redis, with hubs whose `publish` returns only once `replicas` replicas of the
    /// stream's primary have the event (Redis `WAIT`, in the same round trip as the append),
    /// or [`PublishError::Storage`] when they do not have it within `timeout` (at most 1.5 s;
    /// longer is shortened). The event is written and delivered even then: the error says only
    /// that a failover could lose it. Shares this `Redis`'s connections; hubs made from the
    /// original do not wait.
    ///
    /// Redis replicates asynchronously, so without this a primary that fails right after
    /// acknowledging an event can take it with it; with it, an event `publish` returned `Ok`
    /// for is on `replicas` replicas, and survives the failover (unless all of them fail
    /// too). The cost is a replication round trip per publish: see the README's figures.
    pub fn wait_for_replicas(&self, replicas: u32, timeout: Duration) -> Redis {
        let mut redis = self.clone();
        redis.backend.durability = Some((replicas, timeout.min(MAX_WAIT)));
        redis
    }

    /// A storage on the Redis stream `key`, with a local window bounded by `window` (the
    /// stream is trimmed to its event count and age). Starts its `XREAD` loop at once; call it
    /// inside a Tokio runtime.
    pub fn storage<E: EventSet + Sync>(
        &self,
        key: impl Into<String>,
        window: WindowLimits,
    ) -> RedisStorage<E> {
        RedisStorage::new(&self.backend, key.into(), window, None)
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
        let backend = self.backend.clone();
        let prefix = prefix.to_owned();
        Hubs::with_storage(options, idle, move |topic: &K| {
            RedisStorage::new(
                &backend,
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
