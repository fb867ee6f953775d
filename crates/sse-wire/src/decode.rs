//! The incremental decoder: the WHATWG "event stream interpretation"
//! algorithm over chunks of bytes, with bounded memory.

use std::fmt;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};

use crate::Text;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How much memory the decoder may use for one line and one event.
///
/// A remote server controls what the decoder reads; these bounds are what
/// stops a hostile or broken one from making it grow without limit. With the
/// decoder's own buffer ([`Decoder::push`]), memory stays below
/// `max_line + max_event` plus the chunk being pushed.
///
/// ```
/// use sse_wire::Limits;
/// let limits = Limits::default().with_max_line(4096).with_max_event(64 * 1024);
/// assert_eq!(limits.max_line(), 4096);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest line, in bytes, not counting its line break. A line longer
    /// than this is an error as soon as that many bytes are buffered without
    /// a line break, so an endless line cannot grow the buffer past it.
    max_line: usize,
    /// Largest event being assembled, in bytes: the data (with the LFs that
    /// join its lines) plus the event type. Comments and ids do not count;
    /// each is bounded by `max_line`.
    max_event: usize,
}

impl Default for Limits {
    /// 1 MiB per line, 8 MiB per event: far above what real streams send,
    /// far below what would hurt a process.
    fn default() -> Self {
        Limits {
            max_line: 1 << 20,
            max_event: 8 << 20,
        }
    }
}

impl Limits {
    /// Sets the largest line in bytes (see the field's invariant).
    pub fn with_max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// Sets the largest event in bytes (see the field's invariant).
    pub fn with_max_event(mut self, bytes: usize) -> Self {
        self.max_event = bytes;
        self
    }

    /// The largest line in bytes.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// The largest event in bytes.
    pub fn max_event(&self) -> usize {
        self.max_event
    }
}

/// What the decoder reports, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// An event was dispatched (a blank line ended an event with data).
    Message(MessageEvent),
    /// A valid `retry:` field set the reconnection time.
    Retry(Duration),
    /// A comment line: the text after the `:`, with one leading space
    /// removed (as for field values). Clients ignore these; they are reported
    /// for debugging and keep-alive accounting.
    Comment(Text),
}

/// A dispatched event, as a browser's `MessageEvent` would see it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MessageEvent {
    /// The event type: the last `event:` value, or `message` when none or
    /// an empty one was given.
    pub event_type: Text,
    /// The data lines joined with LF.
    pub data: Text,
    /// The last event ID string when the event was dispatched: the latest
    /// `id:` seen so far on this stream (or carried over from before a
    /// reconnect), not only one given in this event.
    pub last_event_id: Text,
}

impl MessageEvent {
    /// Builds an event (for tests and for code that synthesizes events).
    pub fn new(
        event_type: impl Into<Text>,
        data: impl Into<Text>,
        last_event_id: impl Into<Text>,
    ) -> Self {
        MessageEvent {
            event_type: event_type.into(),
            data: data.into(),
            last_event_id: last_event_id.into(),
        }
    }
}

/// A stream that broke one of the decoder's [`Limits`].
///
/// After an error the decoder drops what it buffered and reports the same
/// error until [`Decoder::finish`] or [`Decoder::reset`] starts a new stream.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeError {
    kind: ErrorKind,
    limit: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ErrorKind {
    LineTooLong,
    EventTooLarge,
}

impl DecodeError {
    /// A line was longer than [`Limits::max_line`].
    pub fn is_line_too_long(&self) -> bool {
        self.kind == ErrorKind::LineTooLong
    }

    /// An event grew larger than [`Limits::max_event`].
    pub fn is_event_too_large(&self) -> bool {
        self.kind == ErrorKind::EventTooLarge
    }

    /// The limit that was exceeded, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::LineTooLong => write!(
                f,
                "event stream line longer than the limit of {} bytes",
                self.limit
            ),
            ErrorKind::EventTooLarge => {
                write!(f, "event larger than the limit of {} bytes", self.limit)
            }
        }
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeError")
            .field("kind", &self.kind)
            .field("limit", &self.limit)
            .finish()
    }
}

impl std::error::Error for DecodeError {}

/// The data buffer. Most events have one data line, which is kept as a
/// slice of the input (no copy); a second line copies the lines into the
/// parser's join buffer.
#[derive(Debug, Default)]
enum Data {
    #[default]
    None,
    One(Bytes),
    /// The data is in `Parser::join`.
    Joined,
}

