//! hyper serves whatever the light path does not: other requests, other
//! answers, HTTP/2 (h2c and TLS), with the same head bound and timeout.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::Router;
use bytes::Bytes;
use http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tower::ServiceExt;

use super::head::HEAD_TIMEOUT;
use crate::Shutdown;

/// hyper serves the rest of the connection, reading `prefix` first. The
/// first request's answer is `first` when the router already produced it.
/// Every request gets the [`Shutdown`] and, when known, the peer's address
/// as [`ConnectInfo`].
pub(crate) async fn serve_hyper<S>(
    sock: S,
    peer: Option<SocketAddr>,
    prefix: Bytes,
    router: Router,
    shutdown: Shutdown,
    first: Option<Response>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let first = Arc::new(Mutex::new(first));
    let sd = shutdown.clone();
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        let prepared = first.lock().unwrap_or_else(|p| p.into_inner()).take();
        let router = router.clone();
        req.extensions_mut().insert(sd.clone());
        if let Some(peer) = peer {
            req.extensions_mut().insert(ConnectInfo(peer));
        }
        async move {
            match prepared {
                Some(r) => Ok::<_, std::convert::Infallible>(r),
                None => router.oneshot(req.map(Body::new)).await,
            }
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // The same bound on request heads as the light path's (hyper applies
    // it only with a timer), so an idle or slow connection ends here too.
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    let conn = builder.serve_connection_with_upgrades(
        TokioIo::new(Rewind {
            prefix,
            inner: sock,
        }),
        service,
    );
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = shutdown.triggered() => {}
    }
    conn.as_mut().graceful_shutdown();
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// A socket with bytes already read put back in front.
struct Rewind<S> {
    prefix: Bytes,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let chunk = self.prefix.split_to(n);
            buf.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
