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
use tidings_examples::dashboard;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hub = Hub::new();
    tokio::spawn(dashboard::sample(hub.clone()));
    let streams = dashboard::app(hub).into_service()?;
    let app = axum::Router::new()
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Html(dashboard::PAGE) }),
        )
        .fallback_service(streams);
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("dashboard on http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
