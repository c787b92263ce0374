//! Many server processes on one Redis: the dashboard example (`REDIS_URL` set) runs as
//! separate processes, one of them publishing samples. Clients whose instance is killed
//! (SIGKILL) resume on another with `Last-Event-ID`; in the chaos run, 25 clients are cut at
//! random and come back, after a pause long enough to miss samples, to a random instance while one instance is killed and restarted. Every
//! client must see every sample of the Redis stream between its first and its last, once and
//! in order, and no reset.

use std::net::SocketAddr;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidings::hub::RESET_EVENT;
use tidings_example_dashboard::REDIS_KEY;
use tidings_tests::redis_server::{RedisServer, free_port};
use tidings_tests::{RawResponse, Rng, announced_addr, parse_frame, start_example};

/// A dashboard process on `redis`, publishing every `sample_ms` (or not at all).
fn dashboard(redis: &RedisServer, port: u16, sample_ms: Option<u64>) -> (Child, SocketAddr) {
    let url = redis.url();
    let addr = format!("127.0.0.1:{port}");
    let every = sample_ms.map(|ms| ms.to_string());
    let mut env = vec![("REDIS_URL", url.as_str()), ("ADDR", addr.as_str())];
    match &every {
        Some(ms) => env.push(("SAMPLE_EVERY_MS", ms)),
        None => env.push(("SAMPLER", "off")),
    }
    start_example("dashboard", &env)
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills the processes (by PID) when the test ends, however it ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            kill(child);
        }
    }
}

/// What a client saw: sample ids in order, and resets.
#[derive(Debug, Default)]
struct Seen {
    ids: Vec<String>,
    resets: usize,
    connections: usize,
}

/// Checks `seen` against the stream: the ids between its first and last, exactly.
fn check(seen: &Seen, stream: &[String]) -> (usize, usize, usize) {
    let (mut lost, mut duplicated, mut out_of_order) = (0, 0, 0);
    let Some(first) = seen.ids.first() else {
        return (0, 0, 0);
    };
    let start = stream
        .iter()
        .position(|id| id == first)
        .expect("the first id is in the stream");
    let end = stream
        .iter()
        .position(|id| id == seen.ids.last().unwrap())
        .unwrap();
    let expected = &stream[start..=end];
    let position = |id: &String| stream.iter().position(|s| s == id);
    for pair in seen.ids.windows(2) {
        match (position(&pair[0]), position(&pair[1])) {
            (Some(a), Some(b)) if b == a => duplicated += 1,
            (Some(a), Some(b)) if b < a => out_of_order += 1,
            _ => {}
        }
    }
    for id in expected {
        if !seen.ids.contains(id) {
            lost += 1;
        }
    }
    (lost, duplicated, out_of_order)
}

#[tokio::test]
async fn clients_of_an_instance_killed_mid_stream_resume_on_another() {
    let redis = RedisServer::start();
    let (a, a_addr) = dashboard(&redis, 0, None);
    let (b, b_addr) = dashboard(&redis, 0, Some(20));
    let mut processes = Processes(vec![a, b]);
    let mut seen = Seen::default();
    let mut stream = connect_when_ready(a_addr, None).await;
    while seen.ids.len() < 10 {
        read_one(&mut stream, &mut seen)
            .await
            .expect("a sample from A");
    }
    kill(&mut processes.0[0]);
    assert!(
        read_one(&mut stream, &mut seen).await.is_none(),
        "A is gone"
    );
    // Samples come every 20 ms: a client away for longer misses some unless it resumes.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut stream = connect_when_ready(b_addr, seen.ids.last().map(String::as_str)).await;
    let resumed_at = seen.ids.len();
    while seen.ids.len() < resumed_at + 10 {
        read_one(&mut stream, &mut seen)
            .await
            .expect("a sample from B");
    }
    let stream_ids = redis.stream_ids(REDIS_KEY);
    assert_eq!(check(&seen, &stream_ids), (0, 0, 0), "{seen:?}");
    assert_eq!(seen.resets, 0);
}

async fn connect(addr: SocketAddr, last_event_id: Option<&str>) -> Option<RawResponse> {
    connect_to(addr, "/metrics", last_event_id).await
}

async fn connect_to(
    addr: SocketAddr,
    path: &str,
    last_event_id: Option<&str>,
) -> Option<RawResponse> {
    let headers: Vec<(&str, &str)> = last_event_id
        .iter()
        .map(|id| ("last-event-id", *id))
        .collect();
    let response = RawResponse::try_send(addr, "GET", path, &headers)
        .await
        .ok()?;
    (response.status == 200).then_some(response)
}

