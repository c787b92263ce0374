//! The deployment of `tests/deploy.rs`, left running for the browser test
//! (`tools/test/proxies.test.ts`): a `redis-server`, two deploy-server instances, and the proxy
//! named by the argument (`nginx`, `haproxy` or `caddy`) with the configuration `deploy/`
//! ships, all on free loopback ports.
//!
//! Prints one line, `https://localhost:PORT CERTIFICATE.pem` (the proxy's HTTPS address and
//! its self-signed certificate), then runs until its standard input closes or it gets SIGTERM,
//! and stops everything it started.

use std::io::Read;
use std::path::PathBuf;

use tidings_tests::deploy::{Instance, Proxy};
use tidings_tests::redis_server::RedisServer;

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let start = match name.as_str() {
        "nginx" => Proxy::nginx,
        "haproxy" => Proxy::haproxy,
        "caddy" => Proxy::caddy,
        _ => {
            eprintln!("usage: deploy-stack nginx|haproxy|caddy");
            std::process::exit(2);
        }
    };
    let server: PathBuf = std::env::current_exe()
        .expect("the binary's path")
        .with_file_name("deploy-server");
    let redis = RedisServer::start();
    let a = Instance::start(&server, &redis, 15_000);
    let b = Instance::start(&server, &redis, 15_000);
    let proxy = start([a.addr, b.addr], "60s");
    println!(
        "https://localhost:{} {}",
        proxy.tls_addr.port(),
        proxy.certificate_file.display()
    );
    // Until the caller closes our standard input (or kills us: SIGTERM ends the process,
    // and the children then see their pipes close or are left to the caller's cleanup).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(proxy);
    drop((a, b));
}
