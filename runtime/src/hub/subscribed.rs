//! The [`Subscribed`] and [`TopicSubscribed`] extractors: subscribe to a hub, or to the hub of
//! the path's topic, before the stream starts.

use std::fmt;

use super::{Hub, HubStorage, Hubs, MemoryStorage, Subscription};
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

/// A subscription to the topic of the request's path: the path parameters are read as `K`
/// (as [`Path<K>`](crate::Path) reads them, with its `400` for a bad one), and the topic's hub
/// in the router's [`Hubs<K, E, S>`](super::Hubs) state is subscribed to, starting right after
/// the request's `Last-Event-ID`, before the stream starts.
///
/// A topic used for the first time is created here; a shared storage may need a moment to
/// follow it (Redis: one round trip or two), and the subscriber waits for that rather than
/// being refused. A storage that cannot serve subscribers within its bound answers `503` with
/// `Retry-After`, as [`Subscribed`] does.
///
/// ```
/// use std::time::Duration;
/// use tidings::hub::{HubOptions, Hubs, TopicSubscribed};
/// use tidings::{event_stream, Emitter, Router};
///
/// #[event_stream]
/// #[derive(Debug, Clone)]
/// enum Chat {
///     Message { from: String, text: String },
/// }
///
/// /// The messages of one room.
/// #[event_stream(path = "/rooms/{room}/events")]
/// async fn room(
///     TopicSubscribed(_room, messages): TopicSubscribed<String, Chat>,
///     events: Emitter<Chat>,
/// ) -> tidings::Result<()> {
///     events.forward(messages).await?;
///     Ok(())
/// }
///
/// let rooms = Hubs::<String, Chat>::new(HubOptions::default(), Duration::from_secs(300));
/// let app = Router::new().route(room).with_state(rooms);
/// ```
pub struct TopicSubscribed<K, E, S = MemoryStorage<E>>(pub K, pub Subscription<E, S>);

impl<K: fmt::Debug, E, S> fmt::Debug for TopicSubscribed<K, E, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TopicSubscribed")
            .field(&self.0)
            .field(&self.1)
            .finish()
    }
}

impl<K, E, S> FromRequest for TopicSubscribed<K, E, S>
where
    K: serde::de::DeserializeOwned
        + crate::Validate
        + schemars::JsonSchema
        + std::hash::Hash
        + Eq
        + Clone
        + Send
        + Sync
        + 'static,
    E: EventSet + Sync,
    S: HubStorage<E>,
{
    type Rejection = Rejection;

    async fn from_request(cx: &mut RequestContext) -> Result<Self, Rejection> {
        let crate::Path(key) = crate::Path::<K>::from_request(cx).await?;
        let State(hubs) = State::<Hubs<K, E, S>>::from_request(cx).await?;
        let hub = hubs.get(&key);
        let last_event_id = cx.last_event_id();
        let subscription = hub.try_subscribe(last_event_id.as_deref()).await?;
        Ok(TopicSubscribed(key, subscription))
    }

    fn describe(
        doc: &mut crate::http::inputs::InputDoc,
        generator: &mut schemars::SchemaGenerator,
    ) {
        <crate::Path<K> as FromRequest>::describe(doc, generator);
        <Subscribed<E, S> as FromRequest>::describe(doc, generator);
    }

    fn needs(needs: &mut crate::http::wiring::Wiring) {
        needs.state::<Hubs<K, E, S>>();
    }
}
