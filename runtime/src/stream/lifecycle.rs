//! What a server tells the streams it serves: when shutdown begins, when the grace period is
//! over, which handlers still run, and who the client is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio_util::sync::CancellationToken;

use super::budget::MemoryBudget;

/// What a server tells the streams it serves: shutdown has begun, the grace period is over;
/// and which handlers still run.
///
/// [`serve`](crate::serve) puts its own in every request's extensions, so that routers
/// mounted anywhere inside a served tower app follow its graceful shutdown; a router served
/// some other way uses one of its own, which nothing cancels.
#[derive(Clone, Default)]
pub(crate) struct Lifecycle {
    /// Cancelled when shutdown begins: handlers see `closed()` resolve.
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when the grace period is over: what still runs is dropped.
    pub(crate) hard_stop: CancellationToken,
    /// Every running handler holds a token of it, in its body or in its own task.
    pub(crate) handlers: Handlers,
    /// The bytes all streams hold, against the server's budget.
    pub(crate) budget: Arc<MemoryBudget>,
}

/// The handlers that still run, for a graceful shutdown to wait for.
///
/// tokio-util's `TaskTracker` does this, behind its `rt` feature, which builds futures-util
/// with all its default features and a proc-macro: more compile time for every app than these
/// few lines.
#[derive(Clone, Default)]
pub(crate) struct Handlers(Arc<HandlerCount>);

#[derive(Default)]
pub(crate) struct HandlerCount {
    running: AtomicUsize,
    closed: AtomicBool,
    changed: tokio::sync::Notify,
}

/// Held by a running handler; dropped when it ends.
pub(crate) struct HandlerToken(Arc<HandlerCount>);

impl Handlers {
    /// Counts a handler as running until the token is dropped.
    pub(crate) fn token(&self) -> HandlerToken {
        self.0.running.fetch_add(1, Ordering::AcqRel);
        HandlerToken(self.0.clone())
    }

    /// How many handlers run.
    pub(crate) fn len(&self) -> usize {
        self.0.running.load(Ordering::Acquire)
    }

    /// Lets [`wait`](Self::wait) return once no handler runs.
    pub(crate) fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.changed.notify_waiters();
    }

    /// Resolves when the set is closed and no handler runs.
    pub(crate) async fn wait(&self) {
        loop {
            let changed = self.0.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before checking, so that a change in between is not missed.
            changed.as_mut().enable();
            if self.0.closed.load(Ordering::Acquire) && self.len() == 0 {
                return;
            }
            changed.await;
        }
    }
}

impl Drop for HandlerToken {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_waiters();
        }
    }
}

/// What [`serve`](crate::serve) tells each request: who sent it, and the server's lifecycle;
/// one per connection, shared by its requests.
#[derive(Clone)]
pub(crate) struct ServedBy(pub(crate) Arc<Connection>);

tokio::task_local! {
    /// The connection a request came in on, while the server runs its service's call: a
    /// router reads it as it starts routing. Not a request extension, which would cost an
    /// allocation per request, and memory per stream after it.
    pub(crate) static SERVED_BY: ServedBy;
}

/// See [`ServedBy`].
pub(crate) struct Connection {
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) lifecycle: Lifecycle,
    /// Set when a stream of the connection is ended to keep the server's memory budget: the
    /// connection is dropped, with what it buffered (a client that reads nothing would
    /// otherwise keep it, as the connection never polls a body it cannot write).
    pub(crate) aborted: AtomicBool,
    /// The connection's task, to wake when it is aborted.
    pub(crate) task: futures_util::task::AtomicWaker,
}

impl Connection {
    pub(crate) fn new(peer: std::net::SocketAddr, lifecycle: Lifecycle) -> Self {
        Connection {
            peer,
            lifecycle,
            aborted: AtomicBool::new(false),
            task: futures_util::task::AtomicWaker::new(),
        }
    }

    /// Drops the connection (see [`aborted`](Self::aborted)).
    pub(crate) fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
        self.task.wake();
    }
}
