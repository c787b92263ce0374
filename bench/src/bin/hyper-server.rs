//! The floors: bare hyper 1.x HTTP/1.1 with no framework.
//!
//! - `GET /idle`: a body that never yields, the least an idle connection can cost.
//! - `GET /broadcast`: frames serialized once by the publisher, fanned out through a
//!   `tokio::sync::broadcast` channel and written as they come (lagging receivers skip ahead).
//!   No validation, no buffer budget, no heartbeats, no ids: the least a delivery can cost.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::StreamBody;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tidings_bench::{announce, publish_loop, rate, tick};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// A body that never yields a frame and never ends.
struct Never;

impl Body for Never {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

type FloorBody = UnsyncBoxBody<Bytes, Infallible>;

fn respond(path: &str, frames: &broadcast::Sender<Bytes>) -> Response<FloorBody> {
    let body = match path {
        "/broadcast" => {
            let frames = BroadcastStream::new(frames.subscribe())
                .filter_map(|frame| async move { frame.ok().map(|f| Ok(Frame::data(f))) });
            UnsyncBoxBody::new(StreamBody::new(frames))
        }
        _ => UnsyncBoxBody::new(Never),
    };
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    response
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (frames, _) = broadcast::channel::<Bytes>(1024);
    let publisher = frames.clone();
    tokio::spawn(publish_loop(rate(), move |seq| {
        let tidings_bench::Bench::Tick { seq, ts, payload } = tick(seq);
        let frame = format!(
            "event: tick\ndata: {{\"seq\":{seq},\"ts\":{ts},\"payload\":\"{payload}\"}}\n\n"
        );
        let _ = publisher.send(Bytes::from(frame));
        std::future::ready(true)
    }));
    let listener = tokio::net::TcpListener::bind(tidings_bench::addr()).await?;
    announce(listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let frames = frames.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = respond(request.uri().path(), &frames);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
