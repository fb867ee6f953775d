//! The per-stream state shared by the producer side ([`EventTarget`],
//! [`FrameSender`], [`Broadcast`]) and the writer side (the response body,
//! or the light path's writer task).
//!
//! [`EventTarget`]: crate::EventTarget
//! [`FrameSender`]: crate::FrameSender
//! [`Broadcast`]: crate::Broadcast

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use crate::chunked::{Direct, RawSocket};
use crate::error::{Error, Kind, PushError};

/// The bound on one stream's queue of frames waiting to be written.
///
/// A frame is refused when the queue already holds `max_frames` frames or
/// `max_bytes` bytes. One frame larger than `max_bytes` is still accepted
/// into an *empty* queue, otherwise it could never be sent; so the queue
/// never holds more than `max(max_bytes, largest frame)` bytes and never
/// more than `max_frames` frames. The frames are usually shared `Bytes`
/// (a broadcast encodes each event once), so the memory a full queue pins
/// is mostly shared with every other subscriber.
///
/// This bounds the frames waiting in *this crate*. Behind hyper (with
/// `axum::serve`, or HTTP/2 with [`serve`](crate::serve)), hyper also
/// buffers what it has taken from the body until the socket accepts it
/// (bounded by hyper's own write-buffer limit, about 400 KB by default);
/// the light path of [`serve`](crate::serve) buffers nothing beyond this
/// queue and the kernel's socket buffer.
///
/// Frames written on the stream's own behalf (the first `retry:`, the final
/// `retry:` at shutdown, keep-alive comments, a broadcast's replay of
/// history) bypass the bound; each of those is bounded by itself (a replay
/// by the broadcast's history capacity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimit {
    max_frames: usize,
    max_bytes: usize,
}

impl Default for QueueLimit {
    /// 256 frames or 1 MiB: minutes of a busy feed for a reader that keeps
    /// up, seconds for one that does not.
    fn default() -> Self {
        QueueLimit {
            max_frames: 256,
            max_bytes: 1 << 20,
        }
    }
}

impl QueueLimit {
    /// Sets the largest number of queued frames (at least 1).
    #[must_use]
    pub fn with_max_frames(mut self, frames: usize) -> Self {
        self.max_frames = frames.max(1);
        self
    }

    /// Sets the largest number of queued bytes (see the type's invariant).
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// The largest number of queued frames.
    pub fn max_frames(&self) -> usize {
        self.max_frames
    }

    /// The largest number of queued bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

/// Milliseconds since the first call in this process: the clock of
/// keep-alive and write-timeout bookkeeping (light-path sweep and queue
/// alike), never 0 so that 0 can mean "not set".
pub(crate) fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis())
        .unwrap_or(u64::MAX)
        .saturating_add(1)
}

/// [`now_ms`] as of the last keep-alive sweep (0 before the first): what a
/// direct write records as its time, so that a delivery reads no clock.
static COARSE_MS: AtomicU64 = AtomicU64::new(0);

/// The sweep's clock (see [`COARSE_MS`]); falls back to [`now_ms`] until
/// the first sweep.
fn coarse_now_ms() -> u64 {
    match COARSE_MS.load(Ordering::Relaxed) {
        0 => now_ms(),
        ms => ms,
    }
}

/// A keep-alive sweep ran at `now` ([`now_ms`]).
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) fn sweep_ran_at(now: u64) {
    COARSE_MS.fetch_max(now, Ordering::Relaxed);
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Frames are accepted.
    Open,
    /// `close()` or shutdown: no new frames; the writer drains the queue
    /// and then ends the response.
    Closing,
    /// Nothing more is written: the stream ended, the peer left, or the
    /// stream was disconnected for falling behind (its queue was dropped).
    Done,
}

struct State {
    frames: VecDeque<Bytes>,
    bytes: usize,
    phase: Phase,
    /// Light path: the stream's socket while its writer is parked with
    /// nothing queued, so that a push can write the frame itself (see
    /// [`Shared::push`]); -1 otherwise. Only the writer sets it, and it
    /// takes it back (under this lock) before it writes anything itself
    /// and before the socket can be closed or reused.
    parked: RawSocket,
    /// How many of the first queued frames are the rest of a direct write
    /// that the socket took only part of: raw bytes, already chunk-framed.
    raw: u8,
}

