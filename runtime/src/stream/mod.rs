//! One stream: its queue of frames and their byte budget ([`queue`]), the [`Emitter`] that
//! fills it, the body that drains it with heartbeats and a lifetime ([`body`]), the scope its
//! handler runs in ([`scope`]), and what a server tells its streams ([`lifecycle`]).
//!
//! This layer knows the wire (events, frames) and nothing of routing or servers: the HTTP
//! layer (`crate::http`) starts streams, and servers drive their lifecycle.

pub(crate) mod body;
pub(crate) mod budget;
#[cfg(feature = "compression")]
pub mod compress;
#[cfg(feature = "compression")]
mod deflate;
pub mod emitter;
pub(crate) mod hard_stop;
pub(crate) mod lifecycle;
pub(crate) mod queue;
pub(crate) mod scope;

use std::any::Any;
use std::time::Duration;

/// How streams behave; set on the [`Router`](crate::Router).
#[derive(Debug, Clone)]
pub(crate) struct StreamOptions {
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) retry: Option<Duration>,
    pub(crate) buffer_bytes: usize,
    /// The largest event a stream sends.
    pub(crate) max_event_bytes: usize,
    /// How long a stream may live before it ends so that its client reconnects.
    pub(crate) max_duration: Option<Duration>,
    /// The encodings streams may be compressed with; `None`: never compressed.
    #[cfg(feature = "compression")]
    pub(crate) compression: Option<compress::Compression>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            heartbeat: Some(Duration::from_secs(15)),
            retry: None,
            buffer_bytes: 64 * 1024,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_duration: None,
            #[cfg(feature = "compression")]
            compression: None,
        }
    }
}

/// The default largest event of a route (`Router::max_event_bytes`).
pub(crate) const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// When a stream sends what it sends by itself.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StreamTiming {
    /// `retry:` first.
    pub(crate) retry: Option<Duration>,
    /// A comment after this long without a frame.
    pub(crate) heartbeat: Option<Duration>,
    /// The end of the stream, this long after it started.
    pub(crate) max_duration: Option<Duration>,
    /// `tidings.end` last: on for served streams, off for [`Emitter::pair`].
    pub(crate) end_event: bool,
}

/// The message of a caught panic, when it has one.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}
