//! `Transfer-Encoding: chunked` body decoding, as a pure state machine.
//!
//! A subscriber reads whatever the socket has into one buffer and hands it
//! here; the decoder passes the body bytes on as slices of that same buffer
//! (no copy) and keeps only a few words of state between reads, so a chunk
//! header split across two reads costs nothing extra.

use std::fmt;

/// Decodes a chunked HTTP/1.1 body (RFC 9112 §7.1) incrementally.
///
/// Feed it the bytes after the response head in pieces of any size; it
/// calls back with the payload slices and reports when the terminating
/// zero-size chunk (and the trailer section) has been read. Line ends may be
/// CRLF or a bare LF (servers that send bare LF exist; accepting it costs
/// nothing). Chunk extensions and trailer fields are skipped.
///
/// ```
/// use sse_bench::chunked::ChunkedDecoder;
///
/// let mut dec = ChunkedDecoder::new();
/// let mut body = Vec::new();
/// let input = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n";
/// // Any split gives the same body.
/// let (a, b) = input.split_at(9);
/// dec.decode(a, |s| body.extend_from_slice(s)).unwrap();
/// assert!(!dec.is_done());
/// dec.decode(b, |s| body.extend_from_slice(s)).unwrap();
/// assert!(dec.is_done());
/// assert_eq!(body, b"hello, world");
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChunkedDecoder {
    state: State,
    /// The size being parsed (in `Size`) or the bytes left in the chunk
    /// (in `Data`).
    size: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// At the start of a chunk-size line: no digit read yet.
    #[default]
    SizeStart,
    /// Reading hex digits of the chunk size.
    Size,
    /// Skipping a chunk extension (or whitespace) up to the line end.
    Ext,
    /// A CR ended the size line; an LF must follow.
    SizeLf,
    /// Inside chunk data.
    Data,
    /// Chunk data ended; its CRLF must follow.
    DataCr,
    /// The CR after chunk data was read; an LF must follow.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Skipping a trailer field line.
    TrailerLine,
    /// The CR of the final empty line was read.
    FinalLf,
    /// The body is complete.
    Done,
}

/// A chunked body that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkError(&'static str);

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad chunked body: {}", self.0)
    }
}

impl std::error::Error for ChunkError {}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// The zero-size chunk and the trailer section have been read: the
    /// response is over.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, calling `out` with each run of body bytes (slices of
    /// `input`, never empty). Returns how many bytes of `input` belong to
    /// this body: all of them, unless the body ended inside `input` (then
    /// the rest belongs to whatever follows on the connection).
    ///
    /// # Errors
    /// When the input breaks the chunked grammar (a bad size, a missing line
    /// end after chunk data). The decoder should then be dropped: the
    /// connection is out of step.
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
        mut out: impl FnMut(&'a [u8]),
    ) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Data => {
                    // The hot path: hand over as much data as this chunk has.
                    let avail = (input.len() - i) as u64;
                    let take = avail.min(self.size) as usize;
                    out(&input[i..i + take]);
                    i += take;
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    continue;
                }
                State::Done => return Ok(i),
                _ => {}
            }
            let b = input[i];
            i += 1;
            self.state = match (self.state, b) {
                (State::SizeStart | State::Size, b) if b.is_ascii_hexdigit() => {
                    let digit = (b as char).to_digit(16).unwrap_or(0) as u64;
                    // 2^60 bytes is far beyond any real chunk; refusing more
                    // keeps the arithmetic from overflowing.
                    if self.size >> 60 != 0 {
                        return Err(ChunkError("chunk size too large"));
                    }
                    self.size = self.size * 16 + digit;
                    State::Size
                }
                (State::SizeStart, _) => return Err(ChunkError("chunk size expected")),
                (State::Size, b';' | b' ' | b'\t') => State::Ext,
                (State::Size | State::Ext, b'\r') => State::SizeLf,
                (State::Size | State::Ext | State::SizeLf, b'\n') => self.end_size_line(),
                (State::Size, _) => return Err(ChunkError("bad character in chunk size")),
                (State::Ext, _) => State::Ext,
                (State::SizeLf, _) => return Err(ChunkError("LF expected after chunk size")),
                (State::DataCr, b'\r') => State::DataLf,
                (State::DataCr | State::DataLf, b'\n') => State::SizeStart,
                (State::DataCr | State::DataLf, _) => {
                    return Err(ChunkError("line end expected after chunk data"))
                }
                (State::TrailerStart, b'\r') => State::FinalLf,
                (State::TrailerStart | State::FinalLf, b'\n') => State::Done,
                (State::TrailerLine, b'\n') => State::TrailerStart,
                (State::TrailerStart | State::TrailerLine, _) => State::TrailerLine,
                (State::FinalLf, _) => return Err(ChunkError("LF expected at end of body")),
                (State::Data | State::Done, _) => unreachable!("handled above"),
            };
        }
        Ok(i)
    }

    fn end_size_line(&mut self) -> State {
        if self.size == 0 {
            State::TrailerStart
        } else {
            State::Data
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_split(input: &[u8], splits: &[usize]) -> Result<(Vec<u8>, bool, usize), ChunkError> {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut consumed = 0;
        let mut start = 0;
        for &end in splits.iter().chain(std::iter::once(&input.len())) {
            let n = dec.decode(&input[start..end], |s| {
                assert!(!s.is_empty());
                body.extend_from_slice(s)
            })?;
            consumed += n;
            start = end;
        }
        Ok((body, dec.is_done(), consumed))
    }

    const CASES: &[(&[u8], &[u8])] = &[
        (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
        (b"5\nhello\n0\n\n", b"hello"),
        (
            b"A\r\n0123456789\r\n1;name=\"v\"\r\nx\r\n0\r\n\r\n",
            b"0123456789x",
        ),
        (b"3 \r\nabc\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n", b"abc"),
        (
            b"1e\r\ndata: sseb:0:1:2:xxxxxxxxxxx\n\n\r\n0\r\n\r\n",
            b"data: sseb:0:1:2:xxxxxxxxxxx\n\n",
        ),
        (b"0\r\n\r\n", b""),
    ];

    #[test]
    fn every_split_point_gives_the_same_body() {
        for (input, want) in CASES {
            for a in 0..=input.len() {
                for b in a..=input.len() {
                    let (body, done, consumed) = decode_split(input, &[a, b]).unwrap();
                    assert_eq!(&body, want, "input {input:?} split at {a},{b}");
                    assert!(done);
                    assert_eq!(consumed, input.len());
                }
            }
        }
    }

    #[test]
    fn bytes_after_the_body_are_not_consumed() {
        let input = b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
        for split in 0..=input.len() {
            let (body, done, consumed) = decode_split(input, &[split]).unwrap();
            assert_eq!(body, b"ok");
            assert!(done);
            assert_eq!(consumed, input.len() - b"HTTP/1.1 200 OK\r\n".len());
        }
    }

    #[test]
    fn incomplete_bodies_are_not_done() {
        let input = b"5\r\nhello\r\n0\r\n\r\n";
        for end in 0..input.len() {
            let (_, done, _) = decode_split(&input[..end], &[]).unwrap();
            assert!(!done, "done after {end} bytes");
        }
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b"5\r\nhelloX",
            b"5\rX",
            b"0\r\n\rX",
            b"fffffffffffffffff\r\n",
        ] {
            for split in 0..=bad.len() {
                assert!(decode_split(bad, &[split]).is_err(), "{bad:?} at {split}");
            }
        }
    }
}
