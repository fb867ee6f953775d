//! HTTP/1.1 chunked framing for the light path, and the one place that
//! writes a chunk straight to a stream's socket from outside its task.
//!
//! Why write from outside the task: on the light path a frame pushed to a
//! stream whose writer is parked with nothing queued would otherwise wake
//! that writer, which then takes the queue and makes the same `writev`.
//! When one update goes to 10,000 subscribers that round trip (wake,
//! schedule, poll, take, re-register) is most of the user-space cost per
//! delivery, and the kernel's write is the rest. Writing from the pushing
//! thread, under the stream's queue lock, skips the round trip and keeps
//! the frames of one stream in order (see `queue::Shared::push`).

use bytes::Bytes;

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

/// A stream's socket, as the queue keeps it while the writer is parked.
#[cfg(unix)]
pub(crate) type RawSocket = std::os::fd::RawFd;
#[cfg(not(unix))]
pub(crate) type RawSocket = i32;

/// What a direct write did.
pub(crate) enum Direct {
    /// The whole chunk was written.
    Written,
    /// The socket took only the first bytes; here is the rest, already
    /// framed, in one to three pieces that the writer must send before
    /// anything else. The frame's part is a slice of the frame, not a
    /// copy: a stalled subscriber pins no memory of its own for it.
    Partial(Vec<Bytes>),
    /// Nothing was written (the socket is full, or failed): queue the
    /// frame for the writer, which waits for room or sees the error.
    NotWritten,
}

/// Writes `frame` as one chunk to `fd` without blocking.
///
/// The caller guarantees that `fd` is the open socket of a light stream
/// whose writer is parked: the queue hands out the descriptor only under
/// its lock, and the writer takes it back under the same lock before the
/// socket can be closed or reused (see `queue::Shared::push`).
#[cfg(unix)]
pub(crate) fn write_chunk(fd: RawSocket, frame: &Bytes) -> Direct {
    use std::io::{IoSlice, Write};
    use std::mem::ManuallyDrop;
    use std::os::fd::FromRawFd;

    let mut size = [0u8; 20];
    let line = chunk_size_line(frame.len(), &mut size);
    let slices = [IoSlice::new(line), IoSlice::new(frame), IoSlice::new(CRLF)];
    let total = line.len() + frame.len() + 2;
    // SAFETY: `fd` is open for the whole call (the caller's guarantee
    // above), and `ManuallyDrop` keeps this borrowed handle from closing
    // it. The socket is non-blocking (tokio made it so), so the call never
    // waits.
    #[allow(unsafe_code)]
    let sock = ManuallyDrop::new(unsafe { std::net::TcpStream::from_raw_fd(fd) });
    match (&*sock).write_vectored(&slices) {
        Ok(n) if n >= total => Direct::Written,
        Ok(0) | Err(_) => Direct::NotWritten,
        Ok(n) => Direct::Partial(rest_of_chunk(line, frame, n)),
    }
}

/// What remains of the chunk `line`, `frame`, CRLF once its first `written`
/// bytes are out (`written` is less than the whole).
fn rest_of_chunk(line: &[u8], frame: &Bytes, written: usize) -> Vec<Bytes> {
    if written < line.len() {
        vec![
            Bytes::copy_from_slice(&line[written..]),
            frame.clone(),
            Bytes::from_static(CRLF),
        ]
    } else if written < line.len() + frame.len() {
        vec![
            frame.slice(written - line.len()..),
            Bytes::from_static(CRLF),
        ]
    } else {
        let done = (written - line.len() - frame.len()).min(CRLF.len());
        vec![Bytes::from_static(&CRLF[done..])]
    }
}

const CRLF: &[u8] = b"\r\n";

#[cfg(not(unix))]
pub(crate) fn write_chunk(_fd: RawSocket, _frame: &Bytes) -> Direct {
    Direct::NotWritten
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every cut of a chunk leaves exactly its remaining bytes, and the
    /// frame's part shares the frame's memory.
    #[test]
    fn the_rest_of_a_cut_chunk() {
        let frame = Bytes::from_static(b"data: hello\n\n");
        let mut size = [0u8; 20];
        let line = chunk_size_line(frame.len(), &mut size).to_vec();
        let whole: Vec<u8> = [&line[..], &frame[..], CRLF].concat();
        for written in 0..whole.len() {
            let rest = rest_of_chunk(&line, &frame, written);
            assert_eq!(rest.concat(), &whole[written..], "cut after {written}");
            let in_frame = written >= line.len() && written < line.len() + frame.len();
            if in_frame {
                let start = frame.as_ptr() as usize;
                let piece = rest[0].as_ptr() as usize;
                assert!(piece >= start && piece < start + frame.len(), "copied");
            }
        }
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