/// What the light path's writer takes from the queue
/// ([`Shared::take_all`]).
pub(crate) struct Taken {
    pub(crate) frames: VecDeque<Bytes>,
    /// The first `raw` frames are already chunk-framed (the rest of a
    /// direct write): write them as they are, before the chunk of the
    /// others.
    pub(crate) raw: u8,
}

/// What the writer finds when it looks at the queue.
pub(crate) enum Pop {
    Frame(Bytes),
    Empty,
    End,
}

/// Static settings of a stream plus its live state.
pub(crate) struct Shared {
    // A std mutex: nothing awaits while holding it and every critical
    // section is a few pointer moves, so it is cheaper than an async lock.
    state: Mutex<State>,
    /// The writer (body or light task) waiting for frames.
    writer: AtomicWaker,
    /// Wakes producers waiting for room ([`crate::EventTarget::writable`])
    /// and waiters for the end ([`crate::EventTarget::closed`]); each
    /// re-checks its own condition. One `Notify` for both keeps the
    /// per-stream record small (a cancellation token would be a second
    /// allocation per subscriber).
    events: Notify,
    /// Set when nothing more will be written: the stream ended or the far
    /// end went away.
    gone: AtomicBool,
    /// Live [`crate::EventTarget`]s and [`crate::FrameSender`]s; when the
    /// last is dropped the stream is closed (drained, then ended).
    producers: AtomicUsize,
    /// Light path: when the stream last wrote, in the keep-alive sweep's
    /// milliseconds.
    last_write_ms: AtomicU64,
    /// Set when the light path took the stream over from the body, so that
    /// dropping the body does not count as the client leaving.
    detached: AtomicBool,
    /// Since when ([`now_ms`]) frames have waited for the writer without
    /// it making progress; 0 when nothing waits. Only kept with a write
    /// timeout.
    waiting_since_ms: AtomicU64,
    pub(crate) limit: QueueLimit,
    pub(crate) keep_alive: Option<Duration>,
    /// Write timeout in milliseconds; 0: none.
    write_timeout_ms: u64,
}

