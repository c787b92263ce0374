//! The frames of one stream, between its emitters and its response body.
//!
//! A `VecDeque` under a mutex, with the body's waker. Lighter than a channel: an idle stream
//! holds no buffer at all (the deque allocates on the first frame), and the queue lives in the
//! stream's one shared allocation. Its size is bounded by the stream's byte budget, which the
//! emitters take before pushing.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
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

    /// The frames queued so far, as one chunk of at most `max_bytes` (or one larger frame);
    /// `None` once every sender is gone and the queue is empty.
    ///
    /// Small frames are copied into `buffer`: the connection then writes one chunk with one
    /// system call instead of one chunk per event, which costs far more than the copy. The
    /// buffer's memory is reused once the connection has dropped what it wrote from it.
    pub(crate) fn poll_pop(
        &self,
        cx: &mut Context<'_>,
        max_bytes: usize,
        buffer: &mut BytesMut,
    ) -> Poll<Option<Chunk>> {
        // Register first, so that a push between the check and the return still wakes us.
        self.body.register(cx.waker());
        let mut state = self.lock();
        let Some(first) = state.chunks.pop_front() else {
            return match state.senders {
                0 => Poll::Ready(None),
                _ => Poll::Pending,
            };
        };
        // How many of the frames behind the first fit in one chunk with it.
        let (mut len, mut joins) = (first.bytes.len(), 0);
        for next in &state.chunks {
            if len + next.bytes.len() > max_bytes {
                break;
            }
            len += next.bytes.len();
            joins += 1;
        }
        if joins == 0 {
            return Poll::Ready(Some(first));
        }
        buffer.reserve(len.max(max_bytes));
        buffer.extend_from_slice(&first.bytes);
        let mut permits = first.permits;
        for next in state.chunks.drain(..joins) {
            buffer.extend_from_slice(&next.bytes);
            permits += next.permits;
        }
        Poll::Ready(Some(Chunk {
            bytes: buffer.split().freeze(),
            permits,
        }))
    }

    /// The body is gone: drop what is queued and refuse the rest.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.body_gone = true;
        state.chunks = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn chunk(text: &'static str) -> Chunk {
        Chunk {
            bytes: Bytes::from_static(text.as_bytes()),
            permits: text.len() as u32,
        }
    }

    fn pop(queue: &FrameQueue, buffer: &mut BytesMut) -> Option<(String, u32)> {
        let mut cx = Context::from_waker(Waker::noop());
        match queue.poll_pop(&mut cx, 8, buffer) {
            Poll::Ready(Some(chunk)) => Some((
                String::from_utf8(chunk.bytes.to_vec()).unwrap(),
                chunk.permits,
            )),
            _ => None,
        }
    }

    #[test]
    fn queued_frames_are_joined_up_to_the_limit_in_order() {
        let queue = FrameQueue::new();
        let mut buffer = BytesMut::new();
        for text in ["ab", "cd", "efg", "hi", "0123456789", "j"] {
            assert!(queue.push(chunk(text)).is_ok());
        }
        assert_eq!(pop(&queue, &mut buffer), Some(("abcdefg".into(), 7)));
        // "hi" and the next frame would pass 8 bytes: "hi" goes alone, then the big one.
        assert_eq!(pop(&queue, &mut buffer), Some(("hi".into(), 2)));
        assert_eq!(pop(&queue, &mut buffer), Some(("0123456789".into(), 10)));
        assert_eq!(pop(&queue, &mut buffer), Some(("j".into(), 1)));
        assert_eq!(pop(&queue, &mut buffer), None);
        queue.remove_sender();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(
            queue.poll_pop(&mut cx, 8, &mut buffer),
            Poll::Ready(None)
        ));
    }
}
