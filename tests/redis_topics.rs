//! Many topics on Redis (`Redis::hubs`): each instance follows every topic over one Pub/Sub
//! connection, a new topic's first subscriber waits for it rather than being refused, and idle
//! topics leave nothing subscribed. Two "instances" are two `Redis` handles in this process
//! (each with its own connections, as two processes would have), on a `redis-server` started on
//! a free loopback port.

use std::time::{Duration, Instant};

use tidings::hub::{HubOptions, Hubs, TopicSubscribed};
use tidings::testing::eventually;
use tidings::{Emitter, Router, event_stream};
use tidings_redis::{Redis, RedisStorage};
use tidings_tests::redis_server::RedisServer;
use tidings_tests::{TestServer, parse_frame};

#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum Feed {
    Tick { n: u64 },
}

type Topics = Hubs<String, Feed, RedisStorage<Feed>>;

/// The events of one topic.
#[event_stream(path = "/topics/{topic}")]
async fn topic(
    TopicSubscribed(_topic, ticks): TopicSubscribed<String, Feed, RedisStorage<Feed>>,
    events: Emitter<Feed>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

fn topics(redis: &Redis, idle: Duration) -> Topics {
    redis.hubs(
        "tidings:topic",
        HubOptions::default(),
        idle,
        Duration::from_secs(60),
    )
}

fn n_of(frame: &str) -> u64 {
    let event = parse_frame(frame).expect("an event");
    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
    data["n"].as_u64().unwrap()
}

#[tokio::test]
async fn a_new_topics_first_subscriber_waits_for_it_and_hears_the_other_instance() {
    let redis_server = RedisServer::start();
    let (redis_a, redis_b) = (
        Redis::open(&redis_server.url()).unwrap(),
        Redis::open(&redis_server.url()).unwrap(),
    );
    let on_a = topics(&redis_a, Duration::from_secs(60));
    let on_b = topics(&redis_b, Duration::from_secs(60));
    let server_b = TestServer::start(Router::new().route(topic).with_state(on_b.clone())).await;
    for round in 0..20u64 {
        // A topic nobody used yet, on either instance: the subscriber is not refused.
        let name = format!("room-{round}");
        let started = Instant::now();
        let mut stream = server_b.get(&format!("/topics/{name}")).await;
        let subscribed = started.elapsed();
        assert!(
            subscribed < Duration::from_secs(2),
            "subscribing took {subscribed:?}"
        );
        on_a.get(&name)
            .publish(Feed::Tick { n: round })
            .await
            .unwrap();
        assert_eq!(n_of(&stream.event().await), round);
    }
    assert_eq!(on_b.len(), 20);
    // The path parameter is the key: the stream of `room-3` is `tidings:topic:room-3`.
    assert_eq!(
        redis_server
            .command(&["XLEN", "tidings:topic:room-3"])
            .as_deref(),
        Some(":1")
    );
}

#[tokio::test]
async fn ten_thousand_topics_on_two_instances_take_two_connections_each() {
    const TOPICS: u64 = 10_000;
    let redis_server = RedisServer::start();
    let (redis_a, redis_b) = (
        Redis::open(&redis_server.url()).unwrap(),
        Redis::open(&redis_server.url()).unwrap(),
    );
    let idle = Duration::from_millis(300);
    let (on_a, on_b) = (topics(&redis_a, idle), topics(&redis_b, idle));
    // One subscriber per topic on each instance, once every topic follows its stream (20,000
    // first catch-ups take a while on a loaded machine; what is counted here is connections).
    let mut hubs = Vec::new();
    for key in 0..TOPICS {
        let key = key.to_string();
        hubs.extend([on_a.get(&key), on_b.get(&key)]);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while !hubs.iter().all(|hub| hub.storage().is_ready()) {
        assert!(Instant::now() < deadline, "topics not followed after 120 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let subscribing = hubs.iter().map(|hub| hub.try_subscribe(None));
    let subscriptions: Vec<_> = futures_util::future::join_all(subscribing)
        .await
        .into_iter()
        .map(|subscribed| subscribed.expect("the topic is followed within the wait"))
        .collect();
    assert_eq!(on_a.len() + on_b.len(), 2 * TOPICS as usize);
    let clients = redis_server.subscriptions_per_client();
    println!("{TOPICS} topics with a subscriber on each of 2 instances: Redis clients {clients:?}");
    assert_eq!(
        clients,
        vec![0, 0, TOPICS as usize, TOPICS as usize],
        "per instance: one commands connection and one Pub/Sub connection with every topic"
    );
    // Every topic delivers, once, on both instances.
    let publishes = (0..TOPICS).map(|key| {
        let hub = on_a.get(&key.to_string());
        async move { hub.publish(Feed::Tick { n: key }).await }
    });
    for published in futures_util::future::join_all(publishes).await {
        published.unwrap();
    }
    eventually("every event in both instances' windows", || {
        (0..TOPICS).all(|key| {
            let key = key.to_string();
            [&on_a, &on_b].iter().all(|hubs| {
                hubs.existing(&key)
                    .is_some_and(|hub| hub.storage().window_size().0 == 1)
            })
        })
    })
    .await;
    drop((subscriptions, hubs));
    // Idle topics are swept and their channels unsubscribed; the connections stay.
    tokio::time::sleep(idle + Duration::from_millis(100)).await;
    on_a.sweep();
    on_b.sweep();
    assert!(on_a.is_empty() && on_b.is_empty());
    eventually("no channel left subscribed", || {
        redis_server.subscriptions_per_client() == vec![0, 0, 0, 0]
    })
    .await;
}
