//! Helpers for the integration tests: a server on an ephemeral loopback port, and clients that
//! speak raw HTTP/1.1 or HTTP/2 over real sockets.

pub mod decode;
pub mod deploy;
pub mod raw_h2;
pub mod redis_cluster;
pub mod redis_server;
pub mod scripted;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tidings::{Router, Serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A server of an axum app, as `tidings::serve_service` configures it.
pub type ServeAxum = Serve<tower_layer::Identity, tidings::server::ServiceApp<axum::Router>>;

/// A tidings server on 127.0.0.1 and an ephemeral port.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `router` with default options.
    pub async fn start(router: Router) -> TestServer {
        TestServer::start_with(router, |serve| serve).await
    }

    /// Serves `router`, letting the test configure the server.
    pub async fn start_with(router: Router, configure: impl FnOnce(Serve) -> Serve) -> TestServer {
        TestServer::spawn(configure(tidings::serve(router))).await
    }

    /// Serves an axum app with tidings' server (`serve_service`), configured by the test.
    pub async fn serve_service_with(
        app: axum::Router,
        configure: impl FnOnce(ServeAxum) -> ServeAxum,
    ) -> TestServer {
        TestServer::spawn(configure(tidings::serve_service(app))).await
    }

    /// Runs `serve` on an ephemeral loopback port until [`shutdown`](Self::shutdown).
    async fn spawn<L, A, S, B>(serve: Serve<L, A>) -> TestServer
    where
        A: tidings::server::App,
        L: tower_layer::Layer<A::Service, Service = S> + Send + 'static,
        S: tower_service::Service<
                http::Request<tidings::server::ServedBody>,
                Response = http::Response<B>,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let serve = serve.with_graceful_shutdown(async {
            let _ = rx.await;
        });
        let task = tokio::spawn(serve.run(listener));
        TestServer {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Starts a graceful shutdown and returns the server's result once it has stopped.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("server stopped in time")
            .expect("server task did not panic")
    }

