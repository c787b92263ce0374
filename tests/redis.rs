//! Hubs on Redis Streams (`tidings-redis`) against a real `redis-server` that each test starts
//! on a free loopback port: two "instances" are two storages and two servers in this process,
//! sharing one Redis. Resume across instances, resets, Redis work per event, and failures:
//! Redis down while publishing, restarted empty or with AOF, down at startup. (Processes
//! killed mid-stream: `tests/redis_chaos.rs`.)

use std::time::Duration;

use tidings::hub::{Hub, HubOptions, PublishError, RESET_EVENT, Subscribed, WindowLimits};
use tidings::testing::eventually;
use tidings::{Emitter, EventSet, Router, event_stream};
use tidings_redis::{Redis, RedisStorage};
use tidings_tests::redis_server::{RedisServer, free_port};
use tidings_tests::{RawResponse, TestServer, parse_frame};

#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum Feed {
    Tick { n: u64 },
}

type RedisHub = Hub<Feed, RedisStorage<Feed>>;

#[event_stream(path = "/feed")]
async fn feed(
    Subscribed(ticks): Subscribed<Feed, RedisStorage<Feed>>,
    events: Emitter<Feed>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

/// The odd ticks only: a filter looks at each event, which the storage decodes for it.
#[event_stream(path = "/odd")]
async fn odd(
    Subscribed(ticks): Subscribed<Feed, RedisStorage<Feed>>,
    events: Emitter<Feed>,
) -> tidings::Result<()> {
    let odd = ticks.filter(|event| matches!(event, Feed::Tick { n } if n % 2 == 1));
    events.forward(odd).await?;
    Ok(())
}

/// A route that needs no hub: it must answer while Redis is down.
#[event_stream(path = "/hello")]
async fn hello(events: Emitter<Feed>) -> tidings::Result<()> {
    events.emit(Feed::Tick { n: 0 }).await?;
    Ok(())
}

/// One instance: a storage on `redis` and a server for it.
async fn instance(redis: &Redis, options: HubOptions) -> (RedisHub, TestServer) {
    let hub = redis.hub::<Feed>("tidings:feed", options);
    let router = Router::new()
        .route(feed)
        .route(odd)
        .route(hello)
        .heartbeat(Some(Duration::from_millis(200)))
        .with_state(hub.clone());
    (hub, TestServer::start(router).await)
}

async fn ready(hub: &RedisHub) {
    eventually("the topic follows its stream", || hub.storage().is_ready()).await;
}

/// The next event frame of `stream`, parsed: `(id, event name, n)`.
async fn next(stream: &mut RawResponse) -> (Option<String>, String, Option<u64>) {
    let event = parse_frame(&stream.event().await).expect("an event");
    let n = Feed::decode(&event.event, &event.data)
        .ok()
        .map(|Feed::Tick { n }| n);
    (event.id, event.event, n)
}

async fn subscribe(server: &TestServer, last_event_id: Option<&str>) -> RawResponse {
    let headers: Vec<(&str, &str)> = last_event_id
        .iter()
        .map(|id| ("last-event-id", *id))
        .collect();
    let response = RawResponse::send(server.addr, "GET", "/feed", &headers).await;
    assert_eq!(response.status, 200);
    response
}

/// One instance on `redis_server`, with one subscriber that received tick 1.
async fn subscribed_after_one_event(
    redis_server: &RedisServer,
) -> (RedisHub, TestServer, RawResponse) {
    let redis = Redis::open(&redis_server.url()).unwrap();
    let (hub, server) = instance(&redis, HubOptions::default()).await;
    ready(&hub).await;
    let mut stream = subscribe(&server, None).await;
    eventually("subscribed", || hub.stats().subscribers == 1).await;
    hub.publish(Feed::Tick { n: 1 }).await.unwrap();
    assert_eq!(next(&mut stream).await.2, Some(1));
    (hub, server, stream)
}

#[tokio::test]
async fn an_event_published_on_one_instance_reaches_the_other_and_resumes_there() {
    let redis_server = RedisServer::start();
    let redis = Redis::open(&redis_server.url()).unwrap();
    let (a, server_a) = instance(&redis, HubOptions::default()).await;
    let (b, server_b) = instance(&redis, HubOptions::default()).await;
    ready(&a).await;
    ready(&b).await;
    let mut on_b = subscribe(&server_b, None).await;
    eventually("subscribed on B", || b.stats().subscribers == 1).await;
    let mut ids = Vec::new();
    for n in 1..=10 {
        ids.push(a.publish(Feed::Tick { n }).await.unwrap().to_string());
    }
    for n in 1..=10 {
        let (id, _, got) = next(&mut on_b).await;
        assert_eq!(got, Some(n));
        // The Redis stream id is the event id, the same on every instance.
        assert_eq!(id.as_deref(), Some(ids[n as usize - 1].as_str()));
    }
    // A client of B resumes on A after event 5: 6..=10, then live, no gap, no duplicate.
    let mut on_a = subscribe(&server_a, Some(&ids[4])).await;
    for n in 6..=10 {
        assert_eq!(next(&mut on_a).await.2, Some(n));
    }
    a.publish(Feed::Tick { n: 11 }).await.unwrap();
    assert_eq!(next(&mut on_a).await.2, Some(11));
    assert_eq!(next(&mut on_b).await.2, Some(11));

    // An instance started now fills its window from Redis and resumes the others' clients.
    let (c, server_c) = instance(&redis, HubOptions::default()).await;
    ready(&c).await;
    let mut on_c = subscribe(&server_c, Some(&ids[7])).await;
    for n in 9..=11 {
        assert_eq!(next(&mut on_c).await.2, Some(n));
    }
}

#[tokio::test]
async fn filters_see_the_events_of_another_instance() {
    let redis_server = RedisServer::start();
    let redis = Redis::open(&redis_server.url()).unwrap();
    let (a, _server_a) = instance(&redis, HubOptions::default()).await;
    let (b, server_b) = instance(
        &Redis::open(&redis_server.url()).unwrap(),
        HubOptions::default(),
    )
    .await;
    ready(&a).await;
    ready(&b).await;
    let mut all = subscribe(&server_b, None).await;
    let mut odd = server_b.get("/odd").await;
    eventually("two subscribers on B", || b.stats().subscribers == 2).await;
    for n in 1..=6 {
        a.publish(Feed::Tick { n }).await.unwrap();
    }
    for n in 1..=6 {
        assert_eq!(next(&mut all).await.2, Some(n));
    }
    for n in [1, 3, 5] {
        assert_eq!(next(&mut odd).await.2, Some(n));
    }
}

#[tokio::test]
async fn ids_outside_the_window_malformed_or_from_the_future_get_a_reset() {
    let redis_server = RedisServer::start();
    let redis = Redis::open(&redis_server.url()).unwrap();
    let options = HubOptions {
        window: WindowLimits {
            max_events: 5,
            ..WindowLimits::default()
        },
        ..HubOptions::default()
    };
    let (hub, server) = instance(&redis, options).await;
    ready(&hub).await;
    let mut ids = Vec::new();
    for n in 1..=20 {
        ids.push(hub.publish(Feed::Tick { n }).await.unwrap());
    }
    eventually("the window holds the last five", || {
        hub.storage().window_size().0 == 5 && hub.stats().published == 20
    })
    .await;
    // The oldest id still in the window resumes.
    let mut stream = subscribe(&server, Some(&ids[15].to_string())).await;
    assert_eq!(next(&mut stream).await.2, Some(17));
    let mut newest = ids[19].to_string();
    let future = format!("{}-0", ids[19].epoch + 60_000);
    for (id, reason) in [
        (ids[2].to_string(), "expired"),
        ("not-an-id".to_owned(), "unknown"),
        (future, "unknown"),
    ] {
        let mut stream = subscribe(&server, Some(&id)).await;
        let reset = parse_frame(&stream.event().await).unwrap();
        assert_eq!(reset.event, RESET_EVENT, "{id}");
        assert_eq!(reset.id.as_deref(), Some(newest.as_str()));
        let data: serde_json::Value = serde_json::from_str(&reset.data).unwrap();
        assert_eq!(data["reason"], reason, "{id}");
        assert_eq!(data["latest"], newest.as_str());
        newest = hub
            .publish(Feed::Tick { n: 100 })
            .await
            .unwrap()
            .to_string();
        assert_eq!(next(&mut stream).await.2, Some(100), "live after the reset");
    }
}

#[tokio::test]
async fn an_id_from_before_an_empty_stream_gets_a_reset_not_a_silent_resume() {
    // Redis came back empty and this instance started after: an id of the old history must
    // not pass for a position in the new one, even once the new one has events.
    let redis_server = RedisServer::start();
    let redis = Redis::open(&redis_server.url()).unwrap();
    let (hub, server) = instance(&redis, HubOptions::default()).await;
    ready(&hub).await;
    let first = hub.publish(Feed::Tick { n: 1 }).await.unwrap().to_string();
    eventually("the loop read it", || hub.storage().window_size().0 == 1).await;
    let mut stream = subscribe(&server, Some("1000-5")).await;
    let reset = parse_frame(&stream.event().await).unwrap();
    assert_eq!(reset.event, RESET_EVENT);
    let data: serde_json::Value = serde_json::from_str(&reset.data).unwrap();
    assert_eq!(data["reason"], "expired");
    assert_eq!(reset.id.as_deref(), Some(first.as_str()));
    hub.publish(Feed::Tick { n: 2 }).await.unwrap();
    assert_eq!(next(&mut stream).await.2, Some(2), "live after the reset");
}

#[tokio::test]
async fn redis_work_per_event_does_not_grow_with_subscribers() {
    const PER_INSTANCE: usize = 500;
    const EVENTS: u64 = 100;
    let redis_server = RedisServer::start();
    let redis = Redis::open(&redis_server.url()).unwrap();
    let (a, server_a) = instance(&redis, HubOptions::default()).await;
    let (b, server_b) = instance(&redis, HubOptions::default()).await;
    ready(&a).await;
    ready(&b).await;
    let mut readers = Vec::new();
    for server in [&server_a, &server_b] {
        for _ in 0..PER_INSTANCE {
            let mut stream = subscribe(server, None).await;
            readers.push(tokio::spawn(async move {
                let mut seen = Vec::new();
                while seen.len() < EVENTS as usize {
                    seen.push(next(&mut stream).await.2.unwrap());
                }
                seen
            }));
        }
    }
    eventually("1,000 subscribers", || {
        a.stats().subscribers + b.stats().subscribers == 2 * PER_INSTANCE as u64
    })
    .await;
    let before = redis_server.command_calls();
    for n in 1..=EVENTS {
        a.publish(Feed::Tick { n }).await.unwrap();
    }
    for reader in readers {
        assert_eq!(reader.await.unwrap(), (1..=EVENTS).collect::<Vec<_>>());
    }
    let after = redis_server.command_calls();
    let calls =
        |name: &str| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
    let total: u64 = after.values().sum::<u64>() - before.values().sum::<u64>();
    println!(
        "{EVENTS} events to {} subscribers on 2 instances: evalsha {}, xadd {}, publish {}, all commands {total}",
        2 * PER_INSTANCE,
        calls("evalsha"),
        calls("xadd"),
        calls("publish"),
    );
    // One script call per event, which appends and publishes it (Redis counts the commands a
    // script runs too; the first call may find the script unloaded, and is repeated after
    // `SCRIPT LOAD`); nothing per subscriber, and no reading: the channel carries it.
    assert!((EVENTS..=EVENTS + 1).contains(&calls("evalsha")));
    assert_eq!(calls("xadd"), EVENTS);
    assert_eq!(calls("publish"), EVENTS);
    assert_eq!(calls("xread") + calls("xrange"), 0);
    assert!(total <= 3 * EVENTS + 10, "{total} commands: {after:?}");

    // Published in a burst, the events come to each instance in a handful of XREADs.
    let mut readers = Vec::new();
    for server in [&server_a, &server_b] {
        let mut stream = subscribe(server, None).await;
        readers.push(tokio::spawn(async move {
            for _ in 0..EVENTS {
                next(&mut stream).await;
            }
        }));
    }
    eventually("one subscriber per instance", || {
        a.stats().subscribers == 1 && b.stats().subscribers == 1
    })
    .await;
    let before = redis_server.command_calls();
    let ids = a
        .publish_all((1..=EVENTS).map(|n| Feed::Tick { n }))
        .await
        .unwrap();
    assert_eq!(ids.len(), EVENTS as usize);
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "ids in order");
    for reader in readers {
        reader.await.unwrap();
    }
    let after = redis_server.command_calls();
    let calls =
        |name: &str| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
    println!(
        "{EVENTS} events published at once: evalsha {}, xadd {}",
        calls("evalsha"),
        calls("xadd")
    );
    assert_eq!(calls("evalsha"), 1, "one script call for the batch");
    assert_eq!(calls("xadd"), EVENTS);
    assert_eq!(calls("publish"), 1, "one message carries the batch");
}

