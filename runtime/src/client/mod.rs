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
//! The parser ([`Parser`]) follows the WHATWG algorithm to the letter. The client reconnects
//! after a network error or a normal end of the stream, after the server's `retry:` (1 s until
//! the server says otherwise), doubling the wait after each attempt that brought no event (up
//! to 30 s) with up to 25 % jitter, and sends `Last-Event-ID`. It stops for good, reporting
//! why, on `204 No Content`, on any other status but `200`, and on a content type other than
//! `text/event-stream`. It speaks `http://`, and `https://` too with the `client-tls` feature
//! (rustls, with Mozilla's root certificates or a [`rustls::ClientConfig`] of your own).

mod parser;

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

pub use parser::{DEFAULT_MAX_EVENT, ParseError, Parser, RawEvent};

use crate::event::{DecodeError, ERROR_EVENT, EventSet};
use crate::hub::RESET_EVENT;

#[cfg(feature = "client-tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "client-tls"))]
type Connector = HttpConnector;

/// The URL schemes the client speaks.
const SCHEMES: &[&str] = if cfg!(feature = "client-tls") {
    &["http", "https"]
} else {
    &["http"]
};

/// Opens subscriptions. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Client {
    http: HyperClient<Connector, Full<Bytes>>,
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

    /// Prepares a subscription to `url`, whose events are `E`.
    pub fn subscribe<E: EventSet>(&self, url: &str) -> Result<Subscribe<E>, ClientError> {
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
            last_event_id: None,
            retry: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            read_timeout: None,
            max_event_bytes: DEFAULT_MAX_EVENT,
            report_connections: false,
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
    last_event_id: Option<String>,
    retry: Duration,
    max_backoff: Duration,
    read_timeout: Option<Duration>,
    max_event_bytes: usize,
    report_connections: bool,
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

impl<E: EventSet> Subscribe<E> {
    /// Headers to send, computed again for every (re)connection: e.g. a fresh
    /// `Authorization` token.
    pub fn headers(mut self, headers: impl Fn() -> HeaderMap + Send + Sync + 'static) -> Self {
        self.headers = Some(Arc::new(headers));
        self
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
        tokio::spawn(run(self, tx, restart.clone()));
        Subscription { rx, restart }
    }
}

/// What a subscription receives. More kinds may come: match with a `_` arm.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Update<E> {
    /// An event of the stream's set.
    Event {
        /// The last event id at this event (hub streams give each event one).
        id: Option<String>,
        /// The decoded event.
        event: E,
    },
    /// The server could not resume from the last event id: refetch the state. The data is
    /// `{"reason": ..., "oldest": ..., "latest": ...}`.
    Reset {
        /// The reset's data.
        data: serde_json::Value,
    },
    /// The handler failed after the stream started (the `error` event); the client
    /// reconnects as usual.
    Failed {
        /// The error event's data: `{"message": ...}` by default; data that is not JSON
        /// comes as a JSON string of the text as it was sent.
        data: serde_json::Value,
        /// The last event id at this event.
        id: Option<String>,
    },
    /// A connection opened: `200`, an event stream. Only with
    /// [`report_connections`](Subscribe::report_connections).
    Connected,
    /// A connection ended or failed, and the client tries again after `delay`. Only with
    /// [`report_connections`](Subscribe::report_connections).
    Retrying {
        /// What happened.
        reason: String,
        /// How long until the next attempt (the server's `retry`, backoff and jitter).
        delay: Duration,
    },
}

