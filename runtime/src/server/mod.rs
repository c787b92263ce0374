//! Serving over TCP with hyper: HTTP/1.1 and HTTP/2 (h2c) on the same port, a [`Router`] or
//! any tower service ([`serve_service`], e.g. an axum app with a router mounted in it).
//!
//! ```no_run
//! use std::time::Duration;
//! # use tidings::Router;
//! # async fn run(app: Router) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! tidings::serve(app.heartbeat(Some(Duration::from_secs(10))))
//!     .grace_period(Duration::from_secs(5))
//!     .max_connections(20_000)
//!     // Ctrl-C or SIGTERM start a graceful shutdown.
//!     .with_graceful_shutdown(tidings::server::shutdown_signal())
//!     .run(listener)
//!     .await
//! # }
//! ```
//!
//! Graceful shutdown: when the signal fires, the server stops accepting, connections that
//! are not streaming close, every open stream's [`Emitter::closed`](crate::Emitter::closed)
//! resolves, and the server waits up to the grace period (default 10 s) for handlers to
//! return and their last events to reach the clients. Whatever still runs after that is
//! dropped.
//!
//! # Limits
//!
//! Every limit has a default that is safe on the internet; each can be changed here:
//!
//! | what | default | past it |
//! |---|---|---|
//! | [open connections](Serve::max_connections) | 10,000 | `503` with `Retry-After` (HTTP/2: `GOAWAY`; over TLS, after the handshake) |
//! | [open connections per client address](Serve::max_connections_per_address) | no cap of its own | `429` with `Retry-After` (HTTP/2: `GOAWAY`) |
//! | [request head](Serve::max_header_bytes) | 32 KiB | `431` |
//! | [request body](Serve::max_body_bytes), whoever reads it | 2 MiB | the body fails (`413`) |
//! | [time for a whole request body](Serve::body_timeout), from its head | 30 s | the body fails (`408` from tidings, `400` from axum) |
//! | [streams per HTTP/2 connection](Serve::max_streams_per_connection) | 100 | the stream is refused (`REFUSED_STREAM`) |
//! | [time to send the first byte, and each request head](Serve::header_read_timeout) | 30 s | the connection is closed |
//! | [an HTTP/2 connection with no stream open](Serve::idle_timeout) | 60 s (before its first stream: the request-head time, 30 s) | `GOAWAY`, then closed |
//! | [a peer that vanished without closing](Serve::dead_peer_timeout) | 30 s without an acknowledgement | the connection is closed |
//! | HTTP/2 data buffered per stream past the socket | 16 KiB | the stream's own budget fills, then `emit` waits |
//! | [bytes all streams hold](Serve::max_queued_bytes) (queued, or being written) | 512 MiB | the slowest streams (nothing read for the longest) are ended and their responses aborted |
//! | out of file descriptors | | accepting pauses, backing off up to 1 s; open streams are kept |
//!
//! The router adds its own: the [body size](Router::body_limit) and
//! [read time](Router::body_timeout), the [bytes a stream may queue](Router::buffer_bytes),
//! the [stream lifetime](Router::max_stream_duration); [`StreamsPerClient`](crate::limits::StreamsPerClient)
//! caps the streams of one client address.

mod body;
mod connection;
mod limits;
mod service;
#[cfg(feature = "tls")]
mod tls;

pub use crate::http::extract::BodyTimedOut;
pub use body::ServedBody;
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsError};

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use tokio::net::{TcpListener, ToSocketAddrs};
use tower_layer::{Identity, Layer, Stack};

use crate::boxed::BoxError;
use crate::boxed::BoxFuture;
use crate::http::router::{Router, RouterService};
use crate::stream::budget::MemoryBudget;
use crate::stream::lifecycle::Lifecycle;
use connection::{Accepted, Tls, serve_connection};
use limits::{AcceptErrors, Connections, configure_socket};
use service::AnyService;

/// Starts configuring a server for `router`. Run it with [`Serve::run`] or [`Serve::bind`].
pub fn serve(router: Router) -> Serve {
    Serve::new(router)
}

