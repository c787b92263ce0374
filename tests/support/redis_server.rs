//! A real `redis-server` for the tests: found on PATH, on a free loopback port, in a
//! directory of its own, without persistence unless asked, stopped (by its PID) when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::cannot_start;

/// How to install `redis-server` and `redis-cli`, for the failure of a test that needs them.
pub const INSTALL_REDIS: &str =
    "`sudo apt-get install redis-server` (Debian, Ubuntu) or `brew install redis`";

/// A running (or stopped) `redis-server` of a test.
pub struct RedisServer {
    child: Option<Child>,
    /// Its loopback port.
    pub port: u16,
    dir: PathBuf,
    aof: bool,
    /// More `redis-server` arguments (cluster mode).
    extra: Vec<String>,
}

impl RedisServer {
    /// A server without persistence: a restart comes back empty.
    pub fn start() -> RedisServer {
        RedisServer::launch(free_port(), false)
    }

    /// A server with an append-only file synced on every write: a restart keeps everything.
    pub fn start_with_aof() -> RedisServer {
        RedisServer::launch(free_port(), true)
    }

    /// A server on `port` (reserved earlier, e.g. to test a Redis that comes up late).
    pub fn start_on(port: u16) -> RedisServer {
        RedisServer::launch(port, false)
    }

    /// A node of a Redis Cluster (not joined to one yet: see `RedisCluster`), which marks a
    /// peer failed after `node_timeout_ms` without an answer.
    pub fn start_cluster_node(node_timeout_ms: u64) -> RedisServer {
        let mut server = RedisServer::prepare(free_port(), false);
        server.extra = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &node_timeout_ms.to_string(),
            // The other primaries' slots stay served while one fails over.
            "--cluster-require-full-coverage",
            "no",
            // A replica's first sync starts at once, not after 5 s.
            "--repl-diskless-sync-delay",
            "0",
            // `DEBUG SLEEP` holds a replica back, so that a failover loses writes.
            "--enable-debug-command",
            "local",
        ]
        .map(str::to_owned)
        .to_vec();
        server.spawn();
        server
    }

    fn launch(port: u16, aof: bool) -> RedisServer {
        let mut server = RedisServer::prepare(port, aof);
        server.spawn();
        server
    }

    fn prepare(port: u16, aof: bool) -> RedisServer {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tidings-redis-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        RedisServer {
            child: None,
            port,
            dir,
            aof,
            extra: Vec::new(),
        }
    }

    fn spawn(&mut self) {
        let appendonly = if self.aof { "yes" } else { "no" };
        let spawned = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                appendonly,
                "--appendfsync",
                "always",
            ])
            .args(&self.extra)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child =
            spawned.unwrap_or_else(|error| cannot_start("redis-server", INSTALL_REDIS, error));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.command(&["PING"]).as_deref() != Some("+PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops it with SIGTERM (it writes its AOF) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            let _ = child.wait();
        }
    }

    /// Whether it runs (it was not stopped or killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills it with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and directory: with AOF, with its data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Starts it again after `stop` or `kill`.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.spawn();
    }

    /// Sends one command (arguments without spaces) and returns the first line of the answer,
    /// or `None` when the server cannot be reached.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let reply = self.raw(args)?;
        Some(reply.lines().next().unwrap_or_default().to_owned())
    }

    /// The whole answer of a command whose answer is one bulk string (`INFO`), as text.
    pub fn raw(&self, args: &[&str]) -> Option<String> {
        let mut stream =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(1))
                .ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).ok()?;
        let mut reader = BufReader::new(stream);
        let mut first = String::new();
        reader.read_line(&mut first).ok()?;
        if let Some(length) = first.strip_prefix('$') {
            let length: i64 = length.trim().parse().ok()?;
            if length < 0 {
                return Some(first);
            }
            let mut body = vec![0u8; length as usize + 2];
            reader.read_exact(&mut body).ok()?;
            return Some(String::from_utf8_lossy(&body).into_owned());
        }
        Some(first)
    }

    /// Calls per command since the server started, from `INFO commandstats`
    /// (`("xadd", 100)`...).
    pub fn command_calls(&self) -> std::collections::HashMap<String, u64> {
        let info = self.raw(&["INFO", "commandstats"]).unwrap_or_default();
        info.lines()
            .filter_map(|line| {
                let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = stats.split(',').find_map(|kv| kv.strip_prefix("calls="))?;
                Some((name.to_owned(), calls.parse().ok()?))
            })
            .collect()
    }

    /// The connected clients other than the caller's own `redis-cli`, each as the number of
    /// channels it subscribes to, sorted.
    pub fn subscriptions_per_client(&self) -> Vec<usize> {
        let list = self.raw(&["CLIENT", "LIST"]).unwrap_or_default();
        let mut subs: Vec<usize> = list
            .lines()
            .filter(|line| !line.contains("cmd=client"))
            .filter_map(|line| {
                let sub = line
                    .split(' ')
                    .find_map(|field| field.strip_prefix("sub="))?;
                sub.parse().ok()
            })
            .collect();
        subs.sort_unstable();
        subs
    }

    /// The ids of every entry of the stream `key`, oldest first.
    pub fn stream_ids(&self, key: &str) -> Vec<String> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_connection().expect("connect to redis-server");
        type Fields = Vec<(String, Vec<u8>)>;
        let entries: Vec<(String, Fields)> = redis::cmd("XRANGE")
            .arg(key)
            .arg("-")
            .arg("+")
            .query(&mut connection)
            .expect("XRANGE");
        entries.into_iter().map(|(id, _)| id).collect()
    }

    /// The server's CPU time (user + system) so far, in seconds, from `INFO cpu`.
    pub fn cpu_seconds(&self) -> f64 {
        let info = self.raw(&["INFO", "cpu"]).unwrap_or_default();
        info.lines()
            .filter_map(|line| {
                let value = line
                    .strip_prefix("used_cpu_user:")
                    .or_else(|| line.strip_prefix("used_cpu_sys:"))?;
                value.trim().parse::<f64>().ok()
            })
            .sum()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Sends `SIG<name>` to `child` (by its PID).
pub fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status();
}
