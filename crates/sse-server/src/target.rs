//! [`EventTarget`]: what a handler sends events with, and [`FrameSender`],
//! the raw handle a fan-out pushes pre-encoded frames into.

use std::fmt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use sse_wire::Event;

use crate::error::{Error, PushError};
use crate::queue::Shared;

/// What an interceptor decides about an event (oak's `preventDefault`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Let the event go to the client (and to the next interceptor).
    Send,
    /// Drop the event; later interceptors do not see it.
    Cancel,
}

type Interceptor = Box<dyn Fn(&Event) -> Verdict + Send + Sync>;

/// The sending side of one event stream, oak's `ServerSentEventTarget`.
///
/// Obtained with the response from
/// [`EventStreamRequest::send_events`](crate::EventStreamRequest::send_events).
/// Every `dispatch_*` queues the encoded frame and returns at once; the
/// queue is bounded by [`QueueLimit`](crate::QueueLimit), and a full queue
/// is an error ([`Error::is_queue_full`]) rather than a wait. Use
/// [`writable`](EventTarget::writable) to wait for room.
///
/// When the target and every [`FrameSender`] made from it are dropped, the
/// stream is closed: what was queued is written, then the response ends
/// (like a channel whose senders are gone). [`close`](EventTarget::close)
/// does the same and waits for it.
pub struct EventTarget {
    shared: Arc<Shared>,
    interceptors: Vec<Interceptor>,
}

impl EventTarget {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        shared.acquire_producer();
        EventTarget {
            shared,
            interceptors: Vec::new(),
        }
    }

    /// Sends an unnamed event (`message` on the client). A string (`&str`,
    /// `String`, `char`, or anything serializing as one) is sent as it is;
    /// anything else `Serialize` is sent as JSON.
    ///
    /// Returns `Ok(false)` when an interceptor cancelled it.
    ///
    /// # Errors
    /// When the data cannot be serialized, the stream is closed, or its
    /// queue is full.
    pub fn dispatch_message<T: Serialize + ?Sized>(&self, data: &T) -> Result<bool, Error> {
        let text = crate::json::message_text(data)?;
        self.dispatch_event(Event::new().data(text))
    }

    /// Sends an event with any of type, data, id and retry. Interceptors
    /// see it first, in the order they were added.
    ///
    /// Returns `Ok(false)` when an interceptor cancelled it.
    ///
    /// # Errors
    /// When the stream is closed or its queue is full.
    pub fn dispatch_event(&self, event: Event) -> Result<bool, Error> {
        if self.shared.is_closed() {
            return Err(Error::closed());
        }
        for i in &self.interceptors {
            if i(&event) == Verdict::Cancel {
                return Ok(false);
            }
        }
        self.shared.push_event(event.to_bytes())?;
        Ok(true)
    }

    /// Sends a comment (`: text`), which clients ignore. Interceptors do not
    /// see comments.
    ///
    /// # Errors
    /// When the stream is closed or its queue is full.
    pub fn dispatch_comment(&self, text: &str) -> Result<(), Error> {
        let mut buf = BytesMut::new();
        sse_wire::encode_comment(text, &mut buf);
        self.shared.push_event(buf.freeze())
    }

    /// Adds an interceptor that sees each event before it is queued and may
    /// cancel it.
    pub fn add_interceptor<F>(&mut self, f: F)
    where
        F: Fn(&Event) -> Verdict + Send + Sync + 'static,
    {
        self.interceptors.push(Box::new(f));
    }

    /// Waits until the queue has room for one more event.
    ///
    /// # Errors
    /// When the stream closes first.
    pub async fn writable(&self) -> Result<(), Error> {
        self.shared.writable().await
    }

    /// Stops accepting events, lets everything already queued be written,
    /// then ends the response. Resolves when the stream has ended (or the
    /// client left first).
    pub async fn close(&self) {
        self.shared.close();
        self.shared.wait_gone().await;
    }

    /// Whether the stream accepts no more events: closed, shut down, or the
    /// client went away.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Resolves when the stream is over: the client went away, or the
    /// stream ended after [`close`](EventTarget::close) or shutdown.
    ///
    /// A client that leaves is noticed when the connection reports it, at
    /// the latest when the next keep-alive comment is written.
    pub fn closed(&self) -> Closed<'_> {
        Closed(Box::pin(self.shared.wait_gone()))
    }

    /// Whether [`serve`](crate::serve)'s light path took this stream over
    /// from hyper. Diagnostics for tests and benchmarks; not a stable API.
    #[doc(hidden)]
    pub fn is_written_by_light_path(&self) -> bool {
        self.shared.is_detached()
    }

    /// A raw handle to this stream's queue, for code that encodes a frame
    /// once and pushes it into many streams (interceptors are bypassed).
    pub fn frame_sender(&self) -> FrameSender {
        FrameSender::new(self.shared.clone())
    }
}

