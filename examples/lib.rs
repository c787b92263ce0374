//! Runnable examples of tidings. Each example's routes live in a module here, so that the tests
//! serve exactly what `cargo run --example NAME` serves.

#[path = "clock/app.rs"]
pub mod clock;
#[path = "dashboard/app.rs"]
pub mod dashboard;
#[path = "logs/app.rs"]
pub mod logs;
#[path = "progress/app.rs"]
pub mod progress;

/// Serves `page` at `/` and `streams` everywhere else; see [`serve_with`].
pub async fn serve_page(
    name: &str,
    page: &'static str,
    streams: tidings::Router,
) -> Result<(), Box<dyn std::error::Error>> {
    let page = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page) }),
    );
    serve_with(name, page, streams).await
}

/// Serves the routes of `app` and, for every other path, `streams` on `ADDR` (default
/// `127.0.0.1:8080`), and prints the address to open. axum serves the pages; the tidings
/// router is mounted into it with [`tidings::Router::into_service`].
pub async fn serve_with(
    name: &str,
    app: axum::Router,
    streams: tidings::Router,
) -> Result<(), Box<dyn std::error::Error>> {
    let app = app.fallback_service(streams.into_service()?);
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("{name} on http://{}/", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
