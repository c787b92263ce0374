//! One accepted connection: the protocol it speaks, the service that answers it, and the
//! future that serves it until it ends, a graceful shutdown drains it, or it idles too long.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
#[cfg(feature = "http2")]
use hyper::server::conn::http2;
#[cfg(feature = "http2")]
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::{TokioIo, TokioTimer};
use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::Settings;
use super::limits::ConnectionSlot;
use super::service::{AnyService, HyperService};
use crate::boxed::BoxError;
use crate::stream::lifecycle::{Connection, Lifecycle, ServedBy};

/// How long a connection told to go away (an idle HTTP/2 connection, or one with nothing worth
/// waiting for in a shutdown) may take to close by itself.
const GOAWAY_GRACE: Duration = Duration::from_secs(1);

/// The most bytes HTTP/2 buffers for one stream beyond what the socket took. hyper's default
/// (400 KB) lets a client that never reads pin far more than the stream's own budget, in
/// small frames that each cost bookkeeping too; with this, a stream whose client stops
/// reading soon stops taking frames, and its budget (or its hub's lag check) takes over as
/// over HTTP/1.1.
#[cfg(feature = "http2")]
const HTTP2_SEND_BUFFER: usize = 16 * 1024;

/// How connections are secured: a TLS acceptor with the `tls` feature, nothing without.
#[cfg(feature = "tls")]
pub(crate) type Tls = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) enum Tls {}

/// Serves one accepted connection: with TLS, after the handshake (no longer than the
/// request-head timeout), with the protocol ALPN chose; without, after its first bytes
/// (likewise bounded), as HTTP/2 or HTTP/1.1 by its preface. Each protocol is served in a
/// task sized for it alone.
pub(crate) async fn serve_connection(
    stream: TcpStream,
    accepted: Accepted,
    service: AnyService,
    tls: Option<Tls>,
) {
    let (limit, peer) = (accepted.settings.header_read_timeout, accepted.peer);
    let shutdown = accepted.lifecycle.shutdown.clone();
    match tls {
        #[cfg(feature = "tls")]
        Some(acceptor) => {
            let handshake = tokio::select! {
                handshake = tokio::time::timeout(limit, acceptor.accept(stream)) => handshake,
                _ = shutdown.cancelled() => return,
            };
            match handshake {
                Ok(Ok(stream)) => {
                    let http2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                    serve_protocol(TokioIo::new(stream), http2, accepted, service);
                }
                // A scanner, a client that distrusts the certificate: nothing to do about it.
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
            return;
        }
        #[cfg(not(feature = "tls"))]
        Some(never) => match never {},
        None => {}
    }
    // A client that sends nothing at all would otherwise hold its descriptor forever: hyper's
    // own timer starts with the first byte.
    let http2 = tokio::select! {
        opened = tokio::time::timeout(limit, is_http2(&stream)) => match opened {
            Ok(Some(http2)) => http2,
            Ok(None) => return,
            Err(_) => {
                tracing::debug!(%peer, "closing a connection that sent nothing");
                return;
            }
        },
        _ = shutdown.cancelled() => return,
    };
    #[cfg(not(feature = "http2"))]
    if http2 {
        // Told before any stream, an HTTP/2 client can say why, or retry over HTTP/1.1.
        let goaway = super::limits::http2_goaway(
            super::limits::HTTP_1_1_REQUIRED,
            b"HTTP/1.1 only: the server is built without the http2 feature",
        );
        let answered = super::limits::answer_and_close(stream, &goaway);
        let _ = tokio::time::timeout(limit, answered).await;
        return;
    }
    serve_protocol(TokioIo::new(stream), http2, accepted, service);
}

/// What the server hands every accepted connection.
pub(crate) struct Accepted {
    pub(crate) peer: SocketAddr,
    pub(crate) slot: ConnectionSlot,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) settings: Settings,
}

