//! The Rust client over TLS (feature `client-tls`): a tidings router behind rustls on
//! loopback, with a self-signed certificate for `localhost` that one client trusts and the
//! default client (Mozilla's roots) must refuse.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tidings::client::{Client, Update};
use tidings::{Emitter, Router, event_stream};
use tidings_tests::PATIENCE;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[event_stream]
#[derive(Debug, Clone, PartialEq)]
enum Secret {
    Word { text: String },
}

#[event_stream(path = "/secret")]
async fn secret(events: Emitter<Secret>) -> tidings::Result<()> {
    for text in ["over", "tls"] {
        events.emit(Secret::Word { text: text.into() }).await?;
    }
    events.closed().await;
    Ok(())
}

/// A router served over TLS on 127.0.0.1 with a fresh certificate for `localhost`.
struct TlsServer {
    addr: SocketAddr,
    certificate: CertificateDer<'static>,
    /// Handshakes that failed, e.g. because the client did not trust the certificate.
    refused: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsServer {
    async fn start(router: Router) -> TlsServer {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let certificate = generated.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            generated.signing_key.serialize_der(),
        ));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone()], key)
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = router.into_service().unwrap();
        let refused = Arc::new(AtomicUsize::new(0));
        let counter = refused.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, service, counter) =
                    (acceptor.clone(), service.clone(), counter.clone());
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(tls) => {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tls), service)
                                .await;
                        }
                        Err(_) => {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        TlsServer {
            addr,
            certificate,
            refused,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn trusting(certificate: &CertificateDer<'static>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.clone()).unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn subscribes_over_https_to_a_server_it_trusts() {
    let server = TlsServer::start(Router::new().route(secret)).await;
    let mut words = Client::with_tls(trusting(&server.certificate))
        .subscribe::<Secret>(&server.url("/secret"))
        .unwrap()
        .start();
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let update = tokio::time::timeout(PATIENCE, words.next())
            .await
            .expect("an event in time");
        match update {
            Some(Ok(Update::Event {
                event: Secret::Word { text },
                ..
            })) => heard.push(text),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(heard, ["over", "tls"]);
    assert_eq!(server.refused.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_default_client_refuses_a_certificate_no_root_vouches_for() {
    let server = TlsServer::start(Router::new().route(secret)).await;
    let mut words = Client::new()
        .subscribe::<Secret>(&server.url("/secret"))
        .unwrap()
        .start();
    // The handshake fails (and is retried): no event ever arrives.
    let waited = tokio::time::timeout(Duration::from_millis(700), words.next()).await;
    assert!(
        waited.is_err(),
        "no update from an untrusted server: {waited:?}"
    );
    assert!(
        server.refused.load(Ordering::SeqCst) >= 1,
        "the client broke off the handshake"
    );
}
