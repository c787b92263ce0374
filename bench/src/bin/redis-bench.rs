//! The Redis benchmark: a hub on Redis Streams shared by two server instances with 500
//! subscribers each, next to the memory storage (one instance, 1,000 subscribers) in the same
//! run. Starts its own `redis-server` on a free loopback port.
//!
//! ```text
//! cargo run --release -p tidings-bench --bin redis-bench          # full sizes, 3 runs
//! cargo run -p tidings-bench --bin redis-bench -- --quick         # tiny sizes, checks it works
//! ```
//!
//! Per run and storage: delivered events/s with the publisher flat out (one task publishing
//! in a loop), and publish-to-delivery latency p50/p99 at 100 events/s; for Redis also its
//! CPU time and commands per published event (`INFO cpu`, `INFO commandstats`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tidings_bench::load::{Server, build_servers, open_streams, quantile_ms, raise_fd_limit};
use tidings_tests::redis_server::RedisServer;

struct Sizes {
    subscribers_per_instance: usize,
    seconds: f64,
    runs: usize,
}

/// One measurement: delivered events/s, published events/s, and latency p50/p99 in ms.
#[derive(Default, Clone, Copy)]
struct Figures {
    delivered: f64,
    published: f64,
    /// With eight publishing tasks (Redis only: its appends overlap on one connection).
    delivered_8: f64,
    published_8: f64,
    p50: f64,
    p99: f64,
    redis_cpu_us_per_event: f64,
    redis_commands_per_event: f64,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            subscribers_per_instance: 20,
            seconds: 1.0,
            runs: 1,
        }
    } else {
        Sizes {
            subscribers_per_instance: 500,
            seconds: 5.0,
            runs: 3,
        }
    };
    raise_fd_limit();
    let dir = build_servers();
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let (mut memory, mut shared) = (Vec::new(), Vec::new());
    for run in 0..sizes.runs {
        let memory_server = dir.join("tidings-server");
        let redis_server = dir.join("tidings-redis-server");
        memory.push(runtime.block_on(local.run_until(on_memory(&memory_server, &sizes))));
        shared.push(runtime.block_on(local.run_until(on_redis(&redis_server, &redis, &sizes))));
        eprintln!("run {} of {}: done", run + 1, sizes.runs);
    }
    let median = |runs: &[Figures], field: fn(&Figures) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(field).collect();
        values.sort_by(|a, b| a.total_cmp(b));
        values[values.len() / 2]
    };
    let subscribers = 2 * sizes.subscribers_per_instance;
    println!(
        "\n{} runs (median), {subscribers} subscribers: memory on 1 instance, Redis on 2 instances x {}, {} s windows\n",
        sizes.runs, sizes.subscribers_per_instance, sizes.seconds
    );
    println!("| scenario | memory storage | Redis Streams | Redis / memory |");
    println!("|---|---|---|---|");
    type Field = fn(&Figures) -> f64;
    let rows: [(&str, Field); 4] = [
        ("flat out, one publishing task: delivered events/s", |f| {
            f.delivered
        }),
        ("flat out, one publishing task: published events/s", |f| {
            f.published
        }),
        ("100 events/s: latency p50 ms", |f| f.p50),
        ("100 events/s: latency p99 ms", |f| f.p99),
    ];
    for (name, field) in rows {
        let (m, r) = (median(&memory, field), median(&shared, field));
        println!("| {name} | {m:.2} | {r:.2} | {:.2}x |", r / m);
    }
    println!(
        "| flat out, 8 publishing tasks: delivered events/s | - | {:.2} | - |",
        median(&shared, |f| f.delivered_8)
    );
    println!(
        "| flat out, 8 publishing tasks: published events/s | - | {:.2} | - |",
        median(&shared, |f| f.published_8)
    );
    println!(
        "| Redis CPU per published event | - | {:.1} µs | - |",
        median(&shared, |f| f.redis_cpu_us_per_event)
    );
    println!(
        "| Redis commands per published event | - | {:.2} | - |",
        median(&shared, |f| f.redis_commands_per_event)
    );
}

async fn on_memory(path: &std::path::Path, sizes: &Sizes) -> Figures {
    let subscribers = 2 * sizes.subscribers_per_instance;
    let flat_out = Server::start(path, 0);
    let (delivered, _) = deliver(&[&flat_out], subscribers, sizes.seconds, false).await;
    drop(flat_out);
    let paced = Server::start(path, 100);
    let (_, latencies) = deliver(&[&paced], subscribers, sizes.seconds, true).await;
    Figures {
        delivered,
        // The memory storage publishes as fast as its one task loops; each event reaches all.
        published: delivered / subscribers as f64,
        p50: quantile_ms(&latencies, 0.5),
        p99: quantile_ms(&latencies, 0.99),
        ..Figures::default()
    }
}

async fn on_redis(path: &std::path::Path, redis: &RedisServer, sizes: &Sizes) -> Figures {
    let url = redis.url();
    let instances = |rate: u64, publishers: &str| {
        let publisher = Server::start_with(
            path,
            rate,
            &[("REDIS_URL", &url), ("PUBLISHERS", publishers)],
        );
        let reader = Server::start_with(path, 0, &[("REDIS_URL", &url), ("PUBLISH", "off")]);
        (publisher, reader)
    };
    // Counted over the whole window, warm-up included, as Redis saw it.
    let window = sizes.seconds + WARM_UP.as_secs_f64();
    redis.command(&["DEL", "tidings:bench"]);
    let (a, b) = instances(0, "1");
    let (xadd0, calls0, cpu0) = (
        calls(redis, "xadd"),
        total_calls(redis),
        redis.cpu_seconds(),
    );
    let (delivered, _) = deliver(
        &[&a, &b],
        sizes.subscribers_per_instance,
        sizes.seconds,
        false,
    )
    .await;
    let published = (calls(redis, "xadd") - xadd0) as f64;
    let commands = (total_calls(redis) - calls0) as f64;
    let cpu = redis.cpu_seconds() - cpu0;
    drop((a, b));
    redis.command(&["DEL", "tidings:bench"]);
    let (a, b) = instances(0, "8");
    let xadd0 = calls(redis, "xadd");
    let (delivered_8, _) = deliver(
        &[&a, &b],
        sizes.subscribers_per_instance,
        sizes.seconds,
        false,
    )
    .await;
    let published_8 = (calls(redis, "xadd") - xadd0) as f64;
    drop((a, b));
    redis.command(&["DEL", "tidings:bench"]);
    let (a, b) = instances(100, "1");
    let (_, latencies) = deliver(
        &[&a, &b],
        sizes.subscribers_per_instance,
        sizes.seconds,
        true,
    )
    .await;
    drop((a, b));
    Figures {
        delivered,
        published: published / window,
        delivered_8,
        published_8: published_8 / window,
        p50: quantile_ms(&latencies, 0.5),
        p99: quantile_ms(&latencies, 0.99),
        redis_cpu_us_per_event: cpu * 1e6 / published.max(1.0),
        redis_commands_per_event: commands / published.max(1.0),
    }
}

const WARM_UP: Duration = Duration::from_millis(500);

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

fn calls(redis: &RedisServer, command: &str) -> u64 {
    redis.command_calls().get(command).copied().unwrap_or(0)
}

fn total_calls(redis: &RedisServer) -> u64 {
    let stats = redis.command_calls();
    // The benchmark's own INFO calls are not the hub's work.
    stats.values().sum::<u64>() - stats.get("info").copied().unwrap_or(0)
}
