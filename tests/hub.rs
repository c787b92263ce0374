//! Broadcast hubs over real sockets: lossless resume, resets, slow consumers, topics.

use std::sync::Arc;
use std::time::Duration;

use tidings::hub::{Hub, HubOptions, Hubs, RESET_EVENT, SlowConsumer, WindowLimits};
use tidings::{Emitter, EventSet, Path, Query, Router, State, Validate, event_stream};
use tidings_tests::{Event, RawResponse, ResumingClient, TestServer, parse_frame};

#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum Feed {
    Tick {
        n: u64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pad: String,
    },
    Done,
}

fn tick(n: u64) -> Feed {
    Feed::Tick {
        n,
        pad: String::new(),
    }
}

#[event_stream(path = "/feed")]
async fn feed(State(hub): State<Hub<Feed>>, events: Emitter<Feed>) -> tidings::Result<()> {
    let subscription = hub.subscribe(events.last_event_id()).await;
    events.forward(subscription).await?;
    Ok(())
}

#[derive(serde::Deserialize, schemars::JsonSchema, Validate)]
struct Only {
    odd: Option<bool>,
}

#[event_stream(path = "/odd")]
async fn odd(
    State(hub): State<Hub<Feed>>,
    Query(only): Query<Only>,
    events: Emitter<Feed>,
) -> tidings::Result<()> {
    let mut subscription = hub.subscribe(events.last_event_id()).await;
    if only.odd == Some(true) {
        subscription =
            subscription.filter(|event| matches!(event, Feed::Tick { n, .. } if n % 2 == 1));
    }
    events.forward(subscription).await?;
    Ok(())
}

fn n_of(event: &Event) -> u64 {
    match Feed::decode(&event.event, &event.data).unwrap() {
        Feed::Tick { n, .. } => n,
        Feed::Done => u64::MAX,
    }
}

async fn serve(hub: &Hub<Feed>) -> TestServer {
    TestServer::start(Router::new().route(feed).route(odd).with_state(hub.clone())).await
}

