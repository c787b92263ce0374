//! The workload benchmark's load process: many SSE streams from one source address, each
//! event checked against its topic's numbering, connection churn with `Last-Event-ID`.
//!
//! Client `c` holds two streams: its personal topic `c` and its group's topic
//! `GROUP_BASE + c / GROUP_SIZE`, on `servers[c % servers.len()]`; a reconnect goes to the next
//! server, so that over Redis every resume crosses instances. Each topic's events are numbered
//! `seq` 1, 2, 3... by the publisher: a stream opened before publishing starts must see exactly
//! that sequence, whatever reconnects it makes on the way.
//!
//! The process reads commands on stdin, one per line, and answers on stdout:
//! - (on start) opens every stream, then prints `open <seconds>`;
//! - `measure`: starts counting (events, latency) and the churn; prints `measuring`;
//! - `stop`: stops the churn and the count; prints `stopped`;
//! - `final <personal> <group>`: the events each personal and group topic got in all; waits
//!   until every stream has them (at most 30 s), then prints its [`LoadReport`] as JSON and
//!   exits.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// Group topics are numbered from here, after every personal topic.
pub const GROUP_BASE: u64 = 1_000_000_000;
/// Clients per group.
pub const GROUP_SIZE: u64 = 10;

/// Events each topic got: every personal topic `personal`, every group topic `group`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Published {
    /// Events of each personal topic.
    pub personal: u64,
    /// Events of each group topic.
    pub group: u64,
    /// Publishes that failed (each printed by the server): counted in the totals above, but
    /// never sent.
    pub failed: u64,
}

/// What one load process is asked to do (JSON in its `LOAD` variable).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadConfig {
    /// The server instances.
    pub servers: Vec<SocketAddr>,
    /// The address its connections come from (one of 127.0.0.0/8).
    pub source: IpAddr,
    /// Its clients: `first..first + count`.
    pub first: u64,
    /// How many clients.
    pub count: u64,
    /// Clients reconnected per second while measuring.
    pub churn_per_second: f64,
}

/// Microseconds per latency bucket.
pub const BUCKET_US: u64 = 100;
const BUCKETS: usize = 300_000; // 30 s

/// A histogram in [`BUCKET_US`] buckets, as `(bucket, count)` pairs of the non-empty ones.
pub type Histogram = Vec<(u32, u64)>;

/// What one load process saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadReport {
    /// Streams it held.
    pub streams: u64,
    /// Seconds it took to open them all.
    pub open_seconds: f64,
    /// `tick` events received between `measure` and `stop`.
    pub window_events: u64,
    /// `tick` events received in all.
    pub events: u64,
    /// Events a stream never got (gaps, and what was missing at the end).
    pub lost: u64,
    /// Events a stream got again, or after a later one.
    pub duplicated: u64,
    /// `tidings.reset` events: a `Last-Event-ID` the server could not resume.
    pub resets: u64,
    /// Streams that ended without being asked to.
    pub ended: u64,
    /// Clients reconnected (two streams each).
    pub reconnects: u64,
    /// Reconnects that failed (refused, or no response head in 30 s).
    pub failed_reconnects: u64,
    /// Publish-to-delivery latency of the events received while measuring.
    pub latency: Histogram,
    /// Request to response head of each resumed stream.
    pub resume: Histogram,
}

/// The sorted quantile `q` of merged histograms, in milliseconds.
pub fn quantile_ms(histogram: &[u64], q: f64) -> f64 {
    let total: u64 = histogram.iter().sum();
    let rank = ((total as f64 * q).ceil() as u64).max(1);
    let mut seen = 0;
    for (bucket, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return ((bucket as u64 + 1) * BUCKET_US) as f64 / 1000.0;
        }
    }
    0.0
}

/// Adds a sparse histogram into a dense one.
pub fn merge(into: &mut Vec<u64>, from: &Histogram) {
    for &(bucket, count) in from {
        let bucket = bucket as usize;
        if into.len() <= bucket {
            into.resize(bucket + 1, 0);
        }
        into[bucket] += count;
    }
}

fn sparse(dense: &[u64]) -> Histogram {
    dense
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .map(|(bucket, count)| (bucket as u32, *count))
        .collect()
}

