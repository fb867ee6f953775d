//! The accept loop and the shutdown drain, one for plain and TLS serving.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;

use crate::Shutdown;

/// How long graceful shutdown waits for connections to finish.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Hands every accepted socket (with `TCP_NODELAY`: events are small and
/// should leave at once) and its peer's address to `on_accept` until
/// `signal` fires; then triggers `shutdown` and gives the connections in
/// `tracker` [`SHUTDOWN_GRACE`] to finish.
pub(crate) async fn accept_until<F>(
    listener: TcpListener,
    signal: F,
    shutdown: &Shutdown,
    tracker: &TaskTracker,
    what: &str,
    mut on_accept: impl FnMut(TcpStream, SocketAddr),
) where
    F: Future<Output = ()>,
{
    tokio::pin!(signal);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut signal => break,
        };
        match accepted {
            Ok((sock, peer)) => {
                let _ = sock.set_nodelay(true);
                on_accept(sock, peer);
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Usually out of file descriptors: wait instead of spinning,
                // as axum and hyper's examples do.
                tracing::error!(error = %e, "accept failed");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = &mut signal => break,
                }
            }
        }
    }
    drop(listener);
    shutdown.trigger();
    tracker.close();
    // A client that stopped reading can keep a write (ours or hyper's)
    // blocked forever; do not let it hold the shutdown hostage.
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = tracker.len(),
            "{what} still open after the shutdown grace period; leaving them"
        );
    }
}

/// Errors of one connection that the accept loop shrugs off.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