    /// Starts a graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().expect("server still running")
    }

    /// Opens a raw HTTP/1.1 request.
    pub async fn get(&self, path: &str) -> RawResponse {
        RawResponse::send(self.addr, "GET", path, &[]).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// An HTTP/1.1 response read straight off a TCP socket.
pub struct RawResponse {
    pub stream: TcpStream,
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// Bytes read past the head: the start of the body, still chunk-encoded.
    buffer: BytesMut,
    /// Decoded body bytes not yet consumed.
    body: BytesMut,
    chunked: bool,
    /// Body bytes still to come, for a response with `content-length`.
    remaining: Option<usize>,
    ended: bool,
    /// Whether a chunked body ended with its terminating chunk (not just a closed socket).
    completed: bool,
}

impl RawResponse {
    /// Sends one request with `Connection: close` semantics left to the server.
    pub async fn send(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> RawResponse {
        RawResponse::try_send(addr, method, path, headers)
            .await
            .expect("connect")
    }

    /// Like [`send`](Self::send), with the error when the server cannot be reached (it is
    /// down, or it closed the connection before answering).
    pub async fn try_send(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<RawResponse> {
        let mut stream = TcpStream::connect(addr).await?;
        let mut request =
            format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await?;
        tokio::time::timeout(PATIENCE, RawResponse::try_read_head(stream))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
    }

    /// Sends one request with `body` (whole, at once: keep it small enough for the socket's
    /// buffers).
    pub async fn send_body(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        stream.write_all(&bytes).await.expect("send");
        tokio::time::timeout(PATIENCE, RawResponse::try_read_head(stream))
            .await
            .expect("an answer in time")
            .expect("an answer")
    }

    /// Like [`send`](Self::send), from a socket whose receive buffer is tiny, so that a client
    /// that stops reading pushes back on the server at once instead of after megabytes of
    /// kernel buffers.
    pub async fn send_slow(addr: SocketAddr, path: &str) -> RawResponse {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        RawResponse::read_head(stream).await
    }

    /// Reads a response head from a stream on which a request was written.
    pub async fn read_head(stream: TcpStream) -> RawResponse {
        tokio::time::timeout(PATIENCE, RawResponse::try_read_head(stream))
            .await
            .expect("response head in time")
            .expect("a response head")
    }

    /// Like [`read_head`](Self::read_head), with the error when the connection fails or
    /// closes before the head.
    pub async fn try_read_head(mut stream: TcpStream) -> std::io::Result<RawResponse> {
        let mut buffer = BytesMut::new();
        let head_end = loop {
            if let Some(at) = find(&buffer, b"\r\n\r\n") {
                break at;
            }
            if stream.read_buf(&mut buffer).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before the response head",
                ));
            }
        };
        let head = String::from_utf8(buffer.split_to(head_end + 4).to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (name, value) = l.split_once(':').unwrap();
                (name.to_ascii_lowercase(), value.trim().to_owned())
            })
            .collect();
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        let remaining = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().expect("numeric content-length"));
        Ok(RawResponse {
            stream,
            status,
            headers,
            buffer,
            body: BytesMut::new(),
            chunked,
            remaining,
            ended: false,
            completed: false,
        })
    }

    /// The value of a header, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads more body bytes; false at the end of the body.
    async fn fill(&mut self) -> bool {
        loop {
            if self.ended {
                return false;
            }
            if let Some(remaining) = &mut self.remaining {
                if *remaining == 0 {
                    self.ended = true;
                    return false;
                }
                if !self.buffer.is_empty() {
                    let take = self.buffer.len().min(*remaining);
                    *remaining -= take;
                    self.body.extend_from_slice(&self.buffer.split_to(take));
                    return true;
                }
            } else if !self.chunked {
                if !self.buffer.is_empty() {
                    self.body.extend_from_slice(&self.buffer.split());
                    return true;
                }
            } else if let Some(line_end) = find(&self.buffer, b"\r\n") {
                let size_line = std::str::from_utf8(&self.buffer[..line_end]).unwrap();
                let size = usize::from_str_radix(size_line.trim(), 16).expect("chunk size");
                if self.buffer.len() >= line_end + 2 + size + 2 {
                    let _ = self.buffer.split_to(line_end + 2);
                    let chunk = self.buffer.split_to(size);
                    let _ = self.buffer.split_to(2);
                    if size == 0 {
                        self.ended = true;
                        self.completed = true;
                        return false;
                    }
                    self.body.extend_from_slice(&chunk);
                    return true;
                }
            }
            let n = self.stream.read_buf(&mut self.buffer).await.unwrap_or(0);
            if n == 0 {
                self.ended = true;
                return false;
            }
        }
    }

    /// The next frame (up to and including its blank line), or `None` at the end of the body.
    pub async fn next_frame(&mut self) -> Option<String> {
        loop {
            if let Some(at) = find(&self.body, b"\n\n") {
                let frame = self.body.split_to(at + 2);
                return Some(String::from_utf8(frame.to_vec()).expect("UTF-8 frame"));
            }
            if !self.fill().await {
                return None;
            }
        }
    }

    /// Like [`next_frame`](Self::next_frame), failing the test after [`PATIENCE`].
    pub async fn frame(&mut self) -> String {
        tokio::time::timeout(PATIENCE, self.next_frame())
            .await
            .expect("a frame in time")
            .expect("a frame before the end of the stream")
    }

    /// The next frame that is not a heartbeat or other comment.
    pub async fn event(&mut self) -> String {
        loop {
            let frame = self.frame().await;
            if !frame.starts_with(':') {
                return frame;
            }
        }
    }

    /// The body bytes that came next (de-chunked, not decoded), or `None` at its end.
    pub async fn next_bytes(&mut self) -> Option<Bytes> {
        if self.body.is_empty() && !self.fill().await {
            return None;
        }
        Some(self.body.split().freeze())
    }

    /// Reads the rest of the body, failing the test after [`PATIENCE`].
    pub async fn rest(&mut self) -> String {
        tokio::time::timeout(PATIENCE, async { while self.fill().await {} })
            .await
            .expect("the body ended in time");
        String::from_utf8(self.body.split().to_vec()).unwrap()
    }

    /// Whether the body has ended (the terminating chunk or EOF was seen).
    pub async fn ends(&mut self) -> bool {
        self.rest().await;
        self.ended
    }

    /// Whether a chunked body ends with its terminating chunk: the server finished the
    /// response, rather than the connection being cut.
    pub async fn completes(&mut self) -> bool {
        self.rest().await;
        self.completed
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An HTTP/2 (h2c, prior knowledge) request through hyper's client.
pub async fn h2_get(addr: SocketAddr, path: &str) -> http::Response<hyper::body::Incoming> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("h2 handshake");
    tokio::spawn(connection);
    let request = http::Request::get(format!("http://{addr}{path}"))
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    sender.send_request(request).await.expect("h2 response")
}