/// Starts configuring a server for any tower service: an axum app with a tidings router
/// mounted in it (`nest_service("/events", router.into_service()?)`), say. It gets every
/// protection of [`serve`], and the tidings streams inside it follow its graceful shutdown.
///
/// ```no_run
/// # use tidings::Router;
/// # async fn run(streams: Router) -> Result<(), Box<dyn std::error::Error>> {
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .nest_service("/events", streams.into_service()?);
/// tidings::serve_service(app).bind("127.0.0.1:8080").await?;
/// # Ok(())
/// # }
/// ```
pub fn serve_service<S>(service: S) -> Serve<Identity, ServiceApp<S>> {
    Serve::new(ServiceApp(service))
}

/// What a [`Serve`] serves: a [`Router`], or a tower service given to [`serve_service`].
pub trait App: Send + 'static {
    /// The service that answers requests.
    type Service;
    /// Builds it; fails with [`io::ErrorKind::InvalidInput`] when it cannot be served.
    fn into_service(self) -> io::Result<Self::Service>;
}

impl App for Router {
    type Service = RouterService;

    fn into_service(self) -> io::Result<RouterService> {
        Router::into_service(self)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
    }
}

/// A tower service to serve, as [`serve_service`] takes it.
#[derive(Debug, Clone)]
pub struct ServiceApp<S>(pub S);

impl<S: Send + 'static> App for ServiceApp<S> {
    type Service = S;

    fn into_service(self) -> io::Result<S> {
        Ok(self.0)
    }
}

pub use crate::http::extract::PeerAddr;

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what process managers (systemd,
/// Kubernetes, Docker) send to stop a service. Give it to [`Serve::with_graceful_shutdown`].
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}

/// The server's limits and timeouts; see the [module docs](self#limits).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    grace_period: Duration,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    max_connections_per_address: Option<usize>,
    max_header_bytes: usize,
    max_streams_per_connection: u32,
    dead_peer_timeout: Option<Duration>,
    keep_alive: Option<Duration>,
    max_body_bytes: usize,
    body_timeout: Duration,
    max_queued_bytes: usize,
}

impl Settings {
    pub(crate) fn body_bounds(&self) -> body::BodyBounds {
        body::BodyBounds {
            max_bytes: self.max_body_bytes,
            timeout: self.body_timeout,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            grace_period: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_address: None,
            max_header_bytes: 32 * 1024,
            max_streams_per_connection: 100,
            dead_peer_timeout: Some(Duration::from_secs(30)),
            keep_alive: Some(Duration::from_secs(30)),
            max_body_bytes: 2 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            max_queued_bytes: crate::stream::budget::DEFAULT_MAX_QUEUED_BYTES,
        }
    }
}

/// A server being configured. `L` is the stack of tower layers around the app, `A` the app.
///
/// The HTTP/2 settings ([`idle_timeout`](Self::idle_timeout),
/// [`max_streams_per_connection`](Self::max_streams_per_connection),
/// [`keep_alive`](Self::keep_alive)) apply with the `http2` feature (on with `tls`); without
/// it every connection speaks HTTP/1.1.
#[must_use = "a server does nothing until `.run(listener)` or `.bind(addr)` is awaited"]
pub struct Serve<L = Identity, A = Router> {
    app: A,
    layer: L,
    shutdown: Option<BoxFuture<'static, ()>>,
    settings: Settings,
    tls: Option<Tls>,
}

impl<L, A> fmt::Debug for Serve<L, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl<A> Serve<Identity, A> {
    fn new(app: A) -> Self {
        Serve {
            app,
            layer: Identity::new(),
            shutdown: None,
            settings: Settings::default(),
            tls: None,
        }
    }
}

