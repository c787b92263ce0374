//! The load generator shared by the runners: server processes, and raw HTTP/1.1 streams
//! that count `tick` events and measure their delivery latency.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tidings_tests::decode::Decoder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Builds the server binaries with the same profile as this runner.
pub fn build_servers() -> std::path::PathBuf {
    let release = !cfg!(debug_assertions);
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["build", "-q", "-p", "tidings-bench", "--bins"]);
    if release {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("cargo runs");
    assert!(status.success(), "building the servers failed");
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

pub fn raise_fd_limit() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A server process, killed (by its PID, through `Child`) when dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl Server {
    /// Starts the server binary at `path`, publishing at `rate` events per second.
    pub fn start(path: &std::path::Path, rate: u64) -> Server {
        Server::start_with(path, rate, &[])
    }

    /// Like [`start`](Self::start), with more environment variables.
    pub fn start_with(path: &std::path::Path, rate: u64, env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(path)
            .env("ADDR", "127.0.0.1:0")
            .env("RATE", rate.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .expect("the server announces its address")
            .parse()
            .unwrap();
        Server { child, addr }
    }

    /// Its resident memory, in KiB.
    pub fn rss_kib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// Its CPU time (user and system) so far.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The CPU time (user and system) of process `pid` so far.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`; utime and stime are the 14th and 15th of the line.
    let Some(close) = stat.rfind(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let (Some(user), Some(system)) = (field(11), field(12)) else {
        return f64::NAN;
    };
    // SAFETY: sysconf has no preconditions.
    (user + system) / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `count` streams to `path`; each reads and counts `tick` events, and records latency
/// when `latencies` is given. Returns once every stream has its response head. Runs inside a
/// `LocalSet`: every reader is on this one thread.
pub async fn open_streams(
    addr: std::net::SocketAddr,
    path: &str,
    count: usize,
    events: Rc<Cell<u64>>,
    latencies: Option<Rc<RefCell<Vec<u64>>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let paths = vec![path.to_owned(); count];
    open_paths(addr, &paths, events, latencies, None).await
}

/// Like [`open_streams`], one stream per path; `heads` gets each stream's time from request
/// to response head, in µs, when given.
pub async fn open_paths(
    addr: std::net::SocketAddr,
    paths: &[String],
    events: Rc<Cell<u64>>,
    latencies: Option<Rc<RefCell<Vec<u64>>>>,
    heads: Option<Rc<RefCell<Vec<u64>>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let counters = Counters {
        events,
        latencies,
        ..Counters::default()
    };
    open_with(addr, paths, counters, heads, None).await
}

/// What the readers of streams count.
#[derive(Clone)]
pub struct Counters {
    /// The events counted: their `event:` line (`event: tick` by default).
    pub event: &'static [u8],
    /// Events counted.
    pub events: Rc<Cell<u64>>,
    /// Each event's delivery latency, in µs, when given.
    pub latencies: Option<Rc<RefCell<Vec<u64>>>>,
    /// Bytes of the responses after their heads, as they crossed the socket (chunk framing
    /// included, compressed when they are).
    pub wire_bytes: Rc<Cell<u64>>,
    /// Whether a compressed stream is decoded (and its events counted); `false` only counts
    /// its bytes, so that the load generator does not spend on decoding what it does not
    /// measure.
    pub decode: bool,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            event: b"event: tick",
            events: Rc::default(),
            latencies: None,
            wire_bytes: Rc::default(),
            decode: true,
        }
    }
}

/// Like [`open_streams`], asking for streams compressed with `encoding` (`Accept-Encoding`),
/// which the readers decode before they count; `None` asks for none.
pub async fn open_encoded(
    addr: std::net::SocketAddr,
    path: &str,
    count: usize,
    counters: Counters,
    encoding: Option<&'static str>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let paths = vec![path.to_owned(); count];
    open_with(addr, &paths, counters, None, encoding).await
}

async fn open_with(
    addr: std::net::SocketAddr,
    paths: &[String],
    counters: Counters,
    heads: Option<Rc<RefCell<Vec<u64>>>>,
    encoding: Option<&'static str>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let path = paths.first().map_or("", String::as_str);
    let accept_encoding = encoding.map_or(String::new(), |e| format!("accept-encoding: {e}\r\n"));
    let mut tasks = Vec::with_capacity(paths.len());
    let ready = Rc::new(Cell::new(0usize));
    // Connect in waves, so that the listen backlog never overflows.
    for wave in paths.chunks(256) {
        for path in wave {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let request = format!(
                "GET {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n{accept_encoding}\r\n"
            );
            let sent = Instant::now();
            stream.write_all(request.as_bytes()).await.unwrap();
            let head = Head {
                ready: ready.clone(),
                sent,
                heads: heads.clone(),
            };
            tasks.push(tokio::task::spawn_local(read_stream(
                stream,
                counters.clone(),
                head,
                encoding.is_some(),
            )));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while ready.get() < tasks.len() {
            if Instant::now() >= deadline {
                let ended = tasks.iter().filter(|task| task.is_finished()).count();
                panic!(
                    "{path} on {addr}: {} of {} streams started in 30 s; {ended} connections \
                     ended without a response head",
                    ready.get(),
                    tasks.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    tasks
}

/// Where a stream reports its response head.
struct Head {
    ready: Rc<Cell<usize>>,
    sent: Instant,
    heads: Option<Rc<RefCell<Vec<u64>>>>,
}

async fn read_stream(mut stream: TcpStream, counters: Counters, report: Head, encoded: bool) {
    let Counters {
        event,
        events,
        latencies,
        wire_bytes,
        decode,
    } = counters;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut head = true;
    let mut carry: Vec<u8> = Vec::new();
    // A compressed body is de-chunked and decoded before it is counted.
    let mut decoding: Option<(Dechunk, Decoder)> = None;
    loop {
        let n = match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut received = &buffer[..n];
        if head {
            carry.extend_from_slice(received);
            let Some(end) = carry.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            head = false;
            report.ready.set(report.ready.get() + 1);
            if let Some(heads) = &report.heads {
                heads
                    .borrow_mut()
                    .push(report.sent.elapsed().as_micros() as u64);
            }
            let head_text = String::from_utf8_lossy(&carry[..end]).to_ascii_lowercase();
            let encoding = head_text
                .lines()
                .find_map(|l| l.strip_prefix("content-encoding: "))
                .map(str::to_owned);
            assert_eq!(
                encoding.is_some(),
                encoded,
                "compressed when asked: {head_text}"
            );
            decoding = encoding.map(|e| (Dechunk::default(), Decoder::new(Some(&e))));
            let body = carry.split_off(end + 4);
            carry.clear();
            buffer[..body.len()].copy_from_slice(&body);
            received = &buffer[..body.len()];
        }
        wire_bytes.set(wire_bytes.get() + received.len() as u64);
        if decoding.is_some() && !decode {
            continue;
        }
        let mut chunk = std::mem::take(&mut carry);
        match &mut decoding {
            None => chunk.extend_from_slice(received),
            Some((dechunk, decoder)) => {
                for data in dechunk.feed(received) {
                    let text = decoder.feed(&data);
                    chunk.append(text);
                }
            }
        }
        // Count whole events; keep an incomplete tail for the next read.
        let mut at = 0;
        while let Some(found) = find(&chunk[at..], event) {
            let start = at + found;
            let Some(end) = find(&chunk[start..], b"}") else {
                break;
            };
            if let Some(latencies) = &latencies
                && let Some(ts) = find(&chunk[start..start + end], b"\"ts\":")
            {
                let digits = &chunk[start + ts + 5..start + end];
                let ts: u64 = digits
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .fold(0, |n, b| n * 10 + (b - b'0') as u64);
                latencies
                    .borrow_mut()
                    .push(crate::now_micros().saturating_sub(ts));
            }
            events.set(events.get() + 1);
            at = start + end;
        }
        // An incomplete event waits for the rest; a long tail without one is only comments.
        let tail = &chunk[at..];
        carry = tail[tail.len().saturating_sub(4096)..].to_vec();
    }
}

/// HTTP/1.1's chunked transfer coding, undone: the data of each whole chunk.
#[derive(Default)]
struct Dechunk {
    buffer: Vec<u8>,
}

impl Dechunk {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.buffer.extend_from_slice(bytes);
        let mut chunks = Vec::new();
        let mut at = 0;
        while let Some(line) = find(&self.buffer[at..], b"\r\n") {
            let size_text = std::str::from_utf8(&self.buffer[at..at + line]).unwrap_or("");
            let size = usize::from_str_radix(size_text.trim(), 16).expect("a chunk size");
            let start = at + line + 2;
            if self.buffer.len() < start + size + 2 {
                break;
            }
            chunks.push(self.buffer[start..start + size].to_vec());
            at = start + size + 2;
        }
        self.buffer.drain(..at);
        chunks
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// The `q` quantile of sorted microseconds, in milliseconds.
pub fn quantile_ms(sorted: &[u64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0) as f64
        / 1000.0
}
