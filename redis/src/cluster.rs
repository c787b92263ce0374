//! The Pub/Sub side of a Redis Cluster: one sharded-subscription connection per primary,
//! however many topics it serves.
//!
//! On a cluster, publishing uses `SPUBLISH` (sharded Pub/Sub): a topic's channel has the name
//! of its stream key, so it lives in the same slot, on the same primary, and only that
//! primary's subscribers hear it. This follower reads the slot map (`CLUSTER SLOTS`), keeps one
//! RESP3 connection to each primary that owns a followed topic, and `SSUBSCRIBE`s each topic
//! there. When a primary's connection breaks (it died, and a replica takes over) or Redis
//! unsubscribes a channel (its slot moved to another primary), the topics of that connection
//! are placed again from a fresh slot map and catch up from their streams, as after any
//! reconnection: nothing published meanwhile is missed, nothing comes twice.
//!
//! A slot moving costs a catch-up for every topic of the primary it left: Redis's
//! `sunsubscribe` is a push that redis-rs may match to a command in flight on that connection,
//! so the connection is not trusted after one and is made again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, MutexGuard, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, ConnectionInfo, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::commands::Commands;
use crate::follow::{Registered, Registrations, Registry, Topic, Topics};
use crate::reader::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT};

/// How often each primary's connection is checked with a `PING`.
const PING_EVERY: Duration = Duration::from_secs(5);
/// The first wait before placing topics again after a failure; it doubles up to `MAX_BACKOFF`.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Most pushes handled at once.
const PUSH_BATCH: usize = 1024;
/// Most `SSUBSCRIBE` commands in flight on one connection at once.
const IN_FLIGHT: usize = 1000;
/// The number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// The follower of a cluster: its registered topics, and the task that places them.
pub(crate) struct ClusterFollower {
    /// A node given to `open_cluster`: the primaries' connections copy its credentials and TLS.
    seed: ConnectionInfo,
    /// For `CLUSTER SLOTS`.
    commands: Commands,
    registrations: Registrations,
}

impl Registry for ClusterFollower {
    fn unregister(&self, key: &str, id: u64) {
        self.registrations.unregister(key, id);
    }
}

