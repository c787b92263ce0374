//! A typed client (cargo feature `client`): subscribe to a stream and receive the same
//! `#[event_stream]` enum the server sends, reconnecting and resuming on its own.
//!
//! ```no_run
//! use tidings::client::{Client, Update};
//! # #[tidings::event_stream] #[derive(Debug)] enum Clock { Tick { seq: u64 } }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut clock = Client::new().subscribe::<Clock>("http://127.0.0.1:8080/clock")?.start();
//! while let Some(update) = clock.next().await {
//!     match update? {
//!         Update::Event { id, event } => println!("{id:?}: {event:?}"),
//!         Update::Reset { .. } => println!("history is gone: refetch the state"),
//!         Update::Failed { data, .. } => println!("the handler failed: {data}"),
//!         // `Connected` and `Retrying`, with `report_connections(true)`.
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Any server's events, as they come, with [`RawEvent`] in place of an enum (its `error`,
//! `tidings.reset` and `tidings.end` events are then ordinary names), and its comments when
//! asked:
//!
//! ```no_run
//! use tidings::client::{Client, RawEvent, Update};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "http://127.0.0.1:8080/feed";
//! let mut feed = Client::new().subscribe::<RawEvent>(url)?.comments(true).start();
//! while let Some(update) = feed.next().await {
//!     match update? {
//!         Update::Event { event, .. } => println!("{}: {}", event.event, event.data),
//!         Update::Comment(text) => println!("(comment) {text}"),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The parser ([`Parser`]) follows the WHATWG algorithm to the letter. The client reconnects
//! after a network error or a normal end of the stream, after the server's `retry:` (1 s until
//! the server says otherwise), doubling the wait after each attempt that brought no event (up
//! to 30 s) with up to 25 % jitter, and sends `Last-Event-ID`; a `503 Service Unavailable`
//! with `Retry-After` (a hub whose shared storage is unreachable answers so), or a
//! `429 Too Many Requests` with `Retry-After` (a rate limit), is waited out and retried the
//! same way. A stream that the server ends itself says so with `tidings.end`
//! ([`Update::Ended`]); when the handler marked it complete, the subscription ends there
//! instead of reconnecting. It stops for good, reporting why, on `204 No Content`, on any
//! other status but `200`, and on a content type other than `text/event-stream`. It speaks
//! `http://`, and `https://` too with the `client-tls` feature (rustls, with Mozilla's root
//! certificates or a `rustls::ClientConfig` of your own). With the `compression` feature it
//! asks for compressed streams (`Accept-Encoding: zstd, br, gzip, deflate`, unless the
//! subscription sets the header itself) and decodes them; without it, a compressed response
//! ends the subscription with [`ClientError::ContentEncoding`].

mod connection;
mod decode;
mod parser;
mod update;

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

pub use parser::{DEFAULT_MAX_EVENT, ParseError, Parsed, Parser, RawEvent};
pub use update::{ClientError, Problem, ProblemItem, Receive, Update};

#[cfg(feature = "client-tls")]
pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "client-tls"))]
pub(crate) type Connector = HttpConnector;

/// The URL schemes the client speaks.
const SCHEMES: &[&str] = if cfg!(feature = "client-tls") {
    &["http", "https"]
} else {
    &["http"]
};

