//! The benchmark runner: builds the four servers, runs every scenario against each with a
//! fresh server process, and prints a table of medians with ratios to axum.
//!
//! ```text
//! cargo run --release -p tidings-bench --bin bench            # full sizes, 3 runs
//! cargo run -p tidings-bench --bin bench -- --quick           # tiny sizes, checks it works
//! ```
//!
//! Then the compression table: identity, zstd, gzip and brotli streams of the tidings server
//! side by side (`--only compression` runs it alone).
//!
//! The load generator is this process: raw HTTP/1.1 over loopback, every connection on one
//! thread, counting events and measuring delivery latency from the `ts` in each payload. The
//! server's memory (RSS) and CPU time come from `/proc`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tidings_bench::load::{
    Counters, Server, build_servers, open_encoded, open_streams, quantile_ms, raise_fd_limit,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy)]
struct Sizes {
    idle_connections: usize,
    broadcast_subscribers: usize,
    latency_subscribers: usize,
    firehose_connections: usize,
    /// Idle HTTP/2 streams, over 10 connections.
    h2_streams: usize,
    seconds: f64,
    runs: usize,
    /// Checks that the runner works: the compression table compares identity and gzip only.
    quick: bool,
}

const FULL: Sizes = Sizes {
    idle_connections: 15_000,
    broadcast_subscribers: 1000,
    latency_subscribers: 1000,
    firehose_connections: 50,
    h2_streams: 1000,
    seconds: 5.0,
    runs: 3,
    quick: false,
};

const QUICK: Sizes = Sizes {
    idle_connections: 200,
    broadcast_subscribers: 20,
    latency_subscribers: 20,
    firehose_connections: 4,
    h2_streams: 40,
    seconds: 1.0,
    runs: 1,
    quick: true,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut sizes = if args.iter().any(|a| a == "--quick") {
        QUICK
    } else {
        FULL
    };
    if let Some(runs) = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
    {
        sizes.runs = runs.parse().expect("--runs takes a number");
    }
    let value = |flag: &str| {
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1).cloned()
    };
    // `--servers tidings,axum` and `--only idle` narrow a run down while working on one number.
    let servers: Vec<String> = value("--servers").map_or_else(
        || {
            vec![
                "tidings".into(),
                "axum".into(),
                "hyper".into(),
                "raw".into(),
            ]
        },
        |list| list.split(',').map(str::to_owned).collect(),
    );
    let only = value("--only").unwrap_or_default();
    raise_fd_limit();
    let dir = build_servers();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows: Vec<(String, Vec<(String, f64)>)> = Vec::new();
    let mut record = |scenario: &str, server: &str, value: f64| match rows
        .iter_mut()
        .find(|(s, _)| s == scenario)
    {
        Some((_, values)) => values.push((server.to_owned(), value)),
        None => rows.push((scenario.to_owned(), vec![(server.to_owned(), value)])),
    };
    let wanted = |scenario: &str| only.is_empty() || scenario.starts_with(only.as_str());
    let local = tokio::task::LocalSet::new();
    for server in &servers {
        let server: &str = server;
        let path = dir.join(format!("{server}-server"));
        let mut runs: Vec<[f64; 8]> = Vec::new();
        for _ in 0..sizes.runs {
            let mut run = [f64::NAN; 8];
            // The floors serve only what they measure: hyper `/idle` and `/broadcast`, raw
            // sockets the latency of `/broadcast`.
            let full = server != "hyper" && server != "raw";
            if server != "raw" && wanted("idle") {
                run[0] = runtime.block_on(local.run_until(idle(&path, sizes.idle_connections)));
            }
            if full && wanted("h2") {
                run[6] = runtime.block_on(local.run_until(idle_h2(&path, sizes.h2_streams)));
            }
            if server != "raw" && wanted("broadcast") {
                (run[1], run[2]) = runtime.block_on(local.run_until(broadcast(&path, sizes)));
            }
            if wanted("latency") {
                let timed_writes = server == "raw";
                (run[3], run[4], run[7]) =
                    runtime.block_on(local.run_until(latency(&path, sizes, timed_writes)));
            }
            if full && wanted("firehose") {
                run[5] = runtime.block_on(local.run_until(firehose(&path, sizes)));
            }
            runs.push(run);
        }
        let names = [
            "idle: server KiB per connection",
            "broadcast: delivered events/s",
            "broadcast: events per server CPU-second",
            "latency: p50 ms",
            "latency: p99 ms",
            "firehose: events/s",
            "h2 idle: server KiB per additional stream",
            "latency: p99 ms of the server's own writes",
        ];
        for (i, name) in names.iter().enumerate() {
            let mut values: Vec<f64> = runs.iter().map(|r| r[i]).filter(|v| !v.is_nan()).collect();
            if values.is_empty() {
                continue;
            }
            values.sort_by(|a, b| a.total_cmp(b));
            record(name, server, values[values.len() / 2]);
        }
        eprintln!("{server}: done");
    }
    print_table(&rows, sizes);
    if servers.iter().any(|s| s == "tidings") && (only.is_empty() || only == "compression") {
        let path = dir.join("tidings-server");
        let table = runtime.block_on(local.run_until(compression(&path, sizes)));
        print_compression(&table, sizes);
    }
}