impl ClusterFollower {
    pub(crate) fn new(seed: ConnectionInfo, commands: Commands) -> Arc<ClusterFollower> {
        Arc::new(ClusterFollower {
            seed,
            commands,
            registrations: Registrations::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Topics> {
        self.registrations.lock()
    }

    /// Follows `topic` on the sharded channel `key` until the returned guard drops. Starts the
    /// follower's task on first use; call it inside a Tokio runtime.
    pub(crate) fn register(self: &Arc<Self>, key: &str, topic: Weak<dyn Topic>) -> Registered {
        self.registrations
            .register(self.clone(), key, topic, |changes| {
                tokio::spawn(run(Arc::downgrade(self), changes));
            })
    }

    /// The address of the connection to a primary at `host:port`, with the seed's settings.
    fn node(&self, host: &str, port: u16) -> ConnectionInfo {
        let mut addr = self.seed.addr().clone();
        match &mut addr {
            ConnectionAddr::Tcp(h, p)
            | ConnectionAddr::TcpTls {
                host: h, port: p, ..
            } => {
                *h = host.to_owned();
                *p = port;
            }
            _ => {}
        }
        let settings = self
            .seed
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        self.seed
            .clone()
            .set_addr(addr)
            .set_redis_settings(settings)
    }
}

/// The slot of a key, as Redis Cluster hashes it (CRC16 of its hash tag, or of the key).
pub(crate) fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let tagged = bytes.iter().position(|&b| b == b'{').and_then(|open| {
        let close = bytes[open + 1..].iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &bytes[open + 1..open + 1 + close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(bytes)) % SLOTS
}

/// A primary's address: host and port.
type Node = (String, u16);

/// One primary's connection and the topics subscribed on it.
struct Link {
    connection: MultiplexedConnection,
    /// Tells this connection's pushes from those of an earlier one to the same primary.
    serial: u64,
    keys: HashSet<String>,
}

/// What the follower's task keeps between wake-ups.
#[derive(Default)]
struct Placement {
    /// `(first slot, last slot, host, port)` of each primary, from `CLUSTER SLOTS`.
    slots: Vec<(u16, u16, String, u16)>,
    /// The slot map must be read again before placing topics.
    stale: bool,
    links: HashMap<Node, Link>,
    /// The primary each subscribed key is on.
    placed: HashMap<String, Node>,
    /// Registered keys subscribed nowhere yet.
    unplaced: HashSet<String>,
    /// Keys unsubscribed on purpose, whose `sunsubscribe` is expected.
    leaving: HashSet<String>,
    serials: u64,
    /// Numbers each subscription, for the topic's catch-up (as connection generations do).
    generations: u64,
}

type Push = (u64, PushInfo);

/// The follower's task: places registered keys on their primaries, hands each message to its
/// topics, and places again what a broken connection or a moved slot unsubscribed. Ends when
/// the follower is dropped.
async fn run(follower: Weak<ClusterFollower>, mut changes: mpsc::UnboundedReceiver<String>) {
    let (push_sender, mut pushes) = mpsc::unbounded_channel::<Push>();
    let mut placement = Placement {
        stale: true,
        ..Placement::default()
    };
    let mut backoff = MIN_BACKOFF;
    let mut retry_at = Instant::now();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let Some(strong) = follower.upgrade() else {
            return;
        };
        while let Ok(key) = changes.try_recv() {
            changed(&strong, &mut placement, key).await;
        }
        if !placement.unplaced.is_empty() && Instant::now() >= retry_at {
            if place(&strong, &mut placement, &push_sender).await {
                backoff = MIN_BACKOFF;
            } else {
                retry_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            continue;
        }
        drop(strong);
        let retrying = !placement.unplaced.is_empty();
        tokio::select! {
            push = pushes.recv() => {
                let Some(push) = push else { return };
                let mut batch = vec![push];
                while batch.len() < PUSH_BATCH {
                    match pushes.try_recv() {
                        Ok(push) => batch.push(push),
                        Err(_) => break,
                    }
                }
                let Some(strong) = follower.upgrade() else { return };
                handle(&strong, &mut placement, batch);
            }
            key = changes.recv() => {
                let Some(key) = key else { return };
                let Some(strong) = follower.upgrade() else { return };
                changed(&strong, &mut placement, key).await;
            }
            _ = ping.tick() => {
                let Some(strong) = follower.upgrade() else { return };
                check_links(&strong, &mut placement).await;
            }
            _ = tokio::time::sleep_until(retry_at), if retrying => {}
        }
    }
}

/// A key's registrations changed: it is to be placed, or unsubscribed.
async fn changed(follower: &ClusterFollower, placement: &mut Placement, key: String) {
    if follower.lock().contains(&key) {
        if !placement.placed.contains_key(&key) {
            placement.unplaced.insert(key);
        }
        return;
    }
    placement.unplaced.remove(&key);
    let Some(node) = placement.placed.remove(&key) else {
        return;
    };
    if let Some(link) = placement.links.get_mut(&node) {
        link.keys.remove(&key);
        placement.leaving.insert(key.clone());
        let mut connection = link.connection.clone();
        let unsubscribe = redis::cmd("SUNSUBSCRIBE").arg(&key).to_owned();
        let answered = tokio::time::timeout(
            RESPONSE_TIMEOUT,
            unsubscribe.query_async::<Value>(&mut connection),
        )
        .await;
        if !matches!(answered, Ok(Ok(_))) {
            lose_link(follower, placement, &node);
        }
    }
}

/// Subscribes every unplaced key on the primary of its slot; false if some could not be.
async fn place(
    follower: &ClusterFollower,
    placement: &mut Placement,
    pushes: &mpsc::UnboundedSender<Push>,
) -> bool {
    if placement.stale {
        match read_slots(follower).await {
            Ok(slots) => {
                placement.slots = slots;
                placement.stale = false;
            }
            Err(error) => {
                tracing::debug!(%error, "reading the Redis Cluster's slot map failed; trying again");
                return false;
            }
        }
    }
    let mut by_node: HashMap<Node, Vec<String>> = HashMap::new();
    for key in &placement.unplaced {
        let slot = slot(key);
        match placement
            .slots
            .iter()
            .find(|(first, last, _, _)| (*first..=*last).contains(&slot))
        {
            Some((_, _, host, port)) => by_node
                .entry((host.clone(), *port))
                .or_default()
                .push(key.clone()),
            None => placement.stale = true,
        }
    }
    let mut all_placed = !placement.stale;
    for (node, keys) in by_node {
        if !placement.links.contains_key(&node) {
            match connect(follower, &node, placement.serials + 1, pushes).await {
                Ok(connection) => {
                    placement.serials += 1;
                    let serial = placement.serials;
                    placement.links.insert(
                        node.clone(),
                        Link {
                            connection,
                            serial,
                            keys: HashSet::new(),
                        },
                    );
                }
                Err(error) => {
                    tracing::debug!(host = %node.0, port = node.1, %error, "connecting to a Redis Cluster primary failed; trying again");
                    placement.stale = true;
                    all_placed = false;
                    continue;
                }
            }
        }
        let connection = placement.links[&node].connection.clone();
        for chunk in keys.chunks(IN_FLIGHT) {
            // One channel per command: a command's channels must share a slot.
            let each = chunk.iter().map(|key| {
                let mut connection = connection.clone();
                async move {
                    let subscribe = redis::cmd("SSUBSCRIBE").arg(key).to_owned();
                    let answer = tokio::time::timeout(
                        RESPONSE_TIMEOUT,
                        subscribe.query_async::<Value>(&mut connection),
                    )
                    .await;
                    match answer {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(_) => Err("SSUBSCRIBE timed out".to_owned()),
                    }
                }
            });
            let answers = futures_util::future::join_all(each).await;
            for (key, answer) in chunk.iter().zip(answers) {
                if let Err(error) = answer {
                    // MOVED: the slot map changed; anything else: the connection is suspect.
                    tracing::debug!(%key, %error, "SSUBSCRIBE failed; placing the topic again");
                    placement.stale = true;
                    all_placed = false;
                    continue;
                }
                let Some(link) = placement.links.get_mut(&node) else {
                    continue;
                };
                link.keys.insert(key.clone());
                placement.unplaced.remove(key);
                placement.placed.insert(key.clone(), node.clone());
                placement.generations += 1;
                // Subscribed before catching up: what is published from now on comes on the
                // channel (and is dropped there if the catch-up read it too).
                for topic in follower.lock().of(key) {
                    topic.subscribed(placement.generations);
                }
            }
        }
    }
    all_placed
}

/// A RESP3 connection to a primary whose pushes go to `pushes`, tagged with `serial`.
async fn connect(
    follower: &ClusterFollower,
    (host, port): &Node,
    serial: u64,
    pushes: &mpsc::UnboundedSender<Push>,
) -> redis::RedisResult<MultiplexedConnection> {
    let client = redis::Client::open(follower.node(host, *port))?;
    let pushes = pushes.clone();
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_push_sender(move |push: PushInfo| pushes.send((serial, push)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// The primaries' slot ranges, asked of the cluster.
async fn read_slots(
    follower: &ClusterFollower,
) -> redis::RedisResult<Vec<(u16, u16, String, u16)>> {
    let mut commands = follower.commands.clone();
    let reply: Value = tokio::time::timeout(
        RESPONSE_TIMEOUT,
        redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut commands),
    )
    .await
    .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "CLUSTER SLOTS timed out")))??;
    let seed_host = match follower.seed.addr() {
        ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => host.clone(),
        _ => String::new(),
    };
    let Value::Array(ranges) = reply else {
        return Err(malformed(&reply));
    };
    let mut slots = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(parts) = &range else {
            return Err(malformed(&range));
        };
        let (Some(Value::Int(first)), Some(Value::Int(last)), Some(Value::Array(primary))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            return Err(malformed(&range));
        };
        let host = match primary.first() {
            Some(Value::BulkString(host)) => String::from_utf8_lossy(host).into_owned(),
            Some(Value::SimpleString(host)) => host.clone(),
            _ => return Err(malformed(&range)),
        };
        let Some(Value::Int(port)) = primary.get(1) else {
            return Err(malformed(&range));
        };
        // An empty host means "the address you reached me at": the seed's host.
        let host = if host.is_empty() {
            seed_host.clone()
        } else {
            host
        };
        slots.push((*first as u16, *last as u16, host, *port as u16));
    }
    Ok(slots)
}

fn malformed(value: &Value) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Parse,
        "unexpected answer to CLUSTER SLOTS",
        format!("{value:?}"),
    ))
}

