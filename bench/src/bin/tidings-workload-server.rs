//! The tidings side of the workload benchmark (`workload-bench`): `GET /topics/{topic}`, one
//! hub per topic, on the memory storage or, with `REDIS_URL`, on Redis streams
//! `tidings:workload:{topic}` shared with other instances.
//!
//! With `USERS=N` it publishes, once `POST /control/start` asks, to the personal topics
//! `0..N` and the group topics `GROUP_BASE + 0..ceil(N / 10)` in turn, `PERSONAL_RATE` and
//! `GROUP_RATE` events a second, each topic's events numbered `seq` 1, 2, 3...
//! `POST /control/stop` ends the current round of each kind and answers how many rounds went
//! out: then every personal topic has `personal` events and every group topic `group`, which
//! is what the load generator checks each stream against.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tidings::hub::{HubOptions, HubStorage, Hubs, MemoryStorage, TopicSubscribed, WindowLimits};
use tidings::{Emitter, Json, Router, State, event_stream, json_route};
use tidings_bench::workload::{GROUP_BASE, GROUP_SIZE, Published};
use tidings_bench::{Bench, announce, env_u64, tick};
use tidings_redis::{Redis, RedisStorage};
use tokio::sync::{Mutex, Semaphore, oneshot};

#[event_stream(path = "/topics/{topic}")]
async fn memory_topic(
    TopicSubscribed(_topic, ticks): TopicSubscribed<u64, Bench>,
    events: Emitter<Bench>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

#[event_stream(path = "/topics/{topic}")]
async fn redis_topic(
    TopicSubscribed(_topic, ticks): TopicSubscribed<u64, Bench, RedisStorage<Bench>>,
    events: Emitter<Bench>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

/// The publisher's switch: `start` runs it, `stop` asks it to finish its rounds.
#[derive(Clone, Default)]
struct Control {
    start: Arc<tokio::sync::Notify>,
    stopping: Arc<AtomicBool>,
    done: Arc<Mutex<Option<oneshot::Receiver<Published>>>>,
}

#[json_route(path = "/control/start", method = "POST")]
async fn start(State(control): State<Control>) -> Json<bool> {
    control.start.notify_one();
    Json(true)
}

#[json_route(path = "/control/stop", method = "POST")]
async fn stop(State(control): State<Control>) -> Json<Option<Published>> {
    control.stopping.store(true, Ordering::Release);
    let done = control.done.lock().await.take();
    match done {
        Some(done) => Json(done.await.ok()),
        None => Json(None),
    }
}

/// How often the publisher wakes; each wake publishes a share of the second's events.
const TICK: Duration = Duration::from_millis(10);
/// Ticks whose publishes may still be under way when the next starts.
const TICKS_IN_FLIGHT: u32 = 8;

/// Publishes rounds over the topics until stopped: round `r` gives each topic its event `r`.
async fn publish<S: HubStorage<Bench>>(
    hubs: Hubs<u64, Bench, S>,
    control: Control,
    done: oneshot::Sender<Published>,
) {
    let users = env_u64("USERS", 0);
    let groups = users.div_ceil(GROUP_SIZE);
    let per_tick = |rate: u64| rate as f64 * TICK.as_secs_f64();
    let (personal_per_tick, group_per_tick) = (
        per_tick(env_u64("PERSONAL_RATE", 0)),
        per_tick(env_u64("GROUP_RATE", 0)),
    );
    control.start.notified().await;
    // Each kind: topics published so far in its current round, and rounds complete.
    let mut personal = Rounds::new(users);
    let mut group = Rounds::new(groups);
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut personal_owed, mut group_owed) = (0.0, 0.0);
    let failed = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(Semaphore::new(TICKS_IN_FLIGHT as usize));
    loop {
        ticker.tick().await;
        let stopping = control.stopping.load(Ordering::Acquire);
        if stopping && personal.at_round_end() && group.at_round_end() {
            break;
        }
        personal_owed += personal_per_tick;
        group_owed += group_per_tick;
        let mut sends = Vec::new();
        for (rounds, owed, base) in [
            (&mut personal, &mut personal_owed, 0),
            (&mut group, &mut group_owed, GROUP_BASE),
        ] {
            while *owed >= 1.0 && rounds.topics > 0 && !(stopping && rounds.at_round_end()) {
                *owed -= 1.0;
                let (topic, seq) = rounds.next();
                sends.push((base + topic, seq));
            }
        }
        // One tick's events concurrently: over Redis they share round trips. A few ticks
        // overlap, so that one slow round trip does not slow the rate; a topic's next event
        // is a whole round (a second or more) later, so its order holds.
        let publishes = sends.into_iter().map(|(topic, seq)| {
            let hub = hubs.get(&topic);
            let failed = failed.clone();
            async move {
                if let Err(error) = hub.publish(tick(seq)).await {
                    eprintln!("publish to topic {topic} failed: {error}");
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let publishes = futures_util::future::join_all(publishes);
        let permit = in_flight.clone().acquire_owned().await;
        tokio::spawn(async move {
            publishes.await;
            drop(permit);
        });
    }
    let _all_done = in_flight.acquire_many(TICKS_IN_FLIGHT).await;
    let _ = done.send(Published {
        personal: personal.complete,
        group: group.complete,
        failed: failed.load(Ordering::Relaxed),
    });
}

/// A round-robin over `topics` topics: which topic is next, and the events it has had.
struct Rounds {
    topics: u64,
    next_topic: u64,
    complete: u64,
}

impl Rounds {
    fn new(topics: u64) -> Self {
        Rounds {
            topics,
            next_topic: 0,
            complete: 0,
        }
    }

    fn at_round_end(&self) -> bool {
        self.next_topic == 0 || self.topics == 0
    }

    /// The next topic and the `seq` of its event.
    fn next(&mut self) -> (u64, u64) {
        let topic = self.next_topic;
        let seq = self.complete + 1;
        self.next_topic += 1;
        if self.next_topic >= self.topics {
            self.next_topic = 0;
            self.complete += 1;
        }
        (topic, seq)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = HubOptions {
        // A reconnect misses well under a second of a topic's events; the window holds more
        // than that, and Redis (when used) holds the rest.
        window: WindowLimits {
            max_events: env_u64("WINDOW", 8) as usize,
            ..WindowLimits::default()
        },
        ..HubOptions::default()
    };
    let idle = Duration::from_secs(60);
    let control = Control::default();
    let (done_tx, done_rx) = oneshot::channel();
    *control.done.lock().await = Some(done_rx);
    let app = Router::new()
        .route(start)
        .route(stop)
        .with_state(control.clone());
    let app = match std::env::var("REDIS_URL") {
        Ok(url) => {
            let redis = Redis::open(&url)?;
            let hubs: Hubs<u64, Bench, RedisStorage<Bench>> =
                redis.hubs("tidings:workload", options, idle, Duration::from_secs(600));
            tokio::spawn(publish(hubs.clone(), control, done_tx));
            app.route(redis_topic).with_state(hubs)
        }
        Err(_) => {
            let hubs: Hubs<u64, Bench, MemoryStorage<Bench>> = Hubs::new(options, idle);
            tokio::spawn(publish(hubs.clone(), control, done_tx));
            app.route(memory_topic).with_state(hubs)
        }
    };
    let listener = tokio::net::TcpListener::bind(tidings_bench::addr()).await?;
    announce(listener.local_addr()?);
    tidings::serve(app)
        // Up to the process's descriptor limit, less the listener, Redis and a margin.
        .max_connections(19_900)
        .run(listener)
        .await?;
    Ok(())
}