/// Waits until the hub has `n` subscribers, so that what is published next reaches them.
async fn subscribers(hub: &Hub<Feed>, n: u64) {
    for _ in 0..1000 {
        if hub.stats().subscribers == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("expected {n} subscribers, have {}", hub.stats().subscribers);
}

#[tokio::test]
async fn resume_after_a_cut_in_the_middle_of_a_burst() {
    let hub = Hub::new();
    let server = serve(&hub).await;
    let mut client = ResumingClient::new(server.addr, "/feed");
    let first = tokio::spawn({
        let hub = hub.clone();
        async move {
            subscribers(&hub, 1).await;
            for n in 1..=100 {
                hub.publish(tick(n)).await.unwrap();
            }
        }
    });
    for n in 1..=30 {
        let event = client.next().await;
        assert_eq!(n_of(&event), n);
        assert!(event.id.is_some(), "hub events carry ids");
    }
    client.cut();
    first.await.unwrap();
    for n in 101..=120 {
        hub.publish(tick(n)).await.unwrap();
    }
    // Reconnects with Last-Event-ID of event 30: gets 31..=120 once each, in order.
    for n in 31..=120 {
        assert_eq!(n_of(&client.next().await), n);
    }
    assert_eq!(client.connects, 2);
}

#[tokio::test]
async fn no_gap_and_no_duplicate_at_the_seam_between_replay_and_live() {
    let hub = Hub::new();
    let server = serve(&hub).await;
    // A publisher that never stops while clients resume.
    let publisher = tokio::spawn({
        let hub = hub.clone();
        async move {
            for n in 1..=3000u64 {
                hub.publish(tick(n)).await.unwrap();
                if n % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    for _ in 0..5 {
        // Resume from whatever was last published a moment ago, while publishing goes on.
        let mut client = ResumingClient::new(server.addr, "/feed");
        client.last_event_id = Some(hub_latest(&hub));
        let first = n_of(&client.next().await);
        let mut previous = first;
        for _ in 0..200 {
            let n = n_of(&client.next().await);
            assert_eq!(
                n,
                previous + 1,
                "replay turned into live without gap or duplicate"
            );
            previous = n;
        }
    }
    publisher.await.unwrap();
}

fn hub_latest(hub: &Hub<Feed>) -> String {
    let storage = hub.storage();
    format!("{}-{}", storage.epoch(), hub.stats().published)
}

#[tokio::test]
async fn resume_at_the_exact_newest_event() {
    let hub = Hub::new();
    let server = serve(&hub).await;
    for n in 1..=5 {
        hub.publish(tick(n)).await.unwrap();
    }
    let mut client = ResumingClient::new(server.addr, "/feed");
    client.last_event_id = Some(hub_latest(&hub));
    let next = tokio::spawn(async move { n_of(&client.next().await) });
    subscribers(&hub, 1).await;
    hub.publish(tick(6)).await.unwrap();
    assert_eq!(
        next.await.unwrap(),
        6,
        "nothing replayed twice, nothing missed"
    );
}

#[tokio::test]
async fn an_expired_id_gets_a_reset_with_the_oldest_available_id() {
    let options = HubOptions {
        window: WindowLimits {
            max_events: 10,
            ..WindowLimits::default()
        },
        ..HubOptions::default()
    };
    let hub = Hub::with_options(options);
    let server = serve(&hub).await;
    for n in 1..=50 {
        hub.publish(tick(n)).await.unwrap();
    }
    let epoch = hub.storage().epoch();
    let mut response = RawResponse::send(
        server.addr,
        "GET",
        "/feed",
        &[("last-event-id", &format!("{epoch}-5"))],
    )
    .await;
    let reset = parse_frame(&response.frame().await).unwrap();
    assert_eq!(reset.event, RESET_EVENT);
    assert_eq!(
        reset.id,
        Some(format!("{epoch}-50")),
        "the reset moves the client to the newest id"
    );
    let data: serde_json::Value = serde_json::from_str(&reset.data).unwrap();
    assert_eq!(data["reason"], "expired");
    assert_eq!(data["oldest"], format!("{epoch}-41"));
    assert_eq!(data["latest"], format!("{epoch}-50"));
    subscribers(&hub, 1).await;
    hub.publish(tick(51)).await.unwrap();
    assert_eq!(
        n_of(&parse_frame(&response.event().await).unwrap()),
        51,
        "then live events"
    );
    assert_eq!(hub.stats().resets, 1);

    // The event right after the id is the oldest one kept: a normal resume, no reset.
    let mut response = RawResponse::send(
        server.addr,
        "GET",
        "/feed",
        &[("last-event-id", &format!("{epoch}-41"))],
    )
    .await;
    assert_eq!(n_of(&parse_frame(&response.event().await).unwrap()), 42);
}

#[tokio::test]
async fn unknown_ids_get_a_reset() {
    let hub = Hub::new();
    let server = serve(&hub).await;
    hub.publish(tick(1)).await.unwrap();
    let epoch = hub.storage().epoch();
    for id in [
        "garbage".to_owned(),
        format!("{}-1", epoch - 1),
        format!("{epoch}-99"),
        "1-2-3".to_owned(),
    ] {
        let mut response =
            RawResponse::send(server.addr, "GET", "/feed", &[("last-event-id", &id)]).await;
        let reset = parse_frame(&response.frame().await).unwrap();
        assert_eq!(reset.event, RESET_EVENT, "{id}");
        let data: serde_json::Value = serde_json::from_str(&reset.data).unwrap();
        assert_eq!(data["reason"], "unknown", "{id}");
        assert_eq!(data["oldest"], format!("{epoch}-1"));
    }
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_while_a_fast_one_keeps_every_event() {
    let options = HubOptions {
        window: WindowLimits {
            max_events: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_age: None,
        },
        subscriber_lag_bytes: 256 * 1024,
        slow_consumer: SlowConsumer::Disconnect,
    };
    let hub = Hub::with_options(options);
    let server = TestServer::start(
        Router::new()
            .route(feed)
            .with_state(hub.clone())
            .buffer_bytes(16 * 1024),
    )
    .await;
    let mut slow = RawResponse::send_slow(server.addr, "/feed").await;
    let mut fast = ResumingClient::new(server.addr, "/feed");
    let fast_reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        loop {
            let n = n_of(&fast.next().await);
            if n == u64::MAX {
                return (seen, fast.connects);
            }
            seen.push(n);
        }
    });
    subscribers(&hub, 2).await;
    const COUNT: u64 = 4000;
    let pad = "p".repeat(1000);
    for n in 1..=COUNT {
        hub.publish(Feed::Tick {
            n,
            pad: pad.clone(),
        })
        .await
        .unwrap();
        if n % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    hub.publish(Feed::Done).await.unwrap();
    let (seen, connects) = fast_reader.await.unwrap();
    assert_eq!(
        seen,
        (1..=COUNT).collect::<Vec<_>>(),
        "the fast subscriber saw every event in order"
    );
    assert_eq!(connects, 1, "the fast subscriber was never disconnected");

    // The slow one, which read nothing, was cut off: its stream ends after what was buffered.
    let rest = slow.rest().await;
    assert!(slow.ends().await);
    let delivered = rest.matches("event: tick").count();
    assert!(
        delivered < COUNT as usize,
        "the slow subscriber did not get everything: {delivered}"
    );
    assert_eq!(hub.stats().disconnected, 1);
    // Memory stayed bounded by the window, whatever the slow reader did.
    let (_, window_bytes) = hub.storage().window_size();
    assert!(window_bytes <= 64 * 1024 * 1024);
}

#[tokio::test]
async fn a_stalled_reader_neither_blocks_publishing_nor_grows_memory() {
    let options = HubOptions {
        window: WindowLimits {
            max_events: 1000,
            max_bytes: 256 * 1024,
            max_age: None,
        },
        subscriber_lag_bytes: 128 * 1024,
        slow_consumer: SlowConsumer::Disconnect,
    };
    let hub = Hub::with_options(options);
    let server = serve(&hub).await;
    let stalled = server.get("/feed").await; // never read
    subscribers(&hub, 1).await;
    let pad = "p".repeat(500);
    let publishing = async {
        for n in 1..=20_000 {
            hub.publish(Feed::Tick {
                n,
                pad: pad.clone(),
            })
            .await
            .unwrap();
        }
    };
    // Publishing never waits for the stalled subscriber.
    tokio::time::timeout(tidings_tests::PATIENCE, publishing)
        .await
        .expect("publishing went on");
    let (events, bytes) = hub.storage().window_size();
    assert!(bytes <= 256 * 1024, "the window is bounded: {bytes} bytes");
    assert!(events <= 1000);
    drop(stalled);
}

#[tokio::test]
async fn skip_to_latest_keeps_a_slow_metrics_client_current() {
    let options = HubOptions {
        subscriber_lag_bytes: 8 * 1024,
        slow_consumer: SlowConsumer::SkipToLatest,
        ..HubOptions::default()
    };
    let hub = Hub::with_options(options);
    let server = TestServer::start(
        Router::new()
            .route(feed)
            .with_state(hub.clone())
            .buffer_bytes(4 * 1024),
    )
    .await;
    let mut client = server.get("/feed").await;
    subscribers(&hub, 1).await;
    let pad = "p".repeat(200);
    for n in 1..=5000 {
        hub.publish(Feed::Tick {
            n,
            pad: pad.clone(),
        })
        .await
        .unwrap();
    }
    hub.publish(Feed::Done).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let n = n_of(&parse_frame(&client.event().await).unwrap());
        if n == u64::MAX {
            break;
        }
        seen.push(n);
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "still in order");
    assert!(seen.len() < 5000, "old values were skipped: {}", seen.len());
    assert!(hub.stats().lagged > 0);
    assert_eq!(hub.stats().disconnected, 0);
}

#[tokio::test]
async fn filters_deliver_a_subset_without_reserializing() {
    let hub = Hub::new();
    let server = serve(&hub).await;
    let mut odd = server.get("/odd?odd=true").await;
    subscribers(&hub, 1).await;
    for n in 1..=6 {
        hub.publish(tick(n)).await.unwrap();
    }
    for n in [1, 3, 5] {
        assert_eq!(n_of(&parse_frame(&odd.event().await).unwrap()), n);
    }
}

#[event_stream(path = "/jobs/{id}")]
async fn job(
    Path(id): Path<u64>,
    State(hubs): State<Hubs<u64, Feed>>,
    events: Emitter<Feed>,
) -> tidings::Result<()> {
    let hub = hubs.get(&id);
    events
        .forward(hub.subscribe(events.last_event_id()).await)
        .await?;
    Ok(())
}

#[tokio::test]
async fn per_topic_hubs_are_created_on_use_and_dropped_when_idle() {
    // Clones share the hubs: one is the router's state, this one the test's.
    let hubs = Hubs::<u64, Feed>::new(HubOptions::default(), Duration::from_millis(100));
    let server = TestServer::start(Router::new().route(job).with_state(hubs.clone())).await;
    let mut one = server.get("/jobs/1").await;
    let mut two = server.get("/jobs/2").await;
    for _ in 0..1000 {
        if hubs.len() == 2
            && hubs.get(&1).stats().subscribers == 1
            && hubs.get(&2).stats().subscribers == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(hubs.len(), 2);
    hubs.get(&1).publish(tick(1)).await.unwrap();
    hubs.get(&2).publish(tick(2)).await.unwrap();
    assert_eq!(n_of(&parse_frame(&one.event().await).unwrap()), 1);
    assert_eq!(n_of(&parse_frame(&two.event().await).unwrap()), 2);

    // While subscribed, hubs stay however long they are idle.
    tokio::time::sleep(Duration::from_millis(150)).await;
    hubs.sweep();
    assert_eq!(hubs.len(), 2);

    drop(one);
    drop(two);
    for _ in 0..1000 {
        if hubs
            .existing(&1)
            .is_some_and(|h| h.stats().subscribers == 0)
            && hubs
                .existing(&2)
                .is_some_and(|h| h.stats().subscribers == 0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    hubs.sweep();
    assert!(hubs.is_empty(), "idle hubs were dropped");
}

#[tokio::test]
async fn each_get_drops_a_few_idle_hubs_without_visiting_all() {
    let hubs = Hubs::<u64, Feed>::new(HubOptions::default(), Duration::from_millis(50));
    for key in 0..10 {
        hubs.get(&key);
    }
    let busy = hubs.get(&3); // held: never idle
    tokio::time::sleep(Duration::from_millis(80)).await;
    // Each get looks at the next two keys in turn: after one, two fewer hubs.
    hubs.get(&100);
    assert_eq!(hubs.len(), 11 - 2);
    for _ in 0..10 {
        hubs.get(&100);
    }
    assert_eq!(
        hubs.len(),
        2,
        "all idle hubs gone; the held one and the one in use stay"
    );
    assert!(hubs.existing(&3).is_some());
    drop(busy);
}

#[tokio::test]
async fn transient_events_reach_live_subscribers_without_ids_and_are_never_replayed() {
    let hub = Hub::new();
    let server = serve(&hub).await;
    let mut live = server.get("/feed").await;
    let mut odd_only = server.get("/odd?odd=true").await;
    subscribers(&hub, 2).await;
    let first = hub.publish(tick(1)).await.unwrap();
    assert_eq!(
        hub.broadcast(tick(100)).unwrap(),
        2,
        "both subscriptions reached"
    );
    assert_eq!(hub.broadcast(tick(101)).unwrap(), 2);
    hub.publish(tick(3)).await.unwrap();

    let frames: Vec<Event> = [
        live.event().await,
        live.event().await,
        live.event().await,
        live.event().await,
    ]
    .iter()
    .map(|frame| parse_frame(frame).unwrap())
    .collect();
    let ns: Vec<u64> = frames.iter().map(n_of).collect();
    assert_eq!(ns, [1, 100, 101, 3], "in the order they were sent");
    assert!(frames[0].id.is_some() && frames[3].id.is_some());
    assert!(
        frames[1].id.is_none() && frames[2].id.is_none(),
        "no id: {frames:?}"
    );
    // A subscription's filter applies to transient events too.
    let odd: Vec<u64> = [
        odd_only.event().await,
        odd_only.event().await,
        odd_only.event().await,
    ]
    .iter()
    .map(|frame| n_of(&parse_frame(frame).unwrap()))
    .collect();
    assert_eq!(odd, [1, 101, 3]);

    // A client that resumes gets the replayable events it missed, never the transient ones;
    // and they took no place in the window.
    drop(live);
    let id = first.to_string();
    let mut resumed =
        RawResponse::send(server.addr, "GET", "/feed", &[("last-event-id", &id)]).await;
    assert_eq!(n_of(&parse_frame(&resumed.event().await).unwrap()), 3);
    hub.publish(tick(5)).await.unwrap();
    assert_eq!(n_of(&parse_frame(&resumed.event().await).unwrap()), 5);
    assert_eq!(
        hub.stats().published,
        3,
        "transient events are not counted as published"
    );
}

#[tokio::test]
async fn a_transient_event_alone_wakes_a_waiting_subscriber() {
    let hub = Hub::new();
    let server = serve(&hub).await;
    let mut live = server.get("/feed").await;
    subscribers(&hub, 1).await;
    // Nothing in the window: the subscription waits; only the transient event can wake it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(hub.broadcast(tick(7)).unwrap(), 1);
    let frame = parse_frame(&live.event().await).unwrap();
    assert_eq!((n_of(&frame), frame.id), (7, None));
}

#[tokio::test]
async fn transient_and_stored_events_interleaved_all_arrive_in_order() {
    let hub = Hub::new();
    let server = serve(&hub).await;
    let mut live = server.get("/feed").await;
    subscribers(&hub, 1).await;
    let mut expected = Vec::new();
    for round in 0..200u64 {
        // Transient, then stored, then both at once, with pauses between some: every order
        // a subscriber may be in when each comes.
        hub.broadcast(tick(10_000 + round)).unwrap();
        expected.push(10_000 + round);
        if round % 3 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        hub.publish(tick(round)).await.unwrap();
        expected.push(round);
        if round % 5 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let mut got = Vec::new();
    while got.len() < expected.len() {
        got.push(n_of(&parse_frame(&live.event().await).unwrap()));
    }
    assert_eq!(got, expected);
}

#[tokio::test]
async fn a_hub_reports_its_subscriber_count_as_it_changes() {
    let hub = Hub::new();
    let mut count = hub.watch_subscribers();
    assert_eq!(*count.borrow_and_update(), 0);
    let server = serve(&hub).await;
    let one = server.get("/feed").await;
    tokio::time::timeout(Duration::from_secs(5), count.wait_for(|n| *n == 1))
        .await
        .unwrap()
        .unwrap();
    let two = server.get("/feed").await;
    tokio::time::timeout(Duration::from_secs(5), count.wait_for(|n| *n == 2))
        .await
        .unwrap()
        .unwrap();
    drop(one);
    drop(two);
    tokio::time::timeout(Duration::from_secs(5), count.wait_for(|n| *n == 0))
        .await
        .unwrap()
        .unwrap();
    // Nobody listening: a transient event reaches nobody, and that is no error.
    assert_eq!(hub.broadcast(tick(1)).unwrap(), 0);
}

#[tokio::test]
async fn a_count_watched_only_after_subscribing_starts_from_the_subscribers_there() {
    let hub = Hub::new();
    let server = serve(&hub).await;
    let one = server.get("/feed").await;
    subscribers(&hub, 1).await;
    let mut count = hub.watch_subscribers();
    assert_eq!(*count.borrow_and_update(), 1);
    drop(one);
    tokio::time::timeout(Duration::from_secs(5), count.wait_for(|n| *n == 0))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn hubs_with_string_keys_are_found_by_str() {
    let hubs = Hubs::<String, Feed>::new(HubOptions::default(), Duration::from_secs(60));
    let red = hubs.get("red");
    assert_eq!(hubs.len(), 1);
    let clone = hubs.clone();
    assert!(
        clone.existing("red").is_some(),
        "the clone sees the same hubs"
    );
    assert!(clone.existing("blue").is_none());
    red.publish(tick(1)).await.unwrap();
    assert_eq!(clone.get("red").stats().published, 1, "the same hub");
    assert_eq!(hubs.len(), 1);
}

#[event_stream(path = "/mixed")]
async fn mixed(State(hub): State<Hub<Feed>>, events: Emitter<Feed>) -> tidings::Result<()> {
    // The handler's own events go out next to the hub's: before, and from another task.
    events.emit(tick(0)).await?;
    let own = events.clone();
    let subscription = hub.subscribe(events.last_event_id()).await;
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = own
            .emit(Feed::Tick {
                n: 1000,
                pad: "own".into(),
            })
            .await;
    });
    events.forward(subscription).await?;
    Ok(())
}

#[tokio::test]
async fn a_handler_mixes_its_own_events_with_the_hubs() {
    let hub = Hub::new();
    let server = TestServer::start(Router::new().route(mixed).with_state(hub.clone())).await;
    let mut response = server.get("/mixed").await;
    assert_eq!(n_of(&parse_frame(&response.event().await).unwrap()), 0);
    subscribers(&hub, 1).await;
    hub.publish(tick(1)).await.unwrap();
    let mut seen: Vec<u64> = Vec::new();
    for _ in 0..2 {
        seen.push(n_of(&parse_frame(&response.event().await).unwrap()));
    }
    seen.sort_unstable();
    assert_eq!(seen, [1, 1000]);
}

#[tokio::test(start_paused = true)]
async fn the_window_forgets_events_past_their_age() {
    use tidings::hub::{HubStorage, MemoryStorage, ResetReason, Start};
    let storage = MemoryStorage::<Feed>::new(WindowLimits {
        max_age: Some(Duration::from_secs(60)),
        ..WindowLimits::default()
    });
    let first = storage
        .append(Arc::new(tick(1)), b"event: tick\ndata: {}\n\n")
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(30)).await;
    let second = storage
        .append(Arc::new(tick(2)), b"event: tick\ndata: {}\n\n")
        .await
        .unwrap();
    assert!(matches!(
        storage.start(Some(&first.to_string())).await,
        Ok(Start::Resume(_))
    ));
    tokio::time::advance(Duration::from_secs(45)).await;
    // 75 s after the first event and 45 s after the second: only the second is kept.
    assert_eq!(storage.window_size().0, 1);
    match storage.start(Some(&format!("{}-0", first.epoch))).await {
        Ok(Start::Reset { reason, oldest, .. }) => {
            assert_eq!(reason, ResetReason::Expired);
            assert_eq!(oldest, Some(second));
        }
        other => panic!("expected a reset, got {other:?}"),
    }
    assert!(matches!(
        storage.start(Some(&first.to_string())).await,
        Ok(Start::Resume(_))
    ));
}
