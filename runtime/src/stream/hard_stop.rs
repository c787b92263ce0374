//! Ending what still runs when a shutdown's grace period is over.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

pin_project! {
    /// `future`, until it ends or `stop` is cancelled (then `None`).
    ///
    /// Written out rather than with `select!` in an `async` block, which would hold `future`
    /// twice, and would lock the token's list of waiters on every poll: this wraps every
    /// connection and every detached handler, for their whole life. It is meant to be the
    /// whole future of a task, whose waker never changes, so it registers with the token once
    /// and afterwards only reads the flag.
    pub(crate) struct UntilStopped<F> {
        #[pin]
        future: F,
        #[pin]
        wake_on_stop: WaitForCancellationFutureOwned,
        stop: CancellationToken,
        registered: bool,
    }
}

/// Runs `future` until it ends or `stop` is cancelled.
pub(crate) fn until_stopped<F: Future>(future: F, stop: CancellationToken) -> UntilStopped<F> {
    UntilStopped {
        future,
        wake_on_stop: stop.clone().cancelled_owned(),
        stop,
        registered: false,
    }
}

impl<F: Future> Future for UntilStopped<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.registered {
            *this.registered = true;
            if this.wake_on_stop.poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        } else if this.stop.is_cancelled() {
            return Poll::Ready(None);
        }
        this.future.poll(cx).map(Some)
    }
}
