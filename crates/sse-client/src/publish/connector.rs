//! The connector behind the publisher's connection pool: hyper-util's
//! pooled client asks it for a new transport when no idle connection to
//! the hub is left, and it dials exactly as the event source does (same
//! TLS roots and options, same proxies, same `CONNECT` tunnel).
//!
//! Why hyper-util's pooled client here when the event source drives
//! hyper's low-level connection itself: publishes are many short requests,
//! so keep-alive, HTTP/2 multiplexing and a retry of a request that met a
//! connection the hub had just closed (before anything was sent) are worth
//! the pool's background bookkeeping.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;

use crate::connect::{dial, Io};
use crate::error::Error;
use crate::proxy::Proxy;

/// Dials the hub for the pool; cheap to clone (the pool clones it per
/// connection).
#[derive(Clone, Debug)]
pub(crate) struct Connector(Arc<Dial>);

#[derive(Debug)]
struct Dial {
    tls: Arc<rustls::ClientConfig>,
    proxy: Proxy,
    h2c: bool,
}

impl Connector {
    pub(crate) fn new(tls: Arc<rustls::ClientConfig>, proxy: Proxy, h2c: bool) -> Self {
        Connector(Arc::new(Dial { tls, proxy, h2c }))
    }
}

type Dialing = Pin<Box<dyn Future<Output = Result<Transport, Error>> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = Transport;
    type Error = Error;
    type Future = Dialing;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, url: Uri) -> Dialing {
        let dial = self.0.clone();
        Box::pin(async move { dial_hub(&dial, &url).await })
    }
}

async fn dial_hub(d: &Dial, url: &Uri) -> Result<Transport, Error> {
    let dialed = dial(&d.tls, &d.proxy, url, d.h2c).await?;
    Ok(Transport {
        h2: dialed.h2,
        proxied: dialed.plain_via.is_some(),
        io: TokioIo::new(dialed.io),
    })
}

/// One pooled connection's transport, with what the pool must know of it.
pub(crate) struct Transport {
    io: TokioIo<Io>,
    /// TLS chose `h2` (or h2c was asked for): the pool multiplexes on it.
    h2: bool,
    /// An `http://` request through a proxy: written in absolute form.
    proxied: bool,
}

impl Connection for Transport {
    fn connected(&self) -> Connected {
        let connected = Connected::new().proxy(self.proxied);
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
