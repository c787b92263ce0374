//! Chaos: one publisher at a steady rate, many subscribers whose connections are cut at
//! random moments and who reconnect with `Last-Event-ID`, as a browser does. At the end every
//! subscriber must have seen every event exactly once, in order.

use std::time::{Duration, Instant};

use tidings::hub::{Hub, HubOptions, WindowLimits};
use tidings::{Emitter, EventSet, Router, State, event_stream};
use tidings_tests::{ResumingClient, Rng, TestServer};

#[event_stream]
#[derive(Debug, Clone)]
enum Feed {
    Tick { n: u64 },
    Done,
}

#[event_stream(path = "/feed")]
async fn feed(State(hub): State<Hub<Feed>>, events: Emitter<Feed>) -> tidings::Result<()> {
    events
        .forward(hub.subscribe(events.last_event_id()).await)
        .await?;
    Ok(())
}

const EVENTS: u64 = 2000;
const SUBSCRIBERS: u64 = 25;
const EVERY: Duration = Duration::from_micros(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_sees_every_event_exactly_once_despite_random_cuts() {
    let options = HubOptions {
        window: WindowLimits {
            max_events: 100_000,
            ..WindowLimits::default()
        },
        ..HubOptions::default()
    };
    let hub = Hub::with_options(options);
    let app = Router::new()
        .route(feed)
        .with_state(hub.clone())
        .retry(Duration::from_millis(5));
    let server = TestServer::start(app).await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;

    let mut subscribers = Vec::new();
    for index in 0..SUBSCRIBERS {
        let addr = server.addr;
        subscribers.push(tokio::spawn(async move {
            let mut rng = Rng(seed.wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
            let mut client = ResumingClient::new(addr, "/feed");
            let mut seen = Vec::new();
            let mut cuts = 0;
            loop {
                let event = client.next().await;
                match Feed::decode(&event.event, &event.data).unwrap() {
                    Feed::Tick { n } => seen.push(n),
                    Feed::Done => return (seen, cuts, client.connects),
                }
                // About one cut every 100 events, at a random point of the stream; whatever
                // was received but not yet read is lost with the connection.
                if rng.below(100) == 0 {
                    client.cut();
                    cuts += 1;
                }
            }
        }));
    }
    // Everyone is connected before the first event, so that all of them expect event 1.
    for _ in 0..2000 {
        if hub.stats().subscribers == SUBSCRIBERS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(hub.stats().subscribers, SUBSCRIBERS);

    let started = Instant::now();
    let mut ticker = tokio::time::interval(EVERY);
    for n in 1..=EVENTS {
        ticker.tick().await;
        hub.publish(Feed::Tick { n }).await.unwrap();
    }
    hub.publish(Feed::Done).await.unwrap();
    let publishing = started.elapsed();

    let (mut cuts, mut lost, mut duplicated, mut out_of_order, mut connects) = (0, 0, 0, 0, 0);
    for subscriber in subscribers {
        let (seen, subscriber_cuts, subscriber_connects) =
            tokio::time::timeout(Duration::from_secs(60), subscriber)
                .await
                .unwrap()
                .unwrap();
        cuts += subscriber_cuts;
        connects += subscriber_connects;
        let mut unique = seen.clone();
        unique.sort_unstable();
        unique.dedup();
        duplicated += seen.len() - unique.len();
        lost += EVENTS as usize - unique.len();
        out_of_order += seen.windows(2).filter(|w| w[0] >= w[1]).count();
    }
    println!(
        "chaos: {EVENTS} events over {publishing:.1?} to {SUBSCRIBERS} subscribers, {cuts} cuts, \
         {connects} connections, {lost} lost, {duplicated} duplicated, {out_of_order} out of order"
    );
    assert!(cuts > 0, "the test cut connections");
    assert_eq!((lost, duplicated, out_of_order), (0, 0, 0));
}