fn record(histogram: &RefCell<Vec<u64>>, micros: u64) {
    let bucket = ((micros / BUCKET_US) as usize).min(BUCKETS - 1);
    histogram.borrow_mut()[bucket] += 1;
}

/// One stream's place in its topic.
struct Place {
    topic: u64,
    /// The `seq` it expects next.
    next_seq: Cell<u64>,
    /// The last `id:` it got, for `Last-Event-ID`.
    last_id: RefCell<Option<Box<str>>>,
}

/// The counters every stream of the process adds to.
#[derive(Default)]
struct Tally {
    measuring: Cell<bool>,
    window_events: Cell<u64>,
    events: Cell<u64>,
    lost: Cell<u64>,
    duplicated: Cell<u64>,
    resets: Cell<u64>,
    ended: Cell<u64>,
    latency: RefCell<Vec<u64>>,
    resume: RefCell<Vec<u64>>,
    /// Shared read buffer: streams take turns, so one suffices for all.
    scratch: RefCell<Vec<u8>>,
}

fn add(cell: &Cell<u64>, n: u64) {
    cell.set(cell.get() + n);
}

impl Tally {
    fn tick(&self, place: &Place, seq: u64, ts: u64) {
        add(&self.events, 1);
        let expected = place.next_seq.get();
        if seq < expected {
            add(&self.duplicated, 1);
            return;
        }
        if seq > expected {
            eprintln!(
                "load: topic {}: got event {seq} after {} (last id {:?})",
                place.topic,
                expected - 1,
                place.last_id.borrow()
            );
            add(&self.lost, seq - expected);
        }
        place.next_seq.set(seq + 1);
        if self.measuring.get() {
            add(&self.window_events, 1);
            record(&self.latency, crate::now_micros().saturating_sub(ts));
        }
    }
}

/// A client: its two streams and where they are.
struct Client {
    server: Cell<usize>,
    places: [Rc<Place>; 2],
    tasks: RefCell<Vec<JoinHandle<()>>>,
}

/// Runs a load process with `config` until `final` (see the module docs).
pub async fn run(config: LoadConfig) {
    let tally = Rc::new(Tally {
        latency: RefCell::new(vec![0; BUCKETS]),
        resume: RefCell::new(vec![0; BUCKETS]),
        scratch: RefCell::new(vec![0; 64 * 1024]),
        ..Tally::default()
    });
    let clients: Vec<Rc<Client>> = (config.first..config.first + config.count)
        .map(|c| {
            let place = |topic| {
                Rc::new(Place {
                    topic,
                    next_seq: Cell::new(1),
                    last_id: RefCell::new(None),
                })
            };
            Rc::new(Client {
                server: Cell::new(c as usize % config.servers.len()),
                places: [place(c), place(GROUP_BASE + c / GROUP_SIZE)],
                tasks: RefCell::new(Vec::new()),
            })
        })
        .collect();
    let started = Instant::now();
    // Open in waves, so that no listen backlog overflows.
    for wave in clients.chunks(64) {
        let opens = wave
            .iter()
            .map(|client| connect(&config, client, &tally, false));
        for opened in futures_util::future::join_all(opens).await {
            opened.unwrap_or_else(|error| panic!("opening a stream failed: {error}"));
        }
    }
    let open_seconds = started.elapsed().as_secs_f64();
    println!("open {open_seconds}");

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut churn: Option<JoinHandle<()>> = None;
    let mut reconnects = Rc::new(Cell::new((0u64, 0u64)));
    while let Ok(Some(line)) = lines.next_line().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["measure"] => {
                tally.measuring.set(true);
                reconnects = Rc::new(Cell::new((0, 0)));
                churn = Some(tokio::task::spawn_local(churn_clients(
                    config.clone(),
                    clients.clone(),
                    tally.clone(),
                    reconnects.clone(),
                )));
                println!("measuring");
            }
            ["stop"] => {
                tally.measuring.set(false);
                // The churn ends between reconnects: one cut short would leave a client
                // without its streams.
                if let Some(churn) = churn.take() {
                    let _ = churn.await;
                }
                println!("stopped");
            }
            ["final", personal, group] => {
                let published = Published {
                    personal: personal.parse().unwrap_or(0),
                    group: group.parse().unwrap_or(0),
                    failed: 0,
                };
                let report = finish(&clients, &tally, published, reconnects.get()).await;
                let report = LoadReport {
                    streams: 2 * config.count,
                    open_seconds,
                    ..report
                };
                println!("{}", serde_json::to_string(&report).unwrap());
                return;
            }
            _ => eprintln!("load: unknown command {line:?}"),
        }
    }
}

