//! hyper serves whatever the light path does not: other requests, other
//! answers, HTTP/2 (h2c and TLS), with the same head bound and timeout,
//! and the same refusal of transfer codings other than `chunked`.
//!
//! When hyper is done with a connection (it refused a head with a 431 or
//! 400 of its own, or answered without reading a body, or just finished),
//! it drops the socket; closed with input unread, the socket would send
//! RST and the client could lose the answer. So the socket handed to hyper
//! comes back to us when hyper drops it ([`Rewind`] sends it back), and
//! lingers (see [`linger`](super::linger)) before it is closed.

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
use http::{header, HeaderValue, Request};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;
use tower::ServiceExt;

use super::head::{check_transfer_coding, Refusal, HEAD_TIMEOUT, MAX_HEAD};
use super::linger::linger;
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
        let coding = check_transfer_coding(
            req.headers()
                .get_all(header::TRANSFER_ENCODING)
                .iter()
                .map(HeaderValue::as_bytes),
        );
        async move {
            match (prepared, coding) {
                (Some(r), _) => Ok::<_, std::convert::Infallible>(r),
                (None, Err(refusal)) => Ok(refusal_response(refusal)),
                (None, Ok(())) => router.oneshot(req.map(Body::new)).await,
            }
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // The same bounds on request heads as the light path's: size (hyper's
    // default is 400 KiB; its smallest is 8 KiB, below ours) and time
    // (hyper applies it only with a timer), so an idle or slow connection
    // ends here too.
    builder
        .http1()
        .max_buf_size(MAX_HEAD)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    let (give_back, mut given_back) = oneshot::channel();
    {
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(Rewind {
                prefix,
                inner: Some(sock),
                give_back: Some(give_back),
            }),
            service,
        );
        tokio::pin!(conn);
        let ended = tokio::select! {
            r = conn.as_mut() => Some(r),
            _ = shutdown.triggered() => None,
        };
        let ended = match ended {
            Some(r) => r,
            None => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, "connection ended with an error");
        }
        // `conn` is dropped here, and with it the socket, unless an
        // upgrade (a WebSocket, say) took it.
    }
    if let Ok(sock) = given_back.try_recv() {
        Box::pin(linger(sock, &[], &shutdown)).await;
    }
}

/// The answer to a request refused in the service (hyper parsed its head
/// and let it through), with `Connection: close`: its body is not read.
fn refusal_response(refusal: Refusal) -> Response {
    let (status, body) = refusal.status_and_body();
    let mut response = Response::new(Body::from(body + "\n"));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A socket with bytes already read put back in front, that goes back
/// through `give_back` when hyper drops it.
struct Rewind<S> {
    prefix: Bytes,
    /// `Some` until dropped (an `Option` only so that `drop` can move it).
    inner: Option<S>,
    give_back: Option<oneshot::Sender<S>>,
}

impl<S> Rewind<S> {
    fn inner(&mut self) -> io::Result<&mut S> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl<S> Drop for Rewind<S> {
    fn drop(&mut self) {
        if let (Some(sock), Some(to)) = (self.inner.take(), self.give_back.take()) {
            // The receiver is gone when hyper gave the socket to an upgrade
            // that outlived the connection: then it just closes.
            let _ = to.send(sock);
        }
    }
}

/// `Poll::Ready(Err(_))` from a missing socket (never seen: see `inner`).
macro_rules! inner_or_ready {
    ($self:ident) => {
        match $self.inner() {
            Ok(inner) => Pin::new(inner),
            Err(e) => return Poll::Ready(Err(e)),
        }
    };
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
        inner_or_ready!(self).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        inner_or_ready!(self).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        inner_or_ready!(self).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(S::is_write_vectored)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        inner_or_ready!(self).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        inner_or_ready!(self).poll_shutdown(cx)
    }
}