/// The smallest allocation for joined data. Each dispatched event splits its
/// data off the join buffer, so one allocation serves many events.
const JOIN_CHUNK: usize = 8 * 1024;

/// An incremental `text/event-stream` decoder.
///
/// Feed it bytes in chunks of any size with [`push`](Decoder::push) and take
/// [`Frame`]s out with [`next_frame`](Decoder::next_frame) or
/// [`frames`](Decoder::frames); the frames never depend on where the chunks
/// were split. It follows the WHATWG HTML standard's event stream
/// interpretation to the letter: invalid UTF-8 is replaced with U+FFFD, one
/// leading byte-order mark is dropped, CRLF, LF and CR all end lines (a CR
/// at the end of one chunk and an LF at the start of the next are one line
/// break), and an event that the stream ends in the middle of is not
/// dispatched.
///
/// ```
/// use sse_wire::{Decoder, Frame};
/// let mut dec = Decoder::new();
/// dec.push(b"id: 1\nevent: greet\ndata: hel");
/// assert!(dec.next_frame().unwrap().is_none()); // event not finished yet
/// dec.push(b"lo\n\n");
/// match dec.next_frame().unwrap() {
///     Some(Frame::Message(m)) => {
///         assert_eq!((&*m.event_type, &*m.data, &*m.last_event_id), ("greet", "hello", "1"));
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    parser: Parser,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// A decoder with the default [`Limits`].
    pub fn new() -> Self {
        Decoder::with_limits(Limits::default())
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Decoder {
            buf: BytesMut::new(),
            parser: Parser::new(limits),
        }
    }

    /// Starts with a last event ID, as after a reconnect that sent it: events
    /// that carry no `id:` report it, and [`last_event_id`] returns it until
    /// the stream sets another. (Chromium and Firefox carry the id into the
    /// new connection's parser the same way.)
    ///
    /// [`last_event_id`]: Decoder::last_event_id
    pub fn with_last_event_id(mut self, id: impl Into<Text>) -> Self {
        let id = id.into();
        self.parser.id_buffer = id.clone();
        self.parser.last_event_id = id;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.parser.limits
    }

    /// Appends a chunk of the stream to the decoder's buffer. Take the
    /// frames it completes with [`next_frame`](Decoder::next_frame) before
    /// pushing more: that is what keeps the buffer within the limits.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.parser.failed.is_none() {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// The next complete frame, or `None` when more input is needed.
    ///
    /// # Errors
    /// When the input breaks a limit; see [`DecodeError`].
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        self.parser.step(&mut self.buf)
    }

    /// An iterator over the frames that the buffered input completes. It
    /// ends when more input is needed, and after yielding an error.
    pub fn frames(&mut self) -> Frames<'_> {
        Frames {
            decoder: self,
            done: false,
        }
    }

    /// Decodes from a buffer the caller owns (for example one a socket reads
    /// into), without copying it into the decoder: complete lines are split
    /// off the front of `src`; an incomplete line stays in it.
    ///
    /// Use either this or [`push`](Decoder::push), not both, and pass the
    /// same buffer each time: the decoder remembers how far it has scanned.
    /// Bytes may be appended to `src` between calls, never removed.
    ///
    /// # Errors
    /// When the input breaks a limit; `src` is then cleared.
    pub fn decode_buf(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        self.parser.step(src)
    }

    /// The last event ID string: what a reconnect sends as `Last-Event-ID`.
    /// It changes when an event is dispatched (a blank line), as in
    /// browsers, not as soon as an `id:` line is read.
    pub fn last_event_id(&self) -> &Text {
        &self.parser.last_event_id
    }

    /// Bytes buffered and not yet decoded (an incomplete line).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Ends the stream: an incomplete line or event is discarded, as the
    /// standard says. The last event ID is kept, so the decoder is ready for
    /// the next connection of the same event source (a reconnect).
    pub fn finish(&mut self) {
        self.buf.clear();
        self.parser.new_stream();
    }

    /// Forgets everything, the last event ID included.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.parser = Parser::new(self.parser.limits);
    }
}

