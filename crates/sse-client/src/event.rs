//! What an [`EventSource`](crate::EventSource) yields.

use serde::de::DeserializeOwned;
use sse_wire::{MessageEvent, Text};

use crate::error::{Error, Kind};

/// One item of the event stream, in the order a browser would fire them.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A connection opened: the server answered 200 with
    /// `text/event-stream`. Comes again after each reconnect.
    /// [`EventSource::response`](crate::EventSource::response) has the
    /// response's status and headers.
    Open,
    /// A message was dispatched.
    Message(Message),
    /// A connection failed or ended. With `will_reconnect` the source waits
    /// and connects again; without it the source is closed and the stream
    /// ends after this item.
    Error {
        /// What went wrong (or [`Error::is_eof`] for a clean end).
        error: Error,
        /// Whether another connection will follow.
        will_reconnect: bool,
    },
    /// A comment line (`: text`, without the colon and the one space after
    /// it), only with [`Builder::comments`](crate::Builder::comments) on.
    /// Servers send them as keep-alives: a comment says the stream is alive
    /// even when no message comes.
    Comment(Text),
}

/// A dispatched message, as a browser's `MessageEvent` has it.
///
/// The fields share the received bytes (no copy per field).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Message {
    /// The event type: the `event:` field, or `message` when none was given.
    pub event_type: Text,
    /// The data lines joined with LF.
    pub data: Text,
    /// The last event ID when the message was dispatched (the latest `id:`
    /// seen on this source, carried across reconnects), possibly empty.
    pub id: Text,
}

impl Message {
    /// Builds a message (for tests and for code that synthesizes them).
    pub fn new(event_type: impl Into<Text>, data: impl Into<Text>, id: impl Into<Text>) -> Self {
        Message {
            event_type: event_type.into(),
            data: data.into(),
            id: id.into(),
        }
    }

    /// Deserializes the data as JSON.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Tick { price: f64 }
    /// let m = sse_client::Message::new("tick", r#"{"price": 1.5}"#, "7");
    /// assert_eq!(m.json::<Tick>().unwrap().price, 1.5);
    /// assert!(m.json::<Vec<u8>>().unwrap_err().is_json());
    /// ```
    ///
    /// # Errors
    /// [`Error::is_json`] when the data is not JSON of that shape.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.data).map_err(|e| Error::with(Kind::Json, e))
    }
}

impl From<MessageEvent> for Message {
    fn from(m: MessageEvent) -> Self {
        Message {
            event_type: m.event_type,
            data: m.data,
            id: m.last_event_id,
        }
    }
}

/// The browser's `readyState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadyState {
    /// Connecting, or waiting to reconnect.
    Connecting,
    /// A stream is open.
    Open,
    /// Closed for good: by [`close`](crate::EventSource::close), a 204, a
    /// failure that does not reconnect, or the reconnect policy giving up.
    Closed,
}
