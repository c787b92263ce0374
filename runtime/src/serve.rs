//! Serving a router over TCP with hyper: HTTP/1.1 and HTTP/2 (h2c) on the same port.
//!
//! ```no_run
//! use std::time::Duration;
//! # use tidings::Router;
//! # async fn run(app: Router) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! // Send on `stop` (or use `tokio::signal::ctrl_c()`) to shut down.
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! # drop(stop);
//! tidings::serve(app.heartbeat(Some(Duration::from_secs(10))))
//!     .grace_period(Duration::from_secs(5))
//!     .with_graceful_shutdown(async { stopped.await.ok(); })
//!     .run(listener)
//!     .await
//! # }
//! ```
//!
//! Graceful shutdown: when the signal fires, the server stops accepting, every open stream's
//! [`Emitter::closed`](crate::Emitter::closed) resolves, and the server waits up to the grace
//! period (default 10 s) for handlers to return and their last events to reach the clients.
//! Whatever still runs after that is dropped.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulConnection, GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio_util::sync::CancellationToken;
use tower_layer::{Identity, Layer, Stack};

use crate::endpoint::BoxFuture;
use crate::extract::BoxError;
use crate::hard_stop::until_stopped;
use crate::router::{Router, RouterService};

/// Starts configuring a server for `router`. Run it with [`Serve::run`] or [`Serve::bind`].
pub fn serve(router: Router) -> Serve {
    Serve {
        router,
        layer: Identity::new(),
        shutdown: None,
        grace_period: Duration::from_secs(10),
        header_read_timeout: Duration::from_secs(30),
    }
}

/// A server being configured. `L` is the stack of tower layers around the router.
#[must_use = "a server does nothing until `.run(listener)` or `.bind(addr)` is awaited"]
pub struct Serve<L = Identity> {
    router: Router,
    layer: L,
    shutdown: Option<BoxFuture<'static, ()>>,
    grace_period: Duration,
    header_read_timeout: Duration,
}

impl<L> fmt::Debug for Serve<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("router", &self.router)
            .field("grace_period", &self.grace_period)
            .finish_non_exhaustive()
    }
}

impl<L> Serve<L> {
    /// Shuts down gracefully when `signal` completes.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// How long an HTTP/1.1 client may take to send its request head (default 30 s); past
    /// it the connection is closed.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a graceful shutdown waits for streams to end (default 10 s).
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// Wraps the router in a tower layer, e.g. tower-http's `CorsLayer` or `TraceLayer`.
    /// Layers added later wrap the earlier ones.
    pub fn layer<N>(self, layer: N) -> Serve<Stack<N, L>> {
        Serve {
            router: self.router,
            layer: Stack::new(layer, self.layer),
            shutdown: self.shutdown,
            grace_period: self.grace_period,
            header_read_timeout: self.header_read_timeout,
        }
    }
}

impl<L, S, B> Serve<L>
where
    L: Layer<RouterService, Service = S>,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>>
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
        let router_service = self
            .router
            .into_service()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let runtime = router_service.runtime().clone();
        let service = HyperService(self.layer.layer(router_service));
        let connections = GracefulShutdown::new();
        let mut shutdown = self
            .shutdown
            .unwrap_or_else(|| Box::pin(std::future::pending()));

        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait, then accept again.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let watcher = connections.watcher();
            let header_read_timeout = self.header_read_timeout;
            let hard_stop = runtime.hard_stop.clone();
            let service = service.clone();
            // Each protocol gets a task of its own type, sized for its own state: one task
            // sized for both (hyper-util's `auto`) costs about 8 KiB more per idle HTTP/1.1
            // connection. This first task only peeks at the opening bytes.
            tokio::spawn(async move {
                let io = TokioIo::new(stream);
                if is_http2(io.inner()).await {
                    let connection = http2::Builder::new(TokioExecutor::new())
                        .timer(TokioTimer::new())
                        .serve_connection(io, service);
                    spawn_connection(connection, watcher, hard_stop, peer);
                } else {
                    // The timer arms hyper's limit for reading a request head, so that a
                    // client trickling its headers cannot hold a task forever.
                    let connection = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_read_timeout)
                        .serve_connection(io, service);
                    spawn_connection(connection, watcher, hard_stop, peer);
                }
            });
        }

        drop(listener);
        runtime.shutdown.cancel();
        runtime.handlers.close();
        let drained = async {
            connections.shutdown().await;
            runtime.handlers.wait().await;
        };
        if tokio::time::timeout(self.grace_period, drained)
            .await
            .is_err()
        {
            tracing::warn!("grace period over: dropping the streams still open");
        }
        runtime.hard_stop.cancel();
        Ok(())
    }
}

/// A tower service as hyper calls it, with the request and the call in one boxed future.
///
/// hyper-util's adapter keeps the request inside the future that hyper holds for each
/// request; an HTTP/2 stream's task is sized for that future for the whole life of the
/// stream, so boxing it costs one short-lived allocation and saves about 256 bytes on every
/// open stream.
#[derive(Clone)]
struct HyperService<S>(S);

impl<S, B> hyper::service::Service<Request<Incoming>> for HyperService<S>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<B>, BoxError>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let mut service = self.0.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            service.call(request).await.map_err(Into::into)
        })
    }
}

/// Serves one connection in a task of its own until it ends, shutdown drains it, or the grace
/// period is over; logs how it ended.
fn spawn_connection<C>(
    connection: C,
    watcher: Watcher,
    hard_stop: CancellationToken,
    peer: SocketAddr,
) where
    C: GracefulConnection<Error = hyper::Error> + Send + 'static,
{
    let connection = until_stopped(watcher.watch(connection), hard_stop);
    tokio::spawn(connection.map(move |ended| {
        if let Some(Err(error)) = ended {
            tracing::debug!(%peer, %error, "connection ended with an error");
        }
    }));
}

/// The first bytes an HTTP/2 client sends without upgrading (h2c with prior knowledge).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client opens with the HTTP/2 preface, read without consuming it.
async fn is_http2(stream: &TcpStream) -> bool {
    let mut start = [0u8; HTTP2_PREFACE.len()];
    // The preface almost always comes in one segment; a client that trickles it is given a
    // few short waits, then served as HTTP/1.1 (which refuses what it cannot parse).
    for _ in 0..50 {
        let read = match stream.peek(&mut start).await {
            Ok(0) | Err(_) => return false,
            Ok(read) => read,
        };
        if start[..read] != HTTP2_PREFACE[..read] {
            return false;
        }
        if read == HTTP2_PREFACE.len() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}
