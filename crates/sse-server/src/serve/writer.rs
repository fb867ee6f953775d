//! The task that writes one light stream.
//!
//! It holds the stream's queue, the bytes the client sent meanwhile, and
//! one pointer to the server's context; the socket itself lives in the
//! queue (`queue::State::socket`), which is what makes the direct write of
//! a push safe without any borrowed descriptor: every write happens under
//! the queue's lock, and this task takes the socket back out before it
//! closes it or reads the connection's next request. If the task is
//! dropped unfinished (the runtime shutting down), the socket stays in the
//! queue and is closed with it.

use std::sync::Arc;

use bytes::BytesMut;

use super::{route, Ctx};
use crate::queue::Shared;

/// Bytes a client may send while its stream is written (a pipelined next
/// request); more closes the connection.
const MAX_PIPELINED: usize = 8 * 1024;

/// Writes the stream (the head is already its first queued piece) until it
/// ends; after a clean end the connection goes back to reading requests
/// (a new task), unless the response said `Connection: close` or the server
/// is shutting down.
///
/// Every wait is one `poll_fn` over the stream's own state (woken by
/// pushes, keep-alives from the sweep, close, shutdown and disconnect
/// alike) and the socket's readiness, so the task stays small: no timer,
/// no futures for a cancellation token or a shutdown signal.
pub(crate) async fn stream_task(
    shared: Arc<Shared>,
    mut pending: BytesMut,
    close_after: bool,
    ctx: Arc<Ctx>,
) {
    let ended = std::future::poll_fn(|cx| shared.poll_light(cx, &mut pending, MAX_PIPELINED)).await;
    let clean = matches!(ended, Ok(true));
    // No push can write to the socket after this.
    let sock = shared.detach_socket();
    if clean {
        shared.finished();
    } else {
        shared.abort();
    }
    drop(shared);
    if let (true, false, Some(sock)) = (clean, close_after, sock) {
        if !ctx.shutdown.is_triggered() {
            route::spawn_connection(sock, ctx, pending);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunked::{chunk_size_line, LAST_CHUNK};
    use bytes::Bytes;
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::task::TaskTracker;

    fn ctx() -> Arc<Ctx> {
        Arc::new(Ctx {
            router: axum::Router::new(),
            shutdown: crate::Shutdown::new(),
            tracker: TaskTracker::new(),
            sweeper: super::super::sweep::Sweeper::new(),
        })
    }

    /// The per-subscriber task is the stream task: keep it small
    /// (DESIGN.md budgets about 1 KB of user-space memory per idle
    /// subscriber in all). tokio's task cell is the future plus about 100
    /// bytes of header and trailer, in 128-byte steps: at 400 bytes (the
    /// build before the socket moved into the queue) a light stream
    /// measured 2.02 KB in `bench/compare.sh`.
    #[tokio::test]
    async fn stream_task_future_is_small() {
        let fut = stream_task(
            Arc::new(Shared::new(crate::QueueLimit::default(), None, None, None)),
            BytesMut::new(),
            false,
            ctx(),
        );
        let size = std::mem::size_of_val(&fut);
        eprintln!("stream task future: {size} bytes");
        assert!(size <= 128, "stream task future is {size} bytes");
    }

    /// A socket pair whose sending end has small buffers on both sides, so
    /// a large frame can only be written in part.
    async fn small_pipe() -> (TcpStream, TcpStream) {
        let listening = tokio::net::TcpSocket::new_v4().unwrap();
        listening.set_recv_buffer_size(4096).unwrap();
        listening.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener: TcpListener = listening.listen(1).unwrap();
        let connecting = tokio::net::TcpSocket::new_v4().unwrap();
        connecting.set_send_buffer_size(4096).unwrap();
        let sender = connecting
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (receiver, _) = listener.accept().await.unwrap();
        (sender, receiver)
    }

    /// A push that finds nothing queued writes to the socket itself; if the
    /// socket takes only part of it, the rest goes out before the next
    /// frame, and the client reads exactly the head and the frames pushed,
    /// then the last chunk.
    #[tokio::test]
    async fn a_direct_write_cut_short_is_finished_before_anything_else() {
        use tokio::io::AsyncReadExt;
        let (sender, mut receiver) = small_pipe().await;
        let shared = Arc::new(Shared::new(crate::QueueLimit::default(), None, None, None));
        shared.attach(sender, Bytes::from_static(b"HEAD\r\n\r\n"));
        // The writer writes the head, then waits with nothing queued.
        let mut input = BytesMut::new();
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(shared.poll_light(&mut cx, &mut input, 1024).is_pending());
        assert_eq!(shared.queued(), (0, 0), "the head is written");

        let big: Bytes = (0..1_000_000u32)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<_>>()
            .into();
        shared.push(big.clone(), true).unwrap();
        // The rest of the frame (a slice of it) and the chunk's CRLF wait
        // as raw pieces, outside the bound.
        assert_eq!(shared.queued(), (0, 0), "the rest is raw");
        // Not written directly: it waits behind the rest.
        shared
            .push(Bytes::from_static(b"data: next\n\n"), true)
            .unwrap();
        assert_eq!(shared.queued(), (1, 12));
        shared.close();

        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 << 10];
            while !got.ends_with(LAST_CHUNK) {
                let n = receiver.read(&mut buf).await.unwrap();
                assert!(n > 0, "ended early");
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        let ended = std::future::poll_fn(|cx| shared.poll_light(cx, &mut input, 1024)).await;
        assert!(ended.unwrap(), "a clean end");
        assert!(shared.detach_socket().is_some());
        let got = reading.await.unwrap();

        let mut expected = b"HEAD\r\n\r\n".to_vec();
        let mut size = [0u8; 20];
        for frame in [&big[..], b"data: next\n\n"] {
            expected.extend_from_slice(chunk_size_line(frame.len(), &mut size));
            expected.extend_from_slice(frame);
            expected.extend_from_slice(b"\r\n");
        }
        expected.extend_from_slice(LAST_CHUNK);
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "the bytes on the wire differ");
    }

    /// Once the writer has taken the socket back, a push only queues: it
    /// can never reach a socket that is being closed or reused.
    #[tokio::test]
    async fn no_push_writes_after_the_socket_is_taken_back() {
        use tokio::io::AsyncReadExt;
        let (sender, mut receiver) = small_pipe().await;
        let shared = Shared::new(crate::QueueLimit::default(), None, None, None);
        shared.attach(sender, Bytes::from_static(b"H"));
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(shared
            .poll_light(&mut cx, &mut BytesMut::new(), 1024)
            .is_pending());
        let sock = shared.detach_socket().expect("the socket");
        shared
            .push(Bytes::from_static(b"data: x\n\n"), true)
            .unwrap();
        assert_eq!(shared.queued(), (1, 9), "queued, not written");
        drop(sock);
        let mut got = Vec::new();
        receiver.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"H");
    }
}
