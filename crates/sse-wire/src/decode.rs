//! The incremental decoder: the WHATWG "event stream interpretation"
//! algorithm over chunks of bytes, with bounded memory.

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::Text;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The type of an event with no (or an empty) `event:` field.
const MESSAGE: Text = Text::from_static("message");

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
    /// Largest event being assembled, in bytes of input: the data (with the
    /// LFs that join its lines) plus the event type. Comments and ids do not
    /// count; each is bounded by `max_line`. The decoded strings can be
    /// larger than the input only where invalid UTF-8 is replaced: one
    /// invalid byte becomes U+FFFD, three bytes, so at most three times.
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
    /// One line, at this range of `Parser::region`.
    Range(usize, usize),
    /// One line, from a region that has since been replaced.
    One(Bytes),
    /// The data is in `Parser::join`.
    Joined,
}

/// An event type, kept as a range of the region until dispatch.
#[derive(Debug)]
enum Held {
    Range(usize, usize),
    Bytes(Bytes),
}

impl Held {
    fn len(&self) -> usize {
        match self {
            Held::Range(a, b) => b - a,
            Held::Bytes(b) => b.len(),
        }
    }
}

/// A line at least this long (or half of `max_line`, when that is less)
/// makes the decoder expect more like it: see [`Parser::line_hint`].
const LONG_LINE: usize = 8 * 1024;

/// Makes room for `n` more bytes in `buf`. `BytesMut::reserve` on a buffer
/// shared with an earlier region copies the consumed prefix along with the
/// pending line; a long pending line is instead moved alone into a buffer
/// sized for the line expected (`hint`) or twice what it holds, so it moves
/// a bounded number of times however it is chunked. Capacity stays below
/// `max_line + 2 + n` (the line, its break, the chunk being pushed).
fn grow_for(buf: &mut BytesMut, n: usize, hint: usize, limits: Limits) {
    if buf.capacity() - buf.len() >= n {
        return;
    }
    let len = buf.len();
    if len < long_line(limits) {
        buf.reserve(n);
        return;
    }
    let want = (2 * len).max(hint).min(limits.max_line + 2);
    let mut grown = BytesMut::with_capacity(want.max(len) + n);
    grown.extend_from_slice(buf);
    *buf = grown;
}

/// The last line break in `chunk`, whose first is at `first`. Forward
/// searches (faster than `memrchr2`) while the lines are few, as they are
/// where lines are long; a chunk of many short lines falls back to one
/// backward search.
fn last_break(chunk: &[u8], first: usize) -> usize {
    let mut last = first;
    for _ in 0..4 {
        match memchr::memchr2(b'\n', b'\r', &chunk[last + 1..]) {
            Some(i) => last += 1 + i,
            None => return last,
        }
    }
    memchr::memrchr2(b'\n', b'\r', &chunk[last..]).map_or(last, |i| last + i)
}

