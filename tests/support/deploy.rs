//! The deployment tests' harness (`tests/deploy.rs`, and `deploy-stack` for the browser
//! test): deploy-server instances on one Redis, and nginx, HAProxy or Caddy in front of them
//! with the configuration `deploy/` ships, on free loopback ports, with a certificate made
//! here; each stopped (by its PID) when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;

use crate::redis_server::{RedisServer, free_port, signal};
use crate::{announced_addr, cannot_start};

/// A deploy-server process.
pub struct Instance {
    child: Child,
    /// Where it serves.
    pub addr: SocketAddr,
}

impl Instance {
    /// Starts `binary` (the deploy server) on `redis`, with a heartbeat every `heartbeat_ms`.
    pub fn start(binary: &Path, redis: &RedisServer, heartbeat_ms: u64) -> Instance {
        let mut child = Command::new(binary)
            .env("REDIS_URL", redis.url())
            .env("ADDR", "127.0.0.1:0")
            .env("HEARTBEAT_MS", heartbeat_ms.to_string())
            // Every proxy of the tests runs on 127.0.0.1; their clients come from elsewhere
            // in 127.0.0.0/8.
            .env("TRUSTED_PROXIES", "127.0.0.1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the deploy server");
        let addr = announced_addr(&mut child);
        Instance { child, addr }
    }

