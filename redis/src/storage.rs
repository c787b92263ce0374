//! [`RedisStorage`]: `HubStorage` on a Redis stream and its channel, read through a local
//! window.

use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use tidings::hub::{
    Cursor, EventId, Head, HubStorage, Lost, Record, ResetReason, Start, StorageError, WindowLimits,
};
use tokio::sync::watch;

use crate::cluster::ClusterFollower;
use crate::commands::Commands;
use crate::follow::{Follower, Registered, Topic};
use crate::reader;
use crate::window::{Shared, now_ms};

/// How long a subscriber whose id this instance has not received yet waits for it.
const CATCH_UP: Duration = Duration::from_secs(2);
/// How long a new subscriber waits for a topic that is not following its stream yet (a new
/// topic's first catch-up, or Redis coming back) before it is refused with `503`.
const READY_WAIT: Duration = Duration::from_secs(3);
/// Most frames one script call appends.
const APPEND_CHUNK: usize = 256;

/// Appends each frame body of `ARGV[4..]` to the stream `KEYS[1]`, then publishes the frames,
/// each with the id it got, in one message on the channel of the same name; then trims by age
/// and sets the expiry. One script, so that the channel carries a topic's events in the order
/// of their ids, and all or nothing is written. Answers the ids. (`PUBLISH` is `SPUBLISH` on a
/// cluster: the channel is then in the key's slot, heard on its primary only.)
const APPEND_AND_PUBLISH: &str = r#"
local key = KEYS[1]
local ids = {}
local frames = {}
for i = 4, #ARGV do
  local id = redis.call('XADD', key, 'MAXLEN', '~', ARGV[1], '*', 'frame', ARGV[i])
  ids[i - 3] = id
  frames[i - 3] = 'id: ' .. id .. '\n' .. ARGV[i]
end
if #frames > 0 then redis.call('PUBLISH', key, table.concat(frames)) end
if ARGV[2] ~= '' then redis.call('XTRIM', key, 'MINID', '~', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('PEXPIRE', key, ARGV[3]) end
return ids
"#;

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(APPEND_AND_PUBLISH));
static SHARDED_SCRIPT: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&APPEND_AND_PUBLISH.replace("'PUBLISH'", "'SPUBLISH'")));

/// What every storage of a [`Redis`](crate::Redis) shares.
#[derive(Clone)]
pub(crate) struct Backend {
    pub(crate) commands: Commands,
    pub(crate) followers: Followers,
    /// Replicas that must have each event before `publish` returns, and how long to wait.
    pub(crate) durability: Option<(u32, Duration)>,
}

/// The Pub/Sub side: one connection to one server, or one per primary of a cluster.
#[derive(Clone)]
pub(crate) enum Followers {
    Server(Arc<Follower>),
    Cluster(Arc<ClusterFollower>),
}

impl Followers {
    pub(crate) fn register(&self, key: &str, topic: Weak<dyn Topic>) -> Registered {
        match self {
            Followers::Server(follower) => follower.register(key, topic),
            Followers::Cluster(follower) => follower.register(key, topic),
        }
    }
}

/// A hub's storage on one Redis stream: append and publish with one script, read from a local
/// window that the [`Redis`](crate::Redis)'s one Pub/Sub connection keeps current. See the
/// [crate] docs for its guarantees.
pub struct RedisStorage<E> {
    shared: Arc<Shared<E>>,
    commands: Commands,
    /// Replicas that must have each event before `publish` returns, and how long to wait.
    durability: Option<(u32, Duration)>,
    /// Milliseconds after the last publish at which the key expires, for topics.
    expire_ms: Option<u64>,
    /// Unregisters the topic from the follower (and its channel, if it was the last) on drop.
    _registered: Registered,
    follow: tokio::task::AbortHandle,
}

impl<E> Drop for RedisStorage<E> {
    fn drop(&mut self) {
        self.follow.abort();
    }
}

impl<E> std::fmt::Debug for RedisStorage<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStorage")
            .field("key", &self.shared.key)
            .field("ready", &self.shared.is_ready())
            .finish_non_exhaustive()
    }
}

impl<E: tidings::EventSet + Sync> RedisStorage<E> {
    pub(crate) fn new(
        backend: &Backend,
        key: String,
        limits: WindowLimits,
        expire: Option<Duration>,
    ) -> Self {
        let shared = Arc::new(Shared::new(key, limits));
        let topic: Weak<dyn Topic> = Arc::downgrade(&shared) as Weak<Shared<E>>;
        let commands = backend.commands.clone();
        let follow = tokio::spawn(reader::follow(shared.clone(), commands.clone()));
        let registered = backend.followers.register(&shared.key, topic);
        RedisStorage {
            shared,
            commands,
            durability: backend.durability,
            expire_ms: expire.map(|d| d.as_millis() as u64),
            _registered: registered,
            follow: follow.abort_handle(),
        }
    }
}