/// Rows of the compression table.
const ROWS: usize = 10;

/// The encodings compared, identity first.
const ENCODINGS: [Option<&str>; 4] = [None, Some("gzip"), Some("zstd"), Some("br")];

const COMPRESSION_ROWS: [&str; ROWS] = [
    "tick: bytes on the wire per event",
    "dashboard sample: bytes on the wire per event",
    "latency at 100 events/s: p50 ms",
    "latency at 100 events/s: p99 ms",
    "latency at 100 events/s: server CPU µs per delivered event",
    "latency at 100 events/s, a quarter of the subscribers: p50 ms",
    "latency at 100 events/s, a quarter of the subscribers: p99 ms",
    "broadcast: delivered events/s",
    "broadcast: events per server CPU-second",
    "broadcast: server CPU µs per delivered event",
];

/// Compressed streams next to identity, on the tidings server with compression on
/// (`COMPRESSION=1`): medians of each row (in [`COMPRESSION_ROWS`] order) per encoding.
async fn compression(path: &std::path::Path, sizes: Sizes) -> Vec<(&'static str, [f64; ROWS])> {
    // `BENCH_ENCODINGS=identity,gzip` narrows the table down while working on one encoding.
    let narrowed = std::env::var("BENCH_ENCODINGS")
        .ok()
        .or_else(|| sizes.quick.then(|| "identity,gzip".to_owned()));
    let encodings: Vec<Option<&'static str>> = ENCODINGS
        .into_iter()
        .filter(|encoding| {
            let name = encoding.unwrap_or("identity");
            narrowed
                .as_ref()
                .is_none_or(|list| list.split(',').any(|e| e == name))
        })
        .collect();
    // Each run measures every encoding in turn, so that the machine's drift over the minutes
    // of a run falls on all of them alike, not on whichever ran last.
    let mut runs: Vec<Vec<[f64; ROWS]>> = vec![Vec::new(); encodings.len()];
    for run in 0..sizes.runs {
        for (encoding, runs) in encodings.iter().zip(&mut runs) {
            let subscribers = sizes.latency_subscribers;
            // Three times the usual length: a p99 of 5 s at 100 events/s rests on the slowest
            // handful of sweeps, and moved by a third between runs on this shared machine.
            let (tick_bytes, p50, p99, cpu_paced) =
                compressed_latency(path, subscribers, 3.0 * sizes.seconds, *encoding).await;
            let (_, quarter_p50, quarter_p99, _) =
                compressed_latency(path, subscribers / 4, sizes.seconds, *encoding).await;
            let sample_bytes = sample_bytes(path, *encoding).await;
            let (rate, per_cpu) = compressed_broadcast(path, sizes, *encoding).await;
            runs.push([
                tick_bytes,
                sample_bytes,
                p50,
                p99,
                cpu_paced,
                quarter_p50,
                quarter_p99,
                rate,
                per_cpu,
                1e6 / per_cpu,
            ]);
            eprintln!(
                "compression {} run {}: p99 {p99:.2} ms",
                encoding.unwrap_or("identity"),
                run + 1
            );
        }
    }
    let mut table = Vec::new();
    for (encoding, runs) in encodings.iter().zip(runs) {
        let mut medians = [f64::NAN; ROWS];
        for (i, median) in medians.iter_mut().enumerate() {
            let mut values: Vec<f64> = runs.iter().map(|r| r[i]).collect();
            values.sort_by(|a, b| a.total_cmp(b));
            *median = values[values.len() / 2];
        }
        table.push((encoding.unwrap_or("identity"), medians));
    }
    table
}

