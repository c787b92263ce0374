//! A live metrics dashboard in the browser.
//!
//! ```text
//! cargo run --example dashboard
//! ```
//!
//! Then open the printed address. `ADDR` sets the address to listen on (default
//! `127.0.0.1:8080`). axum serves the page; the tidings router, mounted into it, serves
//! `/metrics`.

use tidings::hub::Hub;
use tidings_examples::{dashboard, serve_page};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hub = Hub::new();
    tokio::spawn(dashboard::sample(hub.clone()));
    serve_page("dashboard", dashboard::PAGE, dashboard::app(hub)).await
}