/// Why a subscription failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// Not an `http://host/...` URL (or `https://`, with the `client-tls` feature).
    Url(String),
    /// The request body could not be serialized.
    Body(serde_json::Error),
    /// An event could not be decoded; the subscription goes on.
    Decode(DecodeError),
    /// The server answered `204 No Content`: it has nothing for this client. Final.
    NoContent,
    /// The server answered another status than `200`. Final.
    Status(StatusCode),
    /// The response is not `text/event-stream`. Final.
    ContentType(Option<String>),
    /// The stream sent a line or an event larger than
    /// [`max_event_bytes`](Subscribe::max_event_bytes); the client reconnects and resumes.
    Parse(ParseError),
    /// A redirect that cannot be followed: no `Location`, a URL of another scheme, or more
    /// than ten in a row. Final.
    Redirect(String),
    /// The last event id holds characters a header cannot carry (controls): the client
    /// reconnected without `Last-Event-ID`, so the server could not resume. Not final.
    LastEventId(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Url(url) => {
                write!(f, "`{url}` is not a URL of ")?;
                f.write_str(&SCHEMES.join(":// or "))?;
                f.write_str("://")
            }
            ClientError::Body(error) => write!(f, "cannot serialize the request body: {error}"),
            ClientError::Decode(error) => error.fmt(f),
            ClientError::NoContent => f.write_str("the server has no stream for this client (204)"),
            ClientError::Status(status) => write!(f, "the server answered {status}"),
            ClientError::ContentType(kind) => {
                write!(
                    f,
                    "the response is not an event stream: content-type {kind:?}"
                )
            }
            ClientError::Parse(error) => error.fmt(f),
            ClientError::Redirect(why) => write!(f, "cannot follow the redirect: {why}"),
            ClientError::LastEventId(id) => write!(
                f,
                "the last event id {id:?} cannot be sent as a header: reconnected without it"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

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

/// How a connection ended.
enum Ended {
    /// Reconnect; `progressed` when it delivered at least one event.
    Retry { progressed: bool, reason: String },
    /// Stop for good.
    Stop,
    /// The caller asked for a new connection now.
    Restart,
}

type Sender<E> = mpsc::Sender<Result<Update<E>, ClientError>>;

async fn run<E: EventSet>(config: Subscribe<E>, tx: Sender<E>, restart: Arc<tokio::sync::Notify>) {
    let mut parser = Parser::new(config.max_event_bytes, config.max_event_bytes);
    if let Some(id) = &config.last_event_id {
        parser.set_last_event_id(id.clone());
    }
    let mut failures = 0u32;
    loop {
        let ended = tokio::select! {
            ended = connect(&config, &mut parser, &tx) => ended,
            _ = restart.notified() => Ended::Restart,
            _ = tx.closed() => return,
        };
        let reason = match ended {
            Ended::Stop => return,
            Ended::Restart => {
                parser.reconnect();
                continue;
            }
            Ended::Retry { progressed, reason } => {
                failures = if progressed {
                    0
                } else {
                    failures.saturating_add(1)
                };
                reason
            }
        };
        let base = parser.retry().map_or(config.retry, Duration::from_millis);
        let delay = base
            .saturating_mul(1 << failures.min(16))
            .min(config.max_backoff.max(base));
        let delay = delay + jitter(delay);
        if config.report_connections {
            let retrying = Update::Retrying { reason, delay };
            if tx.send(Ok(retrying)).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = restart.notified() => {}
            _ = tx.closed() => return,
        }
        parser.reconnect();
    }
}

/// Up to a quarter of `delay`, so that clients cut together do not come back together.
fn jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let quarter = delay.as_nanos() as u64 / 4;
    Duration::from_nanos(if quarter == 0 { 0 } else { nanos % quarter })
}

/// Where a connection's request goes: the subscription's own, or where redirects led.
struct Target {
    uri: Uri,
    method: Method,
    body: Bytes,
    /// Whether the body (and its content type) still go: not after a redirect to `GET`.
    with_body: bool,
}

/// The most redirects one connection follows, as browsers do.
const MAX_REDIRECTS: usize = 10;

async fn connect<E: EventSet>(config: &Subscribe<E>, parser: &mut Parser, tx: &Sender<E>) -> Ended {
    let mut target = Target {
        uri: config.uri.clone(),
        method: config.method.clone(),
        body: config.body.clone(),
        with_body: true,
    };
    let mut hops = 0;
    let response = loop {
        let (request, unsent_id) = request(config, &target, parser);
        // Said once per connection, not once per redirect.
        if let Some(error) = unsent_id
            && hops == 0
            && tx.send(Err(error)).await.is_err()
        {
            return Ended::Stop;
        }
        let response = match config.http.request(request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(uri = %target.uri, %error, "event stream connection failed");
                return Ended::Retry {
                    progressed: false,
                    reason: format!("the connection failed: {error}"),
                };
            }
        };
        match redirect(&response, &target) {
            None => break response,
            Some(Ok(next)) if hops < MAX_REDIRECTS => {
                hops += 1;
                target = next;
            }
            Some(Ok(next)) => {
                let error = format!(
                    "more than {MAX_REDIRECTS} redirects (the last to {})",
                    next.uri
                );
                let _ = tx.send(Err(ClientError::Redirect(error))).await;
                return Ended::Stop;
            }
            Some(Err(error)) => {
                let _ = tx.send(Err(ClientError::Redirect(error))).await;
                return Ended::Stop;
            }
        }
    };
    let final_error = match response.status() {
        StatusCode::OK => None,
        StatusCode::NO_CONTENT => Some(ClientError::NoContent),
        status => Some(ClientError::Status(status)),
    };
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let final_error = final_error.or_else(|| {
        let essence = content_type
            .as_deref()
            .and_then(|t| t.split(';').next())
            .map(str::trim);
        (!essence.is_some_and(|t| t.eq_ignore_ascii_case("text/event-stream")))
            .then(|| ClientError::ContentType(content_type.clone()))
    });
    if let Some(error) = final_error {
        let _ = tx.send(Err(error)).await;
        return Ended::Stop;
    }

    if config.report_connections && tx.send(Ok(Update::Connected)).await.is_err() {
        return Ended::Stop;
    }
    let mut body = response.into_body();
    let mut events = Vec::new();
    let mut progressed = false;
    loop {
        let next = match config.read_timeout {
            Some(limit) => match tokio::time::timeout(limit, body.frame()).await {
                Ok(next) => next,
                Err(_) => {
                    tracing::debug!(uri = %config.uri, "event stream silent: reconnecting");
                    return Ended::Retry {
                        progressed,
                        reason: format!("no byte for {limit:?}"),
                    };
                }
            },
            None => body.frame().await,
        };
        let chunk = match next {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Some(Err(error)) => {
                tracing::debug!(uri = %config.uri, %error, "event stream broke");
                return Ended::Retry {
                    progressed,
                    reason: format!("the stream broke: {error}"),
                };
            }
            None => {
                return Ended::Retry {
                    progressed,
                    reason: "the server ended the stream".to_owned(),
                };
            }
        };
        if let Err(error) = parser.feed(&chunk, &mut events) {
            // The events before the oversized one still count; the client resumes after them.
            for raw in events.drain(..) {
                progressed = true;
                if tx.send(update::<E>(raw)).await.is_err() {
                    return Ended::Stop;
                }
            }
            if tx.send(Err(ClientError::Parse(error))).await.is_err() {
                return Ended::Stop;
            }
            return Ended::Retry {
                progressed,
                reason: error.to_string(),
            };
        }
        for raw in events.drain(..) {
            progressed = true;
            if tx.send(update::<E>(raw)).await.is_err() {
                return Ended::Stop;
            }
        }
    }
}

