//! A live metrics dashboard in the browser.
//!
//! ```text
//! cargo run -p tidings-example-dashboard --example dashboard
//! ```
//!
//! Then open the printed address. `ADDR` sets the address to listen on (default
//! `127.0.0.1:8080`). axum serves the page; the tidings router, mounted into it, serves
//! `/metrics`.
//!
//! With `REDIS_URL` set, the samples go through a Redis stream, and several instances serve the
//! same ones (a tab that loses its instance resumes on another):
//!
//! ```text
//! REDIS_URL=redis://127.0.0.1:6379/ ADDR=127.0.0.1:8080 cargo run -p tidings-example-dashboard --example dashboard
//! REDIS_URL=redis://127.0.0.1:6379/ ADDR=127.0.0.1:8081 SAMPLER=off cargo run -p tidings-example-dashboard --example dashboard
//! ```
//!
//! `SAMPLER=off` makes an instance serve without publishing; `SAMPLE_EVERY_MS` sets the
//! sampling interval (default 500).

use std::time::Duration;

use tidings_example_dashboard as dashboard;
use tidings_examples::serve_page;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tidings_examples::log_to_stderr("warn");
    let hub = match std::env::var("REDIS_URL") {
        Ok(url) => {
            println!("dashboard samples in Redis at {url}");
            dashboard::redis_hub(&url)?
        }
        Err(_) => dashboard::memory_hub(),
    };
    if std::env::var("SAMPLER").as_deref() != Ok("off") {
        let every = std::env::var("SAMPLE_EVERY_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(dashboard::SAMPLE_EVERY, Duration::from_millis);
        tokio::spawn(dashboard::sample(hub.clone(), every));
    }
    serve_page("dashboard", dashboard::PAGE, dashboard::app(hub)).await
}