/// Spawns the task that serves `io` with one protocol.
fn serve_protocol<I>(io: TokioIo<I>, http2: bool, accepted: Accepted, service: AnyService)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Accepted {
        peer,
        slot,
        lifecycle,
        settings,
    } = accepted;
    let (shutdown, hard_stop) = (lifecycle.shutdown.clone(), lifecycle.hard_stop.clone());
    let served_by = ServedBy(Arc::new(Connection::new(peer, lifecycle)));
    let connection_state = served_by.0.clone();
    // Without the `http2` feature, every connection that gets here speaks HTTP/1.1.
    #[cfg(not(feature = "http2"))]
    let _ = http2;
    let open = Arc::new(OpenStreams::default());
    let service = HyperService::new(service, served_by, open.clone(), settings.body_bounds());
    #[cfg(feature = "http2")]
    if http2 {
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(settings.max_streams_per_connection)
            .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
            .max_send_buf_size(HTTP2_SEND_BUFFER)
            .keep_alive_interval(settings.keep_alive)
            .keep_alive_timeout(settings.keep_alive.unwrap_or(Duration::from_secs(20)));
        let connection = builder.serve_connection(io, service);
        let idle = IdleClose {
            open,
            timeout: settings.idle_timeout,
            first_request_timeout: settings.header_read_timeout,
            had_stream: false,
            timer: Box::pin(tokio::time::sleep(settings.header_read_timeout)),
            armed: false,
            going_away: false,
        };
        let served = Served::new(connection, shutdown, hard_stop, Some(Box::new(idle)), slot)
            .state(connection_state);
        tokio::spawn(log_end(served, peer));
        return;
    }
    // The timer arms hyper's limit for reading a request head (the first and every later
    // one), so that a client trickling its headers or idling between requests cannot hold a
    // task forever.
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        // hyper's read buffer bounds the head (it must hold it whole); its default is 400 KB,
        // and it refuses less than 8 KiB.
        .max_buf_size(settings.max_header_bytes.max(8192))
        .serve_connection(io, service);
    let served = Served::new(connection, shutdown, hard_stop, None, slot)
        .http1(open)
        .state(connection_state);
    tokio::spawn(log_end(served, peer));
}

/// The connection's task: `served`, then a log line if it failed. A combinator, not an
/// `async fn`, which would hold the whole connection twice (as its argument, and as the
/// future it awaits): this is the task of every connection, for its whole life.
fn log_end<F>(served: F, peer: SocketAddr) -> impl Future<Output = ()> + Send + 'static
where
    F: Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    served.map(move |ended| {
        if let Err(error) = ended {
            tracing::debug!(%peer, %error, "connection ended with an error");
        }
    })
}

/// The first bytes an HTTP/2 client sends without upgrading (h2c with prior knowledge).
pub(crate) const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client opens with the HTTP/2 preface, read without consuming it; `None` when
/// the client closed or failed before sending a byte.
pub(crate) async fn is_http2(stream: &TcpStream) -> Option<bool> {
    let mut start = [0u8; HTTP2_PREFACE.len()];
    // The preface almost always comes in one segment; a client that trickles it is given a
    // few short waits, then served as HTTP/1.1 (which refuses what it cannot parse).
    for _ in 0..50 {
        let read = match stream.peek(&mut start).await {
            Ok(0) | Err(_) => return None,
            Ok(read) => read,
        };
        if start[..read] != HTTP2_PREFACE[..read] {
            return Some(false);
        }
        if read == HTTP2_PREFACE.len() {
            return Some(true);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Some(false)
}

/// A hyper connection that can be told to finish what it serves and close.
pub(crate) trait GracefulConnection: Future<Output = Result<(), hyper::Error>> {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulConnection for http1::Connection<TokioIo<I>, S>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http1::Connection::graceful_shutdown(self)
    }
}

#[cfg(feature = "http2")]
impl<I, S, B> GracefulConnection for http2::Connection<TokioIo<I>, S, TokioExecutor>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http2::Connection::graceful_shutdown(self)
    }
}

/// Where a served connection is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    /// Told to finish: shutdown began, or an HTTP/2 connection idled too long.
    Draining,
}

