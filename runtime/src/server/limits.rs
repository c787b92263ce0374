//! What keeps one client, or many, from taking the whole server: the connection limit and its
//! refusals, backing off when the process runs out of descriptors, and socket options that
//! notice peers that vanished.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::connection::is_http2;

/// The open connections of a server, against its limit.
pub(crate) struct Connections {
    open: AtomicUsize,
    max: usize,
    /// Notified when the last connection closes.
    all_closed: Notify,
    /// Refusals in progress: each holds a descriptor for up to [`REFUSAL_TIME`].
    refusing: AtomicUsize,
}

/// A place among the open connections, given back on drop.
pub(crate) struct ConnectionSlot(Arc<Connections>);

impl Connections {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Connections {
            open: AtomicUsize::new(0),
            max,
            all_closed: Notify::new(),
            refusing: AtomicUsize::new(0),
        })
    }

    /// A slot for one more connection, unless the limit is reached.
    pub(crate) fn try_open(self: &Arc<Self>) -> Option<ConnectionSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .ok()
            .map(|_| ConnectionSlot(self.clone()))
    }

    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves once no connection is open.
    pub(crate) async fn all_closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Answers a connection past the limit, then closes it: `503` with `Retry-After` to
    /// HTTP/1.1, `GOAWAY` (`ENHANCE_YOUR_CALM`, no stream processed) to HTTP/2. Connections
    /// being refused are limited too; past that, they are closed at once.
    pub(crate) fn refuse(self: &Arc<Self>, stream: TcpStream) {
        if self.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
            self.refusing.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let connections = self.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_TIME, answer_refused(stream)).await;
            connections.refusing.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.all_closed.notify_waiters();
        }
    }
}

/// The most connections being refused at once.
const MAX_REFUSING: usize = 256;
/// How long a refused connection may take to read its answer.
const REFUSAL_TIME: Duration = Duration::from_secs(2);

const REFUSED_BODY: &str = r#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the server has as many connections as it takes; retry later"}"#;

async fn answer_refused(stream: TcpStream) -> io::Result<()> {
    let answer = match is_http2(&stream).await {
        None => return Ok(()),
        Some(true) => http2_goaway(ENHANCE_YOUR_CALM, b"too many connections"),
        Some(false) => format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
             retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{REFUSED_BODY}",
            REFUSED_BODY.len()
        )
        .into_bytes(),
    };
    answer_and_close(stream, &answer).await
}

/// Writes `answer`, then closes once the client has read it.
pub(crate) async fn answer_and_close(mut stream: TcpStream, answer: &[u8]) -> io::Result<()> {
    stream.write_all(answer).await?;
    stream.shutdown().await?;
    // Closing with unread bytes would reset the connection, and the client could lose the
    // answer: read until the client closes (bounded by the caller's timeout).
    let mut sink = [0u8; 1024];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

/// HTTP/2's `ENHANCE_YOUR_CALM`: too many connections.
const ENHANCE_YOUR_CALM: u32 = 0xb;
/// HTTP/2's `HTTP_1_1_REQUIRED`: this server speaks HTTP/1.1 only.
#[cfg_attr(feature = "http2", allow(dead_code))]
pub(crate) const HTTP_1_1_REQUIRED: u32 = 0xd;

/// An empty SETTINGS frame, then GOAWAY with last stream 0, `code` and `debug` data: what an
/// HTTP/2 client is told before any stream when the server will not serve it.
pub(crate) fn http2_goaway(code: u32, debug: &[u8]) -> Vec<u8> {
    let mut frames = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let length = (8 + debug.len()) as u32;
    frames.extend_from_slice(&length.to_be_bytes()[1..]);
    frames.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
    frames.extend_from_slice(&0u32.to_be_bytes());
    frames.extend_from_slice(&code.to_be_bytes());
    frames.extend_from_slice(debug);
    frames
}

/// How the accept loop deals with failures: out of descriptors (or memory), it waits longer
/// each time up to a second, keeping every open connection, and says so at most every ten
/// seconds; anything else (a client that gave up before it was accepted) is retried at once.
#[derive(Default)]
pub(crate) struct AcceptErrors {
    failures: u64,
    delay: Duration,
    last_warned: Option<Instant>,
}

const WARN_EVERY: Duration = Duration::from_secs(10);

impl AcceptErrors {
    /// How long to wait before accepting again.
    pub(crate) fn failed(&mut self, error: &io::Error) -> Duration {
        if !is_out_of_resources(error) {
            tracing::debug!(%error, "accepting a connection failed");
            return Duration::ZERO;
        }
        self.failures += 1;
        self.delay = (self.delay * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let now = Instant::now();
        if self
            .last_warned
            .is_none_or(|warned| now.duration_since(warned) >= WARN_EVERY)
        {
            self.last_warned = Some(now);
            tracing::warn!(
                %error,
                failures = self.failures,
                "cannot accept connections (out of descriptors or memory); open streams are \
                 kept, accepting again when some close"
            );
        }
        self.delay
    }

    pub(crate) fn accepted(&mut self) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "accepting connections again");
            *self = AcceptErrors::default();
        }
    }
}

fn is_out_of_resources(error: &io::Error) -> bool {
    // EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux and most Unixes.
    matches!(error.raw_os_error(), Some(24 | 23 | 105 | 12))
        || error.kind() == io::ErrorKind::OutOfMemory
}

/// Sets what every accepted socket needs: no Nagle delay (each event goes out as it is
/// written), and, with `dead_peer_timeout`, TCP keep-alive probes and `TCP_USER_TIMEOUT`, so
/// that a peer that vanished without a FIN or RST is noticed within that time of the last
/// data it failed to acknowledge, instead of the kernel's retransmission limit (~16 minutes).
pub(crate) fn configure_socket(stream: &TcpStream, dead_peer_timeout: Option<Duration>) {
    let _ = stream.set_nodelay(true);
    let Some(timeout) = dead_peer_timeout else {
        return;
    };
    let socket = socket2::SockRef::from(stream);
    // Probes start after a quiet half of the timeout, so that a stream with no traffic at all
    // (heartbeats off) is checked too.
    let probe = (timeout / 4).max(Duration::from_secs(1));
    let keepalive = socket2::TcpKeepalive::new()
        .with_time((timeout / 2).max(Duration::from_secs(1)))
        .with_interval(probe);
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos"))]
    let keepalive = keepalive.with_retries(2);
    if let Err(error) = socket.set_tcp_keepalive(&keepalive) {
        tracing::debug!(%error, "setting TCP keep-alive failed");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(error) = socket.set_tcp_user_timeout(Some(timeout)) {
        tracing::debug!(%error, "setting TCP_USER_TIMEOUT failed");
    }
}
