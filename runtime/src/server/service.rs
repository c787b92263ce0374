//! The app as every connection calls it: one type, whatever the app.
//!
//! `Serve::run` is generic over the app, so whatever it polls is compiled in the crate that
//! calls it. Erased here, the app is one type to the connection machinery (hyper's and h2's,
//! monomorphised for it), which is then compiled once, in tidings, instead of in every crate
//! that serves an app: that took most of an app crate's build. The price is a virtual call per
//! request, inside the one allocation each request's call already makes.

use std::any::Any;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;

use super::body::{BodyBounds, ServedBody};
use super::connection::{OpenStream, OpenStreams};
use crate::boxed::BoxError;
use crate::boxed::BoxFuture;
use crate::http::router::RouterService;
use crate::stream::body::ResponseBody;
use crate::stream::lifecycle::{SERVED_BY, ServedBy};

/// The app, erased (see the module docs); its calls go through [`HyperService`].
#[derive(Clone)]
pub(crate) struct AnyService(Arc<dyn CallApp>);

impl AnyService {
    /// Erases `service`: any tower service of requests whose body and error convert (see the
    /// implementation of [`CallApp`]).
    pub(crate) fn new<S: CallApp + 'static>(service: S) -> Self {
        // A router, the common case, is made into an `AnyService` by a function that is not
        // generic, so that its whole request path is compiled here too.
        if let Some(router) = (&service as &dyn Any).downcast_ref::<RouterService>() {
            return AnyService::router(router.clone());
        }
        AnyService(Arc::new(service))
    }

    fn router(router: RouterService) -> Self {
        AnyService(Arc::new(router))
    }
}

/// One request's call of the app, with what the server knows, in one boxed future.
pub(crate) trait CallApp: Send + Sync {
    fn call_app(
        &self,
        request: Request<ServedBody>,
        served_by: ServedBy,
        open: OpenStream,
    ) -> BoxFuture<'static, Result<Response<OpenBody>, BoxError>>;
}

impl<S, B> CallApp for S
where
    S: tower_service::Service<Request<ServedBody>, Response = Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn call_app(
        &self,
        request: Request<ServedBody>,
        served_by: ServedBy,
        open: OpenStream,
    ) -> BoxFuture<'static, Result<Response<OpenBody>, BoxError>> {
        let mut service = self.clone();
        Box::pin(SERVED_BY.scope(served_by, async move {
            std::future::poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            let response = service.call(request).await.map_err(Into::into)?;
            Ok(response.map(|body| OpenBody {
                body: AnyBody::new(body),
                _open: open,
            }))
        }))
    }
}

/// The app as hyper calls it, with the request and the call in one boxed future.
///
/// It also tells the app what the server knows ([`SERVED_BY`], while its call runs): the
/// client's address and the server's [`Lifecycle`], which tidings routers anywhere inside the
/// app follow.
///
/// hyper-util's adapter keeps the request inside the future that hyper holds for each
/// request; an HTTP/2 stream's task is sized for that future for the whole life of the
/// stream, so boxing it costs one short-lived allocation and saves about 256 bytes on every
/// open stream.
#[derive(Clone)]
pub(crate) struct HyperService {
    service: AnyService,
    served_by: ServedBy,
    /// Counts the open requests: for HTTP/2's idle timeout, and for shutdown.
    open: Arc<OpenStreams>,
    body_bounds: BodyBounds,
}

impl HyperService {
    /// `service` for the requests of one connection; `open` counts them.
    pub(crate) fn new(
        service: AnyService,
        served_by: ServedBy,
        open: Arc<OpenStreams>,
        body_bounds: BodyBounds,
    ) -> Self {
        HyperService {
            service,
            served_by,
            open,
            body_bounds,
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for HyperService {
    type Response = Response<OpenBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let open = OpenStream::new(&self.open);
        let request = request.map(|body| ServedBody::new(body, self.body_bounds, &self.open));
        self.service
            .0
            .call_app(request, self.served_by.clone(), open)
    }
}

/// A response body of any app: tidings' own as it is, any other boxed.
pub(crate) enum AnyBody {
    Tidings(ResponseBody),
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl AnyBody {
    fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // A router's body (the streams) needs no box; an axum app's is boxed already.
        let mut body = Some(body);
        if let Some(ours) = (&mut body as &mut dyn Any).downcast_mut::<Option<ResponseBody>>() {
            return AnyBody::Tidings(ours.take().unwrap_or_default());
        }
        match body {
            Some(body) => AnyBody::Boxed(UnsyncBoxBody::new(body.map_err(Into::into))),
            None => AnyBody::Tidings(ResponseBody::default()),
        }
    }
}

/// A response body that keeps its request counted as open until it is dropped. Every
/// field is `Unpin`, so it needs no pin projection.
pub(crate) struct OpenBody {
    body: AnyBody,
    _open: OpenStream,
}

impl http_body::Body for OpenBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().body {
            AnyBody::Tidings(body) => Pin::new(body).poll_frame(cx),
            AnyBody::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.body {
            AnyBody::Tidings(body) => body.is_end_stream(),
            AnyBody::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.body {
            AnyBody::Tidings(body) => body.size_hint(),
            AnyBody::Boxed(body) => body.size_hint(),
        }
    }
}