/// The request of one connection to `target`, and the error to report when the last event id
/// could not go in a header.
fn request<E>(
    config: &Subscribe<E>,
    target: &Target,
    parser: &Parser,
) -> (Request<Full<Bytes>>, Option<ClientError>) {
    let body = if target.with_body {
        target.body.clone()
    } else {
        Bytes::new()
    };
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = target.method.clone();
    *request.uri_mut() = target.uri.clone();
    let headers = request.headers_mut();
    if let Some(extra) = &config.headers {
        headers.extend(extra());
    }
    headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !target.with_body {
        headers.remove(CONTENT_TYPE);
    } else if !headers.contains_key(CONTENT_TYPE) {
        match &config.content_type {
            Some(content_type) => {
                headers.insert(CONTENT_TYPE, content_type.clone());
            }
            None if target.method == Method::POST => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            None => {}
        }
    }
    let last_event_id = parser.last_event_id();
    if !last_event_id.is_empty() {
        // UTF-8 as it is, as browsers send it; control characters cannot be sent at all.
        match HeaderValue::from_bytes(last_event_id.as_bytes()) {
            Ok(value) => {
                headers.insert(HeaderName::from_static("last-event-id"), value);
            }
            Err(_) => {
                let error = ClientError::LastEventId(last_event_id.to_owned());
                return (request, Some(error));
            }
        }
    }
    (request, None)
}

/// Where a redirect leads (`None` when the response is not one; `Err` when it cannot be
/// followed). As fetch does: `307` and `308` keep the method and body, `303` (and `301`/`302`
/// after a `POST`) turn into a `GET` without a body.
fn redirect<B>(response: &http::Response<B>, target: &Target) -> Option<Result<Target, String>> {
    let status = response.status().as_u16();
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let Some(location) = response
        .headers()
        .get(http::header::LOCATION)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.trim().is_empty())
    else {
        return Some(Err(format!("a {status} redirect without a Location")));
    };
    let next = url::Url::parse(&target.uri.to_string())
        .and_then(|base| base.join(location.trim()))
        .ok()
        .filter(|next| SCHEMES.contains(&next.scheme()))
        .and_then(|next| next.as_str().parse::<Uri>().ok());
    let Some(uri) = next else {
        return Some(Err(format!(
            "a {status} redirect to `{location}`, which is not a URL this client speaks"
        )));
    };
    let to_get = status == 303 && target.method != Method::HEAD
        || matches!(status, 301 | 302) && target.method == Method::POST;
    Some(Ok(Target {
        uri,
        method: if to_get {
            Method::GET
        } else {
            target.method.clone()
        },
        with_body: target.with_body && !to_get,
        body: target.body.clone(),
    }))
}

fn update<E: EventSet>(raw: RawEvent) -> Result<Update<E>, ClientError> {
    // Data that is not JSON is kept as the text it was, not lost.
    let json = |data: String| match serde_json::from_str(&data) {
        Ok(value) => value,
        Err(_) => serde_json::Value::String(data),
    };
    let id = (!raw.last_event_id.is_empty()).then_some(raw.last_event_id);
    match raw.event.as_str() {
        RESET_EVENT => Ok(Update::Reset {
            data: json(raw.data),
        }),
        ERROR_EVENT => Ok(Update::Failed {
            data: json(raw.data),
            id,
        }),
        name => E::decode(name, &raw.data)
            .map(|event| Update::Event { id, event })
            .map_err(ClientError::Decode),
    }
}
