//! A stream's queued frames, and how the light path writes them as
//! HTTP/1.1 chunks.
//!
//! [`Frames`] is the queue itself (the hyper path pops it frame by frame;
//! the light path writes it with [`Frames::write_chunked`]). Its first
//! `raw` entries are bytes already framed for the wire: the response head,
//! and the rest of a write the socket cut short. They go out as they are,
//! before the chunk of the frames behind them, so a cut write is always
//! finished before anything else starts.
//!
//! The writing is a pure function of the queue and a `write` callback (the
//! socket's non-blocking `writev`), so it is tested here against every cut
//! a socket can make, with no socket at all.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::Bytes;

/// The most slices handed to one `writev`: one chunk's size line, its
/// frames and its CRLF, after any raw pieces. A longer queue goes out in
/// several chunks, each a `writev` (only a backlog makes one this long).
const MAX_SLICES: usize = 64;

/// The end of a chunk, and the end of the last one.
const CRLF: &[u8] = b"\r\n";
/// The last chunk of a response (`0\r\n\r\n`).
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// `<hex len>\r\n`.
pub(crate) fn chunk_size_line(len: usize, buf: &mut [u8; 20]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut i = 18;
    buf[18] = b'\r';
    buf[19] = b'\n';
    let mut v = len;
    loop {
        i -= 1;
        buf[i] = HEX[v & 0xf];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// How far one [`Frames::write_chunked`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// The queue is empty.
    All,
    /// Some bytes went out, then the writer was full.
    Part,
    /// The writer took nothing.
    Nothing,
}

/// The frames waiting to be written, oldest first.
///
/// Invariants: the first `raw` entries are raw pieces (already framed);
/// `bytes` is the total length of the others (the frames the
/// [`QueueLimit`](crate::QueueLimit) bounds). Raw pieces are bounded by
/// themselves: a response head, or what is left of one chunk of at most
/// [`MAX_SLICES`] frames that were admitted under the bound.
#[derive(Default)]
pub(crate) struct Frames {
    deque: VecDeque<Bytes>,
    raw: usize,
    bytes: usize,
}

impl Frames {
    /// A queue holding `first`, if given.
    pub(crate) fn new(first: Option<Bytes>) -> Self {
        let mut frames = Frames::default();
        if let Some(f) = first {
            frames.push(f);
        }
        frames
    }

    /// Frames waiting, raw pieces included.
    pub(crate) fn is_empty(&self) -> bool {
        self.deque.is_empty()
    }

    /// Frames under the bound (raw pieces not counted).
    pub(crate) fn counted(&self) -> usize {
        self.deque.len() - self.raw
    }

    /// Bytes under the bound (raw pieces not counted).
    pub(crate) fn counted_bytes(&self) -> usize {
        self.bytes
    }

    /// Queues a frame, to be chunk-framed when written.
    pub(crate) fn push(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.deque.push_back(frame);
    }

    /// Queues bytes that are already framed: they go out as they are, after
    /// the raw pieces queued before and ahead of every frame.
    pub(crate) fn push_raw_front(&mut self, piece: Bytes) {
        self.deque.insert(self.raw, piece);
        self.raw += 1;
    }

    /// Takes the oldest frame (the hyper path, which has no raw pieces).
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        debug_assert_eq!(self.raw, 0, "raw pieces on the hyper path");
        let f = self.deque.pop_front()?;
        if self.raw > 0 {
            self.raw -= 1;
        } else {
            self.bytes -= f.len();
        }
        Some(f)
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        *self = Frames::default();
    }

    /// Gives back the deque's memory once everything is written, so that
    /// an idle stream holds no buffer at all (a busy one allocates one
    /// small deque per batch it writes: tens of nanoseconds against the
    /// microseconds of the write itself).
    pub(crate) fn release_if_empty(&mut self) {
        if self.deque.is_empty() && self.deque.capacity() > 0 {
            self.deque = VecDeque::new();
        }
    }

    /// Writes the queue through `write` (one call per chunk, as a
    /// vectored, non-blocking write) until it is empty or `write` takes
    /// less than it was given (a short write, or `WouldBlock`). What it
    /// did not take stays queued, raw, to go first next time.
    ///
    /// # Errors
    /// Any error of `write` other than `WouldBlock`; the queue is then as
    /// it was before the failed call.
    pub(crate) fn write_chunked(
        &mut self,
        mut write: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
    ) -> io::Result<Written> {
        let mut progress = Written::Nothing;
        while !self.deque.is_empty() {
            let raw = self.raw.min(MAX_SLICES);
            // Frames of this chunk: only once every raw piece fits in it.
            let framed = if raw == self.raw && raw + 2 < MAX_SLICES {
                (self.deque.len() - raw).min(MAX_SLICES - 2 - raw)
            } else {
                0
            };
            let chunk_len: usize = self.deque.range(raw..raw + framed).map(Bytes::len).sum();
            let raw_len: usize = self.deque.range(..raw).map(Bytes::len).sum();
            if raw_len + chunk_len == 0 {
                // Only empty pieces: nothing to send (and a zero-size
                // chunk would end the response).
                self.deque.drain(..raw + framed);
                self.raw -= raw;
                continue;
            }
            let mut size = [0u8; 20];
            let line = chunk_size_line(chunk_len, &mut size);
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            let mut total = 0;
            for piece in self.deque.range(..raw) {
                slices[count] = IoSlice::new(piece);
                count += 1;
            }
            total += raw_len;
            if chunk_len > 0 {
                slices[count] = IoSlice::new(line);
                count += 1;
                for f in self.deque.range(raw..raw + framed) {
                    slices[count] = IoSlice::new(f);
                    count += 1;
                }
                slices[count] = IoSlice::new(CRLF);
                count += 1;
                total += line.len() + chunk_len + CRLF.len();
            }
            let n = match write(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n.min(total),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(progress),
                Err(e) => return Err(e),
            };
            progress = Written::Part;
            self.consume(n, raw, if chunk_len > 0 { framed } else { 0 }, line);
            if n < total {
                return Ok(Written::Part);
            }
        }
        Ok(Written::All)
    }

    /// Drops the first `n` bytes of the write laid out as the first `raw`
    /// pieces, then the chunk `line`, the next `framed` frames, CRLF. What
    /// is left of a cut chunk becomes raw pieces: a copy of the rest of the
    /// size line (at most 20 bytes), slices of the frames (no copy: a
    /// stalled subscriber pins only memory shared with the others), CRLF.
    fn consume(&mut self, mut n: usize, raw: usize, framed: usize, line: &[u8]) {
        for _ in 0..raw {
            let len = self.deque[0].len();
            if n < len {
                let rest = self.deque[0].slice(n..);
                self.deque[0] = rest;
                return;
            }
            n -= len;
            self.deque.pop_front();
            self.raw -= 1;
        }
        if framed == 0 || n == 0 {
            return;
        }
        let chunk_len: usize = self.deque.range(..framed).map(Bytes::len).sum();
        self.bytes -= chunk_len;
        if n >= line.len() + chunk_len + CRLF.len() {
            self.deque.drain(..framed);
            return;
        }
        // Cut inside the chunk (rare: the socket is full).
        let mut rest: Vec<Bytes> = Vec::with_capacity(framed + 2);
        let cut = self.deque.drain(..framed);
        if n < line.len() {
            rest.push(Bytes::copy_from_slice(&line[n..]));
            rest.extend(cut);
            rest.push(Bytes::from_static(CRLF));
        } else {
            let mut skip = n - line.len();
            for f in cut {
                if skip >= f.len() {
                    skip -= f.len();
                } else {
                    rest.push(f.slice(skip..));
                    skip = 0;
                }
            }
            rest.push(Bytes::from_static(&CRLF[skip.min(CRLF.len())..]));
        }
        self.raw += rest.len();
        for piece in rest.into_iter().rev() {
            self.deque.push_front(piece);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The naive reference: decodes chunked bytes up to the last chunk;
    /// returns the body and what follows. (Chunk boundaries are the fast
    /// path's choice, so frames are compared decoded.)
    fn dechunk(mut wire: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let mut body = Vec::new();
        loop {
            let pos = wire.windows(2).position(|w| w == b"\r\n")?;
            let len = usize::from_str_radix(std::str::from_utf8(&wire[..pos]).ok()?, 16).ok()?;
            wire = &wire[pos + 2..];
            if len == 0 {
                return Some((body, wire.to_vec()));
            }
            body.extend_from_slice(wire.get(..len)?);
            if wire.get(len..len + 2)? != b"\r\n" {
                return None;
            }
            wire = &wire[len + 2..];
        }
    }

    /// Drives `write_chunked` with a writer that takes at most the next
    /// budget's bytes per call (0: `WouldBlock`) and appends them to `wire`,
    /// until the queue is empty.
    fn drain_into(wire: &mut Vec<u8>, frames: &mut Frames, budgets: &[usize]) {
        for i in 0..100_000 {
            if frames.is_empty() {
                return;
            }
            write_some(wire, frames, budgets[i % budgets.len()]);
        }
        panic!("the queue never drained");
    }

    fn drain(frames: &mut Frames, budgets: &[usize]) -> Vec<u8> {
        let mut wire = Vec::new();
        drain_into(&mut wire, frames, budgets);
        wire
    }

    /// One `write_chunked` whose writer takes at most `budget` bytes a call.
    fn write_some(wire: &mut Vec<u8>, frames: &mut Frames, budget: usize) {
        frames
            .write_chunked(|slices| {
                if budget == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let mut left = budget;
                for s in slices {
                    let take = left.min(s.len());
                    wire.extend_from_slice(&s[..take]);
                    left -= take;
                    if left == 0 {
                        break;
                    }
                }
                Ok(budget - left)
            })
            .unwrap();
    }

    fn queue(head: &[u8], frames: &[Vec<u8>]) -> Frames {
        let mut q = Frames::new(None);
        for f in frames {
            q.push(Bytes::copy_from_slice(f));
        }
        if !head.is_empty() {
            q.push_raw_front(Bytes::copy_from_slice(head));
        }
        q
    }

    proptest! {
        /// Whatever the socket takes at each call, and with frames pushed
        /// while a cut write waits, the wire carries the head, then exactly
        /// the frames in order, as valid chunks; the bound's counters end
        /// at zero.
        #[test]
        fn any_cuts_give_the_head_then_the_frames_in_order(
            frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..150),
            first in 0usize..50,
            budgets in prop::collection::vec(0usize..70, 1..8),
            later in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..30), 0..4),
        ) {
            let mut budgets = budgets;
            budgets.push(1);
            let head = b"HTTP/1.1 200 OK\r\n\r\n";
            let mut q = queue(head, &frames);
            let mut wire = Vec::new();
            write_some(&mut wire, &mut q, first);
            for f in &later {
                q.push(Bytes::copy_from_slice(f));
            }
            drain_into(&mut wire, &mut q, &budgets);
            wire.extend_from_slice(LAST_CHUNK);
            prop_assert!(wire.starts_with(head));
            let (body, after) = dechunk(&wire[head.len()..]).expect("valid chunks");
            prop_assert_eq!(after, b"\r\n".to_vec(), "nothing after the last chunk");
            let expected: Vec<u8> = frames.iter().chain(later.iter()).flatten().copied().collect();
            prop_assert_eq!(body, expected);
            prop_assert_eq!((q.counted(), q.counted_bytes()), (0, 0));
        }
    }

    /// Every cut of a one-frame chunk leaves exactly its remaining bytes,
    /// and the frame's part shares the frame's memory.
    #[test]
    fn the_rest_of_a_cut_chunk() {
        let frame = Bytes::from_static(b"data: hello\n\n");
        let mut size = [0u8; 20];
        let line = chunk_size_line(frame.len(), &mut size).to_vec();
        let whole: Vec<u8> = [&line[..], &frame[..], CRLF].concat();
        for written in 1..whole.len() {
            let mut q = Frames::new(Some(frame.clone()));
            assert_eq!(q.write_chunked(|_| Ok(written)).unwrap(), Written::Part);
            assert_eq!(q.counted(), 0, "cut after {written}: the rest is raw");
            assert_eq!(q.counted_bytes(), 0);
            let rest: Vec<u8> = q.deque.iter().flat_map(|b| b.iter().copied()).collect();
            assert_eq!(rest, &whole[written..], "cut after {written}");
            let in_frame = written >= line.len() && written < line.len() + frame.len();
            if in_frame {
                let start = frame.as_ptr() as usize;
                let piece = q.deque[0].as_ptr() as usize;
                assert!(piece >= start && piece < start + frame.len(), "copied");
            }
        }
    }

    /// A frame pushed behind a cut write waits for it, and raw pieces are
    /// not counted by the bound.
    #[test]
    fn a_frame_behind_a_cut_write_waits_and_raw_pieces_are_not_bounded() {
        let mut q = Frames::new(Some(Bytes::from_static(b"data: one\n\n")));
        assert_eq!(q.write_chunked(|_| Ok(3)).unwrap(), Written::Part);
        assert_eq!(
            q.write_chunked(|_| Err(io::ErrorKind::WouldBlock.into()))
                .unwrap(),
            Written::Nothing
        );
        q.push(Bytes::from_static(b"data: two\n\n"));
        assert_eq!((q.counted(), q.counted_bytes()), (1, 11));
        let mut wire = b"b\r\n".to_vec();
        wire.extend(drain(&mut q, &[1000]));
        assert_eq!(wire, b"b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\n");
    }

    #[test]
    fn an_error_leaves_the_queue_as_it_was() {
        let mut q = queue(b"head", &[b"data: x\n\n".to_vec()]);
        let e = q
            .write_chunked(|_| Err(io::ErrorKind::BrokenPipe.into()))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(drain(&mut q, &[1000]), b"head9\r\ndata: x\n\n\r\n");
    }

    #[test]
    fn a_long_queue_goes_out_in_several_chunks() {
        let frames: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("data: {i}\n\n").into_bytes())
            .collect();
        let mut q = queue(b"", &frames);
        let mut calls = 0;
        let mut wire = Vec::new();
        let all = q
            .write_chunked(|s| {
                calls += 1;
                assert!(s.len() <= MAX_SLICES);
                for x in s {
                    wire.extend_from_slice(x);
                }
                Ok(s.iter().map(|x| x.len()).sum())
            })
            .unwrap();
        assert_eq!(all, Written::All);
        assert_eq!(calls, 4);
        wire.extend_from_slice(LAST_CHUNK);
        let (body, _) = dechunk(&wire).unwrap();
        assert_eq!(body, frames.concat());
    }

    #[test]
    fn empty_frames_send_nothing() {
        let mut q = queue(b"", &[Vec::new(), Vec::new()]);
        let all = q.write_chunked(|_| panic!("nothing to write")).unwrap();
        assert_eq!(all, Written::All);
        assert!(q.is_empty());
    }

    #[test]
    fn chunk_sizes() {
        let mut b = [0u8; 20];
        assert_eq!(chunk_size_line(0, &mut b), b"0\r\n");
        assert_eq!(chunk_size_line(255, &mut b), b"ff\r\n");
        assert_eq!(chunk_size_line(4096, &mut b), b"1000\r\n");
        assert_eq!(chunk_size_line(usize::MAX, &mut b), b"ffffffffffffffff\r\n");
    }
}
