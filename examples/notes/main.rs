//! Team notes in the browser: post, stream, presence, behind bearer tokens.
//!
//! ```text
//! cargo run -p tidings-example-notes --example notes
//! curl -N -H 'authorization: Bearer ann-token' http://127.0.0.1:8080/teams/red/events
//! curl -H 'authorization: Bearer bob-token' -H 'content-type: application/json' \
//!   -d '{"text":"standup at 10","level":"urgent"}' http://127.0.0.1:8080/teams/red/notes
//! ```
//!
//! Or open the printed address. `ADDR` sets the address to listen on (default
//! `127.0.0.1:8080`); `-- openapi` prints the OpenAPI document, `-- client-ts` the TypeScript
//! client.

use axum::http::header;
use axum::routing::get;
use tidings_example_notes::{self as notes, Teams};

/// The generated client, compiled by `tsc -p tools/tsconfig.json` and committed next to
/// `client.ts`, so that the page needs no build step (CI checks that it is current).
const CLIENT_JS: &str = include_str!("client.js");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("openapi") => {
            println!("{}", notes::openapi().to_string_pretty());
            return Ok(());
        }
        Some("client-ts") => {
            print!("{}", notes::typescript());
            return Ok(());
        }
        _ => {}
    }
    tidings_examples::log_to_stderr("info");
    let page = axum::Router::new()
        .route("/", get(|| async { axum::response::Html(notes::PAGE) }))
        .route(
            "/client.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], CLIENT_JS) }),
        );
    tidings_examples::serve_with("notes", page, notes::routes(Teams::default())).await
}
