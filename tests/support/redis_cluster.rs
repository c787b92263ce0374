//! A real Redis Cluster for the tests: six `redis-server` processes on free loopback ports,
//! joined by `redis-cli --cluster create` as three primaries with a replica each, stopped (by
//! their PIDs) when dropped.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis::Value;

use crate::cannot_start;
use crate::redis_server::{INSTALL_REDIS, RedisServer};

/// How long a node goes unanswered before the others mark it failed (and its replica takes
/// over): short, so that a failover takes a second or two.
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// A running cluster of a test.
pub struct RedisCluster {
    /// Every node: primaries first, as `redis-cli --cluster create` was given them.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three primaries and three replicas, every slot served.
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| RedisServer::start_cluster_node(NODE_TIMEOUT_MS))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap_or_else(|error| cannot_start("redis-cli", INSTALL_REDIS, error));
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_until_serving();
        cluster
    }

    /// `redis://127.0.0.1:PORT/` of every running node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|node| node.is_running())
            .map(RedisServer::url)
            .collect()
    }

    /// A connection to node `index`.
    pub fn connection(&self, index: usize) -> redis::Connection {
        let client = redis::Client::open(self.nodes[index].url()).unwrap();
        client
            .get_connection_with_timeout(Duration::from_secs(2))
            .expect("connect to a cluster node")
    }

    /// The node id of node `index`.
    pub fn id(&self, index: usize) -> String {
        redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut self.connection(index))
            .unwrap()
    }

    /// The index of the primary serving `key`'s slot, as a running node sees it.
    pub fn primary_of(&self, key: &str) -> usize {
        let slot = self.slot_of(key);
        let index = self.running();
        let slots: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut self.connection(index))
            .unwrap();
        let Value::Array(ranges) = slots else {
            panic!("CLUSTER SLOTS: {slots:?}")
        };
        for range in ranges {
            let Value::Array(parts) = range else { continue };
            let (Value::Int(first), Value::Int(last), Value::Array(primary)) =
                (&parts[0], &parts[1], &parts[2])
            else {
                continue;
            };
            if (*first..=*last).contains(&i64::from(slot)) {
                let Value::Int(port) = primary[1] else {
                    panic!("{primary:?}")
                };
                return self
                    .nodes
                    .iter()
                    .position(|node| i64::from(node.port) == port)
                    .expect("a node of this cluster");
            }
        }
        panic!("slot {slot} is served by no primary");
    }

    /// The slot of `key`, asked of the cluster.
    pub fn slot_of(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.connection(self.running()))
            .unwrap()
    }

    /// The index of a running node.
    fn running(&self) -> usize {
        self.nodes
            .iter()
            .position(RedisServer::is_running)
            .expect("a running node")
    }

    /// Moves `slot`, with its keys, from primary `from` to primary `to` while clients use it:
    /// Redis's resharding steps (what `redis-cli --cluster reshard` does, for one chosen slot).
    pub fn move_slot(&self, slot: u16, from: usize, to: usize) {
        let (from_id, to_id) = (self.id(from), self.id(to));
        let mut source = self.connection(from);
        let mut target = self.connection(to);
        let setslot = |connection: &mut redis::Connection, state: &str, id: &str| {
            redis::cmd("CLUSTER")
                .arg("SETSLOT")
                .arg(slot)
                .arg(state)
                .arg(id)
                .exec(connection)
                .unwrap_or_else(|error| panic!("CLUSTER SETSLOT {slot} {state}: {error}"));
        };
        setslot(&mut target, "IMPORTING", &from_id);
        setslot(&mut source, "MIGRATING", &to_id);
        loop {
            let keys: Vec<String> = redis::cmd("CLUSTER")
                .arg("GETKEYSINSLOT")
                .arg(slot)
                .arg(100)
                .query(&mut source)
                .unwrap();
            if keys.is_empty() {
                break;
            }
            redis::cmd("MIGRATE")
                .arg("127.0.0.1")
                .arg(self.nodes[to].port)
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys)
                .exec(&mut source)
                .expect("MIGRATE");
        }
        setslot(&mut target, "NODE", &to_id);
        setslot(&mut source, "NODE", &to_id);
    }

    /// The index of the replica of primary `index`.
    pub fn replica_of(&self, index: usize) -> usize {
        let primary = self.id(index);
        let nodes = self.nodes[index]
            .raw(&["CLUSTER", "NODES"])
            .unwrap_or_default();
        let port = nodes
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let replica =
                    fields.get(2)?.contains("slave") && fields.get(3) == Some(&primary.as_str());
                let port = fields
                    .get(1)?
                    .split(['@', ':'])
                    .nth(1)?
                    .parse::<u16>()
                    .ok()?;
                replica.then_some(port)
            })
            .expect("the primary has a replica");
        self.nodes
            .iter()
            .position(|node| node.port == port)
            .expect("a node of this cluster")
    }

    /// Holds node `index` for `seconds` (`DEBUG SLEEP`): a replica receives nothing
    /// meanwhile. Returns at once; the sleep runs on a thread.
    pub fn hold(&self, index: usize, seconds: f64) -> std::thread::JoinHandle<()> {
        let mut connection = self.connection(index);
        std::thread::spawn(move || {
            redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(seconds)
                .exec(&mut connection)
                .expect("DEBUG SLEEP");
        })
    }

    /// Drops the replication links of primary `index` (`CLIENT KILL TYPE replica`): what it
    /// writes until a replica reconnects stays in its backlog only.
    pub fn cut_replicas(&self, index: usize) {
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("replica")
            .exec(&mut self.connection(index))
            .expect("CLIENT KILL TYPE replica");
    }

    /// Starts node `index` again after `kill`, with its cluster configuration: a primary that
    /// was failed over comes back as a replica of the one that took over.
    pub fn restart(&mut self, index: usize) {
        self.nodes[index].start_again();
    }

    /// Kills node `index` with SIGKILL.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// Waits until every running node says the cluster is ok and every slot has a primary, and
    /// every replica has synced with its primary.
    pub fn wait_until_serving(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = self
                .nodes
                .iter()
                .filter(|node| node.is_running())
                .all(|node| {
                    let info = node.raw(&["CLUSTER", "INFO"]).unwrap_or_default();
                    let replication = node.raw(&["INFO", "replication"]).unwrap_or_default();
                    // A primary's replica has synced (a replica that never did cannot take
                    // over), and a replica is linked to its primary.
                    let synced = if replication.contains("role:master") {
                        !replication.contains("connected_slaves:")
                            || replication.contains("state=online")
                            || replication.contains("connected_slaves:0")
                    } else {
                        replication.contains("master_link_status:up")
                    };
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:16384")
                        && synced
                });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not serve every slot within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The ids of every entry of the stream `key`, oldest first, read from its primary.
    pub fn stream_ids(&self, key: &str) -> Vec<String> {
        self.nodes[self.primary_of(key)].stream_ids(key)
    }

    /// For each primary, the number of client connections that hold sharded subscriptions
    /// (`ssub` > 0 in `CLIENT LIST`), and their subscription counts.
    pub fn sharded_subscribers(&self) -> Vec<Vec<usize>> {
        (0..self.nodes.len())
            .filter(|&index| self.nodes[index].is_running())
            .map(|index| {
                let list = self.nodes[index]
                    .raw(&["CLIENT", "LIST"])
                    .unwrap_or_default();
                list.lines()
                    .filter_map(|line| {
                        let ssub = line.split(' ').find_map(|f| f.strip_prefix("ssub="))?;
                        ssub.parse::<usize>().ok().filter(|&n| n > 0)
                    })
                    .collect()
            })
            .collect()
    }
}
