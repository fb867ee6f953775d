//! The `text/event-stream` format (server-sent events) exactly as the WHATWG
//! HTML standard defines it: an encoder and an incremental decoder, with no
//! I/O and bounded memory.
//!
//! ```
//! use sse_wire::{Decoder, Event, Frame};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Encode: fields are checked, data with line breaks becomes several lines.
//! let bytes = Event::new().event("greeting")?.id("1")?.data("hello\nworld").to_bytes();
//! assert_eq!(&bytes[..], b"id: 1\nevent: greeting\ndata: hello\ndata: world\n\n");
//!
//! // Decode, in chunks split anywhere.
//! let mut decoder = Decoder::new();
//! let (a, b) = bytes.split_at(17);
//! decoder.push(a);
//! assert!(decoder.next_frame()?.is_none());
//! decoder.push(b);
//! let Some(Frame::Message(msg)) = decoder.next_frame()? else { unreachable!() };
//! assert_eq!(msg.event_type, "greeting");
//! assert_eq!(msg.data, "hello\nworld");
//! assert_eq!(decoder.last_event_id(), "1");
//! # Ok(()) }
//! ```
//!
//! # What the decoder guarantees
//! - It follows the standard's "event stream interpretation" to the letter
//!   (invalid UTF-8 is replaced, not an error; a leading BOM is dropped; CR,
//!   LF and CRLF end lines; `retry` only with ASCII digits; ...).
//! - The frames never depend on how the input was split into chunks.
//! - Memory is bounded by [`Limits`]; breaking one is a [`DecodeError`].
//! - Nothing in this crate panics on input.
//! - A single-line `data` value is returned as a slice of the input (no copy,
//!   no allocation); only multi-line data is joined into a new buffer.
//!
//! # Features
//! - `serde`: [`Event::json_data`] and `Serialize` for [`Text`].

// One `unsafe` block in the crate, `Text::as_str`, allowed where it stands.
#![deny(missing_docs, unsafe_code, unsafe_op_in_unsafe_fn)]
#![warn(rust_2018_idioms)]

mod decode;
mod encode;
mod field;
mod text;

pub use decode::{DecodeError, Decoder, Frame, Frames, Limits, MessageEvent};
#[cfg(feature = "serde")]
pub use encode::JsonError;
pub use encode::{encode_comment, encode_retry, Event, KEEP_ALIVE};
pub use field::{EventId, EventType, FieldError};
pub use text::Text;

/// The media type of an event stream.
pub const CONTENT_TYPE: &str = "text/event-stream";

// Errors and values cross threads in every async runtime.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DecodeError>();
    assert_send_sync::<FieldError>();
    assert_send_sync::<Decoder>();
    assert_send_sync::<Event>();
    assert_send_sync::<Frame>();
};