/// Opens subscriptions. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    pub(crate) http: HyperClient<Connector, Full<Bytes>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client over HTTP/1.1; with the `client-tls` feature, `https://` URLs are checked
    /// against Mozilla's root certificates (webpki-roots).
    pub fn new() -> Self {
        #[cfg(feature = "client-tls")]
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            // Only ring's provider is compiled in here, and it has both TLS versions.
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("ring supports the safe default TLS versions")
            .https_or_http()
            .enable_http1()
            .build();
        #[cfg(not(feature = "client-tls"))]
        let connector = HttpConnector::new();
        Client::over(connector)
    }

    /// A client whose `https://` connections use `config`: your own root certificates,
    /// client certificates, another crypto provider. Its ALPN protocols are replaced (this
    /// client speaks HTTP/1.1).
    #[cfg(feature = "client-tls")]
    pub fn with_tls(mut config: rustls::ClientConfig) -> Self {
        // hyper-rustls insists on choosing ALPN itself.
        config.alpn_protocols.clear();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Client::over(connector)
    }

    fn over(connector: Connector) -> Self {
        Client {
            http: HyperClient::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Prepares a subscription to `url`, whose events are `E`: an `#[event_stream]` enum, or
    /// [`RawEvent`] to take any server's events as they come (see [`Receive`]).
    pub fn subscribe<E: Receive>(&self, url: &str) -> Result<Subscribe<E>, ClientError> {
        let uri: Uri = url.parse().map_err(|_| ClientError::Url(url.to_owned()))?;
        let known_scheme = uri
            .scheme_str()
            .is_some_and(|scheme| SCHEMES.contains(&scheme));
        if !known_scheme || uri.host().is_none() {
            return Err(ClientError::Url(url.to_owned()));
        }
        Ok(Subscribe {
            http: self.http.clone(),
            uri,
            method: Method::GET,
            body: Bytes::new(),
            content_type: None,
            headers: None,
            fixed_headers: HeaderMap::new(),
            last_event_id: None,
            retry: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            read_timeout: None,
            max_event_bytes: DEFAULT_MAX_EVENT,
            report_connections: false,
            comments: false,
            _events: PhantomData,
        })
    }
}

type HeaderFn = Arc<dyn Fn() -> HeaderMap + Send + Sync>;

/// A subscription being configured; [`start`](Subscribe::start) opens it.
pub struct Subscribe<E> {
    http: HyperClient<Connector, Full<Bytes>>,
    uri: Uri,
    method: Method,
    body: Bytes,
    content_type: Option<HeaderValue>,
    headers: Option<HeaderFn>,
    /// Sent on every (re)connection, before what `headers` computes.
    fixed_headers: HeaderMap,
    last_event_id: Option<String>,
    retry: Duration,
    max_backoff: Duration,
    read_timeout: Option<Duration>,
    max_event_bytes: usize,
    report_connections: bool,
    comments: bool,
    _events: PhantomData<fn() -> E>,
}

impl<E> fmt::Debug for Subscribe<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribe")
            .field("uri", &self.uri)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl<E: Receive> Subscribe<E> {
    /// Headers to send, computed again for every (re)connection: e.g. a fresh
    /// `Authorization` token.
    pub fn headers(mut self, headers: impl Fn() -> HeaderMap + Send + Sync + 'static) -> Self {
        self.headers = Some(Arc::new(headers));
        self
    }

    /// Sends `name: value` on every (re)connection (added to what [`headers`](Self::headers)
    /// computes, which wins for the same name).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.fixed_headers.append(name, value);
        self
    }

    /// Sends `Authorization: Bearer <token>` on every (re)connection.
    ///
    /// # Panics
    ///
    /// When `token` holds characters a header cannot carry (controls, non-ASCII).
    pub fn bearer_auth(self, token: &str) -> Self {
        let value = HeaderValue::try_from(format!("Bearer {token}"))
            .expect("a bearer token is visible ASCII");
        self.header(http::header::AUTHORIZATION, value)
    }

    /// Sends `body` as JSON with `POST`, on every (re)connection.
    pub fn post_json<T: serde::Serialize>(mut self, body: &T) -> Result<Self, ClientError> {
        self.body = serde_json::to_vec(body).map_err(ClientError::Body)?.into();
        self.method = Method::POST;
        Ok(self)
    }

    /// The request method (default `GET`; `post_json` sets `POST`), any of them: `REPORT`,
    /// `QUERY`, your own.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sends `body` on every (re)connection, with `content_type` unless
    /// [`headers`](Self::headers) sets one.
    pub fn body(mut self, body: impl Into<Bytes>, content_type: HeaderValue) -> Self {
        self.body = body.into();
        self.content_type = Some(content_type);
        self
    }

    /// The largest line, and the largest event's data, the client takes (default 16 MiB;
    /// comment lines of any length are skipped without being kept). A stream that sends
    /// more is reported as [`ClientError::Parse`] and reconnected, resuming after the last
    /// event it delivered.
    pub fn max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes;
        self
    }

    /// Also reports each connection that opens ([`Update::Connected`]) and each failure or
    /// end that will be retried, with why and how long until the next attempt
    /// ([`Update::Retrying`]), not only final errors.
    pub fn report_connections(mut self, report: bool) -> Self {
        self.report_connections = report;
        self
    }

    /// Also reports the stream's comment lines ([`Update::Comment`]), such as heartbeats:
    /// a sign of life when no event comes. They are then bounded like other lines.
    pub fn comments(mut self, report: bool) -> Self {
        self.comments = report;
        self
    }

    /// Drops a connection that delivers no byte (no event, no comment, no heartbeat) for
    /// `timeout`, and reconnects with the last event id: a connection whose peer vanished
    /// would otherwise wait forever. Off by default; set it above the server's heartbeat
    /// interval.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = Some(timeout);
        self
    }

    /// Resumes after `id`, as if it were the last event id seen.
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }

    /// The reconnection delay until the server sends `retry:` (default 1 s).
    pub fn retry(mut self, delay: Duration) -> Self {
        self.retry = delay;
        self
    }

    /// The longest wait between attempts (default 30 s).
    pub fn max_backoff(mut self, delay: Duration) -> Self {
        self.max_backoff = delay;
        self
    }

    /// Connects, in a task of its own, and returns the stream of updates.
    pub fn start(self) -> Subscription<E> {
        let (tx, rx) = mpsc::channel(64);
        let restart = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(connection::run(self, tx, restart.clone()));
        Subscription { rx, restart }
    }
}

/// The updates of one subscription. Dropping it closes the connection.
#[derive(Debug)]
pub struct Subscription<E> {
    rx: mpsc::Receiver<Result<Update<E>, ClientError>>,
    restart: Arc<tokio::sync::Notify>,
}

impl<E> Subscription<E> {
    /// Drops the connection and reconnects at once (or ends the wait before the next
    /// attempt), keeping the last event id, the server's `retry` and the backoff: e.g. after
    /// the network changed, or when the headers should be evaluated again now.
    pub fn restart(&self) {
        self.restart.notify_one();
    }

    /// The next update; `None` once the subscription stopped for good (after a final error).
    pub async fn next(&mut self) -> Option<Result<Update<E>, ClientError>> {
        self.rx.recv().await
    }
}

impl<E> futures_core::Stream for Subscription<E> {
    type Item = Result<Update<E>, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}
