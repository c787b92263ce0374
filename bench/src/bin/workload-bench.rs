//! The million-connection workload, scaled to one machine: Centrifugo's benchmark (a personal
//! topic per client, a group topic per 10 clients, steady publishing, a fifth of the clients
//! reconnecting each minute) on tidings, over Redis with two instances and on the memory
//! storage with one. Starts its own `redis-server`, the server instances and the load
//! processes, all on loopback.
//!
//! ```text
//! cargo run --release -p tidings-bench --bin workload-bench        # full size (about 4 minutes)
//! cargo run -p tidings-bench --bin workload-bench -- --quick        # tiny: checks it works (CI)
//! ```
//!
//! Options: `--clients N` (over Redis; the memory run takes half, one instance's worth),
//! `--seconds S` (the measured window), `--personal R` (events per personal topic per second),
//! `--group R` (per group topic per second), `--churn F` (the fraction of clients reconnecting
//! per minute), `--only redis|memory|jemalloc`, `--loaders K`.
//!
//! Runs: Redis with two instances; the memory storage on one instance (half the clients: one
//! process's descriptors); and Redis again with the servers on jemalloc (Debian's
//! `libjemalloc2`, preloaded; not in quick mode).
//!
//! Each client holds two streams, personal and group (see `tidings_bench::workload`). Every
//! event is checked: the run fails when one is lost, duplicated or out of order, or a stream
//! ends or a reconnect fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use tidings_bench::load::{Server, build_servers, cpu_seconds, raise_fd_limit};
use tidings_bench::workload::{
    self, GROUP_SIZE, LoadConfig, LoadReport, Published, merge, quantile_ms,
};
use tidings_tests::redis_server::RedisServer;

/// Debian's jemalloc (package `libjemalloc2`), preloaded into the servers of the last run.
const JEMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

/// What a run is asked to do.
#[derive(Clone)]
struct Plan {
    clients: u64,
    seconds: f64,
    warm_up: Duration,
    personal_rate: f64,
    group_rate: f64,
    churn_per_minute: f64,
    loaders: u64,
    only: Option<String>,
}

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|v| v.parse().ok())
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--load") {
        return load_process();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let plan = Plan {
        clients: arg("--clients").unwrap_or(if quick { 200 } else { 19_600 }),
        seconds: arg("--seconds").unwrap_or(if quick { 3.0 } else { 60.0 }),
        warm_up: Duration::from_secs(if quick { 1 } else { 5 }),
        personal_rate: arg("--personal").unwrap_or(0.5),
        group_rate: arg("--group").unwrap_or(2.0),
        // Quick runs reconnect faster, so that a few seconds see resumes.
        churn_per_minute: arg("--churn").unwrap_or(if quick { 3.0 } else { 0.2 }),
        // At most 10: each run's load processes have 10 source addresses of their own.
        loaders: arg("--loaders")
            .unwrap_or(if quick { 2 } else { 4 })
            .clamp(1, 10),
        only: arg("--only"),
    };
    raise_fd_limit();
    let dir = build_servers();
    let server = dir.join("tidings-workload-server");
    let mut results = Vec::new();
    let runs = |name: &str| plan.only.as_deref().is_none_or(|only| only == name);
    if runs("redis") {
        let redis = RedisServer::start();
        results.push(run(&server, Some(&redis), &plan, None, 10));
    }
    if runs("memory") {
        let half = Plan {
            clients: plan.clients / 2,
            ..plan.clone()
        };
        results.push(run(&server, None, &half, None, 30));
    }
    // The same servers with jemalloc (Debian's, preloaded): what the allocator changes.
    if runs("jemalloc") && !quick {
        let jemalloc = std::path::Path::new(JEMALLOC);
        assert!(
            jemalloc.exists(),
            "{JEMALLOC} is missing: apt-get install libjemalloc2 (or pass --only redis)"
        );
        let redis = RedisServer::start();
        results.push(run(&server, Some(&redis), &plan, Some(jemalloc), 50));
    }
    report(&results, &plan);
    let failed = results.iter().any(|r| !r.checked_clean());
    if failed {
        eprintln!("workload-bench: some events were not delivered exactly once (see above)");
        std::process::exit(1);
    }
}

