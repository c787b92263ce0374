//! Authenticated streams: every stream needs a bearer token (`Router::require`), a token
//! without the `feed` scope is refused, and a stream ends when its token expires, so that the
//! client comes back with a fresh one and resumes where it stopped. Run it with
//! `cargo run -p tidings-example-auth --example auth` and open the printed address.
//!
//! Tokens come from `POST /token` (a stand-in for a real identity provider) and live
//! `TOKEN_TTL_MS` milliseconds (default 10 s).
//!
//! With `REDIS_URL`, the readings go through a Redis stream: a restarted server continues the
//! count, and a page that kept its last event id resumes after it, losing nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::StatusCode;
use http::header::{HeaderValue, WWW_AUTHENTICATE};
use schemars::SchemaGenerator;
use serde::{Deserialize, Serialize};
use tidings::hub::{EitherStorage, Hub, HubOptions, MemoryStorage, Subscribed};
use tidings::openapi::InputDoc;
use tidings::{
    Emitter, Extension, FromRequest, Rejection, RequestContext, Router, State, event_stream,
};
use tidings_redis::{Redis, RedisStorage};
use tokio::time::Instant;

/// What the feed says.
#[event_stream]
#[derive(Debug, Clone)]
pub enum Feed {
    /// One reading, every 200 ms.
    Reading {
        /// Readings so far.
        n: u64,
        /// Milliseconds since the Unix epoch.
        unix_ms: u64,
    },
}

/// Where the readings are kept: in this process, or in Redis.
pub type Storage = EitherStorage<MemoryStorage<Feed>, RedisStorage<Feed>>;

/// The readings' hub.
pub type FeedHub = Hub<Feed, Storage>;

/// The Redis stream of the readings, with `REDIS_URL`.
pub const REDIS_KEY: &str = "tidings:auth:feed";

/// Readings kept in this process (the default).
pub fn memory_hub() -> FeedHub {
    let options = HubOptions::default();
    Hub::with_storage(
        EitherStorage::Left(MemoryStorage::new(options.window)),
        options,
    )
}

/// Readings kept in the Redis stream [`REDIS_KEY`] at `url`.
pub fn redis_hub(url: &str) -> Result<FeedHub, redis::RedisError> {
    let options = HubOptions::default();
    let storage = Redis::open(url)?.storage(REDIS_KEY, options.window);
    Ok(Hub::with_storage(EitherStorage::Right(storage), options))
}

/// The `n` of the newest reading in the Redis stream at `url`, if it has one: a restarted
/// server continues the count after it.
pub async fn last_reading(url: &str) -> Result<Option<u64>, redis::RedisError> {
    /// A stream entry: its id, and its fields (tidings-redis keeps the event's frame in `frame`).
    type Entry = (String, Vec<(String, Vec<u8>)>);
    let mut connection = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let newest: Vec<Entry> = redis::cmd("XREVRANGE")
        .arg(REDIS_KEY)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut connection)
        .await?;
    let n = newest
        .into_iter()
        .flat_map(|(_, fields)| fields)
        .filter(|(field, _)| field == "frame")
        .find_map(|(_, frame)| reading_number(&String::from_utf8(frame).ok()?));
    Ok(n)
}

/// The `n` of a reading's frame (`event: reading`, `data: {"n":..}`).
fn reading_number(frame: &str) -> Option<u64> {
    let data = frame.lines().find_map(|line| line.strip_prefix("data: "))?;
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    value["n"].as_u64()
}

/// Who a token belongs to, and what it allows until when.
#[derive(Debug, Clone)]
pub struct User {
    /// The user's name.
    pub name: String,
    /// What the token allows, e.g. `feed`.
    pub scopes: Vec<String>,
    /// When the token stops working.
    pub expires: Instant,
}

/// The tokens handed out, by token.
#[derive(Debug, Clone)]
pub struct Tokens {
    issued: Arc<Mutex<HashMap<String, User>>>,
    ttl: Duration,
    /// The most unexpired tokens kept at once.
    max_tokens: usize,
}

/// The largest `POST /token` body: a name and a few scopes.
pub const MAX_TOKEN_REQUEST_BYTES: usize = 4 * 1024;
/// The most scopes one token may carry, and the longest scope and name.
const MAX_SCOPES: usize = 8;
const MAX_NAME_CHARS: usize = 64;

/// What `POST /token` takes.
#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    /// The user.
    pub name: String,
    /// The scopes to grant.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// What `POST /token` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Token {
    /// The bearer token.
    pub token: String,
    /// Its lifetime in milliseconds.
    pub expires_in_ms: u64,
}

impl Tokens {
    /// Tokens that live `ttl`, at most 10,000 at once.
    pub fn new(ttl: Duration) -> Self {
        Tokens::bounded(ttl, 10_000)
    }

    /// Tokens that live `ttl`, at most `max_tokens` unexpired ones at once.
    pub fn bounded(ttl: Duration, max_tokens: usize) -> Self {
        Tokens {
            issued: Arc::default(),
            ttl,
            max_tokens,
        }
    }

