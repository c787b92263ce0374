//! Authenticated streams in the browser.
//!
//! ```text
//! npm ci --prefix tools && tools/node_modules/.bin/tsc -p tools/tsconfig.json  # the client
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

use axum::http::{StatusCode, header};
use axum::routing::get;
use tidings_example_auth::{self as auth, Tokens};

/// The compiled client, where `tsc -p tools/tsconfig.json` writes it.
const CLIENT_JS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tools/build/examples/auth/client.js"
);

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
            get(|| async {
                match tokio::fs::read_to_string(CLIENT_JS).await {
                    Ok(script) => (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "text/javascript")],
                        script,
                    ),
                    Err(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [(header::CONTENT_TYPE, "text/plain")],
                        "The page's client is not built yet: run `npm ci --prefix tools && \
                         tools/node_modules/.bin/tsc -p tools/tsconfig.json` in the repository."
                            .to_owned(),
                    ),
                }
            }),
        );
    tidings_examples::serve_with("auth", pages, auth::routes(hub, tokens)).await
}
