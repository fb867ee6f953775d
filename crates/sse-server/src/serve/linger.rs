//! Closing a connection so that the client can read our last answer.
//!
//! A socket closed while input is still unread makes the kernel send RST
//! instead of FIN, and a client that gets the RST while it is still
//! sending (or before it has read what we sent) sees "connection reset",
//! not our answer: a 431 for a head too large, a 413 for a body we did not
//! read. So after an answer the server will not read past, the connection
//! lingers: the answer is written, the connection half-closed (our FIN
//! follows the answer), and input read and thrown away until the client
//! closes its side, for at most [`LINGER_TIME`] and [`LINGER_BYTES`];
//! then the socket is closed (nginx's `lingering_close` does the same).
//!
//! Why this cannot be abused: a lingering connection is the same task as
//! the connection was (the server's `TaskTracker` counts it, and shutdown
//! waits for it like for any other), it holds one [`DRAIN_CHUNK`] buffer,
//! and both bounds are hard: a client that keeps sending, or sends nothing
//! and never closes, is cut after 16 MiB or 5 s, whichever comes first.
//! Nothing it sends is parsed. A shutdown ends every linger at once.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Shutdown;

/// The longest a connection lingers after its last answer, counted from
/// when the answer starts being written. Long enough for a client on a
/// slow link to finish sending a head or body of a few hundred KiB and
/// read the answer; short enough that a refused client cannot hold a task
/// for long.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(5);
/// The most input thrown away while lingering; a client that sends more
/// is cut (RST) there. Larger than any head or body a client sends before
/// it reads an answer in practice (our bodies are bounded far below it).
pub(crate) const LINGER_BYTES: u64 = 16 * 1024 * 1024;
/// The buffer discarded input is read into: allocated when the linger
/// starts, freed when it ends.
const DRAIN_CHUNK: usize = 8 * 1024;

/// How a linger ended (for the log line, and for tests of this module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lingered {
    /// The client closed its side after our answer: a clean close.
    ClientClosed,
    /// The client sent [`LINGER_BYTES`] after our answer.
    TooMuchInput,
    /// [`LINGER_TIME`] passed.
    TimedOut,
    /// The server began shutting down.
    Shutdown,
    /// Writing the answer, half-closing or reading failed (the client
    /// reset the connection, or it was already closed).
    Failed,
}

/// Writes `answer` (may be empty: hyper already wrote it), half-closes
/// `sock`, and drains its input within the bounds above; the socket is
/// dropped (closed) on return.
pub(crate) async fn linger<S>(mut sock: S, answer: &[u8], shutdown: &Shutdown) -> Lingered
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if shutdown.is_triggered() {
        return Lingered::Shutdown;
    }
    let drain = async {
        if sock.write_all(answer).await.is_err() || sock.shutdown().await.is_err() {
            return Lingered::Failed;
        }
        let mut buf = vec![0u8; DRAIN_CHUNK];
        let mut drained = 0u64;
        loop {
            match sock.read(&mut buf).await {
                Ok(0) => return Lingered::ClientClosed,
                // `usize` to `u64` never truncates on supported targets.
                Ok(n) => drained += n as u64,
                Err(_) => return Lingered::Failed,
            }
            if drained >= LINGER_BYTES {
                return Lingered::TooMuchInput;
            }
        }
    };
    let how = tokio::select! {
        how = tokio::time::timeout(LINGER_TIME, drain) => how.unwrap_or(Lingered::TimedOut),
        _ = shutdown.triggered() => Lingered::Shutdown,
    };
    tracing::debug!(how = ?how, "closed after lingering");
    how
}
