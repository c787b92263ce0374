//! What keeps one client, or many, from taking the whole server: the connection limits (in
//! all, and per client address) and their refusals, backing off when the process runs out of
//! descriptors, and socket options that notice peers that vanished.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::connection::{Tls, is_http2};

/// The open connections of a server, against its limits.
pub(crate) struct Connections {
    open: AtomicUsize,
    max: usize,
    /// Connections per client address, when they are capped.
    per_address: Option<PerAddress>,
    /// Notified when the last connection closes.
    all_closed: Notify,
    /// Refusals in progress: each holds a descriptor for up to [`REFUSAL_TIME`].
    refusing: AtomicUsize,
}

struct PerAddress {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Only counting happens under the lock: a poisoned one is still consistent.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A place among the open connections, given back on drop.
pub(crate) struct ConnectionSlot {
    connections: Arc<Connections>,
    /// Set when connections per address are counted.
    address: Option<IpAddr>,
}

/// Why a connection is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    /// The server has as many connections as it takes.
    Server,
    /// The client's address has as many as it may.
    Address,
}

impl Connections {
    pub(crate) fn new(max: usize, max_per_address: Option<usize>) -> Arc<Self> {
        Arc::new(Connections {
            open: AtomicUsize::new(0),
            max,
            per_address: max_per_address.map(|max| PerAddress {
                max,
                open: Mutex::default(),
            }),
            all_closed: Notify::new(),
            refusing: AtomicUsize::new(0),
        })
    }

    /// A slot for one more connection from `address`, unless a limit is reached.
    pub(crate) fn try_open(self: &Arc<Self>, address: IpAddr) -> Result<ConnectionSlot, Full> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .map_err(|_| Full::Server)?;
        let mut slot = ConnectionSlot {
            connections: self.clone(),
            address: None,
        };
        if let Some(per_address) = &self.per_address {
            let mut open = per_address.lock();
            let count = open.entry(address).or_insert(0);
            if *count >= per_address.max {
                return Err(Full::Address);
            }
            *count += 1;
            slot.address = Some(address);
        }
        Ok(slot)
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

    /// Answers a connection past a limit, then closes it: `503` (server full) or `429` (its
    /// address has its share) with `Retry-After` to HTTP/1.1, `GOAWAY` (`ENHANCE_YOUR_CALM`,
    /// no stream processed) to HTTP/2; over TLS, after the handshake, so that the client
    /// reads the answer rather than a broken handshake. Connections being refused are limited
    /// too; past that, they are closed at once.
    pub(crate) fn refuse(self: &Arc<Self>, stream: TcpStream, full: Full, tls: Option<Tls>) {
        if self.refusing.fetch_add(1, Ordering::AcqRel) >= MAX_REFUSING {
            self.refusing.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let connections = self.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_TIME, answer_refused(stream, full, tls)).await;
            connections.refusing.fetch_sub(1, Ordering::AcqRel);
        });
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let connections = &self.connections;
        if let (Some(address), Some(per_address)) = (self.address, &connections.per_address) {
            let mut open = per_address.lock();
            if let Some(count) = open.get_mut(&address) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&address);
                }
            }
        }
        if connections.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            connections.all_closed.notify_waiters();
        }
    }
}

/// The most connections being refused at once.
const MAX_REFUSING: usize = 256;
/// How long a refused connection may take to read its answer (a TLS handshake included).
const REFUSAL_TIME: Duration = Duration::from_secs(2);

const SERVER_FULL: &str = r#"{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the server has as many connections as it takes; retry later"}"#;
const ADDRESS_FULL: &str = r#"{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"this address has as many connections open as it may; close one, or retry later"}"#;

/// The answer to a refused connection, by protocol.
fn refusal(full: Full, http2: bool) -> Vec<u8> {
    let (status, body, debug) = match full {
        Full::Server => (
            "503 Service Unavailable",
            SERVER_FULL,
            &b"too many connections"[..],
        ),
        Full::Address => (
            "429 Too Many Requests",
            ADDRESS_FULL,
            &b"too many connections from this address"[..],
        ),
    };
    if http2 {
        return http2_goaway(ENHANCE_YOUR_CALM, debug);
    }
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn answer_refused(stream: TcpStream, full: Full, tls: Option<Tls>) -> io::Result<()> {
    match tls {
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            let stream = acceptor.accept(stream).await?;
            let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            answer_and_close(stream, &refusal(full, http2)).await
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
        None => match is_http2(&stream).await {
            None => Ok(()),
            Some(http2) => answer_and_close(stream, &refusal(full, http2)).await,
        },
    }
}

/// Writes `answer`, then closes once the client has read it.
pub(crate) async fn answer_and_close<S>(mut stream: S, answer: &[u8]) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
