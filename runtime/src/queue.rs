//! The frames of one stream, between its emitters and its response body.
//!
//! A `VecDeque` under a mutex, with the body's waker. Lighter than a channel: an idle stream
//! holds no buffer at all (the deque allocates on the first frame), and the queue lives in the
//! stream's one shared allocation. Its size is bounded by the stream's byte budget, which the
//! emitters take before pushing.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::task::AtomicWaker;

/// One frame on its way to the socket, with the budget it holds.
pub(crate) struct Chunk {
    pub(crate) bytes: Bytes,
    pub(crate) permits: u32,
}

pub(crate) struct FrameQueue {
    state: Mutex<State>,
    body: AtomicWaker,
}

struct State {
    chunks: VecDeque<Chunk>,
    /// Live emitters; the body ends once there are none and the queue is empty.
    senders: usize,
    body_gone: bool,
}

impl FrameQueue {
    /// A queue with one sender.
    pub(crate) fn new() -> Self {
        FrameQueue {
            state: Mutex::new(State {
                chunks: VecDeque::new(),
                senders: 1,
                body_gone: false,
            }),
            body: AtomicWaker::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held, so a poisoned state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn add_sender(&self) {
        self.lock().senders += 1;
    }

    pub(crate) fn remove_sender(&self) {
        let last = {
            let mut state = self.lock();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.body.wake();
        }
    }

    /// Queues a frame; gives it back if the body is gone.
    pub(crate) fn push(&self, chunk: Chunk) -> Result<(), Chunk> {
        {
            let mut state = self.lock();
            if state.body_gone {
                return Err(chunk);
            }
            state.chunks.push_back(chunk);
        }
        self.body.wake();
        Ok(())
    }

    /// The next frame; `None` once every sender is gone and the queue is empty.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        // Register first, so that a push between the check and the return still wakes us.
        self.body.register(cx.waker());
        let mut state = self.lock();
        match state.chunks.pop_front() {
            Some(chunk) => Poll::Ready(Some(chunk)),
            None if state.senders == 0 => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// The body is gone: drop what is queued and refuse the rest.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.body_gone = true;
        state.chunks = VecDeque::new();
    }
}
