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
//! tidings::serve(app)
//!     .heartbeat(Some(Duration::from_secs(10)))
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
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, ToSocketAddrs};

use crate::endpoint::BoxFuture;
use crate::router::{Router, RouterService};
use crate::stream::{StreamOptions, StreamRuntime};

/// Starts configuring a server for `router`. Run it with [`Serve::run`] or [`Serve::bind`].
pub fn serve(router: Router) -> Serve {
    Serve {
        router,
        options: StreamOptions::default(),
        shutdown: None,
        grace_period: Duration::from_secs(10),
    }
}

/// A server being configured.
#[must_use = "a server does nothing until `.run(listener)` or `.bind(addr)` is awaited"]
pub struct Serve {
    router: Router,
    options: StreamOptions,
    shutdown: Option<BoxFuture<'static, ()>>,
    grace_period: Duration,
}

impl fmt::Debug for Serve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("router", &self.router)
            .field("options", &self.options)
            .field("grace_period", &self.grace_period)
            .finish_non_exhaustive()
    }
}

impl Serve {
    /// Sends a comment on a stream idle this long (default 15 s), so that proxies keep the
    /// connection and the server notices dead peers. `None` turns heartbeats off.
    pub fn heartbeat(mut self, every: Option<Duration>) -> Self {
        self.options.heartbeat = every;
        self
    }

    /// Sends `retry: <ms>` first on every stream: how long clients wait before reconnecting.
    pub fn retry(mut self, after: Duration) -> Self {
        self.options.retry = Some(after);
        self
    }

    /// The bytes of frames a stream may have waiting for its client (default 64 KiB). When
    /// they are used up, `emit` waits and `try_emit` fails.
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.options.buffer_bytes = bytes;
        self
    }

    /// Shuts down gracefully when `signal` completes.
    pub fn with_graceful_shutdown(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// How long a graceful shutdown waits for streams to end (default 10 s).
    pub fn grace_period(mut self, grace_period: Duration) -> Self {
        self.grace_period = grace_period;
        self
    }

    /// Binds `addr` and serves until the shutdown signal.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        self.run(listener).await
    }

    /// Serves connections from `listener` until the shutdown signal.
    ///
    /// Fails at once, with [`io::ErrorKind::InvalidInput`], when the router's routes conflict.
    pub async fn run(self, listener: TcpListener) -> io::Result<()> {
        let table = self
            .router
            .build()
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        let runtime = Arc::new(StreamRuntime::new(self.options));
        let service = RouterService::new(table, runtime.clone());
        let builder = auto::Builder::new(TokioExecutor::new());
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
            let connection = builder
                .serve_connection(TokioIo::new(stream), service.clone())
                .into_owned();
            let connection = connections.watch(connection);
            let hard_stop = runtime.hard_stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    result = connection => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                    }
                    _ = hard_stop.cancelled() => {}
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
