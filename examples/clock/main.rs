//! The quick start: a clock that streams the time.
//!
//! ```text
//! cargo run --example clock
//! curl -N 'http://127.0.0.1:8080/clock?interval_ms=500'
//! curl --compressed -N 'http://127.0.0.1:8080/clock?interval_ms=100'
//! ```
//!
//! `ADDR` sets the address to listen on (default `127.0.0.1:8080`); `cargo run --example clock
//! -- openapi` prints its OpenAPI document, `-- client-ts` its TypeScript client. The routes live in
//! `examples/clock/app.rs`, so that the tests can serve the very same app.

use std::io::IsTerminal as _;

use tidings_example_clock as clock;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // `-- openapi` and `-- client-ts` print the OpenAPI document and the TypeScript client.
    match std::env::args().nth(1).as_deref() {
        Some("openapi") => {
            println!("{}", clock::openapi().to_string_pretty());
            return Ok(());
        }
        Some("client-ts") => {
            print!("{}", clock::typescript());
            return Ok(());
        }
        _ => {}
    }
    // Logs on stderr, in colour only for a terminal (a log file gets no escape codes), at the
    // level of `RUST_LOG` (`info` by default): `Targets` reads it without a regex engine.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    tracing_subscriber::registry()
        .with(logs)
        .with(filter)
        .init();
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "clock listening on http://{}/clock (try: curl -N 'http://{0}/clock?interval_ms=500')",
        listener.local_addr()?
    );
    tidings::serve(clock::app())
        .with_graceful_shutdown(tidings::server::shutdown_signal())
        .run(listener)
        .await
}
