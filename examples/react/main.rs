//! A React page on tidings' generated hook: the clock's ticks, and a progress bar for builds
//! started from the page.
//!
//! ```text
//! npm ci --prefix examples/react && npm run build --prefix examples/react   # the page
//! cargo run -p tidings-example-react --example react
//! ```
//!
//! Then open the printed address. Without the bundle, the page says how to build it. `ADDR`
//! sets the address to listen on (default `127.0.0.1:8080`); `MAX_STREAM_MS` ends every stream
//! after that long (default: never), to watch the hook reconnect and resume; `REACT_DIST` is
//! the folder of the bundles (default `examples/react/dist`). `/` runs the development bundle
//! (React's checks, StrictMode's double mount), `/?build=production` the minified production
//! one. `-- client-ts`
//! and `-- react-ts` print the generated `src/client.ts` and `src/react.ts`.

use std::collections::HashMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path as AxumPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use tidings_example_react::{self as react, BuildRequest, Builds, StreamCounts};

/// Where `npm run build --prefix examples/react` writes the bundles; `REACT_DIST` names
/// another folder.
fn dist() -> std::path::PathBuf {
    std::env::var_os("REACT_DIST").map_or_else(
        || concat!(env!("CARGO_MANIFEST_DIR"), "/dist").into(),
        Into::into,
    )
}

/// The development bundle (React's checks, StrictMode's double mount): the page's default.
const DEVELOPMENT: &str = "main.js";
/// The production bundle, minified: `/?build=production`.
const PRODUCTION: &str = "main.min.js";

/// The page around the bundle (`BUNDLE` is replaced by the bundle's name).
const PAGE: &str = include_str!("index.html");

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>tidings + React: build the page first</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/look.css"></head>
<body>
  <header><h1>The page is not built yet</h1></header>
  <p>Its bundle, <code>examples/react/dist/main.js</code>, is missing. From the repository, run:</p>
  <pre>npm ci --prefix examples/react
npm run build --prefix examples/react</pre>
  <p>then reload this page (the server need not restart).</p>
</body>
</html>
"#;

/// The page, on the development bundle, or the production one with `?build=production`.
async fn page(Query(query): Query<HashMap<String, String>>) -> Response {
    let bundle = match query.get("build").map(String::as_str) {
        Some("production") => PRODUCTION,
        _ => DEVELOPMENT,
    };
    if tokio::fs::try_exists(dist().join(bundle))
        .await
        .unwrap_or(false)
    {
        Html(PAGE.replace("BUNDLE", bundle)).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Html(NOT_BUILT)).into_response()
    }
}

async fn bundle(AxumPath(name): AxumPath<String>) -> Response {
    if name != DEVELOPMENT && name != PRODUCTION {
        return (StatusCode::NOT_FOUND, "no such bundle").into_response();
    }
    match tokio::fs::read(dist().join(name)).await {
        Ok(script) => ([(header::CONTENT_TYPE, "text/javascript")], script).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not built: see /").into_response(),
    }
}

async fn start(State(builds): State<Builds>, Json(request): Json<BuildRequest>) -> Response {
    match builds.start(&request) {
        Some(started) => (StatusCode::CREATED, Json(started)).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            "steps must be 1 to 1000, step_ms at most 10000",
        )
            .into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("client-ts") => {
            print!("{}", react::typescript());
            return Ok(());
        }
        Some("react-ts") => {
            print!("{}", react::react());
            return Ok(());
        }
        _ => {}
    }
    tidings_examples::log_to_stderr("info");
    let lifetime = std::env::var("MAX_STREAM_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    let builds = Builds::default();
    let counts = StreamCounts::default();
    let ticks = tidings::hub::Hub::new();
    tokio::spawn(tidings_example_clock::publish_ticks(ticks.clone()));
    let streams = react::app(builds.clone(), &counts, ticks).max_stream_duration(lifetime);
    let pages = axum::Router::new()
        .route("/", get(page))
        .route("/assets/{name}", get(bundle))
        .route("/builds", post(start))
        .with_state(builds)
        .route(
            "/stats",
            get(move || {
                let counts = counts.snapshot();
                async move { Json(counts) }
            }),
        );
    tidings_examples::serve_with("react", pages, streams).await
}
