//! Limits a router applies per client, as middleware.
//!
//! The server's own limits (connections, streams per HTTP/2 connection, timeouts) are set on
//! [`Serve`](crate::Serve); see [`server`](crate::server#limits). This module holds what a
//! router can add on top: [`StreamsPerClient`] caps the streams one client address has open
//! at once, so that one client cannot take every connection the server allows.
//!
//! ```
//! use tidings::{event_stream, Emitter, Router};
//! use tidings::limits::StreamsPerClient;
//!
//! #[event_stream]
//! enum Tick { Tick }
//!
//! #[event_stream(path = "/ticks")]
//! async fn ticks(events: Emitter<Tick>) -> tidings::Result<()> {
//!     events.emit(Tick::Tick).await?;
//!     Ok(())
//! }
//!
//! // At most 8 open streams per client IP address, over every route of this router.
//! let app = Router::new().route(ticks).middleware(StreamsPerClient::new(8));
//! ```

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER};

use crate::http::extract::RequestContext;
use crate::http::middleware::Middleware;
use crate::http::rejection::Rejection;
use crate::http::wiring::Wiring;

/// Middleware that caps the streams open at once from one client IP address; past the cap, a
/// request answers `429 Too Many Requests` with `Retry-After`, before any extractor runs.
///
/// A stream counts from the moment the middleware lets its request through until its handler
/// has returned (a handler sees [`closed()`](crate::Emitter::closed) as soon as its client
/// leaves), or until the request is refused by a later middleware or extractor. Clients are
/// told apart by [`RequestContext::peer_addr`]; behind a proxy, every client has the proxy's
/// address, so set the cap for that (or insert a [`PeerAddr`](crate::server::PeerAddr) from
/// the proxy's forwarded header in a middleware that runs first). A request without an
/// address is let through.
#[derive(Clone)]
pub struct StreamsPerClient {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl StreamsPerClient {
    /// At most `max` open streams per client address.
    pub fn new(max: usize) -> Self {
        StreamsPerClient {
            max,
            open: Arc::default(),
        }
    }

    /// How many streams `client` has open now.
    pub fn open_streams(&self, client: IpAddr) -> usize {
        self.lock().get(&client).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        // Counting is all that happens under the lock: a poisoned one is still consistent.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for StreamsPerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsPerClient")
            .field("max", &self.max)
            .field("clients", &self.lock().len())
            .finish()
    }
}

/// One client's place among its open streams, given back on drop.
struct StreamSlot {
    client: IpAddr,
    limit: StreamsPerClient,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.limit.lock();
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

impl Middleware for StreamsPerClient {
    async fn run(&self, cx: &mut RequestContext) -> Result<(), Rejection> {
        let Some(peer) = cx.peer_addr() else {
            return Ok(());
        };
        let client = peer.ip();
        {
            let mut open = self.lock();
            let count = open.entry(client).or_insert(0);
            if *count >= self.max {
                return Err(Rejection::new(StatusCode::TOO_MANY_REQUESTS)
                    .detail(format!(
                        "this client has {} streams open, the most allowed; close one first",
                        self.max
                    ))
                    .header(RETRY_AFTER, HeaderValue::from_static("5")));
            }
            *count += 1;
        }
        cx.keep_until_stream_ends(StreamSlot {
            client,
            limit: self.clone(),
        });
        Ok(())
    }
    fn provides(&self, _provided: &mut Wiring) {
        // No extension for handlers: only a slot kept for the stream's life.
    }
}