/// A load process's side of the benchmark.
fn load_process() {
    let config: LoadConfig =
        serde_json::from_str(&std::env::var("LOAD").expect("LOAD")).expect("LOAD is JSON");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    runtime.block_on(local.run_until(workload::run(config)));
}

/// A run's figures.
struct Outcome {
    storage: &'static str,
    instances: usize,
    clients: u64,
    streams: u64,
    open_seconds: f64,
    kib_per_stream_open: f64,
    kib_per_stream_end: f64,
    seconds: f64,
    delivered: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    server_cores: f64,
    redis_cores: f64,
    load_cores: f64,
    published: f64,
    reconnects: u64,
    failed_publishes: u64,
    resume_p50: f64,
    resume_p99: f64,
    totals: LoadReport,
}

impl Outcome {
    fn checked_clean(&self) -> bool {
        let t = &self.totals;
        t.lost == 0
            && t.duplicated == 0
            && t.ended == 0
            && t.failed_reconnects == 0
            && t.resets == 0
            && self.failed_publishes == 0
    }
}

/// A load process, and its stdin and stdout.
struct Loader {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Loader {
    /// Starts `exe --load` (this program, as `build_servers` left it: the running one may
    /// have been replaced by that build).
    fn start(exe: &std::path::Path, config: &LoadConfig) -> Loader {
        let mut child = Command::new(exe)
            .arg("--load")
            .env("LOAD", serde_json::to_string(config).unwrap())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a load process");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Loader {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("the load process reads its commands");
    }

