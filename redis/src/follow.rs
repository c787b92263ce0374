//! The one Pub/Sub connection per [`Redis`](crate::Redis) that carries every topic's live
//! events to this process.
//!
//! Publishing appends to a topic's stream and publishes the frame, with its id, on a channel
//! named after the stream key, in one atomic script. The follower holds one `SUBSCRIBE`
//! connection for all topics of the process: a topic costs Redis one channel subscription per
//! instance, and nothing while it is idle. Pub/Sub alone would lose what is published while
//! the connection is down, so each topic catches up from its stream (`XRANGE`) every time its
//! subscription is (re)made, and drops what it receives twice by id.
//!
//! Only the follower's task sends `SUBSCRIBE` and `UNSUBSCRIBE`: it brings the connection's
//! channels to the set of registered keys, so that a key dropped and registered again at once
//! can never end unsubscribed.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use redis::aio::PubSubSink;
use tokio::sync::mpsc;

use crate::reader::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT};

/// How often an idle Pub/Sub connection is checked with a `PING` (a peer that vanished without
/// closing the connection would otherwise leave every topic waiting forever).
const PING_EVERY: Duration = Duration::from_secs(5);
/// The first wait before reconnecting; it doubles up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Most channel messages handed to topics at once.
const LIVE_BATCH: usize = 1024;
/// Most `SUBSCRIBE` or `UNSUBSCRIBE` commands in flight at once.
const IN_FLIGHT: usize = 1000;

/// A topic's window, whatever its event type, as the follower drives it.
pub(crate) trait Topic: Send + Sync + 'static {
    /// Messages published on the topic's channel (frames, `id:` line first), in order.
    fn live(&self, messages: &[&[u8]]);
    /// The connection broke: the topic holds what comes until it has caught up again.
    fn disconnected(&self);
    /// The topic's channel is subscribed on connection `generation`: what is published from
    /// now on comes on it, so the topic can catch up with its stream.
    fn subscribed(&self, generation: u64);
}

/// The Pub/Sub side of a [`Redis`](crate::Redis): its registered topics and its connection.
pub(crate) struct Follower {
    client: redis::Client,
    state: Mutex<State>,
    registrations: Registrations,
}

#[derive(Default)]
struct State {
    /// The generation of the live connection, if there is one.
    connected: Option<u64>,
    generations: u64,
}

/// The topics registered with a follower, by key (two hubs of one process may share a stream).
#[derive(Default)]
pub(crate) struct Topics {
    by_key: HashMap<String, Vec<Registration>>,
    next_id: u64,
}

struct Registration {
    id: u64,
    topic: Weak<dyn Topic>,
}

impl Topics {
    /// Adds `topic` on `key`; the id to remove it with.
    pub(crate) fn add(&mut self, key: &str, topic: Weak<dyn Topic>) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.by_key
            .entry(key.to_owned())
            .or_default()
            .push(Registration { id, topic });
        id
    }

    pub(crate) fn remove(&mut self, key: &str, id: u64) {
        if let Some(topics) = self.by_key.get_mut(key) {
            topics.retain(|registration| registration.id != id);
            if topics.is_empty() {
                self.by_key.remove(key);
            }
        }
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.by_key.keys()
    }

    /// The live topics of `key`.
    pub(crate) fn of(&self, key: &str) -> Vec<Arc<dyn Topic>> {
        self.by_key
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|registration| registration.topic.upgrade())
            .collect()
    }

    /// Every live topic.
    pub(crate) fn all(&self) -> Vec<Arc<dyn Topic>> {
        self.by_key
            .values()
            .flatten()
            .filter_map(|registration| registration.topic.upgrade())
            .collect()
    }
}

/// What a topic registers with: the follower of one server, or of a cluster.
pub(crate) trait Registry: Send + Sync + 'static {
    /// Forgets registration `id` of `key` (and the key's channel, if it was the last).
    fn unregister(&self, key: &str, id: u64);
}

/// A topic's place in a follower; dropping it unregisters the topic.
pub(crate) struct Registered {
    pub(crate) registry: Arc<dyn Registry>,
    pub(crate) key: String,
    pub(crate) id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.unregister(&self.key, self.id);
    }
}