pin_project! {
    /// A connection, until it ends by itself or the grace period of a shutdown is over.
    ///
    /// Written out rather than with `select!` in an `async` block, which would hold the
    /// connection twice: this is the whole task of every connection, for its whole life. It
    /// waits on one cancellation at a time (shutdown, then the hard stop), registering once and
    /// afterwards only reading the flag, as the task's waker never changes.
    pub(crate) struct Served<C> {
        #[pin]
        connection: C,
        #[pin]
        signal: WaitForCancellationFutureOwned,
        registered: bool,
        phase: Phase,
        shutdown: CancellationToken,
        hard_stop: CancellationToken,
        idle: Option<Box<IdleClose>>,
        // HTTP/1.1: the request in progress, if any, to close at once on shutdown when it is
        // not worth waiting for.
        requests: Option<Arc<OpenStreams>>,
        // Armed when such a connection has nothing worth waiting for: what it was writing
        // still has this long to go out.
        unneeded: Option<Pin<Box<Sleep>>>,
        // What the connection's streams may tell it: to abort.
        state: Option<Arc<Connection>>,
        abort_registered: bool,
        _slot: ConnectionSlot,
    }
}

impl<C: GracefulConnection> Served<C> {
    fn new(
        connection: C,
        shutdown: CancellationToken,
        hard_stop: CancellationToken,
        idle: Option<Box<IdleClose>>,
        slot: ConnectionSlot,
    ) -> Self {
        Served {
            connection,
            signal: shutdown.clone().cancelled_owned(),
            registered: false,
            phase: Phase::Serving,
            shutdown,
            hard_stop,
            idle,
            requests: None,
            unneeded: None,
            state: None,
            abort_registered: false,
            _slot: slot,
        }
    }

    fn state(mut self, state: Arc<Connection>) -> Self {
        self.state = Some(state);
        self
    }

    fn http1(mut self, requests: Arc<OpenStreams>) -> Self {
        self.requests = Some(requests);
        self
    }
}

impl<C: GracefulConnection> Future for Served<C> {
    type Output = Result<(), hyper::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let fired = if !*this.registered {
                *this.registered = true;
                this.signal.as_mut().poll(cx).is_ready()
            } else {
                match this.phase {
                    Phase::Serving => this.shutdown.is_cancelled(),
                    Phase::Draining => this.hard_stop.is_cancelled(),
                }
            };
            if !fired {
                break;
            }
            match this.phase {
                Phase::Serving => {
                    *this.phase = Phase::Draining;
                    this.connection.as_mut().graceful_shutdown();
                    if let Some(idle) = this.idle {
                        // An HTTP/2 client that reads nothing never acknowledges GOAWAY:
                        // without streams, close soon after it instead of at the hard stop.
                        idle.go_away();
                    }
                    this.signal.set(this.hard_stop.clone().cancelled_owned());
                    *this.registered = false;
                }
                // The grace period is over: drop whatever still runs.
                Phase::Draining => return Poll::Ready(Ok(())),
            }
        }
        if let Some(state) = this.state {
            if !*this.abort_registered {
                // The task's waker never changes: registered once.
                state.task.register(cx.waker());
                *this.abort_registered = true;
            }
            if state.aborted.load(Ordering::Acquire) {
                // A stream of it was ended to keep the server's memory budget.
                return Poll::Ready(Ok(()));
            }
        }
        if *this.phase == Phase::Draining
            && let Some(requests) = this.requests
            && requests.committed() == 0
        {
            // Shutting down, with no request worth waiting for: between requests, in the
            // middle of a request head, or with a body still arriving. The end of a response
            // may still be on its way out: it gets a short while.
            let unneeded = this
                .unneeded
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(GOAWAY_GRACE)));
            if unneeded.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
        }
        if let Poll::Ready(ended) = this.connection.as_mut().poll(cx) {
            return Poll::Ready(ended);
        }
        if let Some(idle) = this.idle {
            match idle.poll_idle(cx) {
                Idle::No => {}
                Idle::TooLong => {
                    this.connection.as_mut().graceful_shutdown();
                    // Polled again at once, so that the connection sends its GOAWAY.
                    cx.waker().wake_by_ref();
                }
                Idle::Close => return Poll::Ready(Ok(())),
            }
        }
        Poll::Pending
    }
}

