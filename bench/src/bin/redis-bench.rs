//! The Redis benchmark: hubs on Redis shared by two server instances, next to the memory
//! storage on one instance in the same run, and next to `redis-benchmark` (Redis's own tool)
//! on the same Redis: the physical limit. Starts its own `redis-server` on a free loopback
//! port.
//!
//! ```text
//! cargo run --release -p tidings-bench --bin redis-bench          # full sizes, 3 runs
//! cargo run -p tidings-bench --bin redis-bench -- --quick         # tiny sizes, checks it works
//! cargo run --release -p tidings-bench --bin redis-bench -- --runs 1   # one run
//! ```
//!
//! Scenarios, each on fresh server processes:
//! - **fan-out**: 1,000 subscribers of one hub (memory: one instance; Redis: two of 500), the
//!   publisher flat out (memory: one task publishing in a loop; Redis: one task publishing
//!   batches of 64 with `publish_all`): delivered events/s; and at 100 events/s, the
//!   publish-to-delivery latency;
//! - **one hub, 10 subscribers** (two instances of 5): published events/s from one task with
//!   batches of 64, and from 8 tasks publishing one event per call; Redis CPU per event;
//! - **topics**: 1,000 topics with one subscriber each on each of two instances, a third
//!   instance publishing to them flat out (8 tasks, batches of 64 per topic): published
//!   events/s, every event counted at both subscribers after the publisher stops, Redis CPU
//!   per event, and how long subscribing to a topic nobody used yet takes.
//!
//! Then the fan-out, publishing and topics scenarios again on a Redis Cluster of 3 primaries
//! with a replica each (six `redis-server` processes, started here), next to the single Redis;
//! and on the cluster with `wait_for_replicas(1, 500 ms)`, what waiting for a replica costs
//! a publisher.

use std::cell::{Cell, RefCell};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tidings_bench::load::{
    Server, build_servers, open_paths, open_streams, quantile_ms, raise_fd_limit,
};
use tidings_tests::redis_cluster::RedisCluster;
use tidings_tests::redis_server::RedisServer;

struct Sizes {
    subscribers_per_instance: usize,
    topics: usize,
    seconds: f64,
    runs: usize,
}

/// One run's figures.
#[derive(Default, Clone, Copy)]
struct Figures {
    memory_delivered: f64,
    memory_p50: f64,
    memory_p99: f64,
    fanout_delivered: f64,
    fanout_published: f64,
    one_instance_delivered: f64,
    p50: f64,
    p99: f64,
    hub10_published: f64,
    hub10_cpu_us: f64,
    hub10_published_8: f64,
    topics_published: f64,
    topics_delivered: f64,
    topics_expected: f64,
    topics_cpu_us: f64,
    subscribe_p50: f64,
    subscribe_p99: f64,
    again_p50: f64,
    again_p99: f64,
    benchmark_1: f64,
    benchmark_8: f64,
    benchmark_pipelined: f64,
    /// On the cluster, with `wait_for_replicas(1, ..)`.
    wait_published_8: f64,
    wait_p50: f64,
    wait_p99: f64,
}