    fn answer(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "a load process ended early (see above)");
        line.trim().to_owned()
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `POST path` to `server` with no body; the JSON answer.
fn control(server: SocketAddr, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect(server).expect("connect to the server");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: {server}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
    body.to_owned()
}

/// One run; its load processes connect from 127.0.0.`first_source` and up (a run of its own
/// each: the ports of the last run's connections wait out TIME_WAIT).
fn run(
    server: &std::path::Path,
    redis: Option<&RedisServer>,
    plan: &Plan,
    preload: Option<&std::path::Path>,
    first_source: u64,
) -> Outcome {
    let storage = match (redis, preload) {
        (Some(_), None) => "Redis",
        (Some(_), Some(_)) => "Redis, jemalloc",
        (None, _) => "memory",
    };
    eprintln!("{storage}: starting, {} clients", plan.clients);
    let users = plan.clients.to_string();
    let groups = plan.clients.div_ceil(GROUP_SIZE) as f64;
    let personal_rate = ((plan.clients as f64 * plan.personal_rate) as u64).to_string();
    let group_rate = ((groups * plan.group_rate) as u64).to_string();
    let url = redis.map(RedisServer::url);
    let mut env = vec![
        ("USERS", users.as_str()),
        ("PERSONAL_RATE", personal_rate.as_str()),
        ("GROUP_RATE", group_rate.as_str()),
    ];
    if let Some(url) = &url {
        env.push(("REDIS_URL", url));
    }
    let preload = preload.map(|path| path.to_string_lossy().into_owned());
    if let Some(preload) = &preload {
        env.push(("LD_PRELOAD", preload));
    }
    let mut instances = vec![Server::start_with(server, 0, &env)];
    if let Some(url) = &url {
        let mut env = vec![("REDIS_URL", url.as_str())];
        if let Some(preload) = &preload {
            env.push(("LD_PRELOAD", preload));
        }
        instances.push(Server::start_with(server, 0, &env));
    }
    let servers: Vec<SocketAddr> = instances.iter().map(|s| s.addr).collect();
    std::thread::sleep(Duration::from_millis(200));
    let rss_start: Vec<f64> = instances.iter().map(Server::rss_kib).collect();

    let per_loader = plan.clients.div_ceil(plan.loaders);
    let mut loaders: Vec<Loader> = (0..plan.loaders)
        .map(|k| {
            let first = k * per_loader;
            let count = per_loader.min(plan.clients.saturating_sub(first));
            Loader::start(
                &server.with_file_name("workload-bench"),
                &LoadConfig {
                    servers: servers.clone(),
                    source: format!("127.0.0.{}", first_source + k).parse().unwrap(),
                    first,
                    count,
                    churn_per_second: count as f64 * plan.churn_per_minute / 60.0,
                },
            )
        })
        .collect();
    let mut open_seconds: f64 = 0.0;
    for loader in &mut loaders {
        let answer = loader.answer();
        let seconds = answer.strip_prefix("open ").expect("`open <seconds>`");
        open_seconds = open_seconds.max(seconds.parse().unwrap());
    }
    let streams = 2 * plan.clients;
    let per_instance = streams as f64 / instances.len() as f64;
    let kib_per_stream = |instances: &[Server]| {
        let grown: f64 = instances
            .iter()
            .zip(&rss_start)
            .map(|(s, start)| s.rss_kib() - start)
            .sum();
        grown / instances.len() as f64 / per_instance
    };
    let kib_per_stream_open = kib_per_stream(&instances);
    eprintln!("{storage}: {streams} streams open in {open_seconds:.1} s");

    control(servers[0], "/control/start");
    std::thread::sleep(plan.warm_up);
    let cpu = |instances: &[Server], loaders: &[Loader]| {
        let servers: f64 = instances.iter().map(Server::cpu_seconds).sum();
        let load: f64 = loaders.iter().map(|l| cpu_seconds(l.child.id())).sum();
        let redis = redis.map_or(0.0, RedisServer::cpu_seconds);
        (servers, load, redis)
    };
    let xadds = || {
        redis.map_or(0, |redis| {
            redis.command_calls().get("xadd").copied().unwrap_or(0)
        })
    };
    for loader in &mut loaders {
        loader.send("measure");
    }
    for loader in &mut loaders {
        assert_eq!(loader.answer(), "measuring");
    }
    let (cpu0, xadd0, at) = (cpu(&instances, &loaders), xadds(), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(plan.seconds));
    for loader in &mut loaders {
        loader.send("stop");
    }
    for loader in &mut loaders {
        assert_eq!(loader.answer(), "stopped");
    }
    let (cpu1, xadd1, seconds) = (
        cpu(&instances, &loaders),
        xadds(),
        at.elapsed().as_secs_f64(),
    );
    eprintln!("{storage}: measured; the publisher ends its rounds");
    let published: Published =
        serde_json::from_str(control(servers[0], "/control/stop").trim()).expect("`Published`");
    eprintln!("{storage}: published {published:?}; checking every stream");
    let kib_per_stream_end = kib_per_stream(&instances);
    for loader in &mut loaders {
        loader.send(&format!("final {} {}", published.personal, published.group));
    }
    let mut totals = LoadReport::default();
    let (mut latency, mut resume) = (Vec::new(), Vec::new());
    for loader in &mut loaders {
        let report: LoadReport = serde_json::from_str(&loader.answer()).expect("a LoadReport");
        merge(&mut latency, &report.latency);
        merge(&mut resume, &report.resume);
        totals.streams += report.streams;
        totals.window_events += report.window_events;
        totals.events += report.events;
        totals.lost += report.lost;
        totals.duplicated += report.duplicated;
        totals.resets += report.resets;
        totals.ended += report.ended;
        totals.reconnects += report.reconnects;
        totals.failed_reconnects += report.failed_reconnects;
    }
    let published_rate = match redis {
        Some(_) => (xadd1 - xadd0) as f64 / seconds,
        // The memory storage: what the publisher was asked for.
        None => plan.clients as f64 * plan.personal_rate + groups * plan.group_rate,
    };
    Outcome {
        storage,
        instances: instances.len(),
        clients: plan.clients,
        streams,
        open_seconds,
        kib_per_stream_open,
        kib_per_stream_end,
        seconds,
        delivered: totals.window_events as f64 / seconds,
        p50: quantile_ms(&latency, 0.5),
        p99: quantile_ms(&latency, 0.99),
        p999: quantile_ms(&latency, 0.999),
        server_cores: (cpu1.0 - cpu0.0) / seconds,
        load_cores: (cpu1.1 - cpu0.1) / seconds,
        redis_cores: (cpu1.2 - cpu0.2) / seconds,
        published: published_rate,
        reconnects: totals.reconnects,
        failed_publishes: published.failed,
        resume_p50: quantile_ms(&resume, 0.5),
        resume_p99: quantile_ms(&resume, 0.99),
        totals,
    }
}

fn report(results: &[Outcome], plan: &Plan) {
    println!(
        "\nWorkload: each client a personal topic ({} events/s) and a group topic of {GROUP_SIZE} \
         ({} events/s), two streams; {} of the clients reconnect per minute with Last-Event-ID; \
         {} s measured after {} s of warm-up.\n",
        plan.personal_rate,
        plan.group_rate,
        plan.churn_per_minute,
        plan.seconds,
        plan.warm_up.as_secs()
    );
    let header: String = results
        .iter()
        .map(|r| {
            format!(
                " {} ({} instance{}) |",
                r.storage,
                r.instances,
                if r.instances > 1 { "s" } else { "" }
            )
        })
        .collect();
    println!("| |{header}");
    println!("|---|{}", "---|".repeat(results.len()));
    let row = |name: &str, value: &dyn Fn(&Outcome) -> String| {
        let cells: String = results.iter().map(|r| format!(" {} |", value(r))).collect();
        println!("| {name} |{cells}");
    };
    row("clients (streams)", &|r| {
        format!("{} ({})", r.clients, r.streams)
    });
    row("streams opened per second", &|r| {
        format!("{:.0}", r.streams as f64 / r.open_seconds)
    });
    row("server KiB per stream, after opening", &|r| {
        format!("{:.2}", r.kib_per_stream_open)
    });
    row("server KiB per stream, at the end", &|r| {
        format!("{:.2}", r.kib_per_stream_end)
    });
    row("published events/s", &|r| format!("{:.0}", r.published));
    row("delivered events/s", &|r| format!("{:.0}", r.delivered));
    row("latency p50 / p99 / p99.9 ms", &|r| {
        format!("{:.1} / {:.1} / {:.1}", r.p50, r.p99, r.p999)
    });
    row("server CPU (cores)", &|r| format!("{:.2}", r.server_cores));
    row("delivered events/s per server core", &|r| {
        format!("{:.0}", r.delivered / r.server_cores)
    });
    row("Redis CPU (cores)", &|r| format!("{:.2}", r.redis_cores));
    row("load generator CPU (cores)", &|r| {
        format!("{:.2}", r.load_cores)
    });
    row("reconnects per second (clients, 2 streams each)", &|r| {
        format!("{:.1}", r.reconnects as f64 / r.seconds)
    });
    row("resume: request to head p50 / p99 ms", &|r| {
        format!("{:.1} / {:.1}", r.resume_p50, r.resume_p99)
    });
    row("events checked", &|r| r.totals.events.to_string());
    row("lost / duplicated or out of order", &|r| {
        format!("{} / {}", r.totals.lost, r.totals.duplicated)
    });
    row(
        "publishes failed / resets / streams ended / reconnects failed",
        &|r| {
            format!(
                "{} / {} / {} / {}",
                r.failed_publishes, r.totals.resets, r.totals.ended, r.totals.failed_reconnects
            )
        },
    );
}