/// Connects, waiting out the `503`s of an instance whose Redis loop is not reading yet (it
/// just started), as a client that honours `Retry-After` would.
async fn connect_when_ready(addr: SocketAddr, last_event_id: Option<&str>) -> RawResponse {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(stream) = connect(addr, last_event_id).await {
            return stream;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} did not serve within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads the next event into `seen`; `None` when the stream ended or broke.
async fn read_one(stream: &mut RawResponse, seen: &mut Seen) -> Option<()> {
    read_next(stream, seen, "sample").await
}

/// Reads the next event into `seen`, counting the ids of `name` events.
async fn read_next(stream: &mut RawResponse, seen: &mut Seen, name: &str) -> Option<()> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), stream.next_frame())
            .await
            .ok()??;
        let Some(event) = parse_frame(&frame) else {
            continue; // a heartbeat
        };
        if event.event == RESET_EVENT {
            seen.resets += 1;
        }
        if event.event == name {
            seen.ids.push(event.id.expect("hub events carry ids"));
        }
        return Some(());
    }
}

/// A third of the way into the run, the third instance dies hard (SIGKILL, and clients stop
/// picking it); a second later `restart` brings it back on the same port.
async fn kill_and_restart_the_third(
    processes: &mut Processes,
    instances: &Mutex<Vec<Option<SocketAddr>>>,
    restart: impl FnOnce() -> (Child, SocketAddr),
) {
    tokio::time::sleep(RUN / 3).await;
    instances.lock().unwrap()[2] = None;
    kill(&mut processes.0[2]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (restarted, addr) = restart();
    processes.0[2] = restarted;
    instances.lock().unwrap()[2] = Some(addr);
}

const CLIENTS: u64 = 25;
const RUN: Duration = Duration::from_secs(8);

/// One client: connects to a random live instance, is cut every 50-400 ms, and comes back
/// (to a random instance) with its last id, until the run is over.
async fn roam(instances: Arc<Mutex<Vec<Option<SocketAddr>>>>, seed: u64, until: Instant) -> Seen {
    let mut rng = Rng(seed);
    let mut seen = Seen::default();
    while Instant::now() < until {
        // Away long enough to miss samples (one every 10 ms): only a resume brings them back.
        tokio::time::sleep(Duration::from_millis(20 + rng.below(100))).await;
        let live: Vec<SocketAddr> = instances
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .copied()
            .collect();
        let addr = live[rng.below(live.len() as u64) as usize];
        let Some(mut stream) = connect(addr, seen.ids.last().map(String::as_str)).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        seen.connections += 1;
        let cut_at = Instant::now() + Duration::from_millis(50 + rng.below(350));
        while Instant::now() < cut_at.min(until) {
            let remaining = cut_at.min(until).saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, read_one(&mut stream, &mut seen)).await {
                Ok(Some(())) => {}
                Ok(None) => break, // its instance died
                Err(_) => break,   // time to cut
            }
        }
    }
    seen
}

#[tokio::test]
async fn chaos_three_instances_cut_clients_and_a_killed_instance_lose_nothing() {
    let redis = RedisServer::start();
    let ports = [free_port(), free_port(), free_port()];
    let (publisher, p0) = dashboard(&redis, ports[0], Some(10));
    let (second, p1) = dashboard(&redis, ports[1], None);
    let (third, p2) = dashboard(&redis, ports[2], None);
    let mut processes = Processes(vec![publisher, second, third]);
    let instances = Arc::new(Mutex::new(vec![Some(p0), Some(p1), Some(p2)]));
    let started = Instant::now();
    let until = started + RUN;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            tokio::spawn(roam(
                instances.clone(),
                0x9E37_79B9_7F4A_7C15 ^ (i + 1),
                until,
            ))
        })
        .collect();

    kill_and_restart_the_third(&mut processes, &instances, || {
        dashboard(&redis, ports[2], None)
    })
    .await;

    let mut all = Vec::new();
    for client in clients {
        all.push(client.await.unwrap());
    }
    let stream = redis.stream_ids(REDIS_KEY);
    let (mut lost, mut duplicated, mut out_of_order, mut resets) = (0, 0, 0, 0);
    let (mut delivered, mut connections) = (0, 0);
    for seen in &all {
        let (l, d, o) = check(seen, &stream);
        lost += l;
        duplicated += d;
        out_of_order += o;
        resets += seen.resets;
        delivered += seen.ids.len();
        connections += seen.connections;
    }
    println!(
        "redis chaos: 3 instances, {CLIENTS} clients, {} events published, {delivered} delivered, \
         {connections} connections, 1 instance killed and restarted: lost {lost}, duplicated \
         {duplicated}, out of order {out_of_order}, resets {resets}",
        stream.len()
    );
    assert!(
        stream.len() > 300,
        "the publisher published: {}",
        stream.len()
    );
    assert!(
        all.iter().all(|seen| seen.ids.len() > 100),
        "every client received"
    );
    assert_eq!((lost, duplicated, out_of_order, resets), (0, 0, 0, 0));
}