impl Registry for Follower {
    fn unregister(&self, key: &str, id: u64) {
        self.registrations.unregister(key, id);
    }
}

/// What both followers (one server's, a cluster's) keep of their topics: who is registered on
/// which key, and the keys whose registrations changed, for the follower's task (which takes
/// the receiving end when the first topic registers).
pub(crate) struct Registrations {
    topics: Mutex<Topics>,
    changed: mpsc::UnboundedSender<String>,
    changes: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
}

impl Registrations {
    pub(crate) fn new() -> Registrations {
        let (changed, changes) = mpsc::unbounded_channel();
        Registrations {
            topics: Mutex::new(Topics::default()),
            changed,
            changes: Mutex::new(Some(changes)),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Topics> {
        // Every mutation completes before anything that could panic.
        self.topics
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `topic` on `key` with `registry` (whose `unregister` the guard calls when
    /// dropped). The first time, `start` gets the changes' receiving end: it starts the task.
    pub(crate) fn register(
        &self,
        registry: Arc<dyn Registry>,
        key: &str,
        topic: Weak<dyn Topic>,
        start: impl FnOnce(mpsc::UnboundedReceiver<String>),
    ) -> Registered {
        let id = self.lock().add(key, topic);
        let changes = self
            .changes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(changes) = changes {
            start(changes);
        }
        let _ = self.changed.send(key.to_owned());
        Registered {
            registry,
            key: key.to_owned(),
            id,
        }
    }

    pub(crate) fn unregister(&self, key: &str, id: u64) {
        self.lock().remove(key, id);
        let _ = self.changed.send(key.to_owned());
    }
}

impl Follower {
    pub(crate) fn new(client: redis::Client) -> Arc<Follower> {
        Arc::new(Follower {
            client,
            state: Mutex::new(State::default()),
            registrations: Registrations::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation completes before anything that could panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Follows `topic` on the channel `key` until the returned guard drops. Starts the
    /// follower's connection on first use; call it inside a Tokio runtime.
    pub(crate) fn register(self: &Arc<Self>, key: &str, topic: Weak<dyn Topic>) -> Registered {
        self.registrations
            .register(self.clone(), key, topic, |changes| {
                tokio::spawn(run(Arc::downgrade(self), changes));
            })
    }

    fn topics_of(&self, key: &str) -> Vec<Arc<dyn Topic>> {
        self.registrations.lock().of(key)
    }
}

/// The follower's task: connects, keeps the channels equal to the registered keys, hands each
/// message to its topics, and reconnects after a failure. Ends when the follower is dropped.
async fn run(follower: Weak<Follower>, mut changes: mpsc::UnboundedReceiver<String>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let Some(strong) = follower.upgrade() else {
            return;
        };
        let client = strong.client.clone();
        drop(strong);
        let error = match tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => {
                backoff = MIN_BACKOFF;
                serve(&follower, pubsub, &mut changes).await
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => "connecting timed out".to_owned(),
        };
        let Some(strong) = follower.upgrade() else {
            return;
        };
        let topics: Vec<Arc<dyn Topic>> = {
            let mut state = strong.lock();
            let was_connected = state.connected.take().is_some();
            if was_connected {
                tracing::warn!(%error, "Redis Pub/Sub connection lost: topics catch up when it is back");
            } else {
                tracing::debug!(%error, "Redis still unreachable");
            }
            drop(state);
            strong.registrations.lock().all()
        };
        drop(strong);
        for topic in topics {
            topic.disconnected();
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's worth of following; returns why it stopped.
async fn serve(
    follower: &Weak<Follower>,
    pubsub: redis::aio::PubSub,
    changes: &mut mpsc::UnboundedReceiver<String>,
) -> String {
    let (mut sink, mut messages) = pubsub.split();
    let generation = {
        let Some(strong) = follower.upgrade() else {
            return "stopped".to_owned();
        };
        let mut state = strong.lock();
        state.generations += 1;
        state.connected = Some(state.generations);
        state.generations
    };
    // Every registered key is (re)subscribed on a new connection.
    let mut subscribed = HashSet::new();
    let mut pending: HashSet<String> = match follower.upgrade() {
        Some(strong) => strong.registrations.lock().keys().cloned().collect(),
        None => return "stopped".to_owned(),
    };
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        while let Ok(key) = changes.try_recv() {
            pending.insert(key);
        }
        if !pending.is_empty() {
            let keys = std::mem::take(&mut pending);
            if let Err(error) = reconcile(follower, &sink, generation, keys, &mut subscribed).await
            {
                return error;
            }
            continue;
        }
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return "the connection closed".to_owned();
                };
                // Whatever else has arrived goes with it: a topic takes its frames in one
                // append, and its subscribers wake once for them.
                let mut batch = vec![message];
                while batch.len() < LIVE_BATCH {
                    match messages.next().now_or_never() {
                        Some(Some(message)) => batch.push(message),
                        _ => break,
                    }
                }
                let Some(strong) = follower.upgrade() else {
                    return "stopped".to_owned();
                };
                deliver(&strong, &batch);
            }
            key = changes.recv() => match key {
                Some(key) => {
                    pending.insert(key);
                }
                None => return "stopped".to_owned(),
            },
            _ = ping.tick() => {
                match tokio::time::timeout(RESPONSE_TIMEOUT, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => return error.to_string(),
                    Err(_) => return "PING timed out".to_owned(),
                }
            }
        }
    }
}

/// Hands each topic its frames of `batch`, in order.
fn deliver(follower: &Follower, batch: &[redis::Msg]) {
    let mut by_channel: HashMap<&str, Vec<&[u8]>> = HashMap::new();
    for message in batch {
        by_channel
            .entry(message.get_channel_name())
            .or_default()
            .push(message.get_payload_bytes());
    }
    for (channel, frames) in by_channel {
        for topic in follower.topics_of(channel) {
            topic.live(&frames);
        }
    }
}

/// Brings the subscription of `keys` to whether each has topics, then tells their topics.
async fn reconcile(
    follower: &Weak<Follower>,
    sink: &PubSubSink,
    generation: u64,
    keys: HashSet<String>,
    subscribed: &mut HashSet<String>,
) -> Result<(), String> {
    let Some(strong) = follower.upgrade() else {
        return Err("stopped".to_owned());
    };
    let (wanted, unwanted): (Vec<String>, Vec<String>) = {
        let topics = strong.registrations.lock();
        let (wanted, unwanted) = keys.into_iter().partition(|key| topics.contains(key));
        (wanted, unwanted)
    };
    drop(strong);
    let subscribe: Vec<String> = wanted
        .iter()
        .filter(|key| !subscribed.contains(*key))
        .cloned()
        .collect();
    let unsubscribe: Vec<String> = unwanted
        .into_iter()
        .filter(|key| subscribed.contains(key))
        .collect();
    // One channel per command (redis-rs matches one answer to each), pipelined.
    for chunk in unsubscribe.chunks(IN_FLIGHT) {
        let each = chunk.iter().map(|key| {
            let mut sink = sink.clone();
            async move { sink.unsubscribe(key).await }
        });
        answered(futures_util::future::try_join_all(each)).await?;
        for key in chunk {
            subscribed.remove(key);
        }
    }
    for chunk in subscribe.chunks(IN_FLIGHT) {
        let each = chunk.iter().map(|key| {
            let mut sink = sink.clone();
            async move { sink.subscribe(key).await }
        });
        answered(futures_util::future::try_join_all(each)).await?;
        subscribed.extend(chunk.iter().cloned());
    }
    // Subscribed before catching up: an event published meanwhile comes on the channel (and
    // is dropped there if the catch-up read it too), never nowhere. Topics new on a key that
    // was subscribed already catch up too.
    let Some(strong) = follower.upgrade() else {
        return Err("stopped".to_owned());
    };
    for key in &wanted {
        for topic in strong.topics_of(key) {
            topic.subscribed(generation);
        }
    }
    Ok(())
}

async fn answered<T>(command: impl Future<Output = redis::RedisResult<T>>) -> Result<(), String> {
    match tokio::time::timeout(RESPONSE_TIMEOUT, command).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("SUBSCRIBE timed out".to_owned()),
    }
}
