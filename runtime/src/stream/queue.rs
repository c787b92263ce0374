//! The frames of one stream, between its emitters and its response body.
//!
//! Small frames are written (or copied) one after another into one buffer under a mutex, and
//! the body takes them out as one chunk: the connection then writes many events with one
//! system call, an emit allocates nothing once the buffer has grown, and an idle stream holds
//! no buffer at all. Large frames are kept whole, so a big frame shared by many subscribers
//! is never copied. The bytes queued are bounded by the stream's budget
//! (`Router::buffer_bytes`, which a frame that goes alone may pass), each frame by the route's
//! largest event (`Router::max_event_bytes`), and what all streams hold by the server's
//! budget ([`budget`](super::budget)).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use super::budget::{Charge, Waiting};

/// The body takes queued frames as chunks of up to this size (a larger frame goes alone).
/// Small enough that a connection whose client stopped reading holds little: hyper keeps up
/// to 16 chunks.
pub(crate) const CHUNK_BYTES: usize = 4096;

/// What became of a frame offered to the queue.
pub(crate) enum Push {
    Queued,
    /// The budget has no room for it now; here it is back.
    Full(Bytes),
    /// The body is gone.
    Closed,
    /// The frame is larger than the stream's largest event; nothing was queued.
    TooLarge {
        /// The frame's size.
        len: usize,
        /// The largest the stream takes.
        max: usize,
    },
}

pub(crate) struct FrameQueue {
    state: Mutex<State>,
    /// Emitters waiting for room.
    room: Notify,
    /// The largest frame the stream takes.
    max_frame: usize,
    /// What the stream holds of its server's budget, when it is counted.
    charge: Option<Arc<Charge>>,
}

struct State {
    /// Frames ahead of `tail`, each sent as it is: large frames, and `tail`'s earlier
    /// contents when a large frame came after them.
    whole: VecDeque<Bytes>,
    /// Small frames, back to back.
    tail: BytesMut,
    /// Bytes in `whole` and `tail`, counted against `capacity`.
    queued: usize,
    capacity: usize,
    /// Live emitters; the body ends once there are none and the queue is empty.
    senders: usize,
    body_gone: bool,
    /// The stream is ending: no more frames; the body takes what is queued, then ends.
    ending: bool,
    /// The stream was ended to make room in the server's budget: its body fails.
    aborted: bool,
    /// The body's waker, kept across polls.
    body_waker: Option<Waker>,
    /// Whether the body waits for a frame: a push from its own poll (the handler runs
    /// inside the body) wakes nothing.
    body_waiting: bool,
    emitters_waiting: bool,
}

impl FrameQueue {
    /// A queue with one sender that holds at most `capacity` bytes (or one larger frame).
    pub(crate) fn new(capacity: usize) -> Self {
        FrameQueue {
            state: Mutex::new(State {
                whole: VecDeque::new(),
                tail: BytesMut::new(),
                queued: 0,
                capacity: capacity.max(1),
                senders: 1,
                body_gone: false,
                ending: false,
                aborted: false,
                body_waker: None,
                body_waiting: false,
                emitters_waiting: false,
            }),
            room: Notify::new(),
            max_frame: usize::MAX,
            charge: None,
        }
    }

    /// Refuses frames larger than `max_frame` ([`Push::TooLarge`]), and counts what the
    /// stream holds with `charge`, against its server's budget.
    pub(crate) fn limit(&mut self, max_frame: usize, charge: Charge) {
        self.max_frame = max_frame;
        self.charge = Some(Arc::new(charge));
    }

    pub(crate) fn charge(&self) -> Option<&Arc<Charge>> {
        self.charge.as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves the state consistent (see `write`), so a poisoned
        // lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn add_sender(&self) {
        self.lock().senders += 1;
    }

    pub(crate) fn remove_sender(&self) {
        let mut state = self.lock();
        state.senders -= 1;
        if state.senders == 0 {
            state.wake_body();
        }
    }