    /// A new token for `request`: `400` for a request out of bounds (a name of 1 to 64
    /// characters, at most 8 scopes of at most 64 characters), `503` while the store is full.
    pub fn issue(&self, request: TokenRequest) -> Result<Token, Rejection> {
        let name_ok = (1..=MAX_NAME_CHARS).contains(&request.name.chars().count());
        let scopes_ok = request.scopes.len() <= MAX_SCOPES
            && request
                .scopes
                .iter()
                .all(|scope| (1..=MAX_NAME_CHARS).contains(&scope.chars().count()));
        if !name_ok || !scopes_ok {
            return Err(Rejection::new(StatusCode::BAD_REQUEST).detail(format!(
                "a token request has a name of 1 to {MAX_NAME_CHARS} characters and at most \
                 {MAX_SCOPES} scopes of 1 to {MAX_NAME_CHARS} characters"
            )));
        }
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let token = format!("t{}-{nanos:x}", NEXT.fetch_add(1, Ordering::Relaxed));
        let user = User {
            name: request.name,
            scopes: request.scopes,
            expires: Instant::now() + self.ttl,
        };
        let mut issued = self.issued.lock().unwrap();
        if issued.len() >= self.max_tokens {
            issued.retain(|_, user| user.expires > Instant::now());
        }
        if issued.len() >= self.max_tokens {
            return Err(Rejection::new(StatusCode::SERVICE_UNAVAILABLE)
                .detail("too many tokens are in use; try again when some have expired")
                .expose()
                .header(http::header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        issued.insert(token.clone(), user);
        Ok(Token {
            token,
            expires_in_ms: self.ttl.as_millis() as u64,
        })
    }

    /// Unexpired tokens kept now (at most `max_tokens`).
    pub fn len(&self) -> usize {
        let mut issued = self.issued.lock().unwrap();
        issued.retain(|_, user| user.expires > Instant::now());
        issued.len()
    }

    /// Whether no unexpired token is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `POST /token`: a token for a JSON `TokenRequest`, a stand-in for an identity provider.
/// Bodies past [`MAX_TOKEN_REQUEST_BYTES`] get `413`, requests out of bounds `400`; both, like
/// a full store's `503`, as problem+json.
pub fn token_route(tokens: Tokens) -> axum::Router {
    use axum::response::IntoResponse as _;
    let issue = move |axum::Json(request): axum::Json<TokenRequest>| {
        let issued = tokens.issue(request);
        async move {
            match issued {
                Ok(token) => axum::Json(token).into_response(),
                Err(rejection) => rejection.into_response().map(axum::body::Body::new),
            }
        }
    };
    axum::Router::new()
        .route("/token", axum::routing::post(issue))
        .layer(axum::extract::DefaultBodyLimit::max(
            MAX_TOKEN_REQUEST_BYTES,
        ))
}

impl Tokens {
    fn user(&self, token: &str) -> Option<User> {
        let issued = self.issued.lock().unwrap();
        issued
            .get(token)
            .filter(|user| user.expires > Instant::now())
            .cloned()
    }
}

fn unauthorized(detail: &str) -> Rejection {
    Rejection::new(StatusCode::UNAUTHORIZED)
        .detail(detail)
        .header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
}

/// The user of `Authorization: Bearer <token>`; `401` without a valid, unexpired token.
impl FromRequest for User {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let State(tokens) = State::<Tokens>::from_request(cx).await?;
        let token = cx
            .bearer_token()
            .ok_or_else(|| unauthorized("send `Authorization: Bearer <token>`"))?;
        tokens
            .user(token)
            .ok_or_else(|| unauthorized("the token is unknown or has expired"))
    }

    fn describe(doc: &mut InputDoc, _generator: &mut SchemaGenerator) {
        doc.response(401, "No valid bearer token.");
    }
}

/// The user, if their token has the `feed` scope; `403` if not.
pub struct FeedReader(pub User);

impl FromRequest for FeedReader {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let Extension(user) = Extension::<User>::from_request(cx).await?;
        if !user.scopes.iter().any(|scope| scope == "feed") {
            return Err(Rejection::new(StatusCode::FORBIDDEN)
                .detail("the token does not have the `feed` scope"));
        }
        Ok(FeedReader(user))
    }

    fn describe(doc: &mut InputDoc, _generator: &mut SchemaGenerator) {
        doc.response(403, "The token lacks the `feed` scope.");
    }
}

/// The readings, live, for as long as the token lasts; a client that comes back with a fresh
/// token and its `Last-Event-ID` resumes after the last reading it got.
#[event_stream(path = "/feed")]
pub async fn feed(
    FeedReader(user): FeedReader,
    // After the token check: nobody subscribes without one.
    Subscribed(readings): Subscribed<Feed, Storage>,
    events: Emitter<Feed>,
) -> tidings::Result<()> {
    tokio::select! {
        forwarded = events.forward(readings) => forwarded?,
        // The token expired: end the stream; the client reconnects with a new one.
        _ = tokio::time::sleep_until(user.expires) => {}
    }
    Ok(())
}

/// The stream routes: every one requires a user (`401` before any stream starts).
pub fn routes(hub: FeedHub, tokens: Tokens) -> Router {
    Router::new()
        .route(feed)
        .require::<User>()
        .with_state(hub)
        .with_state(tokens)
        .retry(Duration::from_millis(100))
}

/// Publishes a reading every 200 ms, counting from `first`, until the hub fails.
pub async fn publish(hub: FeedHub, first: u64) {
    let mut every = tokio::time::interval(Duration::from_millis(200));
    for n in first.. {
        every.tick().await;
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if hub.publish(Feed::Reading { n, unix_ms }).await.is_err() {
            break;
        }
    }
}

/// The page: the generated TypeScript client with its `fetch` transport and a fresh token on
/// every connection.
pub const PAGE: &str = include_str!("index.html");

/// The TypeScript client of the routes (committed as `examples/auth/client.ts`).
pub fn typescript() -> String {
    tidings::typescript::generate(&routes(memory_hub(), Tokens::new(Duration::ZERO)))
}
