//! The connection a [`Redis`](crate::Redis) sends its commands on: one server's, or a
//! cluster's (which routes each command to the primary of its key's slot).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, Pipeline, RedisFuture, ServerErrorKind, Value};

/// The least time between two fresh cluster connections.
const REMAKE_AT_MOST_EVERY: Duration = Duration::from_millis(250);

/// Commands for one Redis or for a Redis Cluster; cheap to clone, multiplexed.
#[derive(Clone)]
pub(crate) enum Commands {
    Server(ConnectionManager),
    Cluster(Arc<ClusterCommands>),
}

/// A cluster connection that is made again, from the seed nodes, after a connection error.
///
/// redis-rs reads the slot map again on `MOVED`, but after a connection error it only
/// reconnects to the same node: when a primary dies, every command for its slots would go on
/// failing after its replica has taken over (and with `READONLY` once the old primary is back
/// as a replica). A fresh connection reads the map from the nodes
/// given to `open_cluster`, so the next command reaches the new primary.
pub(crate) struct ClusterCommands {
    client: ClusterClient,
    config: ClusterConfig,
    current: Mutex<(ClusterConnection, Instant)>,
}

impl ClusterCommands {
    /// Connects in the background; call it inside a Tokio runtime.
    pub(crate) fn new(client: ClusterClient, config: ClusterConfig) -> Arc<ClusterCommands> {
        let connection = client.get_pending_async_connection_with_config(config.clone());
        Arc::new(ClusterCommands {
            client,
            config,
            current: Mutex::new((connection, Instant::now())),
        })
    }

    fn connection(&self) -> ClusterConnection {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .0
            .clone()
    }

    /// Replaces the connection now (at most every 250 ms).
    fn remake(&self) {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.1.elapsed() >= REMAKE_AT_MOST_EVERY {
            let connection = self
                .client
                .get_pending_async_connection_with_config(self.config.clone());
            *current = (connection, Instant::now());
        }
    }

    /// After an answer: a connection that could not reach a node, or reached a primary that
    /// has become a replica (it came back after a failover: `READONLY`, which redis-rs
    /// passes on as a value), is replaced (at most every 250 ms), so that the next command
    /// reads the slot map afresh.
    fn answered(&self, answer: Result<&[Value], &redis::RedisError>) {
        let stale = match answer {
            Err(error) => {
                error.is_io_error()
                    || error.is_timeout()
                    || error.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
            }
            Ok(values) => values.iter().any(|value| {
                matches!(value, Value::ServerError(error) if error.kind() == Some(ServerErrorKind::ReadOnly))
            }),
        };
        if stale {
            self.remake();
        }
    }
}

impl Commands {
    /// Whether these are a cluster's commands (whose channels are sharded: `SPUBLISH`).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Commands::Cluster(_))
    }

    /// The answers of `pipeline`, which reads one key, from that key's primary.
    ///
    /// On a cluster, redis-rs marks every connection `READONLY` and so reads from whatever node
    /// its slot map names: after a failover, while its map is stale, that can be the old
    /// primary come back as a replica, still syncing. A catch-up that read such a lagging copy
    /// would miss what the primary had before the topic subscribed there. So `ROLE` goes first,
    /// in the same round trip (the same node), and an answer from a replica is refused (and the
    /// connection made again, to read the slot map afresh).
    pub(crate) async fn query_on_primary(
        &mut self,
        pipeline: &Pipeline,
    ) -> redis::RedisResult<Vec<Value>> {
        let Commands::Cluster(cluster) = self else {
            return pipeline.query_async(self).await;
        };
        let cluster = cluster.clone();
        let mut checked = redis::pipe();
        checked.cmd("ROLE");
        for command in pipeline.cmd_iter() {
            checked.add_command(command.clone());
        }
        let mut answers: Vec<Value> = checked.query_async(self).await?;
        let role = answers.remove(0);
        let primary = match &role {
            Value::Array(parts) => match parts.first() {
                Some(Value::BulkString(role)) => role == b"master",
                Some(Value::SimpleString(role)) => role == "master",
                _ => false,
            },
            _ => false,
        };
        if !primary {
            cluster.remake();
            return Err(redis::RedisError::from((
                ErrorKind::Io,
                "a read reached a replica (the cluster's slot map changed)",
            )));
        }
        Ok(answers)
    }
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Commands::Server(connection) => connection.req_packed_command(cmd),
            Commands::Cluster(cluster) => Box::pin(async move {
                let mut connection = cluster.connection();
                let answer = connection.req_packed_command(cmd).await;
                cluster.answered(answer.as_ref().map(std::slice::from_ref));
                answer
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Commands::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Commands::Cluster(cluster) => Box::pin(async move {
                let mut connection = cluster.connection();
                let answer = connection
                    .req_packed_commands(pipeline, offset, count)
                    .await;
                cluster.answered(answer.as_ref().map(Vec::as_slice));
                answer
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Commands::Server(connection) => connection.get_db(),
            Commands::Cluster(_) => 0,
        }
    }
}