    /// Writes one frame with `write` straight into the queue, without a buffer of its own.
    ///
    /// If `write` fails or panics, nothing of it stays queued. If the frame does not fit the
    /// budget, it comes back as [`Push::Full`], to be sent with [`push_waiting`](Self::push_waiting).
    pub(crate) fn write<Error>(
        &self,
        write: impl FnOnce(&mut BytesMut) -> Result<(), Error>,
    ) -> Result<Push, Error> {
        let mut guard = self.lock();
        if guard.refuses_frames() {
            return Ok(Push::Closed);
        }
        let state = &mut *guard;
        let start = state.tail.len();
        let truncate = Truncate {
            tail: &mut state.tail,
            to: start,
        };
        write(truncate.tail)?;
        std::mem::forget(truncate);
        let len = state.tail.len() - start;
        if len > self.max_frame {
            state.tail.truncate(start);
            return Ok(Push::TooLarge {
                len,
                max: self.max_frame,
            });
        }
        if !state.has_room(len) {
            let frame = state.tail.split_off(start).freeze();
            state.emitters_waiting = true;
            return Ok(Push::Full(frame));
        }
        if let Some(charge) = &self.charge
            && !charge.budget().fits(len)
        {
            // Room is made without this queue's lock (other streams' are taken), then the
            // frame is offered again.
            let frame = state.tail.split_off(start).freeze();
            drop(guard);
            return Ok(self.push(frame, true));
        }
        state.queued += len;
        if let Some(charge) = &self.charge {
            charge.add(len);
        }
        if len > CHUNK_BYTES {
            // Written in place, sent whole.
            let frame = state.tail.split_off(start).freeze();
            state.keep_whole(frame);
        }
        state.wake_body();
        Ok(Push::Queued)
    }

    /// Queues a frame if the budget has room for it (or ignoring the budget when `budgeted`
    /// is false).
    pub(crate) fn push(&self, frame: Bytes, budgeted: bool) -> Push {
        if frame.len() > self.max_frame {
            return Push::TooLarge {
                len: frame.len(),
                max: self.max_frame,
            };
        }
        let mut made_room = false;
        loop {
            let mut state = self.lock();
            if state.refuses_frames() {
                return Push::Closed;
            }
            // The stream's own budget first: a frame that waits for it asks nothing of the
            // server's.
            if budgeted && !state.has_room(frame.len()) {
                state.emitters_waiting = true;
                return Push::Full(frame);
            }
            if let Some(charge) = &self.charge
                && !made_room
                && !charge.budget().fits(frame.len())
            {
                drop(state);
                charge.budget().make_room(frame.len());
                made_room = true;
                continue;
            }
            state.queued += frame.len();
            if let Some(charge) = &self.charge {
                charge.add(frame.len());
            }
            if frame.len() > CHUNK_BYTES {
                state.keep_whole(frame);
            } else {
                state.tail.extend_from_slice(&frame);
            }
            state.wake_body();
            return Push::Queued;
        }
    }

    /// Queues a frame once the budget has room for it; `Err` once the body is gone. While it
    /// waits, the frame counts against the server's budget.
    pub(crate) async fn push_waiting(&self, mut frame: Bytes) -> Result<(), ()> {
        let _waiting = self
            .charge
            .as_ref()
            .map(|charge| Waiting::new(charge, frame.len()));
        loop {
            let room = self.room.notified();
            let mut room = std::pin::pin!(room);
            // Listen before trying, so that room made in between still wakes us.
            room.as_mut().enable();
            match self.push(frame, true) {
                Push::Queued => return Ok(()),
                // Checked by the first push already.
                Push::Closed | Push::TooLarge { .. } => return Err(()),
                Push::Full(back) => frame = back,
            }
            room.await;
        }
    }

    /// The next chunk, if one is queued; does not wait (and frames queued meanwhile wake
    /// nothing).
    pub(crate) fn try_pop(&self) -> Option<Bytes> {
        let mut state = self.lock();
        state.body_waiting = false;
        self.pop(&mut state)
    }

