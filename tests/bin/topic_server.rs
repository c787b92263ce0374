//! A topic server on tidings-redis for the topic chaos test (`tests/redis_chaos.rs`):
//! `GET /topics/{topic}` streams topic `topic`'s `tick`s from the Redis at `REDIS_URL`. With
//! `PUBLISH_EVERY_MS` set, it publishes one `tick` to each of the topics `0..TOPICS` (default
//! 100) that often. Prints `listening on http://ADDR/` once it serves.

use std::time::Duration;

use tidings::hub::{HubOptions, Hubs, TopicSubscribed};
use tidings::{Emitter, Router, event_stream};
use tidings_redis::{Redis, RedisStorage};

#[event_stream]
#[derive(Debug, Clone)]
enum Topic {
    Tick { n: u64 },
}

#[event_stream(path = "/topics/{topic}")]
async fn topic(
    TopicSubscribed(_topic, ticks): TopicSubscribed<u64, Topic, RedisStorage<Topic>>,
    events: Emitter<Topic>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis = Redis::open(&std::env::var("REDIS_URL")?)?;
    let topics: Hubs<u64, Topic, RedisStorage<Topic>> = redis.hubs(
        "tidings:chaos",
        HubOptions::default(),
        Duration::from_secs(60),
        Duration::from_secs(600),
    );
    let count: u64 = std::env::var("TOPICS").map_or(Ok(100), |n| n.parse())?;
    if let Ok(every) = std::env::var("PUBLISH_EVERY_MS") {
        let mut ticker = tokio::time::interval(Duration::from_millis(every.parse()?));
        let topics = topics.clone();
        tokio::spawn(async move {
            for n in 0.. {
                ticker.tick().await;
                let publishes = (0..count).map(|key| {
                    let hub = topics.get(&key);
                    async move { hub.publish(Topic::Tick { n }).await }
                });
                // A failed publish (Redis briefly away) is not in the stream: nobody misses it.
                futures_util::future::join_all(publishes).await;
            }
        });
    }
    let app = Router::new().route(topic).with_state(topics);
    let listener = tokio::net::TcpListener::bind(
        std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:0".into()),
    )
    .await?;
    println!("listening on http://{}/", listener.local_addr()?);
    tidings::serve(app).run(listener).await?;
    Ok(())
}
