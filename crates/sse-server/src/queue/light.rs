//! The light path's side of a stream's queue: the socket it owns, and the
//! writer's one poll (see `State::socket` for why this is safe).

use std::io;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;

use super::{coarse_now_ms, now_ms, Phase, Shared, State};
use crate::chunked::{Written, LAST_CHUNK};

impl Shared {
    /// Light path: the stream is taken over. From here the state owns the
    /// socket (see [`State::socket`]), and `head`, the response head, is
    /// the first thing written, ahead of any frame queued before.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn attach(&self, socket: TcpStream, head: Bytes) {
        let mut st = self.lock();
        if st.frames.is_empty() {
            // Usually the whole head fits the socket at once: then it needs
            // no queue (an idle stream allocates none).
            match socket.try_write(&head) {
                Ok(n) if n == head.len() => {}
                Ok(n) => st.frames.push_raw_front(head.slice(n..)),
                Err(_) => st.frames.push_raw_front(head),
            }
        } else {
            st.frames.push_raw_front(head);
        }
        st.socket = Some(socket);
    }

    /// Light path: the writer takes the socket back, to close it or to read
    /// the connection's next request. No push can write to it after this.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn detach_socket(&self) -> Option<TcpStream> {
        self.lock().socket.take()
    }

    /// Light path: the writer's whole job, as one poll. Writes what is
    /// queued (under the lock, like a direct push), waits for room when the
    /// socket is full, ends the response with the last chunk once the
    /// stream is closed and drained, and while idle watches the socket for
    /// the client closing or sending a next request (kept in `input`, at
    /// most `max_input` bytes).
    ///
    /// `Ready(Ok(true))`: the response ended cleanly; `Ready(Ok(false))`:
    /// the client left, sent too much, or the stream was disconnected.
    ///
    /// # Errors
    /// A socket error other than the client going away.
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    pub(crate) fn poll_light(
        &self,
        cx: &mut Context<'_>,
        input: &mut BytesMut,
        max_input: usize,
    ) -> Poll<io::Result<bool>> {
        // Before looking at the queue, so a push after the look wakes us.
        self.writer.register(cx.waker());
        let mut st = self.lock();
        let State {
            frames,
            phase,
            socket,
        } = &mut *st;
        let Some(sock) = socket.as_ref() else {
            return Poll::Ready(Ok(false));
        };
        loop {
            if *phase == Phase::Done {
                return Poll::Ready(Ok(false));
            }
            if !frames.is_empty() {
                let written = frames.write_chunked(|s| sock.try_write_vectored(s))?;
                if written != Written::Nothing {
                    // Progress: whatever still waits, waits from now (the
                    // write timeout counts time without progress), and
                    // producers waiting for room may find some.
                    self.waiting_since_ms.store(0, Ordering::Relaxed);
                    self.touch(coarse_now_ms());
                    self.events.notify_waiters();
                }
                if written == Written::All {
                    frames.release_if_empty();
                    continue;
                }
                match sock.poll_write_ready(cx) {
                    Poll::Ready(r) => {
                        r?;
                        continue;
                    }
                    Poll::Pending => {
                        // Keeps an earlier mark: a wake-up that found the
                        // socket still full is no progress.
                        self.write_blocked(now_ms());
                        return Poll::Pending;
                    }
                }
            }
            match *phase {
                Phase::Closing => {
                    frames.push_raw_front(Bytes::from_static(LAST_CHUNK));
                    *phase = Phase::LastChunk;
                    continue;
                }
                Phase::LastChunk => return Poll::Ready(Ok(true)),
                Phase::Open | Phase::Done => {}
            }
            // Idle: the client may close, or send its next request.
            if let Poll::Ready(r) = sock.poll_read_ready(cx) {
                r?;
                let mut buf = [0u8; 512];
                match sock.try_read(&mut buf) {
                    Ok(0) => return Poll::Ready(Ok(false)),
                    Ok(n) if input.len() + n > max_input => return Poll::Ready(Ok(false)),
                    Ok(n) => input.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Poll::Ready(Ok(false)),
                }
                continue;
            }
            return Poll::Pending;
        }
    }
}
