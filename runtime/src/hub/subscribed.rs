//! The [`Subscribed`] extractor: subscribe to a hub before the stream starts.

use std::fmt;

use super::{Hub, HubStorage, MemoryStorage, Subscription};
use crate::event::EventSet;
use crate::http::extract::{FromRequest, RequestContext};
use crate::http::middleware::State;
use crate::http::rejection::Rejection;

/// A subscription to the `Hub<E, S>` of the router's state
/// ([`Router::with_state`](crate::Router::with_state)), starting right after the request's
/// `Last-Event-ID`.
///
/// It subscribes while the request is still being answered, so a storage that cannot serve
/// subscribers now (Redis unreachable) answers `503 Service Unavailable` with
/// `Retry-After: 1`, which tidings' Rust client and the TypeScript client's `fetch` transport
/// wait out and retry; an open stream never fails for it.
///
/// ```
/// use tidings::hub::{Hub, Subscribed};
/// use tidings::{event_stream, Emitter, Router};
///
/// #[event_stream]
/// #[derive(Debug, Clone)]
/// enum Metrics {
///     Cpu { percent: f32 },
/// }
///
/// #[event_stream(path = "/metrics")]
/// async fn metrics(
///     Subscribed(samples): Subscribed<Metrics>,
///     events: Emitter<Metrics>,
/// ) -> tidings::Result<()> {
///     events.forward(samples).await?;
///     Ok(())
/// }
///
/// let app = Router::new().route(metrics).with_state(Hub::<Metrics>::new());
/// ```
pub struct Subscribed<E, S = MemoryStorage<E>>(pub Subscription<E, S>);

impl<E, S> fmt::Debug for Subscribed<E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Subscribed").field(&self.0).finish()
    }
}

impl<E: EventSet + Sync, S: HubStorage<E>> FromRequest for Subscribed<E, S> {
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let State(hub) = State::<Hub<E, S>>::from_request(cx).await?;
        let last_event_id = cx.last_event_id();
        let subscription = hub.try_subscribe(last_event_id.as_deref()).await?;
        Ok(Subscribed(subscription))
    }

    fn describe(
        doc: &mut crate::http::inputs::InputDoc,
        _generator: &mut schemars::SchemaGenerator,
    ) {
        doc.response(
            503,
            "the event history is unreachable now; retry after `Retry-After` seconds",
        );
    }

    fn needs(needs: &mut crate::http::wiring::Wiring) {
        needs.state::<Hub<E, S>>();
    }
}
