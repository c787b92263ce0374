//! What the examples' servers share: a page (or an axum app) served next to the tidings
//! streams, and Prometheus metrics (feature `prometheus`). Each example is a package of its
//! own (`examples/NAME/Cargo.toml`), so that `cargo run --example NAME` builds only what that
//! example uses.

/// Logs to stderr at `default` level (`RUST_LOG` overrides it), in colour only when stderr is
/// a terminal: a log file or a CI log gets no escape codes.
pub fn log_to_stderr(default: &str) {
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The examples' shared stylesheet: system fonts, a light and dark palette, the header and the
/// connection badge.
pub const LOOK_CSS: &str = include_str!("look.css");

/// The examples' connection badge (`window.ConnectionBadge`): connecting, live, reconnecting
/// with a countdown, or closed with the reason.
pub const BADGE_JS: &str = include_str!("badge.js");

/// `GET /assets/look.css` ([`LOOK_CSS`]) and `GET /assets/badge.js` ([`BADGE_JS`]).
/// [`serve_with`] serves them with every example.
pub fn look() -> axum::Router {
    let asset = |content_type: &'static str, text: &'static str| {
        axum::routing::get(move || async move {
            ([(axum::http::header::CONTENT_TYPE, content_type)], text)
        })
    };
    axum::Router::new()
        .route(
            "/assets/look.css",
            asset("text/css; charset=utf-8", LOOK_CSS),
        )
        .route(
            "/assets/badge.js",
            asset("text/javascript; charset=utf-8", BADGE_JS),
        )
}

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

/// Serves the routes of `app` (and the shared stylesheet, [`look`]) and, for every other
/// path, `streams` on `ADDR` (default `127.0.0.1:8080`), and prints the address to open; returns after a graceful shutdown on
/// Ctrl-C or SIGTERM. axum serves the pages; the tidings router is mounted into it with
/// [`tidings::Router::into_service`], and [`tidings::serve_service`] serves the whole app with
/// tidings' limits and timeouts.
pub async fn serve_with(
    name: &str,
    app: axum::Router,
    streams: tidings::Router,
) -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("{name} on http://{}/", listener.local_addr()?);
    with_streams(app.merge(look()), streams)?
        .with_graceful_shutdown(tidings::server::shutdown_signal())
        .run(listener)
        .await?;
    Ok(())
}

/// The connections one client address may hold in an example (a browser holds 6 per site
/// over HTTP/1.1; some tests open a few hundred).
pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 512;

/// The server of an example: `app`'s routes, and `streams` for every other path.
pub fn with_streams(
    app: axum::Router,
    streams: tidings::Router,
) -> Result<
    tidings::Serve<tower_layer::Identity, tidings::server::ServiceApp<axum::Router>>,
    tidings::RouterError,
> {
    // axum's own refusals (a `405` on a page's route) answer problem+json like tidings'.
    Ok(tidings::serve_service(
        app.fallback_service(streams.into_service()?)
            .layer(tidings::axum::ProblemDetailsLayer),
    )
    // One address may hold a few browsers' worth of connections, not the whole server.
    .max_connections_per_address(Some(MAX_CONNECTIONS_PER_ADDRESS)))
}

/// How often the Prometheus recorder drains its histogram samples (the exporter's own
/// default).
#[cfg(feature = "prometheus")]
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// `GET /metrics` in Prometheus' text format: every `tidings_*` metric (see
/// [`tidings::metrics`]). Installs the process's metrics recorder on first use; install it
/// before serving, so that the routes register with it.
#[cfg(feature = "prometheus")]
pub fn prometheus() -> axum::Router {
    use std::sync::OnceLock;
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    let handle = HANDLE
        .get_or_init(|| {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed");
            // A recorder installed this way keeps every histogram sample until its upkeep
            // runs, which only a scrape does otherwise: unscraped, it would grow without end.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .expect("a thread for the metrics' upkeep");
            handle
        })
        .clone();
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    )
}