/// The Redis the instances share: one server, or a cluster (its nodes' figures summed).
#[derive(Clone, Copy)]
enum Target<'a> {
    Server(&'a RedisServer),
    Cluster(&'a RedisCluster),
}

impl Target<'_> {
    /// The environment variable that points a server instance at it.
    fn env(&self) -> (&'static str, String) {
        match self {
            Target::Server(redis) => ("REDIS_URL", redis.url()),
            Target::Cluster(cluster) => ("REDIS_CLUSTER", cluster.urls().join(",")),
        }
    }

    /// The nodes whose commands count: the server, or the cluster's primaries.
    fn primaries(&self) -> Vec<&RedisServer> {
        match self {
            Target::Server(redis) => vec![redis],
            Target::Cluster(cluster) => cluster
                .nodes
                .iter()
                .filter(|node| {
                    node.raw(&["INFO", "replication"])
                        .is_some_and(|info| info.contains("role:master"))
                })
                .collect(),
        }
    }

    /// Calls of `command` so far, on the primaries.
    fn calls(&self, command: &str) -> u64 {
        self.primaries()
            .iter()
            .map(|node| node.command_calls().get(command).copied().unwrap_or(0))
            .sum()
    }

    /// CPU seconds so far, every node's (a cluster's replicas included: replication is part
    /// of its cost).
    fn cpu_seconds(&self) -> f64 {
        match self {
            Target::Server(redis) => redis.cpu_seconds(),
            Target::Cluster(cluster) => cluster.nodes.iter().map(RedisServer::cpu_seconds).sum(),
        }
    }

    /// Deletes `keys`, one per command (a cluster's node refuses the keys of other slots).
    fn delete(&self, keys: &[String]) {
        for node in self.primaries() {
            for key in keys {
                node.command(&["DEL", key]);
            }
        }
    }
}

const WARM_UP: Duration = Duration::from_millis(500);

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            subscribers_per_instance: 20,
            topics: 50,
            seconds: 1.0,
            runs: 1,
        }
    } else {
        Sizes {
            subscribers_per_instance: 500,
            topics: 1000,
            seconds: 5.0,
            runs: 3,
        }
    };
    let mut sizes = sizes;
    if let Some(runs) = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|n| n.parse().ok())
    {
        sizes.runs = runs;
    }
    raise_fd_limit();
    let dir = build_servers();
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let cluster = RedisCluster::start();
    let mut runs = Vec::new();
    let mut cluster_runs = Vec::new();
    for run in 0..sizes.runs {
        let memory_server = dir.join("tidings-server");
        let redis_server = dir.join("tidings-redis-server");
        let mut figures = Figures::default();
        runtime.block_on(local.run_until(on_memory(&memory_server, &sizes, &mut figures)));
        let target = Target::Server(&redis);
        runtime.block_on(local.run_until(on_redis(&redis_server, target, &sizes, &mut figures)));
        redis_benchmark(&redis, quick, &mut figures);
        runs.push(figures);
        let mut on_cluster = Figures::default();
        let target = Target::Cluster(&cluster);
        runtime.block_on(local.run_until(on_redis(&redis_server, target, &sizes, &mut on_cluster)));
        runtime.block_on(local.run_until(waiting(
            &redis_server,
            &cluster,
            &sizes,
            &mut on_cluster,
        )));
        cluster_runs.push(on_cluster);
        eprintln!("run {} of {}: done", run + 1, sizes.runs);
    }
    report(&runs, &sizes);
    report_cluster(&runs, &cluster_runs, &sizes);
}

