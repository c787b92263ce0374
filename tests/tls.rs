//! HTTPS (feature `tls`): HTTP/2 and HTTP/1.1 by ALPN on one port, PEM files with clear
//! errors, a certificate reload that open streams survive, failed handshakes that cost
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tidings::server::{TlsConfig, TlsError};
use tidings::{Emitter, Router, event_stream};
use tidings_tests::tls::{Certificate, connect};
use tidings_tests::{PATIENCE, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

#[event_stream]
enum Tick {
    Tick { n: u64 },
}

#[event_stream(path = "/ticks")]
async fn ticks(events: Emitter<Tick>) -> tidings::Result<()> {
    for n in 0.. {
        events.emit(Tick::Tick { n }).await?;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            _ = events.closed() => break,
        }
    }
    Ok(())
}

async fn serve(config: TlsConfig) -> TestServer {
    TestServer::start_with(Router::new().route(ticks), |serve| serve.tls(config)).await
}

/// Opens `/ticks` over `tls` with the protocol ALPN chose; the response's version and body.
async fn ticks_over(tls: TlsStream<TcpStream>) -> (http::Version, hyper::body::Incoming) {
    let request = || {
        http::Request::get("https://localhost/ticks")
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let response = if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(connection);
        sender.send_request(request()).await.unwrap()
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender.send_request(request()).await.unwrap()
    };
    assert_eq!(response.status(), 200);
    (response.version(), response.into_body())
}

/// The next chunk of event stream text.
async fn next_text(body: &mut hyper::body::Incoming) -> String {
    loop {
        let frame = tokio::time::timeout(PATIENCE, body.frame())
            .await
            .expect("data in time")
            .expect("the stream goes on")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            return String::from_utf8(data.to_vec()).unwrap();
        }
    }
}