    /// SIGTERM: a graceful shutdown, as a process manager does it in a rolling restart.
    pub fn terminate(&mut self) {
        signal(&self.child, "TERM");
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The proxy in front of the instances.
pub struct Proxy {
    /// `nginx`, `haproxy` or `caddy`.
    pub name: &'static str,
    child: Child,
    /// Its plain HTTP listener.
    pub addr: SocketAddr,
    /// Its HTTPS listener (HTTP/2 by ALPN), with the certificate `certificate`.
    pub tls_addr: SocketAddr,
    /// The self-signed certificate (for `localhost`) of its HTTPS listener.
    pub certificate: CertificateDer<'static>,
    /// The certificate as a PEM file.
    pub certificate_file: PathBuf,
    dir: PathBuf,
    /// Where the proxy logs a connection an instance refused, and what it writes then.
    pub refusals: Option<(PathBuf, &'static str)>,
}

/// Where a proxy runs: its plain address, its own directory, its HTTPS listener.
struct Setup {
    addr: SocketAddr,
    dir: PathBuf,
    tls: Tls,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let dir = std::env::temp_dir().join(format!(
            "tidings-{name}-{}-{}",
            std::process::id(),
            addr.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let tls = Tls::make(&dir);
        Setup { addr, dir, tls }
    }

    /// Runs `command` (the proxy `name`, from the Debian package of that name) and waits until
    /// both its listeners accept.
    fn start(
        self,
        name: &'static str,
        command: Command,
        refusals: Option<(PathBuf, &'static str)>,
    ) -> Proxy {
        let proxy = Proxy {
            name,
            child: spawn(command, name, name),
            addr: self.addr,
            tls_addr: self.tls.addr,
            certificate: self.tls.certificate,
            certificate_file: self.tls.cert_file,
            dir: self.dir,
            refusals,
        };
        proxy.wait_until_listening();
        proxy
    }
}

/// Starts a proxy in front of two instances, with a read timeout.
pub type StartProxy = fn([SocketAddr; 2], &str) -> Proxy;

impl Proxy {
    /// nginx with `deploy/nginx.conf`, filled in.
    pub fn nginx(instances: [SocketAddr; 2], read_timeout: &str) -> Proxy {
        let Setup { addr, dir, tls } = Setup::new("nginx");
        let config = fill(
            "nginx.conf",
            &[
                ("LISTEN", addr.to_string()),
                ("INSTANCE_A", instances[0].to_string()),
                ("INSTANCE_B", instances[1].to_string()),
                ("READ_TIMEOUT", read_timeout.to_owned()),
                ("RUN_DIR", dir.display().to_string()),
                ("LISTEN_TLS", tls.addr.to_string()),
                ("CERT", tls.cert_file.display().to_string()),
                ("KEY", tls.key_file.display().to_string()),
            ],
        );
        let file = dir.join("nginx.conf");
        std::fs::write(&file, config).unwrap();
        let mut command = Command::new("nginx");
        command.arg("-c").arg(&file).args(["-g", "daemon off;"]);
        let refusals = Some((dir.join("error.log"), "Connection refused"));
        Setup { addr, dir, tls }.start("nginx", command, refusals)
    }

    /// HAProxy with `deploy/haproxy.cfg` as it is: it reads the values from its environment.
    pub fn haproxy(instances: [SocketAddr; 2], read_timeout: &str) -> Proxy {
        let Setup { addr, dir, tls } = Setup::new("haproxy");
        let mut command = Command::new("haproxy");
        command
            .arg("-f")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../deploy/haproxy.cfg"
            ))
            .arg("-db")
            .env("LISTEN", addr.to_string())
            .env("INSTANCE_A", instances[0].to_string())
            .env("INSTANCE_B", instances[1].to_string())
            .env("READ_TIMEOUT", read_timeout)
            .env("LISTEN_TLS", tls.addr.to_string())
            .env("CERT_AND_KEY", &tls.cert_and_key_file);
        Setup { addr, dir, tls }.start("haproxy", command, None)
    }

    /// Caddy with `deploy/Caddyfile` as it is: it reads the values from its environment.
    pub fn caddy(instances: [SocketAddr; 2], read_timeout: &str) -> Proxy {
        let Setup { addr, dir, tls } = Setup::new("caddy");
        let mut command = Command::new("caddy");
        command
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/Caddyfile"))
            .env("SITE", format!("http://{addr}"))
            .env("BIND", "127.0.0.1")
            .env("INSTANCE_A", instances[0].to_string())
            .env("INSTANCE_B", instances[1].to_string())
            .env("READ_TIMEOUT", read_timeout)
            .env("TLS_SITE", format!("https://localhost:{}", tls.addr.port()))
            .env(
                "TLS",
                format!("{} {}", tls.cert_file.display(), tls.key_file.display()),
            )
            // Its data and configuration in the test's directory, not the user's.
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"));
        Setup { addr, dir, tls }.start("caddy", command, None)
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(self.addr).is_err()
            || std::net::TcpStream::connect(self.tls_addr).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the proxy did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: nginx's master stops its workers only when it is told (killed,
        // it leaves them running).
        signal(&self.child, "TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A proxy's HTTPS listener: a free port, and a self-signed certificate for `localhost` in
/// PEM files (certificate, key, and both in one for HAProxy).
struct Tls {
    addr: SocketAddr,
    cert_file: PathBuf,
    key_file: PathBuf,
    cert_and_key_file: PathBuf,
    certificate: CertificateDer<'static>,
}

impl Tls {
    fn make(dir: &std::path::Path) -> Tls {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let (cert, key) = (generated.cert.pem(), generated.signing_key.serialize_pem());
        let tls = Tls {
            addr: format!("127.0.0.1:{}", free_port()).parse().unwrap(),
            cert_file: dir.join("cert.pem"),
            key_file: dir.join("key.pem"),
            cert_and_key_file: dir.join("cert-and-key.pem"),
            certificate: generated.cert.der().clone(),
        };
        std::fs::write(&tls.cert_file, &cert).unwrap();
        std::fs::write(&tls.key_file, &key).unwrap();
        std::fs::write(&tls.cert_and_key_file, format!("{cert}{key}")).unwrap();
        tls
    }
}

/// Spawns `command`, or fails with one line saying how to install `package`.
fn spawn(mut command: Command, program: &str, package: &str) -> Child {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| {
            let install = format!("`sudo apt-get install {package}` (Debian, Ubuntu)");
            cannot_start(program, &install, error)
        })
}

/// `deploy/{name}` with each `${NAME}` replaced; fails on one left unfilled.
fn fill(name: &str, values: &[(&str, String)]) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/");
    let mut text = std::fs::read_to_string(format!("{path}{name}")).expect("deploy/ file");
    for (key, value) in values {
        text = text.replace(&format!("${{{key}}}"), value);
    }
    // Only in comments may a placeholder stay (the envsubst example names them).
    for line in text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
    {
        assert!(!line.contains("${"), "deploy/{name}: unfilled: {line}");
    }
    text
}
