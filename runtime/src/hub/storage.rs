//! Where a hub keeps its events.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::watch;
use tokio::time::Instant;

use super::id::EventId;

/// One stored event: its id, its complete wire frame (`id:` line included), and the typed
/// value, for filters.
#[derive(Debug)]
pub struct Record<E> {
    /// The event's id.
    pub id: EventId,
    /// The frame, serialized once, shared by every subscriber.
    pub frame: Bytes,
    /// The event, for filters that look at it; `None` for a frame of the storage's own, such
    /// as a [`RESET_EVENT`](super::RESET_EVENT) that a shared backend sends its live
    /// subscribers when its history broke (Redis restarted empty). Filters let those through.
    pub event: Option<Arc<E>>,
    /// Bytes published up to and including this record.
    pub end_offset: u64,
}

impl<E> Clone for Record<E> {
    fn clone(&self) -> Self {
        Record {
            id: self.id,
            frame: self.frame.clone(),
            event: self.event.clone(),
            end_offset: self.end_offset,
        }
    }
}

/// The newest event a storage holds: subscribers watch it to learn of new events and to
/// measure how far behind they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Head {
    /// The sequence number of the newest event; 0 before the first.
    pub seq: u64,
    /// Bytes published so far.
    pub offset: u64,
}

/// A subscriber's position: the next sequence number to read, and the bytes published
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The next sequence number to read.
    pub next_seq: u64,
    /// Bytes published before `next_seq`.
    pub offset: u64,
}

/// Where a new subscriber starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// From the next event on: no `Last-Event-ID` was given.
    Live(Cursor),
    /// Right after the event the client saw last; everything since is still stored.
    Resume(Cursor),
    /// The client's id cannot be resumed from: it must refetch its state. Live from here on.
    Reset {
        /// Why.
        reason: ResetReason,
        /// The oldest event still stored, if any.
        oldest: Option<EventId>,
        /// The newest event, if any.
        latest: Option<EventId>,
        /// Where the subscriber continues: the next event.
        cursor: Cursor,
    },
}

/// Why a `Last-Event-ID` cannot be resumed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// Events after it were dropped from the replay window.
    Expired,
    /// The id is malformed, from another history (e.g. before a restart), or from the future.
    Unknown,
}

impl ResetReason {
    /// `expired` or `unknown`, as sent to clients.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::Expired => "expired",
            ResetReason::Unknown => "unknown",
        }
    }
}

/// The subscriber's cursor fell out of the replay window: events it has not read are gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost;

/// A storage failure (a shared backend being unreachable, say).
#[derive(Debug)]
pub struct StorageError(pub crate::Error);

impl From<StorageError> for crate::Rejection {
    /// `503 Service Unavailable` with `Retry-After: 1`: the client (an `EventSource`, say)
    /// tries again on its own. The cause is logged, not shown.
    fn from(error: StorageError) -> Self {
        tracing::warn!(%error, "hub storage unavailable: answering 503");
        crate::Rejection::new(http::StatusCode::SERVICE_UNAVAILABLE)
            .detail("the event history is unreachable; try again shortly")
            .header(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            )
    }
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hub storage failed: {}", self.0)
    }
}

impl std::error::Error for StorageError {}

/// Where a hub keeps its events: append with an id, read after an id, learn of new ones.
///
/// [`MemoryStorage`] is the default: a replay window in this process, bounded by count,
/// bytes and age. The trait is shaped for a shared backend (Redis) to follow: such a backend
/// appends to a shared log, keeps a local window that the log's live events feed, resolves a
/// `Last-Event-ID` against it, and serves every subscriber of the process from it without a
/// round trip ([`HubStorage::read`]).
pub trait HubStorage<E>: Send + Sync + 'static {
    /// Appends an event whose frame, without its `id:` line, is `body`; returns the id it got.
    fn append(
        &self,
        event: Arc<E>,
        body: &[u8],
    ) -> impl Future<Output = Result<EventId, StorageError>> + Send;

    /// Appends events in order, as [`append`](HubStorage::append) does each; their ids. A
    /// storage that can append many at once (one round trip) does so; the default appends one
    /// after the other.
    fn append_all(
        &self,
        events: Vec<(Arc<E>, Bytes)>,
    ) -> impl Future<Output = Result<Vec<EventId>, StorageError>> + Send
    where
        E: Send + Sync,
    {
        async move {
            let mut ids = Vec::with_capacity(events.len());
            for (event, body) in events {
                ids.push(self.append(event, &body).await?);
            }
            Ok(ids)
        }
    }

    /// Where a subscriber whose client last saw `last_event_id` starts; an error when the
    /// storage cannot serve subscribers now (a shared backend being unreachable).
    fn start(
        &self,
        last_event_id: Option<&str>,
    ) -> impl Future<Output = Result<Start, StorageError>> + Send;

    /// Appends to `out` up to `max` records from `cursor` on, and moves `cursor` past them.
    fn read(&self, cursor: &mut Cursor, max: usize, out: &mut Vec<Record<E>>) -> Result<(), Lost>;

    /// Like [`read`](HubStorage::read), for a subscriber that never looks at
    /// [`Record::event`] (it has no filter): a storage that decodes events only on demand may
    /// leave it `None` here. The default reads.
    fn read_frames(
        &self,
        cursor: &mut Cursor,
        max: usize,
        out: &mut Vec<Record<E>>,
    ) -> Result<(), Lost> {
        self.read(cursor, max, out)
    }

    /// The newest event, updated on every append.
    fn head(&self) -> watch::Receiver<Head>;
}