    /// The next chunk; `None` once every sender is gone and the queue is empty.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut state = self.lock();
        state.body_waiting = false;
        if let Some(chunk) = self.pop(&mut state) {
            return Poll::Ready(Some(chunk));
        }
        if state.senders == 0 || state.ending || state.aborted {
            return Poll::Ready(None);
        }
        match &mut state.body_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            waker => *waker = Some(cx.waker().clone()),
        }
        state.body_waiting = true;
        Poll::Pending
    }

    fn pop(&self, state: &mut MutexGuard<'_, State>) -> Option<Bytes> {
        let chunk = match state.whole.pop_front() {
            Some(frame) => frame,
            None if state.tail.is_empty() => return None,
            None if state.tail.len() <= CHUNK_BYTES => state.tail.split().freeze(),
            None => {
                let len = whole_frames(&state.tail[..CHUNK_BYTES]);
                state.tail.split_to(len).freeze()
            }
        };
        state.queued -= chunk.len();
        let chunk = match &self.charge {
            Some(charge) => {
                charge.taken();
                if chunk.len() > CHUNK_BYTES {
                    // A large frame stays counted until the connection lets go of it.
                    charge.in_flight(chunk)
                } else {
                    charge.release(chunk.len());
                    chunk
                }
            }
            None => chunk,
        };
        if state.queued == 0 && state.tail.capacity() > 4 * CHUNK_BYTES {
            // A burst is over: do not keep its buffer for the rest of the stream.
            state.tail = BytesMut::new();
        }
        if std::mem::take(&mut state.emitters_waiting) {
            self.room.notify_waiters();
        }
        Some(chunk)
    }

    /// Whether the stream's lifetime ended it.
    pub(crate) fn is_ending(&self) -> bool {
        self.lock().ending
    }

    /// Whether the body is gone: the client left.
    pub(crate) fn is_body_gone(&self) -> bool {
        self.lock().body_gone
    }

    /// The stream is ending: refuse new frames; the body takes what is queued, then ends.
    pub(crate) fn end(&self) {
        self.lock().ending = true;
        self.room.notify_waiters();
    }

    /// The body is gone: drop what is queued and refuse the rest.
    pub(crate) fn close(&self) {
        self.lock().drop_frames(self.charge.as_deref());
        self.room.notify_waiters();
    }

    /// The stream is ended to make room in its server's budget: drop what is queued, refuse
    /// the rest, and wake the body, which fails so that the connection aborts the response
    /// (and drops what it buffered of it).
    pub(crate) fn abort(&self) {
        let waker = {
            let mut state = self.lock();
            state.aborted = true;
            let waker = state.body_waker.take();
            state.drop_frames(self.charge.as_deref());
            waker
        };
        if let Some(charge) = &self.charge {
            charge.abandon_in_flight();
        }
        self.room.notify_waiters();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Whether the stream was ended to make room in its server's budget.
    pub(crate) fn is_aborted(&self) -> bool {
        self.lock().aborted
    }
}

impl State {
    fn refuses_frames(&self) -> bool {
        self.body_gone || self.ending || self.aborted
    }

    fn drop_frames(&mut self, charge: Option<&Charge>) {
        if let Some(charge) = charge {
            charge.release(self.queued);
        }
        self.body_gone = true;
        self.whole = VecDeque::new();
        self.tail = BytesMut::new();
        self.queued = 0;
        self.body_waker = None;
        self.body_waiting = false;
    }

    fn wake_body(&mut self) {
        if std::mem::take(&mut self.body_waiting)
            && let Some(waker) = &self.body_waker
        {
            waker.wake_by_ref();
        }
    }

    /// A frame larger than the whole budget still goes, alone.
    fn has_room(&self, len: usize) -> bool {
        self.queued == 0 || self.queued + len <= self.capacity
    }

    fn keep_whole(&mut self, frame: Bytes) {
        if !self.tail.is_empty() {
            let before = self.tail.split().freeze();
            self.whole.push_back(before);
        }
        self.whole.push_back(frame);
    }
}

/// The length of the whole frames at the start of `bytes`: up to the last blank line (every
/// other line of a frame starts with a field name or `:`, so `\n\n` only ends frames). The
/// tail holds frames of at most [`CHUNK_BYTES`], so a chunk that size holds at least one.
fn whole_frames(bytes: &[u8]) -> usize {
    bytes
        .windows(2)
        .rposition(|pair| pair == b"\n\n")
        .map_or(bytes.len(), |at| at + 2)
}

/// Takes a partly written frame back out if its writer fails or panics.
struct Truncate<'a> {
    tail: &'a mut BytesMut,
    to: usize,
}

