//! TLS in front of [`fallback`](super::fallback): every TLS connection is
//! served by hyper (the light path writes plain TCP sockets), HTTP/2 or
//! HTTP/1.1 as ALPN decided. The configuration and the public constructor
//! live in the crate's `tls` module, which depends on this one, not the
//! other way round.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::Router;
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::task::TaskTracker;

use super::accept::accept_until;
use super::fallback::serve_hyper;
use crate::Shutdown;

/// Time a client gets to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) async fn run<F>(
    listener: TcpListener,
    router: Router,
    acceptor: TlsAcceptor,
    signal: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let shutdown = Shutdown::new();
    let tracker = TaskTracker::new();
    accept_until(
        listener,
        signal,
        &shutdown,
        &tracker,
        "TLS connections",
        |sock, peer| {
            let (acceptor, router, shutdown) = (acceptor.clone(), router.clone(), shutdown.clone());
            tracker.spawn(async move {
                let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                };
                serve_hyper(tls, Some(peer), Bytes::new(), router, shutdown, None).await;
            });
        },
    )
    .await;
    Ok(())
}