impl<E: tidings::EventSet + Sync> Topic for Shared<E> {
    fn live(&self, messages: &[&[u8]]) {
        let mut records = Vec::new();
        for message in messages {
            if !reader::live_records::<E>(message, &mut records) {
                tracing::warn!(key = %self.key, "a message on the topic's channel that tidings did not publish: skipped");
            }
        }
        Shared::live(self, records);
    }

    fn disconnected(&self) {
        Shared::disconnected(self);
    }

    fn subscribed(&self, generation: u64) {
        Shared::subscribed(self, generation);
    }
}

impl<E> RedisStorage<E> {
    /// The Redis key of the stream.
    pub fn key(&self) -> &str {
        &self.shared.key
    }

    /// Whether the topic follows its stream live: new subscribers are served only then (they
    /// wait up to 3 s for it).
    pub fn is_ready(&self) -> bool {
        self.shared.is_ready()
    }

    /// How many events and frame bytes the local window holds.
    pub fn window_size(&self) -> (usize, usize) {
        let window = self.shared.lock();
        (window.records.len(), window.bytes)
    }

    fn unavailable(&self) -> StorageError {
        StorageError(tidings::Error::msg(format!(
            "Redis is unreachable: the stream `{}` cannot be read",
            self.shared.key
        )))
    }

    /// Where a client that last saw `id` starts, when the window can say.
    fn start_in_window(&self, id: EventId) -> Option<Start> {
        let mut window = self.shared.lock();
        window.evict(&self.shared.limits, now_ms());
        if id < window.base {
            return Some(window.reset(ResetReason::Expired));
        }
        if id > window.last {
            return None;
        }
        // Every entry after `base` is in the window: an id in between that is not was never
        // in this stream's history (it came from a primary that failed before replicating
        // it): resuming after it would splice two histories.
        if id != window.base && !window.holds(id) {
            return Some(window.reset(ResetReason::Unknown));
        }
        Some(Start::Resume(window.cursor_after(id)))
    }

    /// The id of the stream's newest entry, asked of Redis.
    async fn newest_in_redis(&self) -> Result<Option<EventId>, StorageError> {
        let newest = redis::cmd("XREVRANGE")
            .arg(&self.shared.key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .to_owned();
        let reply: redis::Value = self
            .on_commands(|mut connection| {
                let newest = &newest;
                async move { newest.query_async(&mut connection).await }
            })
            .await
            .map_err(|error| StorageError(tidings::Error::msg(error)))?;
        let entries =
            reader::entries(reply).map_err(|error| StorageError(tidings::Error::msg(error)))?;
        Ok(entries.first().map(|(id, _)| *id))
    }

    /// Appends and publishes `bodies`, in order, with one script call; their ids. With a
    /// durability, `WAIT` follows the script in one pipeline (it counts the replicas that
    /// have every write made on that connection before it, ours included).
    async fn append_frames(&self, bodies: &[&[u8]]) -> Result<Vec<EventId>, StorageError> {
        let script = if self.commands.is_cluster() {
            &*SHARDED_SCRIPT
        } else {
            &*SCRIPT
        };
        let limits = &self.shared.limits;
        let mut call = redis::cmd("EVALSHA");
        call.arg(script.get_hash()).arg(1).arg(&self.shared.key);
        call.arg(limits.max_events);
        match limits.max_age {
            Some(age) => call.arg(now_ms().saturating_sub(age.as_millis() as u64)),
            None => call.arg(""),
        };
        match self.expire_ms {
            Some(expire) => call.arg(expire),
            None => call.arg(""),
        };
        for body in bodies {
            call.arg(*body);
        }
        let mut pipeline = redis::pipe();
        pipeline.add_command(call);
        if let Some((replicas, timeout)) = self.durability {
            pipeline
                .cmd("WAIT")
                .arg(replicas)
                .arg(timeout.as_millis() as u64);
        }
        let run = |mut connection: Commands| {
            let pipeline = &pipeline;
            async move {
                let answer = pipeline
                    .query_async::<Vec<redis::Value>>(&mut connection)
                    .await;
                match answer {
                    // A server that has not seen the script yet (new, restarted, or the
                    // primary a slot just moved to) loads it, and the call is made again.
                    Err(error)
                        if error.kind()
                            == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                    {
                        script.load_async(&mut connection).await?;
                        pipeline.query_async(&mut connection).await
                    }
                    answer => answer,
                }
            }
        };
        let answer = self.on_commands(run).await.map_err(|error| {
            StorageError(tidings::Error::msg(format!(
                "cannot append to the Redis stream `{}`: {error}",
                self.shared.key
            )))
        })?;
        let mut answer = answer.into_iter();
        let ids: Vec<String> = redis::from_redis_value(answer.next().unwrap_or(redis::Value::Nil))
            .map_err(|error| {
                StorageError(tidings::Error::msg(format!(
                    "Redis answered the append to `{}` with no ids: {error}",
                    self.shared.key
                )))
            })?;
        if let Some((replicas, timeout)) = self.durability {
            let acknowledged: u64 = answer
                .next()
                .and_then(|value| redis::from_redis_value(value).ok())
                .unwrap_or(0);
            if acknowledged < u64::from(replicas) {
                return Err(StorageError(tidings::Error::msg(format!(
                    "the event was written to the Redis stream `{}`, but {acknowledged} of the \
                     {replicas} replicas asked for had it within {timeout:?}: a failover may lose it",
                    self.shared.key
                ))));
            }
        }
        if ids.len() != bodies.len() {
            return Err(StorageError(tidings::Error::msg(format!(
                "Redis answered the append to `{}` with {} ids for {} events",
                self.shared.key,
                ids.len(),
                bodies.len()
            ))));
        }
        ids.iter()
            .map(|id| {
                id.parse().map_err(|_| {
                    StorageError(tidings::Error::msg(format!(
                        "Redis answered XADD with `{id}`, not a stream id"
                    )))
                })
            })
            .collect()
    }

    /// Runs a command on the connection every hub of the [`Redis`] shares. A refusal means
    /// nothing was sent, and the connection manager may still hold the failure of an attempt
    /// made while Redis was down: one more try reconnects.
    async fn on_commands<T, Fut>(&self, run: impl Fn(Commands) -> Fut) -> redis::RedisResult<T>
    where
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match run(self.commands.clone()).await {
            Err(error) if error.is_connection_refusal() => run(self.commands.clone()).await,
            result => result,
        }
    }
}