impl Drop for EventTarget {
    fn drop(&mut self) {
        self.shared.release_producer();
    }
}

impl fmt::Debug for EventTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventTarget")
            .field("closed", &self.is_closed())
            .field("interceptors", &self.interceptors.len())
            .finish()
    }
}

/// The future returned by [`EventTarget::closed`] and
/// [`FrameSender::closed`].
#[must_use = "futures do nothing unless awaited"]
pub struct Closed<'a>(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>);

impl std::future::Future for Closed<'_> {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for Closed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed")
    }
}

/// A cheap, cloneable handle that pushes already encoded frames into one
/// stream's queue without waiting.
///
/// Made for fan-out: encode an event once (`Event::to_bytes`), then
/// [`try_push`](FrameSender::try_push) the same `Bytes` into thousands of
/// streams; each push is a lock, a reference-count increment and a wake.
///
/// Keeps the stream open like its [`EventTarget`] does: the stream closes
/// when the last of them is dropped.
pub struct FrameSender {
    pub(crate) shared: Arc<Shared>,
}

impl Clone for FrameSender {
    fn clone(&self) -> Self {
        FrameSender::new(self.shared.clone())
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        self.shared.release_producer();
    }
}

impl FrameSender {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        shared.acquire_producer();
        FrameSender { shared }
    }

    /// Queues one complete frame (one or more whole events or comments, as
    /// encoded by `sse_wire`). Never waits.
    ///
    /// # Errors
    /// [`PushError::is_queue_full`] when the queue is at its bound (the
    /// frame is not queued; disconnecting is usually right), or
    /// [`PushError::is_closed`] when the stream is over. The frame comes
    /// back in the error.
    ///
    /// When the stream is written by [`serve`](crate::serve)'s light path
    /// and its writer is idle, the frame is written to the socket by this
    /// call (one non-blocking `writev`; whatever the socket does not take
    /// is queued), which saves waking the writer. A producer that feeds
    /// many streams with a backlog should use
    /// [`try_push_queued`](Self::try_push_queued) instead.
    pub fn try_push(&self, frame: Bytes) -> Result<(), PushError> {
        self.shared.push(frame, true)
    }

    /// Like [`try_push`](Self::try_push), but only queues the frame and
    /// wakes the stream's writer, never writing from this call.
    ///
    /// For producers with more frames coming than the clients take one
    /// write at a time (a fan-out that has fallen behind): each writer then
    /// sends everything queued for it in one `writev`, so the cost per
    /// frame falls as the load rises. The bound and errors are those of
    /// `try_push`.
    pub fn try_push_queued(&self, frame: Bytes) -> Result<(), PushError> {
        self.shared.push_queued(frame, true)
    }

    /// Ends the stream now, dropping whatever is queued; the client sees
    /// the response end and reconnects with its `Last-Event-ID`.
    pub fn disconnect(&self) {
        self.shared.abort();
    }

    /// Whether the stream accepts no more frames.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Resolves when the stream is over (see [`EventTarget::closed`]).
    pub fn closed(&self) -> Closed<'_> {
        Closed(Box::pin(self.shared.wait_gone()))
    }
}

impl fmt::Debug for FrameSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}