const TOPICS: u64 = 100;
const TOPIC_CLIENTS: u64 = 30;

/// A topic server process (`tests/bin/topic_server.rs`) on `redis`, publishing to every topic
/// every `every_ms` (or not at all).
fn topic_server(redis: &RedisServer, port: u16, every_ms: Option<u64>) -> (Child, SocketAddr) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_topic-server"));
    command
        .env("REDIS_URL", redis.url())
        .env("ADDR", format!("127.0.0.1:{port}"))
        .env("TOPICS", TOPICS.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(ms) = every_ms {
        command.env("PUBLISH_EVERY_MS", ms.to_string());
    }
    let mut child = command.spawn().expect("start the topic server");
    let addr = announced_addr(&mut child);
    (child, addr)
}

/// One client roaming topics and instances: every 50-400 ms it is cut, and comes back to a
/// random instance, half the time on another random topic, resuming each topic after the last
/// id it saw there.
async fn roam_topics(
    instances: Arc<Mutex<Vec<Option<SocketAddr>>>>,
    seed: u64,
    until: Instant,
) -> std::collections::HashMap<u64, Seen> {
    let mut rng = Rng(seed);
    let mut seen: std::collections::HashMap<u64, Seen> = Default::default();
    let mut topic = rng.below(TOPICS);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20 + rng.below(100))).await;
        if rng.below(2) == 0 {
            topic = rng.below(TOPICS);
        }
        let live: Vec<SocketAddr> = instances
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .copied()
            .collect();
        let addr = live[rng.below(live.len() as u64) as usize];
        let on_topic = seen.entry(topic).or_default();
        let last = on_topic.ids.last().cloned();
        let path = format!("/topics/{topic}");
        let Some(mut stream) = connect_to(addr, &path, last.as_deref()).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        on_topic.connections += 1;
        let cut_at = Instant::now() + Duration::from_millis(50 + rng.below(350));
        while Instant::now() < cut_at.min(until) {
            let remaining = cut_at.min(until).saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, read_next(&mut stream, on_topic, "tick")).await {
                Ok(Some(())) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
    seen
}

#[tokio::test]
async fn topic_chaos_clients_roaming_100_topics_on_three_instances_lose_nothing() {
    let redis = RedisServer::start();
    let ports = [free_port(), free_port(), free_port()];
    // One publish to each of the 100 topics every 50 ms: 2,000 events/s in all.
    let (publisher, p0) = topic_server(&redis, ports[0], Some(50));
    let (second, p1) = topic_server(&redis, ports[1], None);
    let (third, p2) = topic_server(&redis, ports[2], None);
    let mut processes = Processes(vec![publisher, second, third]);
    let instances = Arc::new(Mutex::new(vec![Some(p0), Some(p1), Some(p2)]));
    let until = Instant::now() + RUN;
    let clients: Vec<_> = (0..TOPIC_CLIENTS)
        .map(|i| {
            tokio::spawn(roam_topics(
                instances.clone(),
                0xD1B5_4A32_D192_ED03 ^ (i + 1),
                until,
            ))
        })
        .collect();
    kill_and_restart_the_third(&mut processes, &instances, || {
        topic_server(&redis, ports[2], None)
    })
    .await;

    let mut all = Vec::new();
    for client in clients {
        all.push(client.await.unwrap());
    }
    let (mut lost, mut duplicated, mut out_of_order, mut resets) = (0, 0, 0, 0);
    let (mut delivered, mut connections, mut visits) = (0, 0, 0);
    let mut published = 0;
    let mut streams = std::collections::HashMap::new();
    for seen_by_topic in &all {
        for (topic, seen) in seen_by_topic {
            let stream = streams
                .entry(*topic)
                .or_insert_with(|| redis.stream_ids(&format!("tidings:chaos:{topic}")));
            let (l, d, o) = check(seen, stream);
            lost += l;
            duplicated += d;
            out_of_order += o;
            resets += seen.resets;
            delivered += seen.ids.len();
            connections += seen.connections;
            visits += 1;
        }
    }
    for topic in 0..TOPICS {
        published += redis.stream_ids(&format!("tidings:chaos:{topic}")).len();
    }
    println!(
        "redis topic chaos: 3 instances, {TOPICS} topics, {TOPIC_CLIENTS} clients ({visits} client-topic \
         pairs), {published} events published, {delivered} delivered, {connections} connections, \
         1 instance killed and restarted: lost {lost}, duplicated {duplicated}, out of order \
         {out_of_order}, resets {resets}"
    );
    assert!(published > 5_000, "the publisher published: {published}");
    assert!(delivered > 1_000, "clients received: {delivered}");
    assert_eq!((lost, duplicated, out_of_order, resets), (0, 0, 0, 0));
}