impl<E: tidings::EventSet + Sync> HubStorage<E> for RedisStorage<E> {
    async fn append(&self, _event: Arc<E>, body: &[u8]) -> Result<EventId, StorageError> {
        let ids = self.append_frames(&[body]).await?;
        ids.into_iter().next().ok_or_else(|| {
            StorageError(tidings::Error::msg("Redis answered the append with no id"))
        })
    }

    async fn append_all(&self, events: Vec<(Arc<E>, Bytes)>) -> Result<Vec<EventId>, StorageError> {
        let bodies: Vec<&[u8]> = events.iter().map(|(_, body)| &body[..]).collect();
        let mut ids = Vec::with_capacity(bodies.len());
        // A few hundred frames per script call: one call blocks Redis for its whole run.
        for chunk in bodies.chunks(APPEND_CHUNK) {
            ids.extend(self.append_frames(chunk).await?);
        }
        Ok(ids)
    }

    async fn start(&self, last_event_id: Option<&str>) -> Result<Start, StorageError> {
        if !self.is_ready() {
            let waited = tokio::time::timeout(READY_WAIT, self.shared.wait_ready()).await;
            if waited.is_err() {
                return Err(self.unavailable());
            }
        }
        let Some(text) = last_event_id else {
            return Ok(Start::Live(self.shared.lock().live()));
        };
        let Ok(id) = text.parse::<EventId>() else {
            return Ok(self.shared.lock().reset(ResetReason::Unknown));
        };
        if let Some(start) = self.start_in_window(id) {
            return Ok(start);
        }
        // Newer than what the loop read: Redis has it (the client was on a quicker
        // instance), or it comes from nowhere.
        match self.newest_in_redis().await? {
            Some(newest) if id <= newest => {}
            _ => return Ok(self.shared.lock().reset(ResetReason::Unknown)),
        }
        let mut head = self.shared.head.subscribe();
        let caught_up = tokio::time::timeout(CATCH_UP, async {
            loop {
                if self.shared.lock().last >= id {
                    return;
                }
                if head.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        match caught_up {
            Ok(()) => Ok(self
                .start_in_window(id)
                .unwrap_or_else(|| self.shared.lock().reset(ResetReason::Unknown))),
            Err(_) => Err(self.unavailable()),
        }
    }

    fn read(&self, cursor: &mut Cursor, max: usize, out: &mut Vec<Record<E>>) -> Result<(), Lost> {
        let from = out.len();
        self.read_frames(cursor, max, out)?;
        // Decoded here, outside the lock, for this subscriber's filter only.
        for record in &mut out[from..] {
            record.event = reader::decoded(&record.frame);
        }
        Ok(())
    }

    fn read_frames(
        &self,
        cursor: &mut Cursor,
        max: usize,
        out: &mut Vec<Record<E>>,
    ) -> Result<(), Lost> {
        let mut window = self.shared.lock();
        if self.shared.limits.max_age.is_some() {
            window.evict(&self.shared.limits, now_ms());
        }
        let first_seq = window.first_seq();
        if cursor.next_seq < first_seq {
            return Err(Lost);
        }
        let from = (cursor.next_seq - first_seq) as usize;
        for record in window.records.range(from..).take(max) {
            cursor.next_seq += 1;
            cursor.offset = record.end_offset;
            out.push(record.clone());
        }
        Ok(())
    }

    fn head(&self) -> watch::Receiver<Head> {
        self.shared.head.subscribe()
    }
}
