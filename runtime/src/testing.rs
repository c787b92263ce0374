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

use std::future::Future;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Router;
use crate::boxed::BoxError;
use crate::client::{Client, ClientError, Connector, Subscribe, Subscription, Update};
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
        let (stop, stopped) = oneshot::channel::<()>();
        let serve = crate::serve(router).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        Self::running(&listener, stop).map(|server| server.with_task(serve.run(listener)))
    }

    /// Serves any tower service the way [`serve_service`](crate::serve_service) does: the
    /// whole app, e.g. an axum router with tidings mounted in it, its own routes included.
    pub async fn serve_service<S, B>(service: S) -> std::io::Result<TestServer>
    where
        S: tower_service::Service<Request<crate::server::ServedBody>, Response = Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let serve = crate::serve_service(service).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        Self::running(&listener, stop).map(|server| server.with_task(serve.run(listener)))
    }

    fn running(
        listener: &tokio::net::TcpListener,
        stop: oneshot::Sender<()>,
    ) -> std::io::Result<TestServer> {
        Ok(TestServer {
            addr: listener.local_addr()?,
            client: Client::new(),
            stop: Some(stop),
            task: None,
        })
    }

    fn with_task(
        mut self,
        serve: impl Future<Output = std::io::Result<()>> + Send + 'static,
    ) -> TestServer {
        self.task = Some(tokio::spawn(serve));
        self
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
        self.subscription(path).start()
    }

    /// Like [`subscribe`](Self::subscribe), resuming after `last_event_id` (sent as
    /// `Last-Event-ID`).
    pub fn resume<E: EventSet>(&self, path: &str, last_event_id: &str) -> TestSubscription<E> {
        self.subscription(path).last_event_id(last_event_id).start()
    }

    /// A subscription to configure before it starts: headers such as a bearer token, a
    /// `Last-Event-ID`, the client's own settings.
    ///
    /// # Panics
    ///
    /// When `path` does not make a URL (it must start with `/`).
    pub fn subscription<E: EventSet>(&self, path: &str) -> TestSubscribe<E> {
        let url = self.url(path);
        let subscribe = match self.client.subscribe::<E>(&url) {
            Ok(subscribe) => subscribe,
            Err(error) => panic!("cannot subscribe to `{url}`: {error}"),
        };
        TestSubscribe {
            url,
            subscribe: subscribe
                .retry(Duration::from_millis(50))
                .max_backoff(Duration::from_secs(1)),
            last_event_id: None,
        }
    }

    /// An ordinary request to `path` (a JSON route, a plain axum route), to send with
    /// [`TestRequest::send`].
    pub fn request(&self, method: Method, path: &str) -> TestRequest {
        TestRequest {
            http: self.client.http.clone(),
            url: self.url(path),
            request: Request::builder().method(method),
            body: Bytes::new(),
        }
    }

    /// `GET path` (see [`request`](Self::request)).
    pub fn get(&self, path: &str) -> TestRequest {
        self.request(Method::GET, path)
    }

    /// `POST path` (see [`request`](Self::request)).
    pub fn post(&self, path: &str) -> TestRequest {
        self.request(Method::POST, path)
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

/// A subscription being configured; made by [`TestServer::subscription`].
pub struct TestSubscribe<E> {
    url: String,
    subscribe: Subscribe<E>,
    last_event_id: Option<String>,
}

impl<E> fmt::Debug for TestSubscribe<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestSubscribe")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl<E: EventSet> TestSubscribe<E> {
    /// Sends `Authorization: Bearer <token>` on every (re)connection.
    pub fn bearer_auth(mut self, token: &str) -> Self {
        self.subscribe = self.subscribe.bearer_auth(token);
        self
    }

    /// Sends a header on every (re)connection.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.subscribe = self.subscribe.header(name, value);
        self
    }

    /// Resumes after `id` (sent as `Last-Event-ID`).
    pub fn last_event_id(mut self, id: &str) -> Self {
        self.subscribe = self.subscribe.last_event_id(id);
        self.last_event_id = Some(id.to_owned());
        self
    }

    /// Changes anything else of the client's [`Subscribe`]: a `POST` body, timeouts...
    pub fn configure(mut self, configure: impl FnOnce(Subscribe<E>) -> Subscribe<E>) -> Self {
        self.subscribe = configure(self.subscribe);
        self
    }

    /// Opens it.
    pub fn start(self) -> TestSubscription<E> {
        TestSubscription {
            url: self.url,
            updates: self.subscribe.start(),
            last_event_id: self.last_event_id,
            patience: Duration::from_secs(5),
        }
    }
}

/// An ordinary request being built; made by [`TestServer::request`].
pub struct TestRequest {
    http: HyperClient<Connector, Full<Bytes>>,
    url: String,
    request: http::request::Builder,
    body: Bytes,
}

impl fmt::Debug for TestRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRequest")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl TestRequest {
    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    /// Sends `Authorization: Bearer <token>`.
    ///
    /// # Panics
    ///
    /// When `token` holds characters a header cannot carry.
    pub fn bearer_auth(self, token: &str) -> Self {
        let value = HeaderValue::try_from(format!("Bearer {token}"))
            .expect("a bearer token is visible ASCII");
        self.header(AUTHORIZATION, value)
    }

    /// Sends `body` as JSON (`content-type: application/json`).
    ///
    /// # Panics
    ///
    /// When `body` does not serialize.
    pub fn json<T: Serialize>(mut self, body: &T) -> Self {
        self.body = serde_json::to_vec(body)
            .expect("the test's request body serializes")
            .into();
        self.header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
    }

    /// Sends `body` as it is, e.g. malformed JSON (set its `content-type` with
    /// [`header`](Self::header)).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole answer.
    ///
    /// # Panics
    ///
    /// When the request cannot be built, the server cannot be reached, or the answer does not
    /// arrive within 5 s (a stream does not end: use a subscription for one).
    pub async fn send(self) -> TestResponse {
        let url = self.url;
        let request = match self.request.uri(url.as_str()).body(Full::new(self.body)) {
            Ok(request) => request,
            Err(error) => panic!("cannot build the request to `{url}`: {error}"),
        };
        let answer = async {
            let response = self.http.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, BoxError>(TestResponse { parts, body })
        };
        match tokio::time::timeout(Duration::from_secs(5), answer).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => panic!("the request to `{url}` failed: {error}"),
            Err(_) => panic!("no whole answer from `{url}` within 5 s"),
        }
    }
}

/// A whole answer to a [`TestRequest`].
#[derive(Debug)]
pub struct TestResponse {
    parts: http::response::Parts,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.parts.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON of type `T`.
    ///
    /// # Panics
    ///
    /// When it is not: the message shows the status and the body.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        match serde_json::from_slice(&self.body) {
            Ok(value) => value,
            Err(error) => panic!(
                "the answer ({}) is not the JSON expected: {error}; body: {}",
                self.status(),
                self.text()
            ),
        }
    }

    /// The problem details of a refusal (`application/problem+json`), as JSON.
    ///
    /// # Panics
    ///
    /// When the answer is not problem+json.
    pub fn problem(&self) -> serde_json::Value {
        let content_type = self
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        assert_eq!(
            content_type,
            Some("application/problem+json"),
            "expected problem details, got {} with body {}",
            self.status(),
            self.text()
        );
        self.json()
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
