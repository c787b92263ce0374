//! A tidings server for the deployment tests (`tests/deploy.rs`): two of these behind a proxy
//! share one hub through the Redis at `REDIS_URL`.
//!
//! - `GET /events`: the hub's ticks, resuming after `Last-Event-ID`, with a heartbeat every
//!   `HEARTBEAT_MS` (default 15,000);
//! - `POST /publish` with `{"n": N}`: publishes tick N and answers `201` with its id;
//! - `GET /whoami`: the client's address as the instance sees it; with `TRUSTED_PROXIES` (a
//!   comma-separated list), the address a trusted proxy forwarded.
//!
//! Prints `listening on http://ADDR/` once it serves; SIGTERM (or Ctrl-C) shuts it down
//! gracefully: it stops accepting, and its streams end.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tidings::forwarded::TrustedProxies;
use tidings::hub::{Hub, HubOptions, Subscribed};
use tidings::reply::Created;
use tidings::{
    Emitter, FromRequest, Json, Rejection, RequestContext, Router, State, Validate, event_stream,
    json_route,
};
use tidings_redis::{Redis, RedisStorage};

#[event_stream]
#[derive(Debug, Clone)]
enum Feed {
    Tick { n: u64 },
}

type FeedHub = Hub<Feed, RedisStorage<Feed>>;

/// The ticks, from the last one the client saw.
#[event_stream(path = "/events")]
async fn events(
    Subscribed(ticks): Subscribed<Feed, RedisStorage<Feed>>,
    events: Emitter<Feed>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

/// The same ticks, compressed for clients that accept it.
#[event_stream(path = "/compressed", compress = true)]
async fn compressed(
    Subscribed(ticks): Subscribed<Feed, RedisStorage<Feed>>,
    events: Emitter<Feed>,
) -> tidings::Result<()> {
    events.forward(ticks).await?;
    Ok(())
}

#[derive(Deserialize, JsonSchema, Validate)]
struct Publish {
    n: u64,
}

#[derive(Serialize, JsonSchema)]
struct Published {
    id: String,
}

/// Publishes tick `n`.
#[json_route(path = "/publish", method = "POST")]
async fn publish(
    State(hub): State<FeedHub>,
    Json(tick): Json<Publish>,
) -> Result<Created<Published>, Rejection> {
    let id = hub
        .publish(Feed::Tick { n: tick.n })
        .await
        .map_err(Rejection::internal)?;
    Ok(Created(Published { id: id.to_string() }))
}

/// The client's address, as `RequestContext::peer_addr` gives it.
struct Client(Option<std::net::SocketAddr>);

impl FromRequest for Client {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        Ok(Client(cx.peer_addr()))
    }
}

#[derive(Serialize, JsonSchema)]
struct Whoami {
    address: Option<String>,
}

/// Who the instance thinks the client is.
#[json_route(path = "/whoami", method = "GET")]
async fn whoami(Client(address): Client) -> Json<Whoami> {
    Json(Whoami {
        address: address.map(|address| address.ip().to_string()),
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis = Redis::open(&std::env::var("REDIS_URL")?)?;
    let hub: FeedHub = redis.hub("tidings:deploy", HubOptions::default());
    let heartbeat: u64 = std::env::var("HEARTBEAT_MS").map_or(Ok(15_000), |ms| ms.parse())?;
    let mut app = Router::new();
    if let Ok(proxies) = std::env::var("TRUSTED_PROXIES") {
        app = app.middleware(TrustedProxies::new(proxies.split(','))?);
    }
    let app = app
        .route(events)
        .route(compressed)
        .route(publish)
        .route(whoami)
        .heartbeat(Some(Duration::from_millis(heartbeat)))
        .with_state(hub);
    let listener = tokio::net::TcpListener::bind(
        std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:0".into()),
    )
    .await?;
    println!("listening on http://{}/", listener.local_addr()?);
    tidings::serve(app)
        .with_graceful_shutdown(tidings::server::shutdown_signal())
        .grace_period(Duration::from_secs(2))
        .run(listener)
        .await?;
    Ok(())
}