const COMPRESSED: &[(&str, &str)] = &[("COMPRESSION", "1")];

/// Streams of the latency scenario whose events the load generator decodes and times; the
/// others are read and not decoded, so that the generator's decoding (which real clients do
/// each on their own machine) does not take the 2 cores the server is measured on.
const TIMED_STREAMS: usize = 50;

/// Latency at 100 events/s to `count` subscribers, with `encoding`: wire bytes per tick,
/// p50 and p99 ms (of [`TIMED_STREAMS`] of them, picked evenly), and server CPU µs per
/// delivered event.
async fn compressed_latency(
    path: &std::path::Path,
    count: usize,
    seconds: f64,
    encoding: Option<&'static str>,
) -> (f64, f64, f64, f64) {
    let server = Server::start_with(path, 100, COMPRESSED);
    let timed = Counters {
        latencies: Some(Rc::default()),
        ..Counters::default()
    };
    let untimed = Counters {
        decode: false,
        ..Counters::default()
    };
    let timed_count = TIMED_STREAMS.min(count);
    let mut streams = Vec::new();
    for i in 0..timed_count {
        // One timed stream, then its share of the others.
        let share = count * (i + 1) / timed_count - count * i / timed_count;
        streams.extend(open_encoded(server.addr, "/broadcast", 1, timed.clone(), encoding).await);
        let others = untimed.clone();
        streams.extend(open_encoded(server.addr, "/broadcast", share - 1, others, encoding).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let latencies = timed.latencies.as_ref().unwrap();
    latencies.borrow_mut().clear();
    let (events0, bytes0, cpu0) = (
        timed.events.get(),
        timed.wire_bytes.get(),
        server.cpu_seconds(),
    );
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let events = (timed.events.get() - events0) as f64;
    let bytes = (timed.wire_bytes.get() - bytes0) as f64;
    let cpu = server.cpu_seconds() - cpu0;
    let mut all = latencies.borrow().clone();
    all.sort_unstable();
    // Every stream got as many events as the timed ones.
    let delivered = events * count as f64 / timed_count as f64;
    (
        bytes / events,
        quantile_ms(&all, 0.5),
        quantile_ms(&all, 0.99),
        cpu * 1e6 / delivered,
    )
}

/// Wire bytes per sample of one stream of 100 dashboard samples, 20 ms apart.
async fn sample_bytes(path: &std::path::Path, encoding: Option<&'static str>) -> f64 {
    let server = Server::start_with(path, 0, COMPRESSED);
    let counters = Counters {
        event: b"event: sample",
        ..Counters::default()
    };
    let stream = open_encoded(
        server.addr,
        "/samples?n=100&every_ms=20",
        1,
        counters.clone(),
        encoding,
    )
    .await;
    // The stream ends after its samples (the connection stays open for another request).
    let deadline = Instant::now() + Duration::from_secs(30);
    while counters.events.get() < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Its end (`tidings.end`, the compressor's trailer) arrives right after.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
    assert_eq!(counters.events.get(), 100, "every sample arrived");
    counters.wire_bytes.get() as f64 / 100.0
}

/// Broadcast flat out to the broadcast subscribers, with `encoding`: delivered events/s and
/// events per server CPU-second.
async fn compressed_broadcast(
    path: &std::path::Path,
    sizes: Sizes,
    encoding: Option<&'static str>,
) -> (f64, f64) {
    let server = Server::start_with(path, 0, COMPRESSED);
    let counters = Counters::default();
    let count = sizes.broadcast_subscribers;
    let _streams = open_encoded(server.addr, "/broadcast", count, counters.clone(), encoding).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (count0, cpu0, at) = (counters.events.get(), server.cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(sizes.seconds)).await;
    let count = (counters.events.get() - count0) as f64;
    let cpu = server.cpu_seconds() - cpu0;
    (count / at.elapsed().as_secs_f64(), count / cpu.max(0.01))
}

fn print_compression(table: &[(&str, [f64; ROWS])], sizes: Sizes) {
    println!(
        "\nCompressed streams (tidings, COMPRESSION=1): {} runs (median), {} latency / {} broadcast subscribers\n",
        sizes.runs, sizes.latency_subscribers, sizes.broadcast_subscribers
    );
    let Some(((base_name, base), others)) = table.split_first() else {
        return;
    };
    // Each encoding's column, then each one's ratio to the first (identity, unless narrowed).
    let header: Vec<String> = table
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(
            others
                .iter()
                .map(|(name, _)| format!("{name} / {base_name}")),
        )
        .collect();
    println!("| scenario | {} |", header.join(" | "));
    println!("|---{}|", "|---".repeat(header.len()));
    for (row, scenario) in COMPRESSION_ROWS.iter().enumerate() {
        let cells: Vec<String> = table
            .iter()
            .map(|(_, t)| format!("{:.2}", t[row]))
            .chain(
                others
                    .iter()
                    .map(|(_, t)| format!("{:.2}x", t[row] / base[row])),
            )
            .collect();
        println!("| {scenario} | {} |", cells.join(" | "));
    }
}

fn print_table(rows: &[(String, Vec<(String, f64)>)], sizes: Sizes) {
    println!(
        "\n{} runs (median), {} idle connections, {} broadcast / {} latency subscribers, {} firehose connections, {} s windows\n",
        sizes.runs,
        sizes.idle_connections,
        sizes.broadcast_subscribers,
        sizes.latency_subscribers,
        sizes.firehose_connections,
        sizes.seconds
    );
    println!("| scenario | tidings | axum | hyper floor | raw socket floor | tidings / axum |");
    println!("|---|---|---|---|---|---|");
    for (scenario, values) in rows {
        let get = |server: &str| values.iter().find(|(s, _)| s == server).map(|(_, v)| *v);
        let cell = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2}"));
        let ratio = match (get("tidings"), get("axum")) {
            (Some(t), Some(a)) if a != 0.0 => format!("{:.2}x", t / a),
            _ => "-".to_owned(),
        };
        println!(
            "| {scenario} | {} | {} | {} | {} | {ratio} |",
            cell(get("tidings")),
            cell(get("axum")),
            cell(get("hyper")),
            cell(get("raw"))
        );
    }
}

async fn idle(path: &std::path::Path, connections: usize) -> f64 {
    let server = Server::start(path, 0);
    // Warm up the server's allocator and runtime with a few streams first.
    let warm = open_streams(server.addr, "/idle", 8, Rc::default(), None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib();
    let streams = open_streams(server.addr, "/idle", connections, Rc::default(), None).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kib();
    drop((warm, streams));
    (after - before) / connections as f64
}

/// Opens `streams` to `route` on a fresh server publishing at `rate`, and counts the events
/// delivered over the window: events per second, and per server CPU-second.
async fn throughput(
    path: &std::path::Path,
    rate: u64,
    route: &str,
    streams: usize,
    seconds: f64,
) -> (f64, f64) {
    let server = Server::start(path, rate);
    let events = Rc::new(Cell::new(0));
    let _streams = open_streams(server.addr, route, streams, events.clone(), None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (count0, cpu0, at) = (events.get(), server.cpu_seconds(), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let count = (events.get() - count0) as f64;
    let cpu = server.cpu_seconds() - cpu0;
    (count / at.elapsed().as_secs_f64(), count / cpu.max(0.01))
}

async fn broadcast(path: &std::path::Path, sizes: Sizes) -> (f64, f64) {
    throughput(
        path,
        0,
        "/broadcast",
        sizes.broadcast_subscribers,
        sizes.seconds,
    )
    .await
}

/// Delivery latency p50 and p99 at 100 events/s, in milliseconds; with `timed_writes` (the raw
/// floor), also the p99 of the server's own timing of its writes.
async fn latency(path: &std::path::Path, sizes: Sizes, timed_writes: bool) -> (f64, f64, f64) {
    let server = Server::start(path, 100);
    let latencies = Rc::new(RefCell::new(Vec::new()));
    let _streams = open_streams(
        server.addr,
        "/broadcast",
        sizes.latency_subscribers,
        Rc::default(),
        Some(latencies.clone()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    latencies.borrow_mut().clear();
    if timed_writes {
        writes_report(server.addr).await;
    }
    tokio::time::sleep(Duration::from_secs_f64(sizes.seconds)).await;
    let written_p99 = match timed_writes {
        true => writes_report(server.addr).await.1 as f64 / 1000.0,
        false => f64::NAN,
    };
    let mut all = latencies.borrow().clone();
    all.sort_unstable();
    (quantile_ms(&all, 0.5), quantile_ms(&all, 0.99), written_p99)
}

/// The raw floor's `GET /writes`: p50 and p99 in microseconds of its writes since the last ask.
async fn writes_report(addr: std::net::SocketAddr) -> (u64, u64) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /writes HTTP/1.1\r\nhost: bench\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let mut numbers = body.split(' ').map(|n| n.trim().parse().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

async fn firehose(path: &std::path::Path, sizes: Sizes) -> f64 {
    throughput(
        path,
        0,
        "/firehose",
        sizes.firehose_connections,
        sizes.seconds,
    )
    .await
    .0
}

/// Idle streams multiplexed over 10 HTTP/2 (h2c) connections, as a browser opens them to one
/// origin: the server memory each additional stream costs.
async fn idle_h2(path: &std::path::Path, streams: usize) -> f64 {
    use http_body_util::Empty;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let server = Server::start(path, 0);
    let mut connections = Vec::new();
    for _ in 0..10 {
        let stream = TcpStream::connect(server.addr).await.expect("connect");
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("h2c handshake");
        tokio::spawn(connection);
        connections.push(sender);
    }
    let open = |count: usize,
                connections: &mut Vec<
        hyper::client::conn::http2::SendRequest<Empty<bytes::Bytes>>,
    >| {
        let addr = server.addr;
        let spread = connections.len();
        let requests: Vec<_> = (0..count)
            .map(|i| {
                let request = http::Request::get(format!("http://{addr}/idle"))
                    .body(Empty::<bytes::Bytes>::new())
                    .unwrap();
                connections[i % spread].send_request(request)
            })
            .collect();
        async move {
            let mut held = Vec::new();
            for request in requests {
                held.push(request.await.expect("an h2 response"));
            }
            held
        }
    };
    // Warm up with a few streams, then measure what the rest add.
    let warm = open(20, &mut connections).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib();
    let held = open(streams, &mut connections).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kib();
    drop((warm, held, connections));
    (after - before) / streams as f64
}
