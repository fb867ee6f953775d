//! The encoder: [`Event`] and the free functions for comments and `retry:`.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::{EventId, EventType, FieldError, Text};

/// A comment line with no text: the usual keep-alive, followed by a blank
/// line so that clients which buffer whole events see it at once.
pub const KEEP_ALIVE: &[u8] = b":\n\n";

/// One event to send.
///
/// Built with chained setters; the fallible ones (`event`, `id`) check their
/// value and say which field was refused. Encoding never fails and never
/// panics: `data` with CR, LF or CRLF becomes several `data:` lines, and a
/// multi-line comment several `:` lines.
///
/// ```
/// use sse_wire::Event;
/// # fn main() -> Result<(), sse_wire::FieldError> {
/// let ev = Event::new().event("ping")?.id("7")?.data("line one\nline two");
/// assert_eq!(
///     &ev.to_bytes()[..],
///     b"id: 7\nevent: ping\ndata: line one\ndata: line two\n\n"
/// );
/// # Ok(()) }
/// ```
#[must_use]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    comment: Option<Text>,
    event: Option<EventType>,
    id: Option<EventId>,
    retry: Option<Duration>,
    data: Option<Text>,
}

impl Event {
    /// An event with no fields. Encoded alone it is a blank line, which
    /// dispatches nothing.
    pub fn new() -> Self {
        Event::default()
    }

    /// Sets the data. Any CR, LF or CRLF in it starts a new `data:` line, so
    /// the client receives exactly this string. Empty data is sent as one
    /// empty `data:` line and dispatches an event with empty data.
    pub fn data(mut self, data: impl Into<Text>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the event type (`event:`); without one, clients see `message`.
    ///
    /// # Errors
    /// When the value contains CR or LF.
    pub fn event(self, event: impl Into<Text>) -> Result<Self, FieldError> {
        Ok(self.with_event_type(EventType::new(event)?))
    }

    /// Sets an already checked event type.
    pub fn with_event_type(mut self, event: EventType) -> Self {
        self.event = Some(event);
        self
    }

    /// Sets the id (`id:`), which the client sends back as `Last-Event-ID`
    /// when it reconnects. An empty id resets it.
    ///
    /// # Errors
    /// When the value contains CR, LF or NUL.
    pub fn id(self, id: impl Into<Text>) -> Result<Self, FieldError> {
        Ok(self.with_id(EventId::new(id)?))
    }

    /// Sets an already checked id.
    pub fn with_id(mut self, id: EventId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the client's reconnection time (`retry:`, whole milliseconds;
    /// sub-millisecond parts are dropped).
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Adds a comment, written before the fields. Clients ignore comments;
    /// they are useful for humans reading the stream.
    pub fn comment(mut self, comment: impl Into<Text>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Serializes `value` as JSON and sets it as the data.
    ///
    /// # Errors
    /// When `serde_json` cannot serialize the value (for example a map with
    /// non-string keys).
    #[cfg(feature = "serde")]
    pub fn json_data<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Self, JsonError> {
        let s = serde_json::to_string(value).map_err(JsonError)?;
        Ok(self.data(s))
    }

    /// The data, if set.
    pub fn data_ref(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The event type, if set.
    pub fn event_type(&self) -> Option<&EventType> {
        self.event.as_ref()
    }

    /// The id, if set.
    pub fn event_id(&self) -> Option<&EventId> {
        self.id.as_ref()
    }

    /// The reconnection time, if set.
    pub fn retry_time(&self) -> Option<Duration> {
        self.retry
    }

    /// The number of bytes [`Event::encode`] writes, when data has no line
    /// breaks; an upper bound otherwise (used to reserve once).
    pub fn encoded_len(&self) -> usize {
        let mut n = 1; // the blank line
        if let Some(c) = &self.comment {
            n += c.len() + 3 * (1 + line_breaks(c.as_bytes()));
        }
        if let Some(e) = &self.event {
            n += "event: \n".len() + e.as_str().len();
        }
        if let Some(i) = &self.id {
            n += "id: \n".len() + i.as_str().len();
        }
        if self.retry.is_some() {
            n += "retry: \n".len() + 20;
        }
        if let Some(d) = &self.data {
            n += d.len() + "data: \n".len() * (1 + line_breaks(d.as_bytes()));
        }
        n
    }

    /// Appends the event's bytes to `buf`: comment lines, `id`, `event`,
    /// `retry`, `data` lines, then the blank line that dispatches it.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.reserve(self.encoded_len());
        if let Some(c) = &self.comment {
            write_comment_lines(c.as_bytes(), buf);
        }
        if let Some(i) = &self.id {
            write_field(b"id", i.as_str().as_bytes(), buf);
        }
        if let Some(e) = &self.event {
            write_field(b"event", e.as_str().as_bytes(), buf);
        }
        if let Some(r) = self.retry {
            write_retry(r, buf);
        }
        if let Some(d) = &self.data {
            for_each_line(d.as_bytes(), |line| write_field(b"data", line, buf));
        }
        buf.put_u8(b'\n');
    }

    /// The event's bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        buf.freeze()
    }
}

/// Appends a standalone comment: one `:` line per line of `text`, then a
/// blank line (so clients that buffer whole events see it at once).
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// sse_wire::encode_comment("two\nlines", &mut buf);
/// assert_eq!(&buf[..], b": two\n: lines\n\n");
/// ```
pub fn encode_comment(text: &str, buf: &mut BytesMut) {
    buf.reserve(text.len() + 3 * (1 + line_breaks(text.as_bytes())) + 1);
    write_comment_lines(text.as_bytes(), buf);
    buf.put_u8(b'\n');
}

/// Appends a standalone `retry:` field followed by a blank line.
///
/// ```
/// let mut buf = bytes::BytesMut::new();
/// sse_wire::encode_retry(std::time::Duration::from_secs(3), &mut buf);
/// assert_eq!(&buf[..], b"retry: 3000\n\n");
/// ```
pub fn encode_retry(retry: Duration, buf: &mut BytesMut) {
    write_retry(retry, buf);
    buf.put_u8(b'\n');
}

fn write_retry(retry: Duration, buf: &mut BytesMut) {
    let ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = ms;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    write_field(b"retry", &digits[i..], buf);
}

/// `name: value\n`, or `name:\n` for an empty value. The one space after the
/// colon is what the decoder strips, so a value starting with a space
/// survives the round trip.
fn write_field(name: &[u8], value: &[u8], buf: &mut BytesMut) {
    buf.reserve(name.len() + value.len() + 3);
    buf.put_slice(name);
    if value.is_empty() {
        buf.put_slice(b":\n");
    } else {
        buf.put_slice(b": ");
        buf.put_slice(value);
        buf.put_u8(b'\n');
    }
}

fn write_comment_lines(text: &[u8], buf: &mut BytesMut) {
    for_each_line(text, |line| write_field(b"", line, buf));
}

/// Calls `f` with each line of `text`, where CRLF, LF and CR each end a line
/// (CRLF once). A trailing line break yields a final empty line, so the
/// decoder rebuilds `text` exactly.
fn for_each_line(text: &[u8], mut f: impl FnMut(&[u8])) {
    let mut rest = text;
    loop {
        match memchr::memchr2(b'\n', b'\r', rest) {
            None => {
                f(rest);
                return;
            }
            Some(i) => {
                f(&rest[..i]);
                let skip = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[i + skip..];
            }
        }
    }
}

fn line_breaks(text: &[u8]) -> usize {
    memchr::memchr2_iter(b'\n', b'\r', text).count()
}

/// Data that could not be serialized as JSON.
#[cfg(feature = "serde")]
#[derive(Debug)]
pub struct JsonError(serde_json::Error);

#[cfg(feature = "serde")]
impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event data could not be serialized as JSON: {}", self.0)
    }
}