/// The median of `field` over `runs`.
fn median(runs: &[Figures], field: fn(&Figures) -> f64) -> f64 {
    let mut values: Vec<f64> = runs.iter().map(field).collect();
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn report_cluster(runs: &[Figures], cluster_runs: &[Figures], sizes: &Sizes) {
    let subscribers = 2 * sizes.subscribers_per_instance;
    println!("\nOne Redis, and a Redis Cluster of 3 primaries with a replica each (same run):\n");
    println!("| scenario | one Redis | cluster | cluster / one Redis |");
    println!("|---|---|---|---|");
    type Field = fn(&Figures) -> f64;
    let rows: [(String, Field); 7] = [
        (
            format!("fan-out, {subscribers} subscribers: delivered events/s"),
            |f| f.fanout_delivered,
        ),
        ("fan-out, 100 events/s: latency p50 ms".into(), |f| f.p50),
        ("fan-out, 100 events/s: latency p99 ms".into(), |f| f.p99),
        (
            "one hub: one task, batches of 64: published events/s".into(),
            |f| f.hub10_published,
        ),
        (
            "one hub: 8 tasks, `publish`: published events/s".into(),
            |f| f.hub10_published_8,
        ),
        (
            format!(
                "{} topics: 8 tasks, batches of 64: published events/s",
                sizes.topics
            ),
            |f| f.topics_published,
        ),
        (
            format!(
                "{} topics: Redis CPU per event (µs, every node)",
                sizes.topics
            ),
            |f| f.topics_cpu_us,
        ),
    ];
    for (name, field) in rows {
        let (one, cluster) = (median(runs, field), median(cluster_runs, field));
        println!(
            "| {name} | {one:.2} | {cluster:.2} | {:.2}x |",
            cluster / one
        );
    }
    println!("\nOn the cluster, waiting for a replica (`wait_for_replicas(1, 500 ms)`):\n");
    println!("| scenario | without | with WAIT | with / without |");
    println!("|---|---|---|---|");
    let rows: [(&str, Field, Field); 3] = [
        (
            "one hub: 8 tasks, `publish`: published events/s",
            |f| f.hub10_published_8,
            |f| f.wait_published_8,
        ),
        (
            "fan-out, 100 events/s: latency p50 ms",
            |f| f.p50,
            |f| f.wait_p50,
        ),
        (
            "fan-out, 100 events/s: latency p99 ms",
            |f| f.p99,
            |f| f.wait_p99,
        ),
    ];
    for (name, without, with) in rows {
        let (without, with) = (median(cluster_runs, without), median(cluster_runs, with));
        println!(
            "| {name} | {without:.2} | {with:.2} | {:.2}x |",
            with / without
        );
    }
    for (run, figures) in cluster_runs.iter().enumerate() {
        println!(
            "- cluster run {}: topics {} delivered of {} expected",
            run + 1,
            figures.topics_delivered,
            figures.topics_expected
        );
    }
}

/// On the cluster, with `wait_for_replicas(1, 500 ms)`: 8 publishing tasks, and the latency at
/// 100 events/s.
async fn waiting(
    path: &std::path::Path,
    cluster: &RedisCluster,
    sizes: &Sizes,
    figures: &mut Figures,
) {
    let target = Target::Cluster(cluster);
    let window = sizes.seconds + WARM_UP.as_secs_f64();
    let (a, b) = instances(path, target, 0, "8", "1", true);
    let xadd0 = target.calls("xadd");
    deliver(&[&a, &b], 5, sizes.seconds, false).await;
    figures.wait_published_8 = (target.calls("xadd") - xadd0) as f64 / window;
    drop((a, b));
    target.delete(&["tidings:bench".to_owned()]);
    let (a, b) = instances(path, target, 100, "1", "1", true);
    let (_, latencies) = deliver(
        &[&a, &b],
        sizes.subscribers_per_instance,
        sizes.seconds,
        true,
    )
    .await;
    figures.wait_p50 = quantile_ms(&latencies, 0.5);
    figures.wait_p99 = quantile_ms(&latencies, 0.99);
    drop((a, b));
    target.delete(&["tidings:bench".to_owned()]);
}

fn report(runs: &[Figures], sizes: &Sizes) {
    let median = |field: fn(&Figures) -> f64| median(runs, field);
    let subscribers = 2 * sizes.subscribers_per_instance;
    println!(
        "\n{} runs (median); {} s windows\n",
        sizes.runs, sizes.seconds
    );
    println!(
        "Fan-out, {subscribers} subscribers of one hub (memory: 1 instance; Redis: 2 x {}):\n",
        sizes.subscribers_per_instance
    );
    println!("| scenario | memory storage | Redis | Redis / memory |");
    println!("|---|---|---|---|");
    type Field = fn(&Figures) -> f64;
    let pairs: [(&str, Field, Field); 3] = [
        (
            "publisher flat out: delivered events/s",
            |f| f.memory_delivered,
            |f| f.fanout_delivered,
        ),
        (
            "100 events/s: publish-to-delivery latency p50 ms",
            |f| f.memory_p50,
            |f| f.p50,
        ),
        (
            "100 events/s: publish-to-delivery latency p99 ms",
            |f| f.memory_p99,
            |f| f.p99,
        ),
    ];
    for (name, memory, shared) in pairs {
        let (m, r) = (median(memory), median(shared));
        println!("| {name} | {m:.2} | {r:.2} | {:.2}x |", r / m);
    }
    println!(
        "| publisher flat out: published events/s | - | {:.0} | - |",
        median(|f| f.fanout_published)
    );
    let (m, r) = (
        median(|f| f.memory_delivered),
        median(|f| f.one_instance_delivered),
    );
    println!(
        "| publisher flat out, Redis on 1 instance of {subscribers}: delivered events/s | {m:.2} | {r:.2} | {:.2}x |",
        r / m
    );
    println!("\nPublishing, and Redis itself:\n");
    println!("| scenario | events/s | Redis CPU per event |");
    println!("|---|---|---|");
    println!(
        "| one hub, 10 subscribers: one task, `publish_all` batches of 64 | {:.0} | {:.1} µs |",
        median(|f| f.hub10_published),
        median(|f| f.hub10_cpu_us)
    );
    println!(
        "| one hub, 10 subscribers: 8 tasks, `publish` (one event per call) | {:.0} | - |",
        median(|f| f.hub10_published_8)
    );
    println!(
        "| {} topics, a subscriber each on 2 instances: 8 tasks, batches of 64 | {:.0} | {:.1} µs |",
        sizes.topics,
        median(|f| f.topics_published),
        median(|f| f.topics_cpu_us)
    );
    println!(
        "| `redis-benchmark` XADD (120-byte field), 1 client | {:.0} | - |",
        median(|f| f.benchmark_1)
    );
    println!(
        "| `redis-benchmark` XADD, 8 clients | {:.0} | - |",
        median(|f| f.benchmark_8)
    );
    println!(
        "| `redis-benchmark` XADD, 1 client pipelining 16 | {:.0} | - |",
        median(|f| f.benchmark_pipelined)
    );
    println!("\nTopics: every event counted at both subscribers after the publisher stopped:\n");
    for (run, figures) in runs.iter().enumerate() {
        println!(
            "- run {}: {} delivered of {} expected ({} missing, {} extra)",
            run + 1,
            figures.topics_delivered,
            figures.topics_expected,
            (figures.topics_expected - figures.topics_delivered).max(0.0),
            (figures.topics_delivered - figures.topics_expected).max(0.0),
        );
    }
    println!(
        "- subscribing (request to response head), {} streams per instance opened 256 at a time: to a topic nobody used yet p50 {:.2} ms, p99 {:.2} ms; to the same topics again p50 {:.2} ms, p99 {:.2} ms",
        sizes.topics,
        median(|f| f.subscribe_p50),
        median(|f| f.subscribe_p99),
        median(|f| f.again_p50),
        median(|f| f.again_p99)
    );
}

async fn on_memory(path: &std::path::Path, sizes: &Sizes, figures: &mut Figures) {
    let subscribers = 2 * sizes.subscribers_per_instance;
    let flat_out = Server::start(path, 0);
    figures.memory_delivered = deliver(&[&flat_out], subscribers, sizes.seconds, false)
        .await
        .0;
    drop(flat_out);
    let paced = Server::start(path, 100);
    let (_, latencies) = deliver(&[&paced], subscribers, sizes.seconds, true).await;
    figures.memory_p50 = quantile_ms(&latencies, 0.5);
    figures.memory_p99 = quantile_ms(&latencies, 0.99);
}

/// Two instances on `target`: the first publishes (`rate`, `publishers` tasks, `batch` events
/// per call; waiting for a replica if `durable`), the second only serves.
fn instances(
    path: &std::path::Path,
    target: Target,
    rate: u64,
    publishers: &str,
    batch: &str,
    durable: bool,
) -> (Server, Server) {
    let (variable, value) = target.env();
    let wait = if durable { "1" } else { "0" };
    let publisher = Server::start_with(
        path,
        rate,
        &[
            (variable, &value),
            ("PUBLISHERS", publishers),
            ("BATCH", batch),
            ("WAIT_REPLICAS", wait),
        ],
    );
    let reader = Server::start_with(path, 0, &[(variable, &value), ("PUBLISH", "off")]);
    (publisher, reader)
}

async fn on_redis(path: &std::path::Path, redis: Target<'_>, sizes: &Sizes, figures: &mut Figures) {
    let per_instance = sizes.subscribers_per_instance;
    // Counted over the whole window, warm-up included, as Redis saw it.
    let window = sizes.seconds + WARM_UP.as_secs_f64();

    redis.delete(&["tidings:bench".to_owned()]);
    let (a, b) = instances(path, redis, 0, "1", "64", false);
    let xadd0 = redis.calls("xadd");
    figures.fanout_delivered = deliver(&[&a, &b], per_instance, sizes.seconds, false)
        .await
        .0;
    figures.fanout_published = (redis.calls("xadd") - xadd0) as f64 / window;
    drop((a, b));

    // The same on one instance: what the storage costs, without a second process.
    redis.delete(&["tidings:bench".to_owned()]);
    let (variable, value) = redis.env();
    let alone = Server::start_with(path, 0, &[(variable, &value), ("BATCH", "64")]);
    figures.one_instance_delivered = deliver(&[&alone], 2 * per_instance, sizes.seconds, false)
        .await
        .0;
    drop(alone);

    redis.delete(&["tidings:bench".to_owned()]);
    let (a, b) = instances(path, redis, 100, "1", "1", false);
    let (_, latencies) = deliver(&[&a, &b], per_instance, sizes.seconds, true).await;
    figures.p50 = quantile_ms(&latencies, 0.5);
    figures.p99 = quantile_ms(&latencies, 0.99);
    drop((a, b));

    redis.delete(&["tidings:bench".to_owned()]);
    let (a, b) = instances(path, redis, 0, "1", "64", false);
    let (xadd0, cpu0) = (redis.calls("xadd"), redis.cpu_seconds());
    deliver(&[&a, &b], 5, sizes.seconds, false).await;
    let published = (redis.calls("xadd") - xadd0) as f64;
    figures.hub10_published = published / window;
    figures.hub10_cpu_us = (redis.cpu_seconds() - cpu0) * 1e6 / published.max(1.0);
    drop((a, b));

    redis.delete(&["tidings:bench".to_owned()]);
    let (a, b) = instances(path, redis, 0, "8", "1", false);
    let xadd0 = redis.calls("xadd");
    deliver(&[&a, &b], 5, sizes.seconds, false).await;
    figures.hub10_published_8 = (redis.calls("xadd") - xadd0) as f64 / window;
    drop((a, b));

    topics(path, redis, sizes, figures).await;
}

/// The topics scenario: two serving instances with a subscriber per topic each, a third
/// instance publishing flat out; then the publisher stops and every event is counted.
async fn topics(path: &std::path::Path, redis: Target<'_>, sizes: &Sizes, figures: &mut Figures) {
    let (variable, url) = redis.env();
    let serving = || Server::start_with(path, 0, &[(variable, &url), ("PUBLISH", "off")]);
    let (a, b) = (serving(), serving());
    let paths: Vec<String> = (0..sizes.topics).map(|t| format!("/topics/{t}")).collect();
    let events = Rc::new(Cell::new(0));
    let heads = Rc::new(RefCell::new(Vec::new()));
    let mut streams = Vec::new();
    for server in [&a, &b] {
        streams.extend(
            open_paths(
                server.addr,
                &paths,
                events.clone(),
                None,
                Some(heads.clone()),
            )
            .await,
        );
    }
    let quantiles = |heads: &Rc<RefCell<Vec<u64>>>| {
        let mut heads = heads.borrow().clone();
        heads.sort_unstable();
        (quantile_ms(&heads, 0.5), quantile_ms(&heads, 0.99))
    };
    (figures.subscribe_p50, figures.subscribe_p99) = quantiles(&heads);
    // The same topics again, now followed: what a new topic adds is the difference.
    let again = Rc::new(RefCell::new(Vec::new()));
    let mut second = Vec::new();
    for server in [&a, &b] {
        second.extend(
            open_paths(
                server.addr,
                &paths,
                Rc::default(),
                None,
                Some(again.clone()),
            )
            .await,
        );
    }
    (figures.again_p50, figures.again_p99) = quantiles(&again);
    drop(second);

    let xadd_start = redis.calls("xadd");
    let topics = sizes.topics.to_string();
    let publisher = Server::start_with(
        path,
        0,
        &[
            (variable, &url),
            ("TOPICS", &topics),
            ("PUBLISHERS", "8"),
            ("BATCH", "64"),
        ],
    );
    tokio::time::sleep(WARM_UP).await;
    let (xadd0, cpu0, at) = (redis.calls("xadd"), redis.cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(sizes.seconds)).await;
    let published = (redis.calls("xadd") - xadd0) as f64;
    figures.topics_published = published / at.elapsed().as_secs_f64();
    figures.topics_cpu_us = (redis.cpu_seconds() - cpu0) * 1e6 / published.max(1.0);
    drop(publisher);
    // Every event appended reaches both subscribers of its topic: wait until nothing more
    // comes, then count.
    let mut last = events.get();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if events.get() == last || Instant::now() > deadline {
            break;
        }
        last = events.get();
    }
    figures.topics_delivered = events.get() as f64;
    figures.topics_expected = 2.0 * (redis.calls("xadd") - xadd_start) as f64;
    drop(streams);
    drop((a, b));
    let keys: Vec<String> = (0..sizes.topics)
        .map(|t| format!("tidings:topics:{t}"))
        .collect();
    redis.delete(&keys);
}