/// One dispatched event, as the WHATWG algorithm reads a frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// The `id:` field, if the frame had one.
    pub id: Option<String>,
    /// The event type (`message` when absent).
    pub event: String,
    /// The data lines joined by `\n`.
    pub data: String,
}

/// Reads the fields of one frame (as [`RawResponse::frame`] returns it). Comment-only frames
/// give `None`.
pub fn parse_frame(frame: &str) -> Option<Event> {
    let mut event = Event::default();
    let mut data: Option<String> = None;
    let mut any = false;
    for line in frame.split('\n').filter(|l| !l.is_empty()) {
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" if !value.contains('\0') => event.id = Some(value.to_owned()),
            "event" => event.event = value.to_owned(),
            "data" => match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => continue,
        }
        any = true;
    }
    if !any {
        return None;
    }
    if event.event.is_empty() {
        event.event = "message".to_owned();
    }
    event.data = data.unwrap_or_default();
    Some(event)
}

/// A client that follows the WHATWG reconnection rules: it remembers the last event id it
/// saw and sends it as `Last-Event-ID` when it reconnects.
pub struct ResumingClient {
    pub addr: SocketAddr,
    pub path: String,
    pub last_event_id: Option<String>,
    pub connection: Option<RawResponse>,
    pub connects: usize,
    /// The reconnection delay the server asked for with `retry:`.
    pub retry: Option<Duration>,
}

impl ResumingClient {
    pub fn new(addr: SocketAddr, path: &str) -> Self {
        ResumingClient {
            addr,
            path: path.to_owned(),
            last_event_id: None,
            connection: None,
            connects: 0,
            retry: None,
        }
    }

    /// The next event, (re)connecting when there is no connection or it ended.
    pub async fn next(&mut self) -> Event {
        loop {
            if self.connection.is_none() {
                if self.connects > 0
                    && let Some(retry) = self.retry
                {
                    tokio::time::sleep(retry).await;
                }
                let headers: Vec<(&str, &str)> = self
                    .last_event_id
                    .iter()
                    .map(|id| ("last-event-id", id.as_str()))
                    .collect();
                let response = RawResponse::send(self.addr, "GET", &self.path, &headers).await;
                assert_eq!(response.status, 200, "reconnect refused");
                self.connects += 1;
                self.connection = Some(response);
            }
            let connection = self.connection.as_mut().unwrap();
            match tokio::time::timeout(PATIENCE, connection.next_frame())
                .await
                .expect("an event in time")
            {
                Some(frame) => {
                    // `retry:` only counts when its value is all ASCII digits.
                    if let Some(millis) = frame
                        .lines()
                        .find_map(|line| line.strip_prefix("retry:"))
                        .map(|value| value.strip_prefix(' ').unwrap_or(value))
                        .filter(|value| {
                            !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
                        })
                        .and_then(|value| value.parse().ok())
                    {
                        self.retry = Some(Duration::from_millis(millis));
                    }
                    if let Some(event) = parse_frame(&frame) {
                        if let Some(id) = &event.id {
                            self.last_event_id = Some(id.clone());
                        }
                        return event;
                    }
                }
                // The stream ended: reconnect, as a browser would.
                None => self.connection = None,
            }
        }
    }