#[tokio::test]
async fn while_redis_is_down_publish_fails_clearly_and_subscribers_lose_nothing() {
    let mut redis_server = RedisServer::start_with_aof();
    let (hub, server, mut stream) = subscribed_after_one_event(&redis_server).await;

    redis_server.stop();
    let started = std::time::Instant::now();
    match hub.publish(Feed::Tick { n: 2 }).await {
        Err(PublishError::Storage(error)) => {
            let message = error.to_string();
            assert!(
                message.contains("cannot append to the Redis stream `tidings:feed`"),
                "{message}"
            );
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast");
    eventually("the loop noticed", || !hub.storage().is_ready()).await;
    // The subscriber is still there: heartbeats keep coming.
    let heartbeat = stream.frame().await;
    assert!(heartbeat.starts_with(':'), "{heartbeat:?}");
    // A new subscriber is told to come back.
    let refused = RawResponse::send(server.addr, "GET", "/feed", &[]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));

    // Back, with its append-only file: no reset, nothing lost, nothing twice.
    redis_server.start_again();
    eventually("the loop is back", || hub.storage().is_ready()).await;
    for n in 3..=5 {
        hub.publish(Feed::Tick { n }).await.unwrap();
    }
    for n in 3..=5 {
        let (_, name, got) = next(&mut stream).await;
        assert_eq!((name.as_str(), got), ("tick", Some(n)));
    }
}

#[tokio::test]
async fn redis_restarted_empty_gives_one_reset_then_live_events() {
    let mut redis_server = RedisServer::start();
    let (hub, _server, mut stream) = subscribed_after_one_event(&redis_server).await;

    redis_server.kill();
    redis_server.start_again();
    // Published to the new, empty Redis, possibly before the loop is back: not lost.
    let published = loop {
        match hub.publish(Feed::Tick { n: 2 }).await {
            Ok(id) => break id,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let (_, name, _) = next(&mut stream).await;
    assert_eq!(name, RESET_EVENT);
    let (id, name, got) = next(&mut stream).await;
    assert_eq!((name.as_str(), got), ("tick", Some(2)));
    assert_eq!(id, Some(published.to_string()));
    hub.publish(Feed::Tick { n: 3 }).await.unwrap();
    assert_eq!(next(&mut stream).await.2, Some(3), "one reset only");
}

/// A client whose last event was the last one before the history broke, and which missed the
/// reset (it was away), gets the reset when it comes back: the reset has that event's id, and
/// skipping both would splice the new history onto the old one without a word.
#[tokio::test]
async fn a_client_away_when_the_history_broke_gets_the_reset_when_it_resumes() {
    let mut redis_server = RedisServer::start();
    let redis = Redis::open(&redis_server.url()).unwrap();
    let (hub, server) = instance(&redis, HubOptions::default()).await;
    ready(&hub).await;
    let tick_1 = hub.publish(Feed::Tick { n: 1 }).await.unwrap().to_string();
    eventually("tick 1 in the window", || {
        hub.storage().window_size().0 == 1
    })
    .await;

    // The client that saw tick 1 is away while Redis restarts empty.
    redis_server.kill();
    redis_server.start_again();
    let tick_2 = loop {
        match hub.publish(Feed::Tick { n: 2 }).await {
            Ok(id) => break id.to_string(),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    eventually("the window has tick 1, the reset and tick 2", || {
        hub.storage().window_size().0 == 3
    })
    .await;

    let mut back = subscribe(&server, Some(&tick_1)).await;
    let (id, name, _) = next(&mut back).await;
    assert_eq!(name, RESET_EVENT, "the reset first");
    assert_eq!(id.as_deref(), Some(tick_1.as_str()));
    let (id, _, got) = next(&mut back).await;
    assert_eq!((id, got), (Some(tick_2), Some(2)));
}

/// `wait_for_replicas` on a Redis with no replica: `publish` fails after its timeout with an
/// error that says why, and the event, written and published before the `WAIT`, still reaches
/// the subscribers (the error is about durability, not delivery). Without it, the same publish
/// succeeds at once.
#[tokio::test]
async fn waiting_for_a_replica_that_is_not_there_fails_the_publish_but_not_the_event() {
    let redis_server = RedisServer::start();
    let redis = Redis::open(&redis_server.url()).unwrap();
    let durable = redis.wait_for_replicas(1, Duration::from_millis(200));
    let hub = durable.hub::<Feed>("tidings:feed", HubOptions::default());
    let server = TestServer::start(Router::new().route(feed).with_state(hub.clone())).await;
    ready(&hub).await;
    let mut stream = subscribe(&server, None).await;
    eventually("subscribed", || hub.stats().subscribers == 1).await;

    let started = std::time::Instant::now();
    let refused = hub.publish(Feed::Tick { n: 1 }).await;
    let Err(PublishError::Storage(error)) = refused else {
        panic!("{refused:?}")
    };
    assert!(started.elapsed() >= Duration::from_millis(200));
    let message = error.to_string();
    assert!(
        message.contains("0 of the 1 replicas") && message.contains("was written"),
        "{message}"
    );
    assert_eq!(next(&mut stream).await.2, Some(1), "delivered all the same");
    assert_eq!(redis_server.stream_ids("tidings:feed").len(), 1);

    let plain = redis.hub::<Feed>("tidings:feed", HubOptions::default());
    plain.publish(Feed::Tick { n: 2 }).await.unwrap();
    assert_eq!(next(&mut stream).await.2, Some(2));
}

#[tokio::test]
async fn redis_down_at_startup_answers_503_on_hub_routes_only_until_it_is_up() {
    let port = free_port();
    let redis = Redis::open(&format!("redis://127.0.0.1:{port}/")).unwrap();
    let (hub, server) = instance(&redis, HubOptions::default()).await;
    let mut hello = RawResponse::send(server.addr, "GET", "/hello", &[]).await;
    assert_eq!(hello.status, 200, "routes without a hub are served");
    assert!(hello.event().await.contains("tick"));
    let refused = RawResponse::send(server.addr, "GET", "/feed", &[]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(matches!(
        hub.publish(Feed::Tick { n: 1 }).await,
        Err(PublishError::Storage(_))
    ));

    let _redis_server = RedisServer::start_on(port);
    ready(&hub).await;
    let mut stream = subscribe(&server, None).await;
    eventually("subscribed", || hub.stats().subscribers == 1).await;
    hub.publish(Feed::Tick { n: 2 }).await.unwrap();
    assert_eq!(next(&mut stream).await.2, Some(2));
}

#[tokio::test]
async fn topics_have_a_stream_each_and_idle_ones_go() {
    let redis_server = RedisServer::start();
    let redis = Redis::open(&redis_server.url()).unwrap();
    let hubs = redis.hubs::<u64, Feed>(
        "tidings:job",
        HubOptions::default(),
        Duration::from_millis(100),
        Duration::from_secs(60),
    );
    let seven = hubs.get(&7);
    let eight = hubs.get(&8);
    ready(&seven).await;
    ready(&eight).await;
    assert_eq!(seven.storage().key(), "tidings:job:7");
    seven.publish(Feed::Tick { n: 1 }).await.unwrap();
    eight.publish(Feed::Tick { n: 2 }).await.unwrap();
    eight.publish(Feed::Tick { n: 3 }).await.unwrap();
    assert_eq!(
        redis_server.command(&["XLEN", "tidings:job:7"]).as_deref(),
        Some(":1")
    );
    assert_eq!(
        redis_server.command(&["XLEN", "tidings:job:8"]).as_deref(),
        Some(":2")
    );
    // Each key expires a minute after its last event.
    let ttl: u64 = redis_server
        .command(&["PTTL", "tidings:job:8"])
        .unwrap()
        .trim_start_matches(':')
        .parse()
        .unwrap();
    assert!((50_000..=60_000).contains(&ttl), "{ttl}");
    // One Pub/Sub connection carries both topics' channels, next to the commands connection.
    let clients = || redis_server.subscriptions_per_client();
    eventually("both channels subscribed on one connection", || {
        clients() == vec![0, 2]
    })
    .await;
    drop((seven, eight));
    tokio::time::sleep(Duration::from_millis(150)).await;
    hubs.sweep();
    assert!(hubs.is_empty());
    eventually("their channels unsubscribed", || clients() == vec![0, 0]).await;
}