/// The iterator returned by [`Decoder::frames`].
#[must_use = "iterators do nothing unless consumed"]
#[derive(Debug)]
pub struct Frames<'a> {
    decoder: &'a mut Decoder,
    done: bool,
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.decoder.next_frame() {
            Ok(Some(f)) => Some(Ok(f)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// All decoder state except the input buffer, so the same logic serves the
/// decoder's own buffer and a caller's.
#[derive(Debug)]
struct Parser {
    limits: Limits,
    /// Bytes at the front of the buffer already known to hold no line break.
    /// Without it, a long line arriving in small chunks would be rescanned
    /// from its start on every chunk (quadratic time).
    scanned: usize,
    /// The previous line ended with a CR that was the last byte buffered: an
    /// LF at the start of the next input belongs to that line break.
    pending_cr: bool,
    /// The stream has not yet shown whether it starts with a BOM.
    bom_pending: bool,
    data: Data,
    /// Where multi-line data is joined; emptied (split off) at each dispatch.
    join: BytesMut,
    /// Bytes the event being assembled holds (data, joining LFs, type).
    event_len: usize,
    event_type: Option<Bytes>,
    id_buffer: Text,
    last_event_id: Text,
    failed: Option<DecodeError>,
}

impl Parser {
    fn new(limits: Limits) -> Self {
        Parser {
            limits,
            scanned: 0,
            pending_cr: false,
            bom_pending: true,
            data: Data::None,
            join: BytesMut::new(),
            event_len: 0,
            event_type: None,
            id_buffer: Text::default(),
            last_event_id: Text::default(),
            failed: None,
        }
    }

    fn new_stream(&mut self) {
        self.scanned = 0;
        self.pending_cr = false;
        self.bom_pending = true;
        self.data = Data::None;
        self.join.clear();
        self.event_len = 0;
        self.event_type = None;
        self.id_buffer = self.last_event_id.clone();
        self.failed = None;
    }

    fn fail(&mut self, buf: &mut BytesMut, kind: ErrorKind, limit: usize) -> DecodeError {
        let err = DecodeError { kind, limit };
        self.failed = Some(err.clone());
        self.data = Data::None;
        self.join = BytesMut::new();
        self.event_type = None;
        self.event_len = 0;
        // Release the memory now rather than when the caller drops us.
        *buf = BytesMut::new();
        self.scanned = 0;
        err
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        loop {
            if self.pending_cr {
                match buf.first() {
                    None => return Ok(None),
                    Some(b'\n') => buf.advance(1),
                    Some(_) => {}
                }
                self.pending_cr = false;
            }
            if self.bom_pending {
                if buf.len() < BOM.len() {
                    if BOM.starts_with(buf) {
                        // Empty, or a BOM prefix: wait to see the rest.
                        return Ok(None);
                    }
                } else if buf.starts_with(BOM) {
                    buf.advance(BOM.len());
                }
                self.bom_pending = false;
            }

            let Some(found) = memchr::memchr2(b'\n', b'\r', &buf[self.scanned..]) else {
                self.scanned = buf.len();
                if buf.len() > self.limits.max_line {
                    return Err(self.fail(buf, ErrorKind::LineTooLong, self.limits.max_line));
                }
                return Ok(None);
            };
            let end = self.scanned + found;
            self.scanned = 0;
            if end > self.limits.max_line {
                return Err(self.fail(buf, ErrorKind::LineTooLong, self.limits.max_line));
            }
            let break_len = if buf[end] == b'\n' {
                1
            } else if end + 1 == buf.len() {
                self.pending_cr = true;
                1
            } else if buf[end + 1] == b'\n' {
                2
            } else {
                1
            };

            if end == 0 {
                buf.advance(break_len);
                if let Some(msg) = self.dispatch() {
                    return Ok(Some(Frame::Message(msg)));
                }
                continue;
            }

            let line = &buf[..end];
            let (name_end, value_start) = match memchr::memchr(b':', line) {
                Some(c) if line.get(c + 1) == Some(&b' ') => (c, c + 2),
                Some(c) => (c, c + 1),
                None => (end, end),
            };
            match &line[..name_end] {
                b"" => {
                    let value = take_value(buf, value_start, end, break_len);
                    return Ok(Some(Frame::Comment(Text::from_utf8_lossy(value))));
                }
                b"data" => {
                    let value = take_value(buf, value_start, end, break_len);
                    let joined = usize::from(!matches!(self.data, Data::None));
                    let new_len = self.event_len + joined + value.len();
                    if new_len > self.limits.max_event {
                        return Err(self.fail(
                            buf,
                            ErrorKind::EventTooLarge,
                            self.limits.max_event,
                        ));
                    }
                    self.event_len = new_len;
                    self.data = match std::mem::take(&mut self.data) {
                        Data::None => Data::One(value),
                        Data::One(first) => {
                            let need = first.len() + 1 + value.len();
                            if self.join.capacity() < need {
                                self.join.reserve(need.max(JOIN_CHUNK));
                            }
                            self.join.extend_from_slice(&first);
                            self.join.extend_from_slice(b"\n");
                            self.join.extend_from_slice(&value);
                            Data::Joined
                        }
                        Data::Joined => {
                            self.join.extend_from_slice(b"\n");
                            self.join.extend_from_slice(&value);
                            Data::Joined
                        }
                    };
                }
                b"event" => {
                    let value = take_value(buf, value_start, end, break_len);
                    let old = self.event_type.as_ref().map_or(0, Bytes::len);
                    let new_len = self.event_len - old + value.len();
                    if new_len > self.limits.max_event {
                        return Err(self.fail(
                            buf,
                            ErrorKind::EventTooLarge,
                            self.limits.max_event,
                        ));
                    }
                    self.event_len = new_len;
                    self.event_type = Some(value);
                }
                b"id" => {
                    if memchr::memchr(0, &line[value_start..]).is_some() {
                        // The standard ignores an id containing NULL.
                        buf.advance(end + break_len);
                    } else {
                        let value = take_value(buf, value_start, end, break_len);
                        self.id_buffer = Text::from_utf8_lossy(value);
                    }
                }
                b"retry" => {
                    let retry = parse_retry(&line[value_start..]);
                    buf.advance(end + break_len);
                    if let Some(ms) = retry {
                        return Ok(Some(Frame::Retry(Duration::from_millis(ms))));
                    }
                }
                _ => buf.advance(end + break_len),
            }
        }
    }

    /// The standard's "dispatch the event" steps.
    fn dispatch(&mut self) -> Option<MessageEvent> {
        self.last_event_id = self.id_buffer.clone();
        let data = std::mem::take(&mut self.data);
        let event_type = self.event_type.take();
        self.event_len = 0;
        let data = match data {
            Data::None => return None,
            Data::One(b) => Text::from_utf8_lossy(b),
            Data::Joined => Text::from_utf8_lossy(self.join.split().freeze()),
        };
        let event_type = match event_type {
            Some(t) if !t.is_empty() => Text::from_utf8_lossy(t),
            _ => Text::from_static("message"),
        };
        Some(MessageEvent {
            event_type,
            data,
            last_event_id: self.last_event_id.clone(),
        })
    }
}

/// Splits the line off the front of `buf` and returns the value part,
/// sharing the buffer's memory.
fn take_value(buf: &mut BytesMut, value_start: usize, end: usize, break_len: usize) -> Bytes {
    if value_start >= end {
        buf.advance(end + break_len);
        return Bytes::new();
    }
    let mut line = buf.split_to(end);
    buf.advance(break_len);
    line.advance(value_start);
    line.freeze()
}

/// A `retry` value is used only when it is one or more ASCII digits (so no
/// sign, no space, no empty value); overlong values saturate.
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_retry_rules() {
        assert_eq!(parse_retry(b"0"), Some(0));
        assert_eq!(parse_retry(b"3000"), Some(3000));
        assert_eq!(parse_retry(b""), None);
        assert_eq!(parse_retry(b"+5"), None);
        assert_eq!(parse_retry(b"-5"), None);
        assert_eq!(parse_retry(b" 5"), None);
        assert_eq!(parse_retry(b"5 "), None);
        assert_eq!(parse_retry(b"1e3"), None);
        assert_eq!(parse_retry(b"99999999999999999999999"), Some(u64::MAX));
    }

    #[test]
    fn error_is_sticky_until_finish() {
        let mut d = Decoder::with_limits(Limits::default().with_max_line(4));
        d.push(b"data: toolong");
        assert!(d.next_frame().unwrap_err().is_line_too_long());
        assert!(d.next_frame().unwrap_err().is_line_too_long());
        assert_eq!(d.buffered(), 0);
        d.finish();
        d.push(b"a\n\n");
        assert_eq!(d.next_frame().unwrap(), None);
    }
}
