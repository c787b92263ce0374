//! A test kit (cargo feature `testing`): serve an app on an ephemeral loopback port, subscribe
//! with the typed [client](crate::client), assert on typed events, drop the connection and
//! resume.
//!
//! ```
//! use tidings::hub::Hub;
//! use tidings::testing::{TestServer, eventually};
//! use tidings::{event_stream, Emitter, Router, State};
//!
//! #[event_stream]
//! #[derive(Debug, Clone, PartialEq)]
//! enum Score {
//!     Goal { team: String },
//! }
//!
//! #[event_stream(path = "/score")]
//! async fn score(State(hub): State<Hub<Score>>, events: Emitter<Score>) -> tidings::Result<()> {
//!     events.forward(hub.subscribe(events.last_event_id()).await).await?;
//!     Ok(())
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let hub = Hub::new();
//! let server = TestServer::start(Router::new().route(score).with_state(hub.clone()))
//!     .await
//!     .unwrap();
//! let mut fan = server.subscribe::<Score>("/score");
//! // Publish once the fan's stream has subscribed to the hub, or the fan would miss it.
//! eventually("the fan subscribed", || hub.stats().subscribers == 1).await;
//! hub.publish(Score::Goal { team: "home".into() }).await.unwrap();
//! assert_eq!(fan.next_event().await, Score::Goal { team: "home".into() });
//!
//! // The fan's connection drops; a goal happens meanwhile; the fan comes back and resumes.
//! let last_seen = fan.last_event_id().unwrap().to_owned();
//! drop(fan);
//! hub.publish(Score::Goal { team: "away".into() }).await.unwrap();
//! let mut fan = server.resume::<Score>("/score", &last_seen);
//! assert_eq!(fan.next_event().await, Score::Goal { team: "away".into() });
//! # });
//! ```
//!
//! The waiting methods panic, failing the test with what they saw instead, when nothing
//! arrives within the subscription's patience (5 s unless [`TestSubscription::patience`] says
//! otherwise).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Router;
use crate::client::{Client, ClientError, Subscription, Update};
use crate::event::EventSet;

/// A tidings server on 127.0.0.1 and an ephemeral port, for one test. Dropping it stops it at
/// once; [`shutdown`](Self::shutdown) stops it gracefully.
pub struct TestServer {
    addr: SocketAddr,
    client: Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// Serves `router`. Fails when the routes conflict or no port can be bound.
    pub async fn start(router: Router) -> std::io::Result<TestServer> {
        // Conflicting routes are the test's mistake: say so here, not at shutdown.
        router
            .clone()
            .into_service()
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let serve = crate::serve(router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        Ok(TestServer {
            addr,
            client: Client::new(),
            stop: Some(stop),
            task: Some(tokio::spawn(serve.run(listener))),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}{path}`; `path` starts with `/` and may carry a query.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Subscribes to `path` with the typed client, which reconnects quickly (50 ms) after the
    /// stream ends or breaks.
    ///
    /// # Panics
    ///
    /// When `path` does not make a URL (it must start with `/`).
    pub fn subscribe<E: EventSet>(&self, path: &str) -> TestSubscription<E> {
        self.open(path, None)
    }

    /// Like [`subscribe`](Self::subscribe), resuming after `last_event_id` (sent as
    /// `Last-Event-ID`).
    pub fn resume<E: EventSet>(&self, path: &str, last_event_id: &str) -> TestSubscription<E> {
        self.open(path, Some(last_event_id))
    }

    fn open<E: EventSet>(&self, path: &str, last_event_id: Option<&str>) -> TestSubscription<E> {
        let url = self.url(path);
        let subscribe = match self.client.subscribe::<E>(&url) {
            Ok(subscribe) => subscribe,
            Err(error) => panic!("cannot subscribe to `{url}`: {error}"),
        };
        let subscribe = subscribe
            .retry(Duration::from_millis(50))
            .max_backoff(Duration::from_secs(1));
        let subscribe = match last_event_id {
            Some(id) => subscribe.last_event_id(id),
            None => subscribe,
        };
        TestSubscription {
            url,
            updates: subscribe.start(),
            last_event_id: last_event_id.map(str::to_owned),
            patience: Duration::from_secs(5),
        }
    }

    /// Stops the server gracefully and returns how it ended. Streams see `closed()`; a stream
    /// whose client is still connected may go on until the grace period ends, so drop the
    /// subscriptions first for a quick stop.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|error| {
                Err(std::io::Error::other(format!(
                    "the server task failed: {error}"
                )))
            }),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A typed subscription for tests; dropping it drops its connection.
pub struct TestSubscription<E> {
    url: String,
    updates: Subscription<E>,
    last_event_id: Option<String>,
    patience: Duration,
}

impl<E> fmt::Debug for TestSubscription<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSubscription")
            .field("url", &self.url)
            .field("last_event_id", &self.last_event_id)
            .finish_non_exhaustive()
    }
}

impl<E: fmt::Debug> TestSubscription<E> {
    /// How long the waiting methods wait before they fail the test (default 5 s).
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// The id of the last event received (or the one it resumed after), to resume from.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The next update of any kind: an event, a reset, a failed handler, or a final error;
    /// `None` once the subscription stopped for good.
    ///
    /// # Panics
    ///
    /// When nothing arrives within the patience.
    pub async fn next_update(&mut self) -> Option<Result<Update<E>, ClientError>> {
        let update = match tokio::time::timeout(self.patience, self.updates.next()).await {
            Ok(update) => update,
            Err(_) => panic!("nothing from `{}` within {:?}", self.url, self.patience),
        };
        if let Some(Ok(Update::Event { id: Some(id), .. })) = &update {
            self.last_event_id = Some(id.clone());
        }
        update
    }

    /// The next event. The end of a stream that the client comes back from
    /// ([`Update::Ended`] with `reconnect`) is passed over: events go on after it.
    ///
    /// # Panics
    ///
    /// When no event arrives within the patience, or something else arrives first: a reset,
    /// the `error` event of a failed handler, the end of a complete stream, an error of the
    /// client.
    pub async fn next_event(&mut self) -> E {
        loop {
            match self.next_update().await {
                Some(Ok(Update::Event { event, .. })) => return event,
                Some(Ok(Update::Ended {
                    reconnect: true, ..
                })) => {}
                other => panic!("expected an event from `{}`, got {other:?}", self.url),
            }
        }
    }

    /// The next `count` events, in order (see [`next_event`](Self::next_event)).
    pub async fn take(&mut self, count: usize) -> Vec<E> {
        let mut events = Vec::with_capacity(count);
        for _ in 0..count {
            events.push(self.next_event().await);
        }
        events
    }

    /// Asserts that nothing arrives for `window`.
    ///
    /// # Panics
    ///
    /// When an update arrives within `window`.
    pub async fn assert_quiet(&mut self, window: Duration) {
        if let Ok(update) = tokio::time::timeout(window, self.updates.next()).await {
            panic!(
                "expected nothing from `{}` for {window:?}, got {update:?}",
                self.url
            );
        }
    }
}

/// Polls `condition` every few milliseconds until it holds, e.g. until a hub counts the
/// subscriber a test just opened, so that what is published next reaches it.
///
/// # Panics
///
/// When it still does not hold after 5 s; the message names `what`.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still not so after 5 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
