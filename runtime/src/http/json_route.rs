//! JSON routes: what `#[json_route(path = ...)]` makes of an `async fn` that answers once,
//! such as the `POST` that feeds a stream.
//!
//! They share everything with the streams of their router: middleware (authentication runs
//! once for both), state, extractors with their problem+json refusals and field paths, the
//! error handler, and the documents: the OpenAPI document and the TypeScript client list them
//! next to the streams, with their input and reply types. See [`reply`](crate::reply) for an
//! example.

use std::sync::Arc;

use http::{Method, Response};

use super::extract::RequestContext;
use super::rejection::Rejection;
use super::reply::Reply;
use super::start::{ErasedEndpoint, StreamRuntime};
use crate::boxed::BoxFuture;
use crate::metrics::RouteMetrics;
use crate::stream::body::ResponseBody;
use crate::stream::scope::RequestInfo;

/// A route that answers once with JSON. Implemented by `#[json_route(path = ...)]` on an
/// `async fn`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a JSON route",
    label = "`route` takes an `async fn` marked `#[json_route(path = \"...\")]`"
)]
pub trait JsonEndpoint: Send + Sync + 'static {
    /// What the handler returns.
    type Reply: Reply;
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

    /// Runs the extractors, then the handler.
    fn call(&self, cx: RequestContext) -> BoxFuture<'static, Result<Self::Reply, Rejection>>;
}

/// A [`JsonEndpoint`] as the router stores it.
pub(crate) struct JsonRoute<T>(pub(crate) T);

impl<T: JsonEndpoint> ErasedEndpoint for JsonRoute<T> {
    fn call(
        &self,
        mut cx: RequestContext,
        _runtime: Arc<StreamRuntime>,
        _info: RequestInfo,
        _metrics: Arc<RouteMetrics>,
    ) -> BoxFuture<'static, Result<Response<ResponseBody>, Rejection>> {
        // What middleware keeps lasts until the answer is ready.
        let kept = cx.take_kept();
        let call = self.0.call(cx);
        Box::pin(async move {
            let reply = call.await?;
            drop(kept);
            reply.into_response()
        })
    }
}