    /// Cuts the connection, as a network failure would.
    pub fn cut(&mut self) {
        self.connection = None;
    }
}

/// Runs the ignored test `name` of the current test binary in a process of its own, under
/// `wrapper` (e.g. `["unshare", "--net", "--map-root-user"]`, or none), with `env`; fails
/// the calling test with the child's output unless the child's test passed. Returns the
/// child's standard output.
pub fn run_isolated(wrapper: &[&str], name: &str, env: &[(&str, &str)]) -> String {
    let test_binary = std::env::current_exe().unwrap();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = std::process::Command::new(program);
            command.args(args).arg(&test_binary);
            command
        }
        None => std::process::Command::new(&test_binary),
    };
    command
        .args(["--exact", name, "--ignored", "--nocapture"])
        .envs(env.iter().copied());
    let output = command.output().unwrap_or_else(|error| {
        panic!(
            "cannot run `{}`: {error} (install it: Debian's util-linux and iproute2)",
            wrapper.first().unwrap_or(&"the test binary")
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.contains(&format!("test {name} ... ok")),
        "{name} failed in its own process:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The process's log lines (`tracing`, at `info` and above), kept in memory for a test to
/// read. Installs the process's subscriber: once per test binary.
#[derive(Clone, Default)]
pub struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Captures from now on.
    pub fn install() -> CapturedLog {
        let log = CapturedLog::default();
        let writer = log.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        log
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Checks that the committed `path` (from the repository's root) is `generated`; with
/// `TIDINGS_BLESS=1`, writes it first (after a deliberate change).
pub fn assert_up_to_date(path: &str, generated: &str) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    if std::env::var_os("TIDINGS_BLESS").is_some() {
        std::fs::write(&file, generated).unwrap();
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == generated,
        "{path} is stale: rerun with TIDINGS_BLESS=1"
    );
}

/// The built binary of an example, built now if `cargo test` has not built it.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let target = std::env::current_exe().unwrap();
    let profile_dir = target.parent().unwrap().parent().unwrap();
    let binary = profile_dir.join("examples").join(name);
    if !binary.exists() {
        let package = format!("tidings-example-{name}");
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", &package, "--example", name])
            .status()
            .expect("cargo builds the example");
        assert!(status.success());
    }
    binary
}

/// Starts an example on an ephemeral port (unless `env` sets `ADDR`), with `env`; its child
/// process and the address it printed.
pub fn start_example(
    name: &str,
    env: &[(&str, &str)],
) -> (std::process::Child, std::net::SocketAddr) {
    let mut child = std::process::Command::new(example_binary(name))
        .env("ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the example");
    let addr = announced_addr(&mut child);
    (child, addr)
}

/// The address a server process prints on its standard output (piped) when it serves: the
/// `HOST:PORT` after `http://` on the first line that has one.
pub fn announced_addr(child: &mut std::process::Child) -> std::net::SocketAddr {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("its standard output is piped");
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("its standard output");
        if let Some(at) = line.find("http://") {
            let rest = &line[at + "http://".len()..];
            let end = rest.find('/').unwrap_or(rest.len());
            return rest[..end].parse().expect("an address");
        }
    }
    panic!("the process ended without printing its address");
}

/// Fails the test on an error starting `program`: with one line saying how to install it
/// (`install`) when it is missing.
pub fn cannot_start(program: &str, install: &str, error: std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::NotFound {
        panic!("{program} is not installed: {install}");
    }
    panic!("cannot start {program}: {error}");
}

/// xorshift64*: enough randomness for cut points and choices in tests, with no dependency.
/// The seed must not be 0.
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Opens `path` from a socket with a tiny receive buffer, reads the response head (which must
/// be `200`), then reads nothing: a client that stopped reading, whose window soon closes.
pub async fn stalled_reader(addr: SocketAddr, path: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    stream
}