/// Bounds of the replay window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimits {
    /// Most events kept (default 1024).
    pub max_events: usize,
    /// Most frame bytes kept (default 4 MiB).
    pub max_bytes: usize,
    /// Oldest event kept (default: no limit).
    pub max_age: Option<Duration>,
}

impl Default for WindowLimits {
    fn default() -> Self {
        WindowLimits {
            max_events: 1024,
            max_bytes: 4 * 1024 * 1024,
            max_age: None,
        }
    }
}

/// The default storage: a replay window in memory.
pub struct MemoryStorage<E> {
    epoch: u64,
    limits: WindowLimits,
    window: Mutex<Window<E>>,
    head: watch::Sender<Head>,
}

struct Window<E> {
    records: VecDeque<(Record<E>, Instant)>,
    /// The sequence number the next append gets.
    next_seq: u64,
    /// Bytes of the records kept.
    bytes: usize,
    /// Bytes ever published.
    offset: u64,
}

impl<E> Window<E> {
    fn first_seq(&self) -> u64 {
        self.records
            .front()
            .map_or(self.next_seq, |(r, _)| r.id.seq)
    }

    fn evict(&mut self, limits: &WindowLimits, now: Instant) {
        while let Some((oldest, at)) = self.records.front() {
            let too_old = limits
                .max_age
                .is_some_and(|age| now.duration_since(*at) > age);
            if self.records.len() > limits.max_events || self.bytes > limits.max_bytes || too_old {
                self.bytes -= oldest.frame.len();
                self.records.pop_front();
            } else {
                break;
            }
        }
    }
}

impl<E> MemoryStorage<E> {
    /// An empty window with these bounds and a new epoch.
    pub fn new(limits: WindowLimits) -> Self {
        MemoryStorage {
            epoch: EventId::new_epoch(),
            limits,
            window: Mutex::new(Window {
                records: VecDeque::new(),
                next_seq: 1,
                bytes: 0,
                offset: 0,
            }),
            head: watch::Sender::new(Head::default()),
        }
    }

    /// The epoch of this storage's ids.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How many events and bytes the window holds now (after dropping expired ones).
    pub fn window_size(&self) -> (usize, usize) {
        let mut window = self.lock();
        window.evict(&self.limits, Instant::now());
        (window.records.len(), window.bytes)
    }

    fn lock(&self) -> MutexGuard<'_, Window<E>> {
        // A panic while holding the lock leaves the window consistent (every mutation
        // completes before any call that could panic), so a poisoned lock is still usable.
        self.window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn id(&self, seq: u64) -> EventId {
        EventId {
            epoch: self.epoch,
            seq,
        }
    }

    pub(crate) fn start_now(&self, last_event_id: Option<&str>) -> Start {
        let mut window = self.lock();
        window.evict(&self.limits, Instant::now());
        let live = Cursor {
            next_seq: window.next_seq,
            offset: window.offset,
        };
        let Some(text) = last_event_id else {
            return Start::Live(live);
        };
        let first_seq = window.first_seq();
        let reset = |reason| Start::Reset {
            reason,
            oldest: window.records.front().map(|(r, _)| r.id),
            latest: (window.next_seq > 1).then(|| self.id(window.next_seq - 1)),
            cursor: live,
        };
        let Ok(id) = text.parse::<EventId>() else {
            return reset(ResetReason::Unknown);
        };
        if id.epoch != self.epoch || id.seq >= window.next_seq {
            return reset(ResetReason::Unknown);
        }
        if id.seq + 1 < first_seq {
            return reset(ResetReason::Expired);
        }
        // The event after `id` is stored (or `id` is the newest): resume right after it.
        let offset = match window.records.get((id.seq + 1 - first_seq) as usize) {
            Some((next, _)) => next.end_offset - next.frame.len() as u64,
            None => window.offset,
        };
        Start::Resume(Cursor {
            next_seq: id.seq + 1,
            offset,
        })
    }
}

