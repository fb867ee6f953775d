//! The crate's one error type, opaque so that it can grow.

use std::fmt;

/// Why an event could not be queued or a stream could not be set up.
///
/// Opaque: ask with the `is_*` predicates. The kinds are private so new
/// ones can be added without breaking callers.
#[derive(thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    kind: Kind,
}

#[derive(thiserror::Error, Debug)]
pub(crate) enum Kind {
    #[error("the event stream is closed")]
    Closed,
    #[error("the subscriber's queue is full ({frames} frames, {bytes} bytes queued)")]
    QueueFull { frames: usize, bytes: usize },
    #[error(transparent)]
    Field(#[from] sse_wire::FieldError),
    #[error(transparent)]
    Json(#[from] sse_wire::JsonError),
    #[error("invalid response header: {0}")]
    Header(String),
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Error { kind }
    }

    pub(crate) fn closed() -> Self {
        Error::new(Kind::Closed)
    }

    /// The stream has ended or the client went away; nothing more can be
    /// sent on it.
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed)
    }

    /// The stream's queue is at its bound (see [`QueueLimit`](crate::QueueLimit));
    /// the event was not queued. The stream is still open.
    pub fn is_queue_full(&self) -> bool {
        matches!(self.kind, Kind::QueueFull { .. })
    }

    /// An `event` or `id` value held a character the format cannot carry
    /// (CR, LF, or NUL in an id).
    pub fn is_invalid_field(&self) -> bool {
        matches!(self.kind, Kind::Field(_))
    }

    /// Data could not be serialized as JSON.
    pub fn is_json(&self) -> bool {
        matches!(self.kind, Kind::Json(_))
    }

    /// A header name or value given to the response builder was invalid.
    pub fn is_invalid_header(&self) -> bool {
        matches!(self.kind, Kind::Header(_))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.kind, f)
    }
}

impl From<sse_wire::FieldError> for Error {
    fn from(e: sse_wire::FieldError) -> Self {
        Error::new(Kind::Field(e))
    }
}

impl From<sse_wire::JsonError> for Error {
    fn from(e: sse_wire::JsonError) -> Self {
        Error::new(Kind::Json(e))
    }
}

/// A frame that [`FrameSender::try_push`](crate::FrameSender::try_push)
/// could not queue.
///
/// Carries the frame back so the caller can decide what to do with it.
#[derive(Debug)]
pub struct PushError {
    pub(crate) frame: bytes::Bytes,
    pub(crate) full: bool,
}

impl PushError {
    /// The queue is at its bound. The usual answer is to disconnect the
    /// subscriber ([`FrameSender::disconnect`](crate::FrameSender::disconnect))
    /// so that it reconnects with `Last-Event-ID` and catches up from history.
    pub fn is_queue_full(&self) -> bool {
        self.full
    }

    /// The stream has ended or the client went away.
    pub fn is_closed(&self) -> bool {
        !self.full
    }

    /// The frame that was not queued.
    pub fn into_frame(self) -> bytes::Bytes {
        self.frame
    }
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.full {
            f.write_str("the subscriber's queue is full")
        } else {
            f.write_str("the event stream is closed")
        }
    }
}

impl std::error::Error for PushError {}
