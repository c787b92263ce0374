//! HTTPS (cargo feature `tls`): TLS 1.2 and 1.3 by rustls, with HTTP/2 and HTTP/1.1 offered by
//! ALPN on one port.
//!
//! Browsers speak HTTP/2 only over TLS, and only HTTP/2 lifts their limit of six connections
//! per origin: over plain HTTP/1.1 the seventh `EventSource` of a page waits; over HTTPS every
//! stream of the origin shares one connection.
//!
//! ```no_run
//! # use tidings::Router;
//! use tidings::server::TlsConfig;
//!
//! # async fn run(app: Router) -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
//! // A renewed certificate is read again on SIGHUP; open streams keep their connections.
//! tls.reload_on_sighup();
//! tidings::serve(app).tls(tls).bind("0.0.0.0:443").await?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};

/// A certificate chain and its private key, served with ALPN `h2` and `http/1.1`; cheap to
/// clone (clones share the certificate, so a [`reload`](Self::reload) reaches the server).
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    certificate: Arc<CurrentCertificate>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("files", &self.certificate.files)
            .finish_non_exhaustive()
    }
}

/// The certificate handed to each new handshake; replaced by a reload.
#[derive(Debug)]
struct CurrentCertificate {
    key: RwLock<Arc<CertifiedKey>>,
    files: Option<(PathBuf, PathBuf)>,
    provider: Arc<CryptoProvider>,
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = self
            .key
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(key.clone())
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain (the server's certificate first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1) from files, and checks that they belong together.
    pub fn from_pem_files(
        certificate_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let files = (
            certificate_chain.as_ref().to_owned(),
            private_key.as_ref().to_owned(),
        );
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = load_files(&files, &provider)?;
        Self::build(key, Some(files), provider)
    }

    /// Like [`from_pem_files`](Self::from_pem_files), from PEM text in memory.
    pub fn from_pem(certificate_chain: &[u8], private_key: &[u8]) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = certified_key(certificate_chain, private_key, None, &provider)?;
        Self::build(key, None, provider)
    }

    fn build(
        key: CertifiedKey,
        files: Option<(PathBuf, PathBuf)>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let certificate = Arc::new(CurrentCertificate {
            key: RwLock::new(Arc::new(key)),
            files,
            provider: provider.clone(),
        });
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsConfig {
            server: Arc::new(server),
            certificate,
        })
    }

    /// Reads the certificate and key files again: new handshakes get the new certificate,
    /// open connections and their streams go on. On an error the old certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let files = self.certificate.files.as_ref().ok_or(TlsError::NoFiles)?;
        let key = load_files(files, &self.certificate.provider)?;
        self.replace(key);
        Ok(())
    }

    /// Replaces the certificate with one from PEM text in memory, as [`reload`](Self::reload)
    /// does from the files.
    pub fn set_pem(&self, certificate_chain: &[u8], private_key: &[u8]) -> Result<(), TlsError> {
        let key = certified_key(
            certificate_chain,
            private_key,
            None,
            &self.certificate.provider,
        )?;
        self.replace(key);
        Ok(())
    }

    fn replace(&self, key: CertifiedKey) {
        let mut current = self
            .certificate
            .key
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = Arc::new(key);
    }

    /// Reloads the files whenever the process gets SIGHUP (what certificate renewal tools
    /// send), logging the outcome; runs in a task for the life of the runtime. Unix only.
    #[cfg(unix)]
    pub fn reload_on_sighup(&self) -> tokio::task::JoinHandle<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let config = self.clone();
        tokio::spawn(async move {
            let Ok(mut hangups) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP: the certificate will not be reloaded");
                return;
            };
            while hangups.recv().await.is_some() {
                match config.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(error) => {
                        tracing::error!(%error, "TLS certificate reload failed; keeping the old one")
                    }
                }
            }
        })
    }

    /// The rustls configuration, e.g. to inspect it.
    pub fn rustls_config(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.server.clone())
    }
}

fn load_files(
    (chain, key): &(PathBuf, PathBuf),
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.clone(),
            source,
        })
    };
    certified_key(&read(chain)?, &read(key)?, Some((chain, key)), provider)
}

fn certified_key(
    chain_pem: &[u8],
    key_pem: &[u8],
    files: Option<(&PathBuf, &PathBuf)>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let (chain_path, key_path) = match files {
        Some((chain, key)) => (Some(chain.clone()), Some(key.clone())),
        None => (None, None),
    };
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            path: chain_path.clone(),
            what: "certificate chain",
            detail: error.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: chain_path });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
            path: key_path.clone(),
        },
        error => TlsError::Pem {
            path: key_path.clone(),
            what: "private key",
            detail: error.to_string(),
        },
    })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|error| match error {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => TlsError::KeyMismatch,
        error => TlsError::Rustls(error),
    })
}

/// Why a certificate or key could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// PEM that does not parse.
    Pem {
        /// The file, if the PEM came from one.
        path: Option<PathBuf>,
        /// What it should have held.
        what: &'static str,
        /// What the parser said.
        detail: String,
    },
    /// No `CERTIFICATE` section in the certificate chain.
    NoCertificate {
        /// The file, if the PEM came from one.
        path: Option<PathBuf>,
    },
    /// No private key section (PKCS#8, PKCS#1 or SEC1) in the key.
    NoKey {
        /// The file, if the PEM came from one.
        path: Option<PathBuf>,
    },
    /// The private key is not the key of the chain's first certificate.
    KeyMismatch,
    /// [`reload`](TlsConfig::reload) of a configuration made from memory.
    NoFiles,
    /// rustls refused the key or the configuration.
    Rustls(rustls::Error),
}

fn in_file(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|path| format!(" in {}", path.display()))
        .unwrap_or_default()
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            TlsError::Pem { path, what, detail } => {
                write!(f, "malformed PEM {what}{}: {detail}", in_file(path))
            }
            TlsError::NoCertificate { path } => write!(
                f,
                "no PEM certificate (`-----BEGIN CERTIFICATE-----`){}",
                in_file(path)
            ),
            TlsError::NoKey { path } => write!(
                f,
                "no PEM private key (PKCS#8, PKCS#1 or SEC1){}",
                in_file(path)
            ),
            TlsError::KeyMismatch => {
                f.write_str("the private key does not belong to the certificate")
            }
            TlsError::NoFiles => f.write_str("this TLS configuration was not read from files"),
            TlsError::Rustls(error) => write!(f, "TLS: {error}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Read { source, .. } => Some(source),
            TlsError::Rustls(error) => Some(error),
            _ => None,
        }
    }
}
