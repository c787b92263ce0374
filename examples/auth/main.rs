//! Authenticated streams in the browser.
//!
//! ```text
//! cargo run -p tidings-example-auth --example auth
//! ```
//!
//! Then open the printed address. `ADDR` sets the address to listen on (default
//! `127.0.0.1:8080`), `TOKEN_TTL_MS` how long a token lives (default 10 000). `-- client-ts`
//! prints the TypeScript client of the routes. `GET /metrics` serves tidings' metrics.
//!
//! With `REDIS_URL` set, the readings go through a Redis stream: stop the server, start it
//! again, and the open page resumes where it was, with no reading lost or repeated.

use std::time::Duration;

use axum::http::header;
use axum::routing::get;
use tidings_example_auth::{self as auth, Tokens};

/// The generated client, compiled by `tsc -p tools/tsconfig.json` and committed next to
/// `client.ts`, so that the page needs no build step (CI checks that it is current).
const CLIENT_JS: &str = include_str!("client.js");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("client-ts") {
        print!("{}", auth::typescript());
        return Ok(());
    }
    tidings_examples::log_to_stderr("info");
    let ttl = std::env::var("TOKEN_TTL_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis);
    let tokens = Tokens::new(ttl);
    let (hub, first) = match std::env::var("REDIS_URL") {
        Ok(url) => {
            println!("auth readings in Redis at {url}");
            let first = auth::last_reading(&url).await?.map_or(0, |n| n + 1);
            (auth::redis_hub(&url)?, first)
        }
        Err(_) => (auth::memory_hub(), 0),
    };
    tokio::spawn(auth::publish(hub.clone(), first));
    let pages = tidings_examples::prometheus()
        .route("/", get(|| async { axum::response::Html(auth::PAGE) }))
        .merge(auth::token_route(tokens.clone()))
        .route(
            "/client.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], CLIENT_JS) }),
        );
    tidings_examples::serve_with("auth", pages, auth::routes(hub, tokens)).await
}
