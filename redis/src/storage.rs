//! [`RedisStorage`]: `HubStorage` on a Redis stream, read through a local window.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tidings::hub::{
    Cursor, EventId, Head, HubStorage, Lost, Record, ResetReason, Start, StorageError, WindowLimits,
};
use tokio::sync::watch;

use crate::reader;
use crate::window::{Shared, now_ms};

/// How long a subscriber whose id the loop has not read yet waits for it.
const CATCH_UP: Duration = Duration::from_secs(2);

/// A hub's storage on one Redis stream: append with `XADD`, read from a local window that
/// one `XREAD` loop per process keeps current. See the [crate] docs for its guarantees.
///
/// Dropping it stops its loop.
pub struct RedisStorage<E> {
    shared: Arc<Shared<E>>,
    commands: ConnectionManager,
    /// Milliseconds after the last publish at which the key expires, for topics.
    expire_ms: Option<u64>,
    reader: tokio::task::AbortHandle,
}

impl<E> std::fmt::Debug for RedisStorage<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStorage")
            .field("key", &self.shared.key)
            .field("ready", &*self.shared.ready.borrow())
            .finish_non_exhaustive()
    }
}

impl<E> Drop for RedisStorage<E> {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl<E: tidings::EventSet + Sync> RedisStorage<E> {
    pub(crate) fn new(
        client: redis::Client,
        commands: ConnectionManager,
        key: String,
        limits: WindowLimits,
        expire: Option<Duration>,
    ) -> Self {
        let shared = Arc::new(Shared::new(key, limits));
        let reader = tokio::spawn(reader::run(shared.clone(), client));
        RedisStorage {
            shared,
            commands,
            expire_ms: expire.map(|d| d.as_millis() as u64),
            reader: reader.abort_handle(),
        }
    }
}

impl<E> RedisStorage<E> {
    /// The Redis key of the stream.
    pub fn key(&self) -> &str {
        &self.shared.key
    }

    /// Whether the `XREAD` loop is connected to Redis: subscribers are served only then.
    pub fn is_ready(&self) -> bool {
        *self.shared.ready.borrow()
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
        (id <= window.last).then(|| Start::Resume(window.cursor_after(id)))
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

    /// Runs a command on the connection every hub of the [`Redis`] shares. A refusal means
    /// nothing was sent, and the connection manager may still hold the failure of an attempt
    /// made while Redis was down: one more try reconnects.
    async fn on_commands<T, Fut>(
        &self,
        run: impl Fn(ConnectionManager) -> Fut,
    ) -> redis::RedisResult<T>
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
        let limits = &self.shared.limits;
        let mut xadd = redis::cmd("XADD");
        xadd.arg(&self.shared.key)
            .arg("MAXLEN")
            .arg("~")
            .arg(limits.max_events)
            .arg("*")
            .arg("frame")
            .arg(body);
        let pipe = (limits.max_age.is_some() || self.expire_ms.is_some()).then(|| {
            // With trimming by age or expiry: all or nothing, in one round trip.
            let mut pipe = redis::pipe();
            pipe.atomic().add_command(xadd.clone());
            if let Some(age) = limits.max_age {
                let oldest = now_ms().saturating_sub(age.as_millis() as u64);
                pipe.cmd("XTRIM")
                    .arg(&self.shared.key)
                    .arg("MINID")
                    .arg("~")
                    .arg(oldest)
                    .ignore();
            }
            if let Some(expire) = self.expire_ms {
                pipe.cmd("PEXPIRE")
                    .arg(&self.shared.key)
                    .arg(expire)
                    .ignore();
            }
            pipe
        });
        let appended = self
            .on_commands(|mut connection| {
                let (xadd, pipe) = (&xadd, &pipe);
                async move {
                    match pipe {
                        Some(pipe) => pipe
                            .query_async::<(String,)>(&mut connection)
                            .await
                            .map(|(id,)| id),
                        // One command is atomic on its own.
                        None => xadd.query_async::<String>(&mut connection).await,
                    }
                }
            })
            .await;
        let id = appended.map_err(|error| {
            StorageError(tidings::Error::msg(format!(
                "cannot append to the Redis stream `{}`: {error}",
                self.shared.key
            )))
        })?;
        id.parse().map_err(|_| {
            StorageError(tidings::Error::msg(format!(
                "Redis answered XADD with `{id}`, not a stream id"
            )))
        })
    }

    async fn start(&self, last_event_id: Option<&str>) -> Result<Start, StorageError> {
        if !self.is_ready() {
            return Err(self.unavailable());
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