/// The length from which a line counts as long, for these limits.
fn long_line(limits: Limits) -> usize {
    (limits.max_line / 2).clamp(1, LONG_LINE)
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
        self.parser.id_changed = false;
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
        if self.parser.failed.is_some() {
            return;
        }
        let p = &mut self.parser;
        // Long lines expected, nothing undecoded and the buffer already
        // scanned: the chunk may end the pending line and start the next
        // long one, which then gets a buffer of its own, big enough to be
        // copied into once and never moved.
        if p.line_hint > 0 && p.at == p.region.len() && p.scan_from >= self.buf.len() {
            // This forward search is the one `refill` would make: what it
            // finds is handed on, so no byte is scanned twice.
            let Some(first) = memchr::memchr2(b'\n', b'\r', chunk) else {
                grow_for(&mut self.buf, chunk.len(), p.line_hint, p.limits);
                self.buf.extend_from_slice(chunk);
                p.scan_from = self.buf.len();
                return;
            };
            let last = last_break(chunk, first);
            if self.buf.capacity() - self.buf.len() < last + 1 + p.line_hint {
                let (head, tail) = chunk.split_at(last + 1);
                grow_for(&mut self.buf, head.len(), p.line_hint, p.limits);
                p.scan_from = self.buf.len() + first;
                self.buf.extend_from_slice(head);
                let mut done = std::mem::take(&mut self.buf);
                // `done` ends with a line break, so this moves all of it
                // into the region and cannot fail. It drops the previous
                // region first, so the allocation below can reuse its memory
                // (still in cache) once the caller has dropped its events.
                let _ = p.refill(&mut done);
                drop(done);
                self.buf = BytesMut::with_capacity(p.line_hint + chunk.len());
                self.buf.extend_from_slice(tail);
                p.scan_from = tail.len(); // the tail holds no break
                return;
            }
            grow_for(&mut self.buf, chunk.len(), p.line_hint, p.limits);
            p.scan_from = self.buf.len() + first;
            self.buf.extend_from_slice(chunk);
            return;
        }
        grow_for(&mut self.buf, chunk.len(), p.line_hint, p.limits);
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, or `None` when more input is needed.
    ///
    /// # Errors
    /// When the input breaks a limit; see [`DecodeError`].
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DecodeError> {
        // Hot path inline in the caller (the event is built in place, not
        // copied through return slots); everything else out of line.
        if let Some(msg) = self.parser.single_data_line() {
            return Ok(Some(Frame::Message(msg)));
        }
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
    /// into), without copying it into the decoder. Decoded lines are removed
    /// from the front of `src` by the time this returns `Ok(None)`; what
    /// stays is the incomplete last line.
    ///
    /// Use either this or [`push`](Decoder::push), not both, and pass the
    /// same buffer each time: the decoder remembers how far it has scanned.
    /// Bytes may be appended to `src` between calls, never removed.
    ///
    /// # Errors
    /// When the input breaks a limit; `src` is then cleared.
    #[inline]
    pub fn decode_buf(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if let Some(msg) = self.parser.single_data_line() {
            return Ok(Some(Frame::Message(msg)));
        }
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
        self.buf.len() + self.parser.region.len() - self.parser.at
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
    /// Complete lines split off the input buffer in one piece (it always
    /// ends with a line break); values are slices of it.
    region: Bytes,
    /// How far into `region` decoding has got.
    at: usize,
    /// The first line break in `region` (found by `refill`).
    first_break: usize,
    /// How much of the input buffer is known to hold no line break. Without
    /// it, a long line arriving in small chunks would be rescanned from its
    /// start on every chunk (quadratic time).
    scan_from: usize,
    /// The length expected of the next line, when the last line that spanned
    /// several pushes was long (0 otherwise): [`Decoder::push`] gives such a
    /// line a buffer of this size up front, so that its bytes are copied
    /// once, from the chunk, and then shared as the event's data. At most
    /// `max_line + 2`; halves with every refill whose first line is short.
    line_hint: usize,
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
    event_type: Option<Held>,
    id_buffer: Text,
    /// `id_buffer` was set since the last dispatch.
    id_changed: bool,
    last_event_id: Text,
    failed: Option<DecodeError>,
}

impl Parser {
    fn new(limits: Limits) -> Self {
        Parser {
            limits,
            region: Bytes::new(),
            at: 0,
            first_break: 0,
            scan_from: 0,
            line_hint: 0,
            pending_cr: false,
            bom_pending: true,
            data: Data::None,
            join: BytesMut::new(),
            event_len: 0,
            event_type: None,
            id_buffer: Text::default(),
            id_changed: false,
            last_event_id: Text::default(),
            failed: None,
        }
    }

    fn new_stream(&mut self) {
        self.region = Bytes::new();
        self.at = 0;
        self.scan_from = 0;
        self.line_hint = 0;
        self.id_changed = false;
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
        self.region = Bytes::new();
        self.at = 0;
        self.scan_from = 0;
        err
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        loop {
            if self.at == self.region.len() && !self.refill(buf)? {
                return Ok(None);
            }
            if let Some(msg) = self.single_data_line() {
                return Ok(Some(Frame::Message(msg)));
            }
            let region = &self.region[..];
            let mut at = self.at;
            if self.pending_cr {
                self.pending_cr = false;
                if region[at] == b'\n' {
                    self.at += 1;
                    continue;
                }
            }
            if self.bom_pending {
                self.bom_pending = false;
                if region[at..].starts_with(BOM) {
                    at += BOM.len();
                    self.at = at;
                    if at == region.len() {
                        continue;
                    }
                }
            }

            // The region ends with a line break, so every line in it is whole.
            let end = if region[at] == b'\n' {
                at // a blank line, the usual end of an event: no search
            } else if at <= self.first_break {
                // `refill` found this break; the line is not scanned twice.
                self.first_break
            } else {
                match find_line_break(&region[at..]) {
                    Some(i) => at + i,
                    None => unreachable_region_end(region.len()),
                }
            };
            if end - at > self.limits.max_line {
                return Err(self.fail(buf, ErrorKind::LineTooLong, self.limits.max_line));
            }
            let next = if region[end] == b'\n' {
                end + 1
            } else if end + 1 == region.len() {
                self.pending_cr = true;
                end + 1
            } else if region[end + 1] == b'\n' {
                end + 2
            } else {
                end + 1
            };
            self.at = next;

            if end == at {
                if let Some(msg) = self.dispatch() {
                    return Ok(Some(Frame::Message(msg)));
                }
                continue;
            }

            let line = &region[at..end];
            let (field, value_start) = match parse_field(line) {
                Some(f) => f,
                None => continue, // unknown field: ignored
            };
            let value = &line[value_start..];
            let field = match field {
                Field::Retry => match parse_retry(value) {
                    Some(ms) => return Ok(Some(Frame::Retry(Duration::from_millis(ms)))),
                    None => continue,
                },
                // The standard ignores an id containing NULL.
                Field::Id if memchr::memchr(0, value).is_some() => continue,
                f => f,
            };
            // Values stay ranges of the region until they are needed.
            let (from, len) = (at + value_start, value.len());
            match field {
                Field::Comment => {
                    let comment = Text::from_slice_of(&self.region, from..end);
                    return Ok(Some(Frame::Comment(comment)));
                }
                Field::Data => self.push_data(buf, from, end)?,
                Field::Event => {
                    let old = self.event_type.as_ref().map_or(0, Held::len);
                    let new_len = self.event_len - old + len;
                    if new_len > self.limits.max_event {
                        return Err(self.fail(
                            buf,
                            ErrorKind::EventTooLarge,
                            self.limits.max_event,
                        ));
                    }
                    self.event_len = new_len;
                    self.event_type = Some(Held::Range(from, end));
                }
                Field::Id => {
                    self.id_buffer = Text::from_slice_of(&self.region, from..end);
                    self.id_changed = true;
                }
                Field::Retry => {}
            }
        }
    }

    /// The commonest event, `data: …` then an empty line, when nothing
    /// else is pending: decoded in one step, with exactly the result the
    /// general path gives (the property tests compare them on every input).
    #[inline(always)]
    fn single_data_line(&mut self) -> Option<MessageEvent> {
        if self.pending_cr
            || self.bom_pending
            || self.id_changed
            || self.event_type.is_some()
            || !matches!(self.data, Data::None)
        {
            return None;
        }
        let at = self.at;
        let rest = self.region.get(at..)?;
        let value = rest.strip_prefix(b"data:")?;
        let skip = usize::from(value.first() == Some(&b' '));
        let from = at + 5 + skip;
        // A long line that spanned pushes ends at the break `refill` found:
        // it is not scanned a second time.
        let len = if from <= self.first_break {
            self.first_break - from
        } else {
            find_line_break(&value[skip..])?
        };
        let end = from + len;
        // The data line's break, then the blank line that dispatches: LF LF
        // or CRLF CRLF.
        let next = match self.region.get(end..) {
            Some([b'\n', b'\n', ..]) => end + 2,
            Some([b'\r', b'\n', b'\r', b'\n', ..]) => end + 4,
            _ => return None,
        };
        if end - at > self.limits.max_line || len > self.limits.max_event {
            return None;
        }
        self.at = next;
        Some(MessageEvent {
            event_type: MESSAGE,
            data: Text::from_slice_of(&self.region, from..end),
            last_event_id: self.last_event_id.clone(),
        })
    }

    /// Moves every complete line of `buf` into `region` (one split, however
    /// many lines). Returns `false` when `buf` holds no line break yet.
    fn refill(&mut self, buf: &mut BytesMut) -> Result<bool, DecodeError> {
        // An event in progress keeps what it needs of the old region...
        if let Data::Range(a, b) = self.data {
            self.data = Data::One(self.region.slice(a..b));
        }
        if let Some(Held::Range(a, b)) = self.event_type {
            self.event_type = Some(Held::Bytes(self.region.slice(a..b)));
        }
        // ...and the rest is dropped first, so that the buffer's memory can
        // be reused once the caller has dropped the values sliced from it.
        self.region = Bytes::new();
        self.at = 0;
        let from = self.scan_from.min(buf.len());
        // Search forward once: the first break ends the pending line (which
        // may be long: it is scanned only here, never again), then backward
        // from the end for the last one (near the end in a busy stream).
        match memchr::memchr2(b'\n', b'\r', &buf[from..]) {
            Some(i) => {
                let first = from + i;
                let last =
                    memchr::memrchr2(b'\n', b'\r', &buf[first..]).map_or(first, |j| first + j);
                self.region = buf.split_to(last + 1).freeze();
                self.first_break = first;
                // `first` is the length of the line that was pending.
                self.line_hint = if first >= long_line(self.limits) {
                    (first + 2).min(self.limits.max_line + 2)
                } else if self.line_hint / 2 >= long_line(self.limits) {
                    self.line_hint / 2
                } else {
                    0
                };
                // What is left holds no break: the backward search saw it all.
                self.scan_from = buf.len();
                Ok(true)
            }
            None => {
                self.scan_from = buf.len();
                if buf.len() > self.limits.max_line {
                    return Err(self.fail(buf, ErrorKind::LineTooLong, self.limits.max_line));
                }
                Ok(false)
            }
        }
    }

    /// Appends the data line at `from..end` of the region.
    fn push_data(
        &mut self,
        buf: &mut BytesMut,
        from: usize,
        end: usize,
    ) -> Result<(), DecodeError> {
        let joined = usize::from(!matches!(self.data, Data::None));
        let new_len = self.event_len + joined + (end - from);
        if new_len > self.limits.max_event {
            return Err(self.fail(buf, ErrorKind::EventTooLarge, self.limits.max_event));
        }
        self.event_len = new_len;
        let value = &self.region[from..end];
        let first: &[u8] = match &self.data {
            Data::None => {
                self.data = Data::Range(from, end);
                return Ok(());
            }
            Data::Joined => {
                self.join.extend_from_slice(b"\n");
                self.join.extend_from_slice(value);
                return Ok(());
            }
            Data::Range(a, b) => &self.region[*a..*b],
            Data::One(bytes) => bytes,
        };
        let need = first.len() + 1 + value.len();
        if self.join.capacity() < need {
            self.join.reserve(need.max(JOIN_CHUNK));
        }
        self.join.extend_from_slice(first);
        self.join.extend_from_slice(b"\n");
        self.join.extend_from_slice(value);
        self.data = Data::Joined;
        Ok(())
    }

    /// The standard's "dispatch the event" steps.
    fn dispatch(&mut self) -> Option<MessageEvent> {
        if self.id_changed {
            self.last_event_id = self.id_buffer.clone();
            self.id_changed = false;
        }
        let data = std::mem::take(&mut self.data);
        let event_type = self.event_type.take();
        self.event_len = 0;
        let data = match data {
            Data::None => return None,
            Data::Range(a, b) => Text::from_slice_of(&self.region, a..b),
            Data::One(b) => Text::from_utf8_lossy(b),
            Data::Joined => Text::from_utf8_lossy(self.join.split().freeze()),
        };
        let event_type = match event_type {
            Some(Held::Range(a, b)) if a < b => Text::from_slice_of(&self.region, a..b),
            Some(Held::Bytes(t)) if !t.is_empty() => Text::from_utf8_lossy(t),
            _ => MESSAGE,
        };
        Some(MessageEvent {
            event_type,
            data,
            last_event_id: self.last_event_id.clone(),
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Comment,
    Data,
    Event,
    Id,
    Retry,
}

/// The field a non-empty line holds and where its value starts (after the
/// colon and one optional space), or `None` for an unknown field.
fn parse_field(line: &[u8]) -> Option<(Field, usize)> {
    // Fast paths for the usual `name: value` shapes; then the general rule.
    let (field, colon) = if line.starts_with(b"data:") {
        (Field::Data, 4)
    } else if line[0] == b':' {
        (Field::Comment, 0)
    } else if line.starts_with(b"id:") {
        (Field::Id, 2)
    } else if line.starts_with(b"event:") {
        (Field::Event, 5)
    } else {
        let colon = memchr::memchr(b':', line);
        let field = match &line[..colon.unwrap_or(line.len())] {
            b"data" => Field::Data,
            b"event" => Field::Event,
            b"id" => Field::Id,
            b"retry" => Field::Retry,
            _ => return None,
        };
        match colon {
            Some(c) => (field, c),
            // A field with no colon: the whole line is the name, the value
            // is empty.
            None => return Some((field, line.len())),
        }
    };
    let value_start = if line.get(colon + 1) == Some(&b' ') {
        colon + 2
    } else {
        colon + 1
    };
    Some((field, value_start))
}

/// The index of the first CR or LF. Most lines are short, and SIMD search
/// has a setup cost that a short line does not repay, so the first 32 bytes
/// are checked eight at a time in a plain register (SWAR), then `memchr2`.
#[inline]
fn find_line_break(hay: &[u8]) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    const LF: u64 = u64::from_ne_bytes([b'\n'; 8]);
    const CR: u64 = u64::from_ne_bytes([b'\r'; 8]);
    let mut i = 0;
    while i < 32 {
        let Some(word) = hay.get(i..).and_then(<[u8]>::first_chunk::<8>) else {
            break;
        };
        let w = u64::from_le_bytes(*word);
        let (a, b) = (w ^ LF, w ^ CR);
        // A zero byte in `a` or `b` is a match. The lowest flagged byte is
        // always a true match (borrows only flag bytes above a real one).
        let m = (a.wrapping_sub(LO) & !a & HI) | (b.wrapping_sub(LO) & !b & HI);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = hay.get(i..)?;
    memchr::memchr2(b'\n', b'\r', rest).map(|j| i + j)
}

/// A region always ends with a line break, so the search for one cannot
/// fail; this keeps that invariant visible without a panic path.
#[cold]
fn unreachable_region_end(len: usize) -> usize {
    len - 1
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
    fn find_line_break_agrees_with_a_plain_search() {
        let mut hay = vec![b'x'; 80];
        assert_eq!(find_line_break(&hay), None);
        for at in 0..hay.len() {
            for br in [b'\n', b'\r'] {
                hay[at] = br;
                for len in at..=hay.len() {
                    let plain = hay[..len].iter().position(|&b| b == b'\n' || b == b'\r');
                    assert_eq!(find_line_break(&hay[..len]), plain, "at {at} len {len}");
                }
                // Bytes near LF/CR in value (0x09, 0x0b, 0x0c, 0x8a) never match.
                hay[at] = [0x09, 0x0b, 0x0c, 0x8a, 0x8d][at % 5];
                assert_eq!(find_line_break(&hay), None);
                hay[at] = b'x';
            }
        }
    }

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