/// The requests of one connection that are open (from the request head to the end of its
/// response body), those of them whose body is still arriving, and the connection's waker,
/// for an HTTP/2 connection to arm its idle timer when they are all gone.
#[derive(Default)]
pub(crate) struct OpenStreams {
    count: AtomicUsize,
    unfinished_bodies: AtomicUsize,
    connection: futures_util::task::AtomicWaker,
}

impl OpenStreams {
    /// Open requests worth waiting for in a shutdown: those whose body has arrived (or that
    /// had none), whose handler runs or whose response (a stream) is under way.
    fn committed(&self) -> usize {
        let unfinished = self.unfinished_bodies.load(Ordering::Acquire);
        self.count
            .load(Ordering::Acquire)
            .saturating_sub(unfinished)
    }
}

/// A request body still arriving, counted as such on its connection until dropped.
pub(crate) struct UnfinishedBody(Arc<OpenStreams>);

impl UnfinishedBody {
    pub(crate) fn new(open: &Arc<OpenStreams>) -> Self {
        open.unfinished_bodies.fetch_add(1, Ordering::AcqRel);
        UnfinishedBody(open.clone())
    }
}

impl Drop for UnfinishedBody {
    fn drop(&mut self) {
        self.0.unfinished_bodies.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One open stream of an HTTP/2 connection.
pub(crate) struct OpenStream(Arc<OpenStreams>);

impl OpenStream {
    pub(crate) fn new(open: &Arc<OpenStreams>) -> Self {
        open.count.fetch_add(1, Ordering::Relaxed);
        OpenStream(open.clone())
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let open = self.0.count.fetch_sub(1, Ordering::AcqRel) - 1;
        if open <= self.0.unfinished_bodies.load(Ordering::Acquire) {
            self.0.connection.wake();
        }
    }
}

/// Closes an HTTP/2 connection that has had no open stream for `timeout`, or that opened none
/// within `first_request_timeout` of its preface: HTTP/1.1 has hyper's request-head timeout
/// for that, HTTP/2 has nothing of the kind.
// Built by HTTP/2 connections only.
#[cfg_attr(not(feature = "http2"), allow(dead_code))]
pub(crate) struct IdleClose {
    open: Arc<OpenStreams>,
    timeout: Duration,
    /// The request-head timeout: a connection's first stream must come as soon as an HTTP/1.1
    /// client's first request head.
    first_request_timeout: Duration,
    had_stream: bool,
    timer: Pin<Box<Sleep>>,
    armed: bool,
    going_away: bool,
}

// Built by HTTP/2 connections only.
#[cfg_attr(not(feature = "http2"), allow(dead_code))]
enum Idle {
    No,
    /// Idle past the timeout: send GOAWAY.
    TooLong,
    /// GOAWAY was sent and the client still has not closed.
    Close,
}

// Built by HTTP/2 connections only.
#[cfg_attr(not(feature = "http2"), allow(dead_code))]
impl IdleClose {
    /// GOAWAY was sent: once no stream is open, the connection has a short grace to close.
    fn go_away(&mut self) {
        self.going_away = true;
        self.armed = false;
    }

    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Idle {
        self.open.connection.register(cx.waker());
        // Told to go away (shutdown), streams whose request body is still arriving are not
        // waited for.
        let open = if self.going_away {
            self.open.committed()
        } else {
            self.open.count.load(Ordering::Acquire)
        };
        if open > 0 {
            self.armed = false;
            self.had_stream = true;
            return Idle::No;
        }
        if !self.armed {
            self.armed = true;
            let limit = if self.going_away {
                GOAWAY_GRACE
            } else if self.had_stream {
                self.timeout
            } else {
                self.first_request_timeout
            };
            self.timer.as_mut().reset(Instant::now() + limit);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return Idle::No;
        }
        if self.going_away {
            return Idle::Close;
        }
        self.go_away();
        // Arms the grace timer right away, with this poll's waker.
        let _ = self.poll_idle(cx);
        Idle::TooLong
    }
}