#[tokio::test]
async fn http2_and_http11_by_alpn_on_one_port() {
    let cert = Certificate::localhost();
    let server =
        serve(TlsConfig::from_pem(cert.chain_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap())
            .await;
    for (alpn, version) in [
        (&[b"h2".as_slice(), b"http/1.1"][..], http::Version::HTTP_2),
        (&[b"http/1.1".as_slice()][..], http::Version::HTTP_11),
        (&[][..], http::Version::HTTP_11),
    ] {
        let tls = connect(server.addr, &cert.der, alpn).await;
        let (got, mut body) = ticks_over(tls).await;
        assert_eq!(got, version, "{alpn:?}");
        assert!(next_text(&mut body).await.contains("event: tick"));
    }
}

#[tokio::test]
async fn a_failed_handshake_closes_that_connection_and_nothing_else() {
    let cert = Certificate::localhost();
    let server =
        serve(TlsConfig::from_pem(cert.chain_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap())
            .await;
    let (_, mut open) = ticks_over(connect(server.addr, &cert.der, &[b"h2"]).await).await;
    // Plain HTTP to the TLS port.
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    plain
        .write_all(b"GET /ticks HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    tokio::time::timeout(PATIENCE, plain.read_to_end(&mut sink))
        .await
        .expect("the server closed the connection")
        .ok();
    assert!(!String::from_utf8_lossy(&sink).contains("event:"));
    // A client that does not trust the certificate.
    let stranger = Certificate::localhost();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(stranger.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let refused = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(refused.is_err());
    // The stream already open never noticed; new clients are served.
    next_text(&mut open).await;
    let (_, mut again) = ticks_over(connect(server.addr, &cert.der, &[b"h2"]).await).await;
    next_text(&mut again).await;
}

/// A directory of its own under the system's temporary one, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tidings-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn pem_files_load_with_clear_errors() {
    let dir = TempDir::new("errors");
    let (one, other) = (Certificate::localhost(), Certificate::localhost());
    let chain = dir.write("chain.pem", &one.chain_pem);
    let key = dir.write("key.pem", &one.key_pem);
    assert!(TlsConfig::from_pem_files(&chain, &key).is_ok());

    let missing = dir.0.join("missing.pem");
    let error = TlsConfig::from_pem_files(&missing, &key).unwrap_err();
    assert!(matches!(error, TlsError::Read { .. }), "{error:?}");
    assert!(error.to_string().contains("missing.pem"), "{error}");

    // The files swapped: no certificate in the one, no key in the other.
    let error = TlsConfig::from_pem_files(&key, &key).unwrap_err();
    assert!(matches!(error, TlsError::NoCertificate { .. }), "{error:?}");
    assert!(error.to_string().contains("key.pem"), "{error}");
    let error = TlsConfig::from_pem_files(&chain, &chain).unwrap_err();
    assert!(matches!(error, TlsError::NoKey { .. }), "{error:?}");
    assert!(error.to_string().contains("chain.pem"), "{error}");

    let other_key = dir.write("other-key.pem", &other.key_pem);
    let error = TlsConfig::from_pem_files(&chain, &other_key).unwrap_err();
    assert!(matches!(error, TlsError::KeyMismatch), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the private key does not belong to the certificate"
    );

    let broken = dir.write(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
    );
    let error = TlsConfig::from_pem_files(&broken, &key).unwrap_err();
    assert!(matches!(error, TlsError::Pem { .. }), "{error:?}");

    let in_memory = TlsConfig::from_pem(one.chain_pem.as_bytes(), one.key_pem.as_bytes()).unwrap();
    assert!(matches!(in_memory.reload(), Err(TlsError::NoFiles)));
}

#[tokio::test]
async fn a_reloaded_certificate_serves_new_handshakes_and_open_streams_go_on() {
    let dir = TempDir::new("reload");
    let (first, second) = (Certificate::localhost(), Certificate::localhost());
    let chain = dir.write("chain.pem", &first.chain_pem);
    let key = dir.write("key.pem", &first.key_pem);
    let config = TlsConfig::from_pem_files(&chain, &key).unwrap();
    let server = serve(config.clone()).await;
    let (_, mut open) = ticks_over(connect(server.addr, &first.der, &[b"h2"]).await).await;
    next_text(&mut open).await;

    // A renewal writes the new files; a reload takes them.
    dir.write("chain.pem", &second.chain_pem);
    dir.write("key.pem", &second.key_pem);
    config.reload().unwrap();
    let renewed = connect(server.addr, &second.der, &[b"h2"]).await;
    let presented = renewed.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(presented, second.der);
    for _ in 0..3 {
        next_text(&mut open).await;
    }

    // A broken renewal keeps the certificate that works.
    dir.write("key.pem", "no key here");
    assert!(matches!(config.reload(), Err(TlsError::NoKey { .. })));
    let (_, mut still) = ticks_over(connect(server.addr, &second.der, &[b"h2"]).await).await;
    next_text(&mut still).await;
}

#[tokio::test]
async fn a_full_server_answers_tls_clients_over_tls() {
    let cert = Certificate::localhost();
    let config = TlsConfig::from_pem(cert.chain_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let server = TestServer::start_with(Router::new().route(ticks), |serve| {
        serve.tls(config).max_connections(1)
    })
    .await;
    let (_, mut held) = ticks_over(connect(server.addr, &cert.der, &[b"http/1.1"]).await).await;
    next_text(&mut held).await;

    // Past the limit, an HTTP/1.1 client completes its handshake and reads a 503.
    let mut refused = connect(server.addr, &cert.der, &[b"http/1.1"]).await;
    refused
        .write_all(b"GET /ticks HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(PATIENCE, refused.read_to_string(&mut answer))
        .await
        .expect("the refusal in time")
        .unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");

    // An HTTP/2 client (by ALPN) gets SETTINGS, then GOAWAY with ENHANCE_YOUR_CALM.
    let mut refused = connect(server.addr, &cert.der, &[b"h2"]).await;
    assert_eq!(refused.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let mut frames = Vec::new();
    tokio::time::timeout(PATIENCE, refused.read_to_end(&mut frames))
        .await
        .expect("the refusal in time")
        .unwrap();
    // The first frame is an empty SETTINGS (9 bytes); the second is GOAWAY.
    let goaway = frames
        .get(9..)
        .filter(|rest| rest.len() >= 17 && rest[3] == 0x7)
        .expect("GOAWAY after SETTINGS");
    assert_eq!(&goaway[13..17], &0xbu32.to_be_bytes(), "ENHANCE_YOUR_CALM");

    // The held stream goes on.
    next_text(&mut held).await;
}
