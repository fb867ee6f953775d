//! [`serve`]: a drop-in for `axum::serve` whose event streams are light.
//!
//! Why it exists (see DESIGN.md, "What the subscriber path costs"): a
//! connection that stays inside hyper keeps an 8 KB read buffer and an 8 KB
//! write buffer for its whole life, and `axum::serve` adds more; for an
//! event stream that lives for hours and writes a few bytes now and then,
//! that is almost all of its memory. Here each HTTP/1.1 request head is
//! parsed with `httparse` from a temporary buffer. A `GET` that accepts
//! `text/event-stream` is answered by the same router; if the answer is one
//! of our event streams, a small task writes its head and chunked frames
//! itself, holding only the stream's queue. Everything else (other
//! requests, other answers, HTTP/2, TLS, anything `httparse` does not
//! accept) is handed to hyper with the bytes already read put back in
//! front.
//!
//! # Where each part and each invariant lives
//! - [`accept`]: the accept loop and the shutdown drain, shared by plain
//!   and TLS serving. Invariant: shutdown waits at most
//!   [`accept::SHUTDOWN_GRACE`] for connections.
//! - [`head`]: reading a request head and refusing bad ones with a reason.
//!   Invariant: a head is at most [`head::MAX_HEAD`] bytes and arrives
//!   within [`head::HEAD_TIMEOUT`]; an idle connection holds no buffer.
//! - [`route`]: a connection until its first stream: which requests the
//!   light path takes, calling the router, and the takeover of a response
//!   that is one of our streams (head encoded, socket handed to the queue).
//! - [`writer`]: the task that writes one light stream. The socket's
//!   ownership, the one thing that makes this path safe, lives in the
//!   stream's queue (`queue::State::socket`): every write happens under the
//!   queue's lock, by this task or by a push that finds nothing queued, and
//!   the task takes the socket back before closing or reusing it. There is
//!   no borrowed descriptor anywhere in this crate, and `Cargo.toml` forbids
//!   any code the compiler cannot check (`[lints]`).
//! - [`sweep`]: one timer for every light stream's keep-alive and write
//!   timeout.
//! - [`fallback`]: hyper serving whatever the light path does not (with
//!   the same head bound and timeout); hyper gives the socket back when
//!   it is done with it.
//! - [`linger`]: closing so that the client can read our last answer (a
//!   refusal, an answer before an unread body): half-close, then drain
//!   input for at most [`linger::LINGER_TIME`] and [`linger::LINGER_BYTES`],
//!   on both paths, instead of a close with unread input (RST).
//! - `tls` (feature `tls`): the TLS handshake in front of [`fallback`].
//!
//! Every request, on every path, carries a [`Shutdown`] and the peer's
//! address as `axum::extract::ConnectInfo<SocketAddr>`.

mod accept;
mod fallback;
mod head;
mod linger;
mod route;
mod sweep;
#[cfg(feature = "tls")]
mod tls;
mod writer;

use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use bytes::BytesMut;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use crate::Shutdown;

use accept::accept_until;

/// Serves `router` on `listener`, like `axum::serve`, with light event
/// streams (see the module docs).
///
/// Await the returned [`Serve`] (it implements `IntoFuture`); it runs
/// until an accept error it cannot recover from, or until the signal given
/// to [`with_graceful_shutdown`](Serve::with_graceful_shutdown) fires.
///
/// Every request carries a [`Shutdown`] in its extensions, so streams
/// created with [`EventStreamRequest`](crate::EventStreamRequest) end with a
/// final `retry:` on graceful shutdown, whichever path serves them; and the
/// peer's address as [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo),
/// so handlers that extract it work as under
/// `axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())`.
///
/// # What differs from `axum::serve`
/// - A stream taken over by the light path is written directly: layers that
///   transform response *bodies* do not see it. A response that carries
///   `Content-Encoding` (a compression layer touched it) is left to hyper.
/// - Sockets get `TCP_NODELAY`, so each event leaves at once.
pub fn serve(listener: TcpListener, router: Router) -> Serve<std::future::Pending<()>> {
    Serve {
        listener,
        router,
        signal: std::future::pending(),
        #[cfg(feature = "tls")]
        tls: None,
    }
}

/// The server returned by [`serve`] (and `serve_tls`); await it to run.
#[must_use = "the server does nothing unless awaited"]
pub struct Serve<F> {
    pub(crate) listener: TcpListener,
    pub(crate) router: Router,
    pub(crate) signal: F,
    /// Set by `serve_tls`: every connection is a TLS one, served by hyper.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

impl<F> std::fmt::Debug for Serve<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl<F> Serve<F> {
    /// Stops accepting when `signal` resolves, then ends every open event
    /// stream (final `retry:`), lets hyper finish in-flight requests, and
    /// returns when every connection is done, or after 10 seconds at most:
    /// a client that stopped reading could otherwise block a write, and so
    /// the shutdown, forever (the connections left are dropped when the
    /// runtime stops).
    pub fn with_graceful_shutdown<G>(self, signal: G) -> Serve<G>
    where
        G: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            router: self.router,
            signal,
            #[cfg(feature = "tls")]
            tls: self.tls,
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// As [`TcpListener::local_addr`].
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }
}

impl<F> IntoFuture for Serve<F>
where
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        #[cfg(feature = "tls")]
        if let Some(acceptor) = self.tls {
            return Box::pin(tls::run(self.listener, self.router, acceptor, self.signal));
        }
        Box::pin(run(self.listener, self.router, self.signal))
    }
}

/// What every plain connection of one server shares: one pointer per
/// connection.
pub(crate) struct Ctx {
    pub(crate) router: Router,
    pub(crate) shutdown: Shutdown,
    pub(crate) tracker: TaskTracker,
    pub(crate) sweeper: sweep::Sweeper,
}

async fn run<F>(listener: TcpListener, router: Router, signal: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let ctx = Arc::new(Ctx {
        router,
        shutdown: Shutdown::new(),
        tracker: TaskTracker::new(),
        sweeper: sweep::Sweeper::new(),
    });
    tokio::spawn(sweep::sweep(Arc::downgrade(&ctx)));
    accept_until(
        listener,
        signal,
        &ctx.shutdown,
        &ctx.tracker,
        "connections",
        |sock, _peer| route::spawn_connection(sock, ctx.clone(), BytesMut::new()),
    )
    .await;
    Ok(())
}
