//! The tidings side of the Redis benchmark: `/broadcast` on a hub whose storage is the Redis
//! stream `tidings:bench` at `REDIS_URL`. Every instance serves it; one publishes at `RATE`
//! (unless `PUBLISH=off`), from `PUBLISHERS` tasks (default 1) whose appends overlap on the
//! one multiplexed connection.

use tidings::hub::{HubOptions, SlowConsumer, Subscribed};
use tidings::{Emitter, Router, event_stream};
use tidings_bench::{Bench, announce, publish_loop, rate, tick};
use tidings_redis::{Redis, RedisStorage};

#[event_stream(path = "/broadcast")]
async fn broadcast(
    Subscribed(ticks): Subscribed<Bench, RedisStorage<Bench>>,
    events: Emitter<Bench>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL")?;
    let hub = Redis::open(&url)?.hub::<Bench>(
        "tidings:bench",
        HubOptions {
            // As the memory-storage server does.
            slow_consumer: SlowConsumer::SkipToLatest,
            ..HubOptions::default()
        },
    );
    let publishers: u64 = std::env::var("PUBLISHERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    if std::env::var("PUBLISH").as_deref() != Ok("off") {
        for _ in 0..publishers.max(1) {
            let publisher = hub.clone();
            tokio::spawn(publish_loop(rate() / publishers.max(1), move |seq| {
                let hub = publisher.clone();
                async move {
                    // A failed publish (Redis briefly away) is skipped, not fatal.
                    let _ = hub.publish(tick(seq)).await;
                    true
                }
            }));
        }
    }
    let app = Router::new().route(broadcast).with_state(hub);
    let listener = tokio::net::TcpListener::bind(tidings_bench::addr()).await?;
    announce(listener.local_addr()?);
    tidings::serve(app).run(listener).await?;
    Ok(())
}
