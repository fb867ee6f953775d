//! [`EventStream`]: the response body, a plain [`http_body::Body`].

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::queue::{Pop, Shared};

/// The body of an event-stream response: it yields the frames queued on its
/// [`EventTarget`](crate::EventTarget), keep-alive comments when idle, and
/// ends when the target closes.
///
/// A plain [`http_body::Body`] (`Data = Bytes`, never fails), so it works
/// in a bare hyper server as well as in axum. Dropping it (hyper does when
/// the connection goes away) closes the target.
pub struct EventStream {
    shared: Arc<Shared>,
    keep_alive: Option<KeepAlive>,
}

struct KeepAlive {
    every: std::time::Duration,
    sleep: Pin<Box<Sleep>>,
    /// When a frame was last handed out. The timer is not reset on each
    /// frame (a timer-wheel operation per event); when it fires early, it
    /// is re-armed for `last_activity + every`.
    last_activity: Instant,
}

impl EventStream {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let keep_alive = shared.keep_alive.map(|every| {
            let now = Instant::now();
            KeepAlive {
                every,
                sleep: Box::pin(tokio::time::sleep_until(now + every)),
                last_activity: now,
            }
        });
        EventStream { shared, keep_alive }
    }
}

impl Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        this.shared.register_writer(cx.waker());
        match this.shared.pop() {
            Pop::Frame(frame) => {
                if let Some(ka) = this.keep_alive.as_mut() {
                    ka.last_activity = Instant::now();
                }
                return Poll::Ready(Some(Ok(Frame::data(frame))));
            }
            Pop::End => {
                this.shared.finished();
                return Poll::Ready(None);
            }
            Pop::Empty => {}
        }
        if let Some(ka) = this.keep_alive.as_mut() {
            while ka.sleep.as_mut().poll(cx).is_ready() {
                let due = ka.last_activity + ka.every;
                let now = Instant::now();
                if due <= now {
                    ka.last_activity = now;
                    ka.sleep.as_mut().reset(now + ka.every);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                        sse_wire::KEEP_ALIVE,
                    )))));
                }
                ka.sleep.as_mut().reset(due);
            }
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        // hyper drops the body when the connection ends, so this is how a
        // client that went away is noticed. The light path detaches the
        // stream first, because it goes on writing it.
        if !self.shared.is_detached() {
            self.shared.abort();
        }
    }
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("closed", &self.shared.is_closed())
            .finish_non_exhaustive()
    }
}
