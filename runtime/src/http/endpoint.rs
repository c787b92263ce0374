//! Endpoints: what `#[event_stream(path = ...)]` makes of an `async fn`.
//!
//! The macro turns the function into a unit struct of the same name that implements
//! [`Endpoint`]; [`Router::route`](crate::Router::route) registers it. The original function
//! lives on inside [`Endpoint::start`], which runs the extractors in argument order and, when
//! all succeed, hands back the rest of the handler as a [`StreamTask`].
//!
//! While its client is connected, a handler runs inside the connection's task, polled by the
//! response body: no task per stream, and no hop between tasks for each event. Like any async
//! code, it should not block: move heavy computation to `tokio::task::spawn_blocking`. When
//! the client leaves first, the handler moves to a task of its own, where `closed()` resolves
//! and it can finish its cleanup.

use std::future::Future;

use futures_util::FutureExt;
use http::Method;

use crate::error::{IntoStreamResult, Result};
use crate::event::EventSet;
use crate::http::extract::RequestContext;
use crate::http::rejection::Rejection;
use crate::stream::emitter::Emitter;
use crate::stream::scope::HandlerScope;

pub use crate::boxed::BoxFuture;

/// A streaming route. Implemented by `#[event_stream(path = ...)]` on an `async fn`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an endpoint",
    label = "`route` takes an `async fn` marked `#[event_stream(path = \"...\")]`",
    note = "pass the function's name, e.g. `Router::new().route(clock)`"
)]
pub trait Endpoint: Send + Sync + 'static {
    /// The events of the stream: the `E` of the handler's `Emitter<E>`.
    type Event: EventSet;
    /// The HTTP method, `GET` unless the attribute says otherwise.
    const METHOD: Method;
    /// The path pattern, with `{name}` parameters.
    const PATH: &'static str;
    /// The function's name.
    const NAME: &'static str;
    /// The function's doc comment, if any.
    const DESCRIPTION: Option<&'static str>;
    /// The largest event the stream sends, when the attribute sets it
    /// (`#[event_stream(path = "...", max_event_bytes = 8388608)]`); the router's
    /// [`max_event_bytes`](crate::Router::max_event_bytes) otherwise.
    const MAX_EVENT_BYTES: Option<usize> = None;
    /// Whether the stream is compressed for clients that accept it, when the attribute says
    /// (`#[event_stream(path = "...", compress = false)]`); the router's
    /// `compression` setting otherwise (feature `compression`).
    const COMPRESS: Option<bool> = None;

    /// Documents the extractors' inputs (generated: each extractor's
    /// [`FromRequest::describe`](crate::FromRequest::describe), in argument order).
    fn describe_inputs(
        doc: &mut crate::http::inputs::InputDoc,
        generator: &mut schemars::SchemaGenerator,
    ) {
        let _ = (doc, generator);
    }

    /// What the extractors need from the router (generated: each extractor's
    /// [`FromRequest::needs`](crate::FromRequest::needs)).
    fn needs(needs: &mut crate::http::wiring::Wiring) {
        let _ = needs;
    }

    /// Runs the extractors; on success, returns the handler, ready to take its emitter.
    fn start(
        &self,
        cx: RequestContext,
    ) -> BoxFuture<'static, Result<StreamTask<Self::Event>, Rejection>>;
}

type RunFn<E> = Box<dyn FnOnce(Emitter<E>, HandlerScope) -> BoxFuture<'static, ()> + Send>;

/// The body of a handler whose extractors all succeeded, waiting for its emitter.
pub struct StreamTask<E> {
    run: RunFn<E>,
}

impl<E: EventSet> StreamTask<E> {
    /// Wraps the rest of a handler.
    pub fn new<F, Fut>(handler: F) -> Self
    where
        F: FnOnce(Emitter<E>) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoStreamResult,
    {
        StreamTask {
            run: Box::new(move |events: Emitter<E>, scope| {
                let future = handler(events.clone()).map(IntoStreamResult::into_stream_result);
                // One allocation holds the handler and its error handling.
                Box::pin(scope.drive(future, events))
            }),
        }
    }

    /// The whole life of the handler: its future, with failures and panics turned into an
    /// `error` event.
    pub(crate) fn run(self, events: Emitter<E>, scope: HandlerScope) -> BoxFuture<'static, ()> {
        (self.run)(events, scope)
    }
}

impl<E> std::fmt::Debug for StreamTask<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamTask")
    }
}
