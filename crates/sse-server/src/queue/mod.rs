//! The per-stream state shared by the producer side ([`EventTarget`],
//! [`FrameSender`], [`Broadcast`]) and the writer side (the response body,
//! or the light path's writer task).
//!
//! [`EventTarget`]: crate::EventTarget
//! [`FrameSender`]: crate::FrameSender
//! [`Broadcast`]: crate::Broadcast

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::task::AtomicWaker;
use tokio::net::TcpStream;
use tokio::sync::Notify;

use crate::chunked::{Frames, Written};
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
/// by the broadcast's history capacity). So do, on the light path, the
/// response head until it is written and the rest of one write the socket
/// cut short (at most 62 frames that were admitted under the bound).
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
    /// Light path: the queue is drained and the last chunk is queued
    /// behind it; the response is over once that is written.
    LastChunk,
    /// Nothing more is written: the stream ended, the peer left, or the
    /// stream was disconnected for falling behind (its queue was dropped).
    Done,
}

struct State {
    frames: Frames,
    phase: Phase,
    /// Light path: the stream's socket, from the moment the light path
    /// takes the stream over ([`Shared::attach`]) until its writer takes it
    /// back to close or reuse it ([`Shared::detach_socket`]).
    ///
    /// This is the whole of the light path's safety argument: the socket
    /// has one owner, this state, and every write to it happens under this
    /// lock, by the stream's writer ([`Shared::poll_light`]) or by a push
    /// that finds nothing queued ([`Shared::push`]). So frames go out in
    /// queue order, and once the writer has taken the socket out nothing
    /// else can reach it.
    socket: Option<TcpStream>,
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
        Shared {
            state: Mutex::new(State {
                frames: Frames::new(first),
                phase: Phase::Open,
                socket: None,
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
    /// Light path: when nothing is queued (the writer is idle), the frame
    /// is written to the socket here, under the queue lock, instead of
    /// waking the writer to write it: one `writev` and no trip through the
    /// scheduler. When one update goes to 10,000 subscribers, that round
    /// trip (wake, schedule, poll, re-register) is most of the user-space
    /// cost per delivery. What the socket does not take stays queued (raw,
    /// so it goes first) and the writer is woken to wait for room. A frame
    /// that finds others queued (the writer is busy or the socket full)
    /// joins them, so under load a writer still drains its whole queue
    /// with one `writev`.
    pub(crate) fn push(&self, frame: Bytes, bounded: bool) -> Result<(), PushError> {
        self.push_with(frame, bounded, true)
    }

    /// Like [`push`](Self::push), but never writes from this thread: the
    /// frame is queued and the writer woken even if it is idle. For a
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
            let State { frames, socket, .. } = &mut *st;
            if let (true, true, Some(sock)) = (direct, frames.is_empty(), socket.as_ref()) {
                if frame.is_empty() {
                    return Ok(());
                }
                frames.push(frame);
                if let Ok(Written::All) = frames.write_chunked(|s| sock.try_write_vectored(s)) {
                    // The sweep's clock: a keep-alive may go out up to one
                    // sweep early, and no clock is read per delivery.
                    self.touch(coarse_now_ms());
                    frames.release_if_empty();
                    return Ok(());
                }
                // The socket is full or failed: the writer, woken below,
                // waits for room or meets the same error.
                drop(st);
                self.writer.wake();
                return Ok(());
            }
            // On the light path the sweep watches the writer (it marks a
            // write the socket refused), so a push there reads no clock:
            // this runs once per delivery.
            if self.write_timeout_ms != 0 && !self.is_detached() {
                let now = now_ms();
                if frames.counted() == 0 {
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
                && frames.counted() != 0
                && (frames.counted() >= self.limit.max_frames
                    || frames.counted_bytes() + frame.len() > self.limit.max_bytes)
            {
                return Err(PushError { frame, full: true });
            }
            frames.push(frame);
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

    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
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
                    frames: st.frames.counted(),
                    bytes: st.frames.counted_bytes(),
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
        Ok(st.frames.counted() == 0
            || (st.frames.counted() < self.limit.max_frames
                && st.frames.counted_bytes() < self.limit.max_bytes))
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
            match st.frames.pop() {
                Some(f) => {
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
            st.frames.clear();
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
        (st.frames.counted(), st.frames.counted_bytes())
    }
}

mod light;
#[cfg(test)]
mod tests;