impl Shared {
    pub(crate) fn new(
        limit: QueueLimit,
        keep_alive: Option<Duration>,
        write_timeout: Option<Duration>,
        first: Option<Bytes>,
    ) -> Self {
        let mut frames = VecDeque::new();
        let mut bytes = 0;
        if let Some(f) = first {
            bytes = f.len();
            frames.push_back(f);
        }
        Shared {
            state: Mutex::new(State {
                frames,
                bytes,
                phase: Phase::Open,
                parked: -1,
                raw: 0,
            }),
            writer: AtomicWaker::new(),
            events: Notify::new(),
            gone: AtomicBool::new(false),
            producers: AtomicUsize::new(0),
            last_write_ms: AtomicU64::new(0),
            detached: AtomicBool::new(false),
            waiting_since_ms: AtomicU64::new(0),
            limit,
            keep_alive,
            write_timeout_ms: write_timeout.map_or(0, |t| {
                u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1)
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue
        // inconsistent (every section is a handful of moves), so a poisoned
        // lock is used as is rather than spreading the panic.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame; `bounded: false` is for frames written on the
    /// stream's own behalf (see [`QueueLimit`]).
    ///
    /// With a write timeout, a push that finds frames waiting longer than
    /// the timeout for a writer that made no progress ends the stream
    /// instead ([`abort`](Self::abort); the error says closed): behind
    /// hyper, where no sweep sees the socket, this is how a client that
    /// stopped reading is noticed.
    ///
    /// Light path: when the writer is parked with nothing queued, the frame
    /// is written to the socket here, under the queue lock, instead of
    /// waking the writer to write it (see [`crate::chunked`]): one
    /// `writev` and no trip through the scheduler. The writer never writes
    /// while parked, and takes the socket back under this lock before it
    /// writes again, so frames stay in order. Only what the socket refuses
    /// is queued for the writer, which then waits for room as usual. A
    /// frame that finds others queued (the writer is busy or the socket
    /// full) joins them, so under load a writer still drains its whole
    /// queue with one `writev`.
    pub(crate) fn push(&self, frame: Bytes, bounded: bool) -> Result<(), PushError> {
        self.push_with(frame, bounded, true)
    }

    /// Like [`push`](Self::push), but never writes from this thread: the
    /// frame is queued and the writer woken even if it is parked. For a
    /// producer with more frames coming (a backlog, or one call that serves
    /// many streams and must stay short): each writer then sends all it
    /// finds in one `writev`, which under load costs far less per frame
    /// than one write each.
    pub(crate) fn push_queued(&self, frame: Bytes, bounded: bool) -> Result<(), PushError> {
        self.push_with(frame, bounded, false)
    }

    fn push_with(&self, frame: Bytes, bounded: bool, direct: bool) -> Result<(), PushError> {
        {
            let mut st = self.lock();
            if st.phase != Phase::Open {
                return Err(PushError { frame, full: false });
            }
            if direct && st.parked >= 0 && st.frames.is_empty() {
                if frame.is_empty() {
                    return Ok(());
                }
                match crate::chunked::write_chunk(st.parked, &frame) {
                    Direct::Written => {
                        // The sweep's clock: a keep-alive may go out up to
                        // one sweep early, and no clock is read per delivery.
                        self.touch(coarse_now_ms());
                        return Ok(());
                    }
                    Direct::Partial(rest) => {
                        // At most three pieces (size line, frame, CRLF).
                        st.raw = u8::try_from(rest.len()).unwrap_or(u8::MAX);
                        for piece in rest {
                            st.bytes += piece.len();
                            st.frames.push_back(piece);
                        }
                        st.parked = -1;
                        drop(st);
                        self.write_blocked(now_ms());
                        self.writer.wake();
                        return Ok(());
                    }
                    // Queued below for the writer, which meets the same
                    // full socket (and waits for room) or the same error.
                    Direct::NotWritten => st.parked = -1,
                }
            }
            // On the light path the sweep watches the writer (it marks a
            // write the socket refused), so a push there reads no clock:
            // this runs once per delivery.
            if self.write_timeout_ms != 0 && !self.is_detached() {
                let now = now_ms();
                if st.frames.is_empty() {
                    // Keeps an earlier mark (a push before the light path
                    // took the stream over may have set one).
                    let _ = self.waiting_since_ms.compare_exchange(
                        0,
                        now,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                } else if self.is_stalled(now) {
                    drop(st);
                    self.abort();
                    return Err(PushError { frame, full: false });
                }
            }
            if bounded
                && !st.frames.is_empty()
                && (st.frames.len() >= self.limit.max_frames
                    || st.bytes + frame.len() > self.limit.max_bytes)
            {
                return Err(PushError { frame, full: true });
            }
            st.bytes += frame.len();
            st.frames.push_back(frame);
        }
        self.writer.wake();
        Ok(())
    }

    /// Whether the writer has made no progress for the write timeout while
    /// something waited for it (queued frames, or a write the socket did
    /// not accept).
    pub(crate) fn is_stalled(&self, now_ms: u64) -> bool {
        let since = self.waiting_since_ms.load(Ordering::Relaxed);
        self.write_timeout_ms != 0
            && since != 0
            && now_ms.saturating_sub(since) >= self.write_timeout_ms
    }

    pub(crate) fn has_write_timeout(&self) -> bool {
        self.write_timeout_ms != 0
    }

    /// Light path: the socket did not take the whole write at `now_ms`.
    /// The mark is cleared when the writer next takes the queue.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn write_blocked(&self, now_ms: u64) {
        if self.write_timeout_ms != 0 {
            let _ = self.waiting_since_ms.compare_exchange(
                0,
                now_ms,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    pub(crate) fn push_event(&self, frame: Bytes) -> Result<(), Error> {
        self.push(frame, true).map_err(|e| {
            if e.full {
                let st = self.lock();
                Error::new(Kind::QueueFull {
                    frames: st.frames.len(),
                    bytes: st.bytes,
                })
            } else {
                Error::closed()
            }
        })
    }

    pub(crate) fn has_room(&self) -> Result<bool, Error> {
        let st = self.lock();
        if st.phase != Phase::Open {
            return Err(Error::closed());
        }
        Ok(st.frames.is_empty()
            || (st.frames.len() < self.limit.max_frames && st.bytes < self.limit.max_bytes))
    }

    /// Waits until a bounded push could succeed.
    pub(crate) async fn writable(&self) -> Result<(), Error> {
        loop {
            let notified = self.events.notified();
            tokio::pin!(notified);
            // Register before checking, so a pop between the check and the
            // await is not missed.
            notified.as_mut().enable();
            if self.is_gone() {
                return Err(Error::closed());
            }
            if self.has_room()? {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Waits until nothing more will be written.
    pub(crate) async fn wait_gone(&self) {
        loop {
            let notified = self.events.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_gone() {
                return;
            }
            notified.await;
        }
    }

    /// The writer takes one frame.
    pub(crate) fn pop(&self) -> Pop {
        let popped = {
            let mut st = self.lock();
            match st.frames.pop_front() {
                Some(f) => {
                    st.bytes -= f.len();
                    if self.write_timeout_ms != 0 {
                        // Progress: what still waits, waits from now.
                        let since = if st.frames.is_empty() { 0 } else { now_ms() };
                        self.waiting_since_ms.store(since, Ordering::Relaxed);
                    }
                    Pop::Frame(f)
                }
                None if st.phase == Phase::Open => Pop::Empty,
                None => Pop::End,
            }
        };
        if matches!(popped, Pop::Frame(_)) {
            self.events.notify_waiters();
        }
        popped
    }

    /// The writer takes every queued frame at once (light path: one
    /// `writev` for all of them). `None` when the stream is over.
    ///
    /// `park`: the stream's socket, when the writer has written the head
    /// and will park if nothing is queued; pushes may then write to it
    /// directly until the writer's next call (see [`push`](Self::push)).
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn take_all(&self, park: Option<RawSocket>) -> Option<Taken> {
        let taken = {
            let mut st = self.lock();
            // The writer is back: from here until it parks again, only it
            // writes to the socket.
            st.parked = -1;
            if st.frames.is_empty() {
                // The writer is back for more: whatever blocked it is written.
                self.waiting_since_ms.store(0, Ordering::Relaxed);
                if st.phase == Phase::Open {
                    st.parked = park.unwrap_or(-1);
                    return Some(Taken {
                        frames: VecDeque::new(),
                        raw: 0,
                    });
                }
                return None;
            }
            st.bytes = 0;
            self.waiting_since_ms.store(0, Ordering::Relaxed);
            // Leaves an empty deque; the writer hands the taken one back
            // (`recycle`) when it is small, so a subscriber that keeps up
            // reuses one small buffer and a new one allocates nothing
            // until its first frame.
            Taken {
                frames: std::mem::take(&mut st.frames),
                raw: std::mem::take(&mut st.raw),
            }
        };
        self.events.notify_waiters();
        Some(taken)
    }

    /// The writer is leaving (or its task is dropped): pushes must not
    /// write to its socket any more.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn unpark(&self) {
        self.lock().parked = -1;
    }

    /// The writer hands back the deque it took with [`take_all`](Self::take_all)
    /// once written, so that the next frame does not allocate a new one.
    /// Only a small one is kept (at most 16 slots, 256 bytes), so a burst
    /// does not leave a large buffer behind on an idle stream.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn recycle(&self, mut frames: VecDeque<Bytes>) {
        if frames.capacity() > 16 {
            return;
        }
        frames.clear();
        let mut st = self.lock();
        if st.frames.is_empty() && st.frames.capacity() == 0 {
            st.frames = frames;
        }
    }

    /// Ready when the writer has something to do: frames queued, or the
    /// stream closing or over.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn poll_writer(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.writer.register(cx.waker());
        let st = self.lock();
        if !st.frames.is_empty() || st.phase != Phase::Open {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }

    pub(crate) fn register_writer(&self, waker: &std::task::Waker) {
        self.writer.register(waker);
    }

    /// No new frames; the writer drains what is queued and ends.
    pub(crate) fn close(&self) {
        {
            let mut st = self.lock();
            if st.phase == Phase::Open {
                st.phase = Phase::Closing;
            }
        }
        self.writer.wake();
        self.events.notify_waiters();
    }

    /// Shutdown: queue the final `retry:` and close.
    pub(crate) fn shut_down(&self, retry: Duration) {
        let mut buf = BytesMut::new();
        sse_wire::encode_retry(retry, &mut buf);
        // Queued: shutdown goes over every stream in one loop, which must
        // not make a socket write per stream.
        let _ = self.push_queued(buf.freeze(), false);
        self.close();
    }

    /// Ends the stream now, dropping whatever is queued (a subscriber that
    /// fell behind, or the far end went away).
    pub(crate) fn abort(&self) {
        {
            let mut st = self.lock();
            st.phase = Phase::Done;
            st.frames = VecDeque::new();
            st.bytes = 0;
            st.raw = 0;
            st.parked = -1;
        }
        self.gone.store(true, Ordering::Release);
        self.writer.wake();
        self.events.notify_waiters();
    }

    /// The writer has written everything and ended the response.
    pub(crate) fn finished(&self) {
        {
            let mut st = self.lock();
            st.phase = Phase::Done;
            st.parked = -1;
        }
        self.gone.store(true, Ordering::Release);
        self.events.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.is_gone() || self.lock().phase != Phase::Open
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// Light path: the stream wrote at `now_ms`.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn touch(&self, now_ms: u64) {
        self.last_write_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Light path: queues a keep-alive comment if the stream has been idle
    /// for its keep-alive time.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn keep_alive_if_idle(&self, now_ms: u64) {
        let Some(every) = self.keep_alive else { return };
        let every = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        let last = self.last_write_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= every {
            // Counts as activity now, so the next sweep does not queue
            // another before this one is written.
            self.touch(now_ms);
            // Frames already waiting will do (and a stalled stream does
            // not pile up comments).
            if !self.lock().frames.is_empty() {
                return;
            }
            // Queued: the sweep goes over every stream under its list's
            // lock, which must not make a socket write per stream.
            let _ = self.push_queued(Bytes::from_static(sse_wire::KEEP_ALIVE), false);
        }
    }

    pub(crate) fn acquire_producer(&self) {
        self.producers.fetch_add(1, Ordering::Relaxed);
    }

    /// Closes the stream when the last producer goes.
    pub(crate) fn release_producer(&self) {
        if self.producers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
        }
    }

    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn detach(&self) {
        self.detached.store(true, Ordering::Release);
    }

    pub(crate) fn is_detached(&self) -> bool {
        self.detached.load(Ordering::Acquire)
    }

    #[cfg(test)]
    pub(crate) fn queued(&self) -> (usize, usize) {
        let st = self.lock();
        (st.frames.len(), st.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(frames: usize, bytes: usize) -> Shared {
        Shared::new(
            QueueLimit::default()
                .with_max_frames(frames)
                .with_max_bytes(bytes),
            None,
            None,
            None,
        )
    }

    #[test]
    fn bound_by_frames() {
        let s = shared(2, 1000);
        s.push(Bytes::from_static(b"a"), true).unwrap();
        s.push(Bytes::from_static(b"b"), true).unwrap();
        let e = s.push(Bytes::from_static(b"c"), true).unwrap_err();
        assert!(e.is_queue_full());
        assert_eq!(&e.into_frame()[..], b"c");
        assert_eq!(s.queued(), (2, 2));
        // Frames on the stream's own behalf bypass the bound.
        s.push(Bytes::from_static(b"d"), false).unwrap();
        assert_eq!(s.queued(), (3, 3));
    }

    #[test]
    fn bound_by_bytes_but_an_oversized_frame_fits_an_empty_queue() {
        let s = shared(100, 4);
        s.push(Bytes::from_static(b"123456"), true).unwrap();
        assert!(s
            .push(Bytes::from_static(b"1"), true)
            .unwrap_err()
            .is_queue_full());
        assert!(matches!(s.pop(), Pop::Frame(_)));
        s.push(Bytes::from_static(b"1234"), true).unwrap();
        assert!(s.push(Bytes::from_static(b"5"), true).is_err());
    }

    #[test]
    fn sweep_keep_alive_counts_idle_time_from_the_last_write() {
        let s = Shared::new(
            QueueLimit::default(),
            Some(Duration::from_millis(500)),
            None,
            None,
        );
        s.touch(1000);
        s.keep_alive_if_idle(1499);
        assert_eq!(s.queued(), (0, 0));
        s.keep_alive_if_idle(1500);
        assert_eq!(s.queued(), (1, 3));
        // Queuing it counts as activity: no second one on the next sweep.
        s.keep_alive_if_idle(1750);
        assert_eq!(s.queued(), (1, 3));
        let none = Shared::new(QueueLimit::default(), None, None, None);
        none.keep_alive_if_idle(u64::MAX);
        assert_eq!(none.queued(), (0, 0));
    }

    #[test]
    fn write_timeout_counts_from_the_last_progress() {
        let s = Shared::new(
            QueueLimit::default(),
            None,
            Some(Duration::from_millis(100)),
            None,
        );
        // Nothing waits: never stalled.
        assert!(!s.is_stalled(u64::MAX));
        let before = now_ms();
        s.push(Bytes::from_static(b"a"), true).unwrap();
        s.push(Bytes::from_static(b"b"), true).unwrap();
        let after = now_ms();
        assert!(!s.is_stalled(before + 99));
        assert!(s.is_stalled(after + 100));
        // The writer takes one: what remains waits from now.
        assert!(matches!(s.pop(), Pop::Frame(_)));
        assert!(!s.is_stalled(after + 99));
        // The writer takes the rest: nothing waits.
        assert!(matches!(s.pop(), Pop::Frame(_)));
        assert!(!s.is_stalled(u64::MAX));
        // Light path: a write the socket refused starts the clock; taking
        // the queue again (the write went through) stops it.
        s.write_blocked(5_000);
        assert!(s.is_stalled(5_100));
        assert!(s.take_all(None).unwrap().frames.is_empty());
        assert!(!s.is_stalled(u64::MAX));
        // Without a write timeout nothing is ever stalled.
        let none = shared(10, 100);
        none.push(Bytes::from_static(b"a"), true).unwrap();
        none.write_blocked(1);
        assert!(!none.is_stalled(u64::MAX));
    }

    #[test]
    fn a_push_onto_a_stalled_queue_ends_the_stream() {
        let s = Shared::new(
            QueueLimit::default(),
            None,
            Some(Duration::from_millis(1)),
            None,
        );
        s.push(Bytes::from_static(b"a"), true).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let e = s.push(Bytes::from_static(b"b"), true).unwrap_err();
        assert!(e.is_closed());
        assert!(s.is_gone());
        assert!(s.take_all(None).is_none());
    }

    #[test]
    fn keep_alive_is_not_queued_behind_waiting_frames() {
        let s = Shared::new(
            QueueLimit::default(),
            Some(Duration::from_millis(500)),
            None,
            None,
        );
        s.touch(1000);
        s.push(Bytes::from_static(b"data: x\n\n"), true).unwrap();
        s.keep_alive_if_idle(5000);
        s.keep_alive_if_idle(10_000);
        assert_eq!(s.queued(), (1, 9));
    }

    #[test]
    fn close_drains_then_ends_and_abort_drops() {
        let s = shared(10, 100);
        s.push(Bytes::from_static(b"a"), true).unwrap();
        s.close();
        assert!(s.is_closed());
        assert!(s
            .push(Bytes::from_static(b"b"), true)
            .unwrap_err()
            .is_closed());
        assert!(matches!(s.pop(), Pop::Frame(_)));
        assert!(matches!(s.pop(), Pop::End));
        let s = shared(10, 100);
        s.push(Bytes::from_static(b"a"), true).unwrap();
        s.abort();
        assert!(s.is_gone());
        assert!(s.take_all(None).is_none());
    }
}
