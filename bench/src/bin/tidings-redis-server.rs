//! The tidings side of the Redis benchmark, on the Redis at `REDIS_URL`, or on the Redis
//! Cluster whose nodes `REDIS_CLUSTER` lists (comma-separated URLs); with `WAIT_REPLICAS=N`,
//! each publish waits until N replicas have it (up to 500 ms):
//!
//! - `GET /broadcast`: a hub on the stream `tidings:bench`;
//! - `GET /topics/{topic}`: one hub per topic, on the streams `tidings:topics:{topic}`.
//!
//! Unless `PUBLISH=off`, it publishes flat out or at `RATE` events/s, from `PUBLISHERS` tasks
//! (default 1) whose appends overlap on the one commands connection, `BATCH` events per call
//! (default 1: `publish`; more: `publish_all`): to `/broadcast`'s hub, or with `TOPICS=N` to
//! topics `0..N` in turn (task `t` of `T` takes the topics `t`, `t + T`, ...).

use std::time::Duration;

use tidings::hub::{HubOptions, Hubs, SlowConsumer, Subscribed, TopicSubscribed};
use tidings::{Emitter, Router, event_stream};
use tidings_bench::{Bench, announce, env_u64, publish_loop, rate, tick};
use tidings_redis::{Redis, RedisStorage};

#[event_stream(path = "/broadcast")]
async fn broadcast(
    Subscribed(ticks): Subscribed<Bench, RedisStorage<Bench>>,
    events: Emitter<Bench>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

#[event_stream(path = "/topics/{topic}")]
async fn topic(
    TopicSubscribed(_topic, ticks): TopicSubscribed<u64, Bench, RedisStorage<Bench>>,
    events: Emitter<Bench>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis = match std::env::var("REDIS_CLUSTER") {
        Ok(nodes) => Redis::open_cluster(nodes.split(','))?,
        Err(_) => Redis::open(&std::env::var("REDIS_URL")?)?,
    };
    let redis = match env_u64("WAIT_REPLICAS", 0) {
        0 => redis,
        replicas => redis.wait_for_replicas(replicas as u32, Duration::from_millis(500)),
    };
    let hub = redis.hub::<Bench>(
        "tidings:bench",
        HubOptions {
            // As the memory-storage server does.
            slow_consumer: SlowConsumer::SkipToLatest,
            ..HubOptions::default()
        },
    );
    let topics: Hubs<u64, Bench, RedisStorage<Bench>> = redis.hubs(
        "tidings:topics",
        HubOptions::default(),
        Duration::from_secs(60),
        Duration::from_secs(600),
    );
    let publishers = env_u64("PUBLISHERS", 1).max(1);
    let batch = env_u64("BATCH", 1).max(1);
    let topic_count = env_u64("TOPICS", 0);
    if std::env::var("PUBLISH").as_deref() != Ok("off") {
        for task in 0..publishers {
            let (hub, topics) = (hub.clone(), topics.clone());
            let mut next_topic = task;
            tokio::spawn(publish_loop(rate() / publishers, move |seq| {
                let hub = if topic_count == 0 {
                    hub.clone()
                } else {
                    let topic = next_topic;
                    next_topic = (next_topic + publishers) % topic_count.max(1);
                    topics.get(&topic)
                };
                async move {
                    // A failed publish (Redis briefly away) is skipped, not fatal.
                    if batch == 1 {
                        let _ = hub.publish(tick(seq)).await;
                    } else {
                        let ticks = (0..batch).map(|i| tick(seq * batch + i));
                        let _ = hub.publish_all(ticks).await;
                    }
                    true
                }
            }));
        }
    }
    let app = Router::new()
        .route(broadcast)
        .route(topic)
        .with_state(hub)
        .with_state(topics);
    let listener = tokio::net::TcpListener::bind(tidings_bench::addr()).await?;
    announce(listener.local_addr()?);
    tidings::serve(app).run(listener).await?;
    Ok(())
}
