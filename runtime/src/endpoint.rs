//! Endpoints: what `#[event_stream(path = ...)]` makes of an `async fn`.
//!
//! The macro turns the function into a unit struct of the same name that implements
//! [`Endpoint`]; [`Router::route`](crate::Router::route) registers it. The original function
//! lives on inside [`Endpoint::start`], which runs the extractors in argument order and, when
//! all succeed, hands back the rest of the handler as a [`StreamTask`].

use std::future::Future;
use std::pin::Pin;

use http::Method;

use crate::emitter::Emitter;
use crate::error::{IntoStreamResult, Result};
use crate::event::EventSet;
use crate::extract::RequestContext;
use crate::rejection::Rejection;

/// A boxed future that is `Send`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

    /// Documents the extractors' inputs (generated: each extractor's
    /// [`FromRequest::describe`](crate::FromRequest::describe), in argument order).
    fn describe_inputs(
        doc: &mut crate::openapi::InputDoc,
        generator: &mut schemars::SchemaGenerator,
    ) {
        let _ = (doc, generator);
    }

    /// Runs the extractors; on success, returns the handler, ready to take its emitter.
    fn start(
        &self,
        cx: RequestContext,
    ) -> BoxFuture<'static, Result<StreamTask<Self::Event>, Rejection>>;
}

type RunFn<E> = Box<dyn FnOnce(Emitter<E>) -> BoxFuture<'static, Result<()>> + Send>;

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
            run: Box::new(move |events| {
                let future = handler(events);
                Box::pin(async move { future.await.into_stream_result() })
            }),
        }
    }

    pub(crate) fn run(self, events: Emitter<E>) -> BoxFuture<'static, Result<()>> {
        (self.run)(events)
    }
}

impl<E> std::fmt::Debug for StreamTask<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamTask")
    }
}