/// Handles a batch of pushes: messages go to their topics, in order; a broken connection or an
/// unsubscription Redis made (a slot moved) has that connection's topics placed again.
fn handle(follower: &ClusterFollower, placement: &mut Placement, batch: Vec<Push>) {
    // Grouped by channel and connection serial; connections are looked up once per group,
    // not per message (this runs for every event the instance receives).
    let mut by_channel: HashMap<(Vec<u8>, u64), Vec<Vec<u8>>> = HashMap::new();
    let mut lost = Vec::new();
    for (serial, push) in batch {
        match push.kind {
            PushKind::SMessage => {
                let mut data = push.data.into_iter();
                if let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
                    (data.next(), data.next())
                {
                    by_channel
                        .entry((channel, serial))
                        .or_default()
                        .push(payload);
                }
            }
            PushKind::SUnsubscribe => {
                let channel = match push.data.first() {
                    Some(Value::BulkString(channel)) => {
                        String::from_utf8_lossy(channel).into_owned()
                    }
                    _ => String::new(),
                };
                if !placement.leaving.remove(&channel) {
                    tracing::info!(key = %channel, "Redis unsubscribed a topic (its slot moved): placing its primary's topics again");
                    lost.push(serial);
                }
            }
            PushKind::Disconnection => {
                tracing::warn!(
                    "connection to a Redis Cluster primary lost: its topics catch up when placed again"
                );
                lost.push(serial);
            }
            _ => {}
        }
    }
    // Messages before losses: they came before, and a topic holds what comes while it catches up.
    for ((channel, serial), messages) in by_channel {
        let Ok(key) = String::from_utf8(channel) else {
            continue;
        };
        // Only from the connection the topic is subscribed on (not from one since replaced).
        let current = placement
            .placed
            .get(&key)
            .and_then(|node| placement.links.get(node))
            .is_some_and(|link| link.serial == serial);
        if !current {
            continue;
        }
        let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        for topic in follower.lock().of(&key) {
            topic.live(&messages);
        }
    }
    for serial in lost {
        let node = placement
            .links
            .iter()
            .find(|(_, link)| link.serial == serial)
            .map(|(node, _)| node.clone());
        // None: a connection already replaced, whose topics catch up on the new one.
        if let Some(node) = node {
            lose_link(follower, placement, &node);
        }
    }
}