/// Redis's own tool on the same Redis: `XADD` of a 120-byte field, trimmed as tidings trims.
fn redis_benchmark(redis: &RedisServer, quick: bool, figures: &mut Figures) {
    let port = redis
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let requests = if quick { "5000" } else { "100000" };
    let field = "x".repeat(120);
    let run = |clients: &str, pipeline: &str| -> f64 {
        let output = Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &port, "-q", "-n", requests])
            .args(["-c", clients, "-P", pipeline])
            .args([
                "XADD",
                "bench:redis-benchmark",
                "MAXLEN",
                "~",
                "1000",
                "*",
                "f",
                &field,
            ])
            .output()
            .expect("redis-benchmark runs (apt-get install redis-tools)");
        let text = String::from_utf8_lossy(&output.stdout);
        // "...: 16100.00 requests per second, p50=..." (the last report on the line).
        text.rsplit(": ")
            .find_map(|part| {
                part.split(" requests per second")
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(f64::NAN)
    };
    figures.benchmark_1 = run("1", "1");
    figures.benchmark_8 = run("8", "1");
    figures.benchmark_pipelined = run("1", "16");
    redis.command(&["DEL", "bench:redis-benchmark"]);
}

/// Opens `per_server` streams to each server's `/broadcast`, waits out the warm-up, then
/// counts over `seconds`: delivered events/s, and the sorted latencies in µs when asked.
async fn deliver(
    servers: &[&Server],
    per_server: usize,
    seconds: f64,
    timed: bool,
) -> (f64, Vec<u64>) {
    let events = Rc::new(Cell::new(0));
    let latencies = timed.then(|| Rc::new(RefCell::new(Vec::new())));
    let mut streams = Vec::new();
    for server in servers {
        streams.extend(
            open_streams(
                server.addr,
                "/broadcast",
                per_server,
                events.clone(),
                latencies.clone(),
            )
            .await,
        );
    }
    tokio::time::sleep(WARM_UP).await;
    if let Some(latencies) = &latencies {
        latencies.borrow_mut().clear();
    }
    let (count0, at) = (events.get(), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let rate = (events.get() - count0) as f64 / at.elapsed().as_secs_f64();
    let mut sorted = latencies.map(|l| l.borrow().clone()).unwrap_or_default();
    sorted.sort_unstable();
    drop(streams);
    (rate, sorted)
}