impl<L, A> Serve<L, A> {
    /// Shuts down gracefully when `signal` completes (e.g. [`shutdown_signal`]).
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// How long a client may take to send its first byte, each HTTP/1.1 request head, and
    /// the HTTP/2 preface (default 30 s); past it the connection is closed.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.settings.header_read_timeout = timeout;
        self
    }

    /// How long an HTTP/2 connection may stay open with no stream (default 60 s); then the
    /// server sends `GOAWAY` and closes it. Until its first stream, an HTTP/2 connection is
    /// bounded by [`header_read_timeout`](Self::header_read_timeout) instead, as an HTTP/1.1
    /// connection is until its first request head (and between requests).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings.idle_timeout = timeout;
        self
    }

    /// The most connections open at once (default 10,000). Past it, a new connection gets
    /// `503 Service Unavailable` with `Retry-After: 1` (HTTP/2: `GOAWAY` with
    /// `ENHANCE_YOUR_CALM` before any stream) and is closed; open connections are untouched.
    /// Keep it below the process's file descriptor limit (`ulimit -n`).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.settings.max_connections = max;
        self
    }

    /// The most connections one client IP address may have open at once (default: no cap
    /// of its own, only [`max_connections`](Self::max_connections)). Past it, a new
    /// connection from that address gets `429 Too Many Requests` with `Retry-After: 1`
    /// (HTTP/2: `GOAWAY` with `ENHANCE_YOUR_CALM`) and is closed. Behind a proxy every client
    /// has the proxy's address: leave it off there, or set it for the proxy.
    pub fn max_connections_per_address(mut self, max: Option<usize>) -> Self {
        self.settings.max_connections_per_address = max;
        self
    }

    /// The largest request head: the request line and headers of HTTP/1.1, the header list
    /// of HTTP/2 (default 32 KiB, as much as nginx reads by default; HTTP/1.1 takes at least
    /// 8 KiB). A larger one gets `431 Request Header Fields Too Large`.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_header_bytes = bytes;
        self
    }

    /// The largest request body any route of the app may receive (default 2 MiB), whoever
    /// reads it: a tidings route, an axum handler. Past it the body fails with
    /// [`LengthLimitError`](http_body_util::LengthLimitError), which axum answers with `413`
    /// (tidings' [`Json`](crate::Json) too, with its own, lower
    /// [`Router::body_limit`](crate::Router::body_limit)). Raise it with the router's limit
    /// for larger uploads.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_body_bytes = bytes;
        self
    }

    /// How long a request body may take to arrive in full, counted from its request head
    /// (default 30 s), whoever reads it; past it, the body fails with [`BodyTimedOut`] and
    /// the app answers (axum: `400`; tidings' [`Json`](crate::Json): `408`). A client that
    /// stalls or trickles a body holds its connection and its partial body no longer.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.settings.body_timeout = timeout;
        self
    }

    /// The most bytes all streams together may hold (default 512 MiB): frames queued for
    /// their clients, and large frames the connection has not written yet. A frame that
    /// would take the total past it first ends the slowest streams (whose connections have
    /// taken nothing for the longest; among equals, those holding the most) until it fits: each is logged (warn), counted in
    /// `tidings_streams_ended_total{reason="memory_budget"}`, and its connection is dropped
    /// with what it buffered (over HTTP/2 with its other streams, whose client was reading
    /// none of them): its client reconnects as after a network failure, and a hub stream
    /// resumes.
    ///
    /// Each stream also has its own budget ([`Router::buffer_bytes`], 64 KiB), which makes
    /// its handler wait, and a largest event ([`Router::max_event_bytes`], 1 MiB).
    pub fn max_queued_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_queued_bytes = bytes;
        self
    }

    /// The most streams one HTTP/2 connection may have open at once (default 100, the
    /// number browsers expect). A client that opens more has them refused.
    pub fn max_streams_per_connection(mut self, max: u32) -> Self {
        self.settings.max_streams_per_connection = max;
        self
    }

    /// How long the kernel waits for a peer to acknowledge data before closing the
    /// connection (`TCP_USER_TIMEOUT` on Linux, with keep-alive probes when the connection is
    /// quiet). Default 30 s: a client whose network vanished without closing is noticed
    /// within about the heartbeat interval plus this, instead of ~16 minutes. `None` leaves
    /// the system's defaults.
    pub fn dead_peer_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.settings.dead_peer_timeout = timeout;
        self
    }

    /// How often HTTP/2 connections are pinged (default 30 s); a peer that does not answer
    /// within the same time is disconnected. `None` turns pings off.
    pub fn keep_alive(mut self, every: Option<Duration>) -> Self {
        self.settings.keep_alive = every;
        self
    }

    /// How long a graceful shutdown waits for streams to end (default 10 s).
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.settings.grace_period = grace_period;
        self
    }

    /// Wraps the app in a tower layer, e.g. tower-http's `CorsLayer` or `TraceLayer`.
    /// Layers added later wrap the earlier ones.
    pub fn layer<N>(self, layer: N) -> Serve<Stack<N, L>, A> {
        Serve {
            app: self.app,
            layer: Stack::new(layer, self.layer),
            shutdown: self.shutdown,
            settings: self.settings,
            tls: self.tls,
        }
    }

    /// Serves HTTPS: every connection starts with a TLS handshake (bounded by
    /// [`header_read_timeout`](Self::header_read_timeout)), then speaks HTTP/2 or HTTP/1.1 as
    /// ALPN chose. A failed handshake is logged at debug level and closes the connection.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: TlsConfig) -> Self {
        self.tls = Some(config.acceptor());
        self
    }
}

