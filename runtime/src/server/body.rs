//! The request body as the server hands it to the app: hyper's, bounded in size and in the
//! time it may take to arrive, whatever the app does with it.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Limited;
use hyper::body::Incoming;
use tokio::time::Sleep;

use super::connection::{OpenStreams, UnfinishedBody};
use crate::boxed::BoxError;
use crate::http::extract::BodyTimedOut;

/// A request body as [`serve`](crate::serve) and [`serve_service`](crate::serve_service) pass
/// it to the app: hyper's, within the server's limits. Past
/// [`Serve::max_body_bytes`](crate::Serve::max_body_bytes) it fails with http-body-util's
/// [`LengthLimitError`](http_body_util::LengthLimitError) (which axum answers with `413`);
/// when it has not all arrived within [`Serve::body_timeout`](crate::Serve::body_timeout) of
/// the request head, it fails with [`BodyTimedOut`]. A tidings [`Router`](crate::Router), or
/// an axum router, takes it as any other body.
pub struct ServedBody {
    incoming: Limited<Incoming>,
    /// When the whole body must have arrived; `None` once it has.
    deadline: Option<Pin<Box<Sleep>>>,
    timeout: Duration,
    /// Counts the body as unfinished on its connection, until it ends.
    unfinished: Option<UnfinishedBody>,
}

/// The server's bounds on request bodies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyBounds {
    pub(crate) max_bytes: usize,
    pub(crate) timeout: Duration,
}

impl ServedBody {
    pub(crate) fn new(incoming: Incoming, bounds: BodyBounds, open: &Arc<OpenStreams>) -> Self {
        let finished = incoming.is_end_stream();
        ServedBody {
            incoming: Limited::new(incoming, bounds.max_bytes),
            // An empty body (most GETs) costs no timer.
            deadline: (!finished).then(|| Box::pin(tokio::time::sleep(bounds.timeout))),
            timeout: bounds.timeout,
            unfinished: (!finished).then(|| UnfinishedBody::new(open)),
        }
    }

    fn finished(&mut self) {
        self.deadline = None;
        self.unfinished = None;
    }
}

impl fmt::Debug for ServedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServedBody")
            .field("finished", &self.deadline.is_none())
            .finish_non_exhaustive()
    }
}

impl Body for ServedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if this.incoming.is_end_stream() {
                    this.finished();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(ended) => {
                // The end, or an error (past the size limit, too: `LengthLimitError`).
                this.finished();
                Poll::Ready(ended)
            }
            Poll::Pending => {
                let timed_out = match &mut this.deadline {
                    Some(deadline) => deadline.as_mut().poll(cx).is_ready(),
                    None => false,
                };
                if !timed_out {
                    return Poll::Pending;
                }
                this.finished();
                Poll::Ready(Some(Err(BodyTimedOut(this.timeout).into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