/// Waits until every stream has its topic's last event (at most 30 s), then counts.
async fn finish(
    clients: &[Rc<Client>],
    tally: &Tally,
    published: Published,
    (reconnects, failed): (u64, u64),
) -> LoadReport {
    let last = |place: &Place| match place.topic >= GROUP_BASE {
        true => published.group,
        false => published.personal,
    };
    let behind = || {
        clients
            .iter()
            .flat_map(|client| client.places.iter())
            .filter(|place| place.next_seq.get() <= last(place))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while behind() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut lost = tally.lost.get();
    let mut duplicated = tally.duplicated.get();
    for place in clients.iter().flat_map(|client| client.places.iter()) {
        let got = place.next_seq.get() - 1;
        if got < last(place) {
            eprintln!(
                "load: topic {}: got {got} of {} events (last id {:?})",
                place.topic,
                last(place),
                place.last_id.borrow()
            );
        }
        lost += last(place).saturating_sub(got);
        // More than was published: counted with the duplicates.
        duplicated += got.saturating_sub(last(place));
    }
    for client in clients {
        for task in client.tasks.borrow_mut().drain(..) {
            task.abort();
        }
    }
    LoadReport {
        window_events: tally.window_events.get(),
        events: tally.events.get(),
        lost,
        duplicated,
        resets: tally.resets.get(),
        ended: tally.ended.get(),
        reconnects,
        failed_reconnects: failed,
        latency: sparse(&tally.latency.borrow()),
        resume: sparse(&tally.resume.borrow()),
        ..LoadReport::default()
    }
}

/// Reconnects the clients in turn, `churn_per_second` of them a second, each to its next
/// server with its streams' `Last-Event-ID`s.
async fn churn_clients(
    config: LoadConfig,
    clients: Vec<Rc<Client>>,
    tally: Rc<Tally>,
    reconnects: Rc<Cell<(u64, u64)>>,
) {
    if config.churn_per_second <= 0.0 || clients.is_empty() {
        return;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / config.churn_per_second));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for client in clients.iter().cycle() {
        ticker.tick().await;
        if !tally.measuring.get() {
            return;
        }
        // A stream with no event yet has no id to resume from: reconnecting it would lose
        // what is published meanwhile, by design. Such a client waits for its next turn.
        if client.places.iter().any(|p| p.last_id.borrow().is_none()) {
            continue;
        }
        for task in client.tasks.borrow_mut().drain(..) {
            task.abort();
        }
        client
            .server
            .set((client.server.get() + 1) % config.servers.len());
        let (done, failed) = reconnects.get();
        match connect(&config, client, &tally, true).await {
            Ok(()) => reconnects.set((done + 1, failed)),
            Err(error) => {
                eprintln!("load: reconnect failed: {error}");
                reconnects.set((done, failed + 1));
            }
        }
    }
}