impl<L, A, S, B> Serve<L, A>
where
    A: App,
    L: Layer<A::Service, Service = S>,
    S: tower_service::Service<Request<ServedBody>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Binds `addr` and serves until the shutdown signal.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.run(listener).await
    }

    /// Serves connections from `listener` until the shutdown signal.
    ///
    /// Fails at once, with [`io::ErrorKind::InvalidInput`], when the router's routes conflict.
    pub async fn run(self, listener: TcpListener) -> io::Result<()> {
        let service = AnyService::new(self.layer.layer(self.app.into_service()?));
        let shutdown = self
            .shutdown
            .unwrap_or_else(|| Box::pin(std::future::pending()));
        accept(listener, service, self.settings, shutdown, self.tls).await;
        Ok(())
    }
}

/// Accepts connections from `listener` and serves each with `service` until `shutdown`, then
/// drains them for the grace period.
///
/// Neither generic nor an `async fn`: the future of an `async fn` is compiled where it is
/// polled (here, in every app crate, as `run` is generic), while this boxed one is compiled
/// once, in tidings, and with it the whole server (hyper, h2, the connection tasks).
fn accept(
    listener: TcpListener,
    service: AnyService,
    settings: Settings,
    shutdown: BoxFuture<'static, ()>,
    tls: Option<Tls>,
) -> BoxFuture<'static, ()> {
    Box::pin(accept_and_drain(listener, service, settings, shutdown, tls))
}

async fn accept_and_drain(
    listener: TcpListener,
    service: AnyService,
    settings: Settings,
    mut shutdown: BoxFuture<'static, ()>,
    tls: Option<Tls>,
) {
    let lifecycle = Lifecycle {
        budget: Arc::new(MemoryBudget::new(settings.max_queued_bytes)),
        ..Lifecycle::default()
    };
    let connections = Connections::new(
        settings.max_connections,
        settings.max_connections_per_address,
    );
    let mut accept_errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                accept_errors.accepted();
                accepted
            }
            Err(error) => {
                let pause = accept_errors.failed(&error);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => continue,
                    _ = &mut shutdown => break,
                }
            }
        };
        let slot = match connections.try_open(peer.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                connections.refuse(stream, full, tls.clone());
                continue;
            }
        };
        configure_socket(&stream, settings.dead_peer_timeout);
        let accepted = Accepted {
            peer,
            slot,
            lifecycle: lifecycle.clone(),
            settings,
        };
        tokio::spawn(serve_connection(
            stream,
            accepted,
            service.clone(),
            tls.clone(),
        ));
    }

    drop(listener);
    lifecycle.shutdown.cancel();
    lifecycle.handlers.close();
    let drained = async {
        connections.all_closed().await;
        lifecycle.handlers.wait().await;
    };
    if tokio::time::timeout(settings.grace_period, drained)
        .await
        .is_err()
    {
        let streams = lifecycle.handlers.len();
        if streams > 0 {
            tracing::warn!(
                streams,
                "grace period over: dropping the streams still open"
            );
        } else {
            tracing::debug!(
                connections = connections.open(),
                "grace period over: closing the connections still open"
            );
        }
    }
    lifecycle.hard_stop.cancel();
}