impl Drop for Truncate<'_> {
    fn drop(&mut self) {
        self.tail.truncate(self.to);
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn pop(queue: &FrameQueue) -> Option<String> {
        let mut cx = Context::from_waker(Waker::noop());
        match queue.poll_pop(&mut cx) {
            Poll::Ready(Some(chunk)) => Some(String::from_utf8(chunk.to_vec()).unwrap()),
            _ => None,
        }
    }

    fn push(queue: &FrameQueue, text: &str) -> bool {
        matches!(
            queue.push(Bytes::copy_from_slice(text.as_bytes()), true),
            Push::Queued
        )
    }

    #[test]
    fn small_frames_leave_together_and_large_ones_whole_in_order() {
        let queue = FrameQueue::new(64 * 1024);
        let large = "x".repeat(CHUNK_BYTES + 1);
        for text in ["ab", "cd", &large, "ef"] {
            assert!(push(&queue, text));
        }
        assert_eq!(pop(&queue).as_deref(), Some("abcd"));
        assert_eq!(pop(&queue).as_deref(), Some(large.as_str()));
        assert_eq!(pop(&queue).as_deref(), Some("ef"));
        assert_eq!(pop(&queue), None);
        // Many small frames leave in chunks of whole frames, of at most CHUNK_BYTES.
        let frame = format!("data: {}\n\n", "y".repeat(CHUNK_BYTES / 3));
        for _ in 0..4 {
            assert!(push(&queue, &frame));
        }
        assert_eq!(pop(&queue), Some(frame.repeat(2)));
        assert_eq!(pop(&queue), Some(frame.repeat(2)));
        queue.remove_sender();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(queue.poll_pop(&mut cx), Poll::Ready(None)));
    }

    #[test]
    fn a_large_frame_written_in_place_leaves_whole_after_what_came_before() {
        let queue = FrameQueue::new(64 * 1024);
        let large = "z".repeat(CHUNK_BYTES * 2);
        assert!(push(&queue, "first\n\n"));
        let written = queue.write(|out| {
            out.extend_from_slice(large.as_bytes());
            Ok::<_, ()>(())
        });
        assert!(matches!(written, Ok(Push::Queued)));
        assert!(push(&queue, "last\n\n"));
        assert_eq!(pop(&queue).as_deref(), Some("first\n\n"));
        assert_eq!(pop(&queue).as_deref(), Some(large.as_str()));
        assert_eq!(pop(&queue).as_deref(), Some("last\n\n"));
    }

    #[test]
    fn the_budget_refuses_what_does_not_fit_but_never_a_lone_frame() {
        let queue = FrameQueue::new(8);
        assert!(push(&queue, "12345"));
        assert!(!push(&queue, "6789"));
        assert!(push(&queue, "678"));
        assert_eq!(pop(&queue).as_deref(), Some("12345678"));
        assert!(push(&queue, "a frame larger than the budget"));
        assert!(!push(&queue, "a"));
        assert!(matches!(
            queue.push(Bytes::from_static(b"!"), false),
            Push::Queued
        ));
    }

    #[test]
    fn a_failed_or_refused_write_leaves_nothing_behind() {
        let queue = FrameQueue::new(8);
        assert!(push(&queue, "1234"));
        let failed = queue.write(|out| {
            out.extend_from_slice(b"half a frame");
            Err("serde said no")
        });
        assert!(matches!(failed, Err("serde said no")));
        let refused = queue.write(|out| {
            out.extend_from_slice(b"too long");
            Ok::<_, ()>(())
        });
        assert!(matches!(refused, Ok(Push::Full(frame)) if &frame[..] == b"too long"));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = queue.write(|out| -> Result<(), ()> {
                out.extend_from_slice(b"oops");
                panic!("a Serialize impl panicked")
            });
        }));
        assert!(panicked.is_err());
        assert!(matches!(
            queue.write(|out| {
                out.extend_from_slice(b"5678");
                Ok::<_, ()>(())
            }),
            Ok(Push::Queued)
        ));
        assert_eq!(pop(&queue).as_deref(), Some("12345678"));
    }

    #[test]
    fn nothing_is_queued_once_the_body_is_gone() {
        let queue = FrameQueue::new(8);
        assert!(push(&queue, "1234"));
        queue.close();
        assert!(matches!(
            queue.push(Bytes::from_static(b"x"), false),
            Push::Closed
        ));
        assert_eq!(pop(&queue), None);
    }
}