#[cfg(feature = "serde")]
impl std::error::Error for JsonError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ev: &Event) -> Vec<u8> {
        ev.to_bytes().to_vec()
    }

    #[test]
    fn data_only() {
        assert_eq!(enc(&Event::new().data("hello")), b"data: hello\n\n");
    }

    #[test]
    fn empty_data_is_one_empty_data_line() {
        assert_eq!(enc(&Event::new().data("")), b"data:\n\n");
    }

    #[test]
    fn data_lf_cr_and_crlf_each_split_once() {
        assert_eq!(
            enc(&Event::new().data("a\nb\rc\r\nd")),
            b"data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }

    #[test]
    fn data_trailing_break_gives_trailing_empty_line() {
        assert_eq!(enc(&Event::new().data("a\n")), b"data: a\ndata:\n\n");
    }

    #[test]
    fn data_leading_space_is_kept_by_the_separator_space() {
        assert_eq!(enc(&Event::new().data(" x")), b"data:  x\n\n");
    }

    #[test]
    fn every_field_in_order() {
        let ev = Event::new()
            .comment("note")
            .event("update")
            .unwrap()
            .id("abc")
            .unwrap()
            .retry(Duration::from_millis(2500))
            .data("d");
        assert_eq!(
            enc(&ev),
            b": note\nid: abc\nevent: update\nretry: 2500\ndata: d\n\n"
        );
    }

    #[test]
    fn multi_line_comment_becomes_several_comment_lines() {
        let ev = Event::new().comment("a\r\nb\rc");
        assert_eq!(enc(&ev), b": a\n: b\n: c\n\n");
    }

    #[test]
    fn empty_id_resets() {
        assert_eq!(enc(&Event::new().id("").unwrap()), b"id:\n\n");
    }

    #[test]
    fn retry_zero_and_huge() {
        assert_eq!(enc(&Event::new().retry(Duration::ZERO)), b"retry: 0\n\n");
        assert_eq!(
            enc(&Event::new().retry(Duration::MAX)),
            b"retry: 18446744073709551615\n\n"
        );
    }

    #[test]
    fn standalone_comment_and_keep_alive() {
        let mut b = BytesMut::new();
        encode_comment("", &mut b);
        assert_eq!(&b[..], b":\n\n");
        assert_eq!(KEEP_ALIVE, b":\n\n");
    }

    #[test]
    fn event_with_no_fields_is_a_blank_line() {
        assert_eq!(enc(&Event::new()), b"\n");
    }

    #[test]
    fn encoded_len_is_exact_without_line_breaks_and_an_upper_bound_with() {
        let plain = Event::new()
            .event("t")
            .unwrap()
            .id("1")
            .unwrap()
            .data("xyz");
        assert_eq!(plain.encoded_len(), enc(&plain).len());
        let multi = Event::new().data("a\r\nb\n").comment("c\nd");
        assert!(multi.encoded_len() >= enc(&multi).len());
    }

    #[test]
    fn refused_values_say_which_field() {
        assert_eq!(Event::new().event("a\rb").unwrap_err().field(), "event");
        assert_eq!(Event::new().id("a\0b").unwrap_err().field(), "id");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_data_is_one_line() {
        let ev = Event::new()
            .json_data(&serde_json::json!({"hello": "wor\nld"}))
            .unwrap();
        assert_eq!(enc(&ev), b"data: {\"hello\":\"wor\\nld\"}\n\n");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_error_is_typed() {
        let mut m = std::collections::HashMap::new();
        m.insert(vec![1u8], 1);
        let err = Event::new().json_data(&m).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("event data could not be serialized as JSON"));
    }
}
