//! Twelve streams from one page, over HTTPS (HTTP/2) and plain HTTP (HTTP/1.1).
//!
//! ```text
//! cargo run -p tidings-example-tls --example tls
//! ```
//!
//! Serves HTTPS on `ADDR` (default `127.0.0.1:8443`) and plain HTTP on `HTTP_ADDR` (default
//! `127.0.0.1:8080`), with the certificate and key of `TLS_CERT` and `TLS_KEY` (PEM files), or
//! a self-signed certificate for `localhost` made at start (printed: the Chromium flag that
//! trusts it).
//! SIGHUP reloads the files. `GET /metrics` serves tidings' metrics to Prometheus.

use axum::routing::get;
use tidings::server::TlsConfig;
use tidings_example_tls::{self as tls, Streams};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tidings_examples::log_to_stderr("info");
    let (config, spki) = match (std::env::var_os("TLS_CERT"), std::env::var_os("TLS_KEY")) {
        (Some(cert), Some(key)) => {
            let config = TlsConfig::from_pem_files(cert, key)?;
            config.reload_on_sighup();
            (config, None)
        }
        _ => {
            let generated = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
            ])?;
            // What Chromium takes to trust this one certificate and no other.
            let spki = rcgen::PublicKeyData::subject_public_key_info(&generated.signing_key);
            let hash = ring::digest::digest(&ring::digest::SHA256, &spki);
            let spki = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, hash);
            println!(
                "self-signed certificate; to trust it, start Chromium with \
                 --ignore-certificate-errors-spki-list={spki}"
            );
            let config = TlsConfig::from_pem(
                generated.cert.pem().as_bytes(),
                generated.signing_key.serialize_pem().as_bytes(),
            )?;
            (config, Some(spki))
        }
    };
    let https = tokio::net::TcpListener::bind(addr("ADDR", "127.0.0.1:8443")).await?;
    let http = tokio::net::TcpListener::bind(addr("HTTP_ADDR", "127.0.0.1:8080")).await?;
    let (https_url, http_url) = (
        format!("https://{}/", https.local_addr()?),
        format!("http://{}/", http.local_addr()?),
    );
    let page = tls::page(&https_url, &http_url, spki.as_deref());
    let streams = Streams::default();
    let listed = streams.clone();
    // `GET /metrics`: Prometheus text, installed before the routes register their metrics.
    let pages = tidings_examples::prometheus()
        .merge(tidings_examples::look())
        .route(
            "/",
            get(move || std::future::ready(axum::response::Html(page.clone()))),
        )
        .route(
            "/streams",
            get(move || {
                let listed = listed.clone();
                async move { axum::Json(listed.list()) }
            }),
        );
    println!("tls on {https_url} and {http_url}");
    let secure = tidings_examples::with_streams(pages.clone(), tls::app(streams.clone()))?
        .tls(config)
        .with_graceful_shutdown(tidings::server::shutdown_signal())
        .run(https);
    let plain = tidings_examples::with_streams(pages, tls::app(streams))?
        .with_graceful_shutdown(tidings::server::shutdown_signal())
        .run(http);
    let (secure, plain) = tokio::join!(secure, plain);
    secure?;
    plain?;
    Ok(())
}

fn addr(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}