/// Opens the client's two streams (with their `Last-Event-ID`s when `resume`), and returns
/// once both have their response heads.
async fn connect(
    config: &LoadConfig,
    client: &Rc<Client>,
    tally: &Rc<Tally>,
    resume: bool,
) -> std::io::Result<()> {
    let server = config.servers[client.server.get()];
    let mut heads = Vec::new();
    for place in &client.places {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(config.source, 0))?;
        let mut stream = socket.connect(server).await?;
        let last_id = match &*place.last_id.borrow() {
            Some(id) if resume => format!("last-event-id: {id}\r\n"),
            _ => String::new(),
        };
        let request = format!(
            "GET /topics/{} HTTP/1.1\r\nhost: {server}\r\naccept: text/event-stream\r\n{last_id}\r\n",
            place.topic
        );
        let sent = Instant::now();
        stream.write_all(request.as_bytes()).await?;
        let (head_tx, head_rx) = tokio::sync::oneshot::channel();
        client
            .tasks
            .borrow_mut()
            .push(tokio::task::spawn_local(read(
                stream,
                place.clone(),
                tally.clone(),
                head_tx,
            )));
        heads.push((sent, head_rx));
    }
    for (sent, head) in heads {
        match tokio::time::timeout(Duration::from_secs(30), head).await {
            Ok(Ok(())) => {
                if resume {
                    record(&tally.resume, sent.elapsed().as_micros() as u64);
                }
            }
            Ok(Err(_)) => return Err(std::io::Error::other("the stream ended before its head")),
            Err(_) => return Err(std::io::Error::other("no response head in 30 s")),
        }
    }
    Ok(())
}

/// Reads one stream: its head (a `200` is reported through `head`), then its events.
async fn read(
    stream: TcpStream,
    place: Rc<Place>,
    tally: Rc<Tally>,
    head: tokio::sync::oneshot::Sender<()>,
) {
    let mut head = Some(head);
    let mut carry: Vec<u8> = Vec::new();
    let mut event = Pending::default();
    loop {
        if stream.readable().await.is_err() {
            break;
        }
        let mut scratch = tally.scratch.borrow_mut();
        let n = match stream.try_read(&mut scratch[..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => break,
        };
        carry.extend_from_slice(&scratch[..n]);
        drop(scratch);
        let mut at = 0;
        if head.is_some() {
            let Some(end) = memchr::memmem::find(&carry, b"\r\n\r\n") else {
                continue;
            };
            if !carry.starts_with(b"HTTP/1.1 200") {
                eprintln!(
                    "load: topic {}: {}",
                    place.topic,
                    String::from_utf8_lossy(&carry[..end])
                );
                return; // the head's sender drops: the connect fails
            }
            if let Some(head) = head.take() {
                let _ = head.send(());
            }
            at = end + 4;
        }
        while let Some(newline) = memchr::memchr(b'\n', &carry[at..]) {
            let line = &carry[at..at + newline];
            event.line(line.strip_suffix(b"\r").unwrap_or(line), &place, &tally);
            at += newline + 1;
        }
        carry.drain(..at);
        if carry.capacity() > 4096 && carry.len() < 1024 {
            carry.shrink_to(1024);
        }
    }
    add(&tally.ended, 1);
}

/// The fields of the event being read.
#[derive(Default)]
struct Pending {
    id: Option<Box<str>>,
    name: Vec<u8>,
    seq: Option<u64>,
    ts: u64,
}

impl Pending {
    /// One line of the body. Chunked encoding's size lines are ignored like any unknown
    /// field: tidings writes whole frames per chunk.
    fn line(&mut self, line: &[u8], place: &Place, tally: &Tally) {
        if line.is_empty() {
            if let Some(id) = self.id.take() {
                *place.last_id.borrow_mut() = Some(id);
            }
            match (self.name.as_slice(), self.seq.take()) {
                (b"tick", Some(seq)) => tally.tick(place, seq, self.ts),
                (b"tidings.reset", _) => add(&tally.resets, 1),
                _ => {}
            }
            self.name.clear();
        } else if let Some(id) = line.strip_prefix(b"id: ") {
            self.id = std::str::from_utf8(id).ok().map(Box::from);
        } else if let Some(name) = line.strip_prefix(b"event: ") {
            self.name.clear();
            self.name.extend_from_slice(name);
        } else if let Some(data) = line.strip_prefix(b"data: ") {
            self.seq = number_after(data, b"\"seq\":");
            self.ts = number_after(data, b"\"ts\":").unwrap_or(0);
        }
    }
}

fn number_after(data: &[u8], key: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(data, key)? + key.len();
    let digits = data[at..].iter().take_while(|b| b.is_ascii_digit());
    let mut any = false;
    let n = digits.fold(0u64, |n, b| {
        any = true;
        n * 10 + u64::from(b - b'0')
    });
    any.then_some(n)
}