/// Drops a primary's connection: its topics wait, and are placed again from a fresh slot map.
fn lose_link(follower: &ClusterFollower, placement: &mut Placement, node: &Node) {
    let Some(link) = placement.links.remove(node) else {
        return;
    };
    placement.stale = true;
    for key in link.keys {
        placement.placed.remove(&key);
        for topic in follower.lock().of(&key) {
            topic.disconnected();
        }
        if follower.lock().contains(&key) {
            placement.unplaced.insert(key);
        }
    }
}

/// `PING`s every primary's connection; one that does not answer is dropped (a peer that
/// vanished without closing would otherwise leave its topics waiting forever).
async fn check_links(follower: &ClusterFollower, placement: &mut Placement) {
    let nodes: Vec<(Node, MultiplexedConnection)> = placement
        .links
        .iter()
        .map(|(node, link)| (node.clone(), link.connection.clone()))
        .collect();
    for (node, mut connection) in nodes {
        let answered = tokio::time::timeout(
            RESPONSE_TIMEOUT,
            redis::cmd("PING").query_async::<Value>(&mut connection),
        )
        .await;
        if !matches!(answered, Ok(Ok(_))) {
            lose_link(follower, placement, &node);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::slot;

    #[test]
    fn slots_are_redis_clusters() {
        // Values from `CLUSTER KEYSLOT` of Redis 7.
        assert_eq!(slot("tidings:feed"), 12081);
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        // An empty tag is no tag: the whole key is hashed.
        assert_eq!(
            slot("{}foo"),
            crc16::State::<crc16::XMODEM>::calculate(b"{}foo") % 16384
        );
    }
}
