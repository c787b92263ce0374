//! [`Hubs`]: a hub per key (a topic), made on first use, dropped when idle.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Hub, HubOptions, HubStorage, MemoryStorage};
use crate::event::EventSet;

/// One hub per key, created on first use and dropped after `idle` without publishers,
/// subscribers or use. Each hub has its own storage: [`Hubs::new`] keeps them in memory,
/// [`Hubs::with_storage`] makes them with a function of the key (a Redis stream per key, say).
///
/// Cheap to clone: clones share the hubs, so it can be a router's state as it is.
pub struct Hubs<K, E, S = MemoryStorage<E>> {
    inner: Arc<HubsInner<K, E, S>>,
}

struct HubsInner<K, E, S> {
    hubs: Mutex<Topics<K, E, S>>,
    options: HubOptions,
    idle: Duration,
    make: Box<dyn Fn(&K) -> S + Send + Sync>,
}

/// The hubs, and their keys in the order the incremental sweep visits them.
struct Topics<K, E, S> {
    hubs: HashMap<K, Hub<E, S>>,
    /// Every key of `hubs` (and keys swept since, skipped when met): each `get` looks at the
    /// next few, so that its work does not grow with the number of topics.
    sweep_order: VecDeque<K>,
}

/// How many hubs each `get` checks for idleness.
const SWEPT_PER_GET: usize = 2;

impl<K, E, S> Clone for Hubs<K, E, S> {
    fn clone(&self) -> Self {
        Hubs {
            inner: self.inner.clone(),
        }
    }
}

impl<K, E, S> fmt::Debug for Hubs<K, E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hubs")
            .field("options", &self.inner.options)
            .field("idle", &self.inner.idle)
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq, E, S> Topics<K, E, S> {
    /// Looks at the next few keys in turn: drops their hubs if idle, else puts them back.
    fn sweep_some(&mut self, idle: Duration) {
        for _ in 0..SWEPT_PER_GET.min(self.sweep_order.len()) {
            let Some(key) = self.sweep_order.pop_front() else {
                return;
            };
            match self.hubs.get(&key) {
                Some(hub) if is_idle(hub, idle) => {
                    self.hubs.remove(&key);
                }
                Some(_) => self.sweep_order.push_back(key),
                // Swept by `sweep` already.
                None => {}
            }
        }
    }
}

/// Held only by the map (no publisher, no subscription) and unused for `idle`.
fn is_idle<E, S>(hub: &Hub<E, S>, idle: Duration) -> bool {
    Arc::strong_count(&hub.inner) == 1 && hub.idle_for() >= idle
}

impl<K: Hash + Eq + Clone, E: EventSet + Sync> Hubs<K, E> {
    /// In-memory hubs with these options, dropped after `idle` unused.
    pub fn new(options: HubOptions, idle: Duration) -> Self {
        Hubs::with_storage(options, idle, move |_| MemoryStorage::new(options.window))
    }
}

impl<K: Hash + Eq + Clone, E: EventSet + Sync, S: HubStorage<E>> Hubs<K, E, S> {
    /// Hubs whose storage `make` creates for each key, dropped after `idle` unused.
    pub fn with_storage(
        options: HubOptions,
        idle: Duration,
        make: impl Fn(&K) -> S + Send + Sync + 'static,
    ) -> Self {
        Hubs {
            inner: Arc::new(HubsInner {
                hubs: Mutex::new(Topics {
                    hubs: HashMap::new(),
                    sweep_order: VecDeque::new(),
                }),
                options,
                idle,
                make: Box::new(make),
            }),
        }
    }

    /// The hub for `key`, created if there is none. Also drops a few of the hubs idle for too
    /// long (each call looks at the next two in turn, so its work does not grow with the number
    /// of topics; [`sweep`](Hubs::sweep) looks at all). Borrowed forms of the key work: `&str`
    /// for `String` keys.
    pub fn get<Q>(&self, key: &Q) -> Hub<E, S>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut topics = self.lock();
        topics.sweep_some(self.inner.idle);
        if let Some(hub) = topics.hubs.get(key) {
            hub.touch();
            return hub.clone();
        }
        let key = key.to_owned();
        let hub = Hub::with_storage((self.inner.make)(&key), self.inner.options);
        hub.touch();
        topics.sweep_order.push_back(key.clone());
        topics.hubs.insert(key, hub.clone());
        hub
    }

    /// The hub for `key`, if there is one.
    pub fn existing<Q>(&self, key: &Q) -> Option<Hub<E, S>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().hubs.get(key).cloned()
    }

    /// How many hubs exist.
    pub fn len(&self) -> usize {
        self.lock().hubs.len()
    }

    /// Whether there is no hub.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the hubs that nobody holds and nobody used for the idle time.
    pub fn sweep(&self) {
        let mut topics = self.lock();
        let idle = self.inner.idle;
        topics.hubs.retain(|_, hub| !is_idle(hub, idle));
        let Topics { hubs, sweep_order } = &mut *topics;
        sweep_order.retain(|key| hubs.contains_key(key));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Topics<K, E, S>> {
        self.inner
            .hubs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