impl<E: Send + Sync + 'static> HubStorage<E> for MemoryStorage<E> {
    async fn append(&self, event: Arc<E>, body: &[u8]) -> Result<EventId, StorageError> {
        let head = {
            let mut window = self.lock();
            let id = self.id(window.next_seq);
            // The id is known only here, under the lock; serializing here too would make
            // every reader wait on serde. So the hub serializes first, and this copies the
            // body behind the `id:` line: once per event, never per subscriber.
            let mut frame = BytesMut::with_capacity(body.len() + 48);
            // fmt::Write for BytesMut never fails; the id is digits and `-`.
            let _ = writeln!(frame, "id: {id}");
            frame.put_slice(body);
            let frame = frame.freeze();
            window.next_seq += 1;
            window.bytes += frame.len();
            window.offset += frame.len() as u64;
            let record = Record {
                id,
                end_offset: window.offset,
                frame,
                event: Some(event),
            };
            window.records.push_back((record, Instant::now()));
            window.evict(&self.limits, Instant::now());
            Head {
                seq: id.seq,
                offset: window.offset,
            }
        };
        self.head.send_replace(head);
        Ok(self.id(head.seq))
    }

    async fn start(&self, last_event_id: Option<&str>) -> Result<Start, StorageError> {
        Ok(self.start_now(last_event_id))
    }

    fn read(&self, cursor: &mut Cursor, max: usize, out: &mut Vec<Record<E>>) -> Result<(), Lost> {
        let mut window = self.lock();
        if self.limits.max_age.is_some() {
            window.evict(&self.limits, Instant::now());
        }
        let first_seq = window.first_seq();
        if cursor.next_seq < first_seq {
            return Err(Lost);
        }
        let from = (cursor.next_seq - first_seq) as usize;
        for (record, _) in window.records.range(from..).take(max) {
            cursor.next_seq = record.id.seq + 1;
            cursor.offset = record.end_offset;
            out.push(record.clone());
        }
        Ok(())
    }

    fn head(&self) -> watch::Receiver<Head> {
        self.head.subscribe()
    }
}

/// One of two storages, chosen at run time: e.g. Redis when `REDIS_URL` is set, memory
/// otherwise, behind one hub type.
#[derive(Debug)]
pub enum EitherStorage<A, B> {
    /// The first kind.
    Left(A),
    /// The second kind.
    Right(B),
}

impl<E: Send + Sync + 'static, A: HubStorage<E>, B: HubStorage<E>> HubStorage<E>
    for EitherStorage<A, B>
{
    async fn append(&self, event: Arc<E>, body: &[u8]) -> Result<EventId, StorageError> {
        match self {
            EitherStorage::Left(storage) => storage.append(event, body).await,
            EitherStorage::Right(storage) => storage.append(event, body).await,
        }
    }

    async fn append_all(&self, events: Vec<(Arc<E>, Bytes)>) -> Result<Vec<EventId>, StorageError> {
        match self {
            EitherStorage::Left(storage) => storage.append_all(events).await,
            EitherStorage::Right(storage) => storage.append_all(events).await,
        }
    }

    async fn start(&self, last_event_id: Option<&str>) -> Result<Start, StorageError> {
        match self {
            EitherStorage::Left(storage) => storage.start(last_event_id).await,
            EitherStorage::Right(storage) => storage.start(last_event_id).await,
        }
    }

    fn read(&self, cursor: &mut Cursor, max: usize, out: &mut Vec<Record<E>>) -> Result<(), Lost> {
        match self {
            EitherStorage::Left(storage) => storage.read(cursor, max, out),
            EitherStorage::Right(storage) => storage.read(cursor, max, out),
        }
    }

    fn read_frames(
        &self,
        cursor: &mut Cursor,
        max: usize,
        out: &mut Vec<Record<E>>,
    ) -> Result<(), Lost> {
        match self {
            EitherStorage::Left(storage) => storage.read_frames(cursor, max, out),
            EitherStorage::Right(storage) => storage.read_frames(cursor, max, out),
        }
    }

    fn head(&self) -> watch::Receiver<Head> {
        match self {
            EitherStorage::Left(storage) => storage.head(),
            EitherStorage::Right(storage) => storage.head(),
        }
    }
}
