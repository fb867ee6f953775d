//! [`serve`]: a drop-in for `axum::serve` whose event streams are light.
//!
//! Why it exists (see DESIGN.md, "What the subscriber path costs"): a
//! connection that stays inside hyper keeps an 8 KB read buffer and an 8 KB
//! write buffer for its whole life, and `axum::serve` adds more; for an
//! event stream that lives for hours and writes a few bytes now and then,
//! that is almost all of its memory. Here each HTTP/1.1 request head is
//! parsed with `httparse` from a temporary buffer. A `GET` that accepts
//! `text/event-stream` is answered by the same router; if the answer is one
//! of our event streams, this connection's task writes the head and the
//! chunked frames itself, holding only the socket and the stream's queue,
//! and drains the whole queue with one `writev`; while that task is idle,
//! a frame pushed to the stream is written by the push itself, with no
//! wake-up (see `FrameSender::try_push`). Everything else (other
//! requests, other answers, HTTP/2, anything `httparse` does not accept) is
//! handed to hyper with the bytes already read put back in front.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use axum::Router;
use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::chunked::{chunk_size_line, RawSocket};
use crate::queue::{Shared, Taken};
use crate::request::StreamMarker;
use crate::Shutdown;

const _: () = assert!(SWEEP_EVERY.as_millis() > 0);

/// The largest request head accepted; a longer one is answered 431.
const MAX_HEAD: usize = 16 * 1024;
/// The most request headers accepted (hyper's default); more is a 431.
const MAX_HEADERS: usize = 100;
/// Time allowed for a request head, counted from when the connection
/// starts waiting for it (accepted, or done with its previous request): a
/// connection that sends nothing is closed after this long, one whose head
/// is still incomplete gets a 408. hyper applies the same bound to the
/// connections it serves.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long graceful shutdown waits for connections to finish.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Bytes a client may send while its stream is written (a pipelined next
/// request); more closes the connection.
const MAX_PIPELINED: usize = 8 * 1024;

/// Serves `router` on `listener`, like `axum::serve`, with light event
/// streams (see the module docs).
///
/// Await the returned [`Serve`] (it implements `IntoFuture`); it runs
/// until an accept error it cannot recover from, or until the signal given
/// to [`with_graceful_shutdown`](Serve::with_graceful_shutdown) fires.
///
/// Every request carries a [`Shutdown`] in its extensions, so streams
/// created with [`EventStreamRequest`](crate::EventStreamRequest) end with a
/// final `retry:` on graceful shutdown, whichever path serves them.
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
            return Box::pin(crate::tls::run(
                self.listener,
                self.router,
                acceptor,
                self.signal,
            ));
        }
        Box::pin(run(self.listener, self.router, self.signal))
    }
}

async fn run<F>(listener: TcpListener, router: Router, signal: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let ctx = Arc::new(Ctx {
        router,
        shutdown: Shutdown::new(),
        tracker: TaskTracker::new(),
        sweeper: Sweeper::new(),
    });
    tokio::spawn(sweep(Arc::downgrade(&ctx)));
    accept_until(
        listener,
        signal,
        &ctx.shutdown,
        &ctx.tracker,
        "connections",
        |sock| spawn_connection(sock, ctx.clone(), BytesMut::new()),
    )
    .await;
    Ok(())
}

/// The accept loop of [`serve`] and `serve_tls`: hands every accepted
/// socket (with `TCP_NODELAY`: events are small and should leave at once)
/// to `on_accept` until `signal` fires; then triggers `shutdown` and gives
/// the connections in `tracker` [`SHUTDOWN_GRACE`] to finish.
pub(crate) async fn accept_until<F>(
    listener: TcpListener,
    signal: F,
    shutdown: &Shutdown,
    tracker: &TaskTracker,
    what: &str,
    mut on_accept: impl FnMut(TcpStream),
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
            Ok((sock, _peer)) => {
                let _ = sock.set_nodelay(true);
                on_accept(sock);
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

/// What every connection of one server shares: one pointer per connection.
struct Ctx {
    router: Router,
    shutdown: Shutdown,
    tracker: TaskTracker,
    sweeper: Sweeper,
}

/// How often the light path's keep-alive sweep runs. Keep-alive comments
/// on the light path go out between `keep_alive` and `keep_alive +
/// SWEEP_EVERY` after the last write.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

/// Keep-alive and write timeout for light-path streams: one timer for the
/// whole server instead of one per stream (a tokio timer is ~120 bytes, a
/// tenth of what a light stream costs in all). Each sweep queues a
/// keep-alive comment on every stream idle for its keep-alive time (the
/// stream's task writes it like any frame, so a client that left is
/// noticed then), and ends every stream whose writer has been stuck for its
/// write timeout (a client that stopped reading).
struct Sweeper {
    /// Streams with keep-alive or a write timeout; dead entries are dropped
    /// on each sweep.
    streams: Mutex<Vec<std::sync::Weak<Shared>>>,
}

impl Sweeper {
    fn new() -> Self {
        Sweeper {
            streams: Mutex::new(Vec::new()),
        }
    }

    fn now_ms(&self) -> u64 {
        crate::queue::now_ms()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<std::sync::Weak<Shared>>> {
        // Only pushes and a retain happen under this lock.
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, shared: &Arc<Shared>) {
        if shared.keep_alive.is_some() || shared.has_write_timeout() {
            shared.touch(self.now_ms());
            self.lock().push(Arc::downgrade(shared));
        }
    }

    fn sweep_once(&self) {
        let now = self.now_ms();
        crate::queue::sweep_ran_at(now);
        self.lock().retain(|w| match w.upgrade() {
            Some(s) if !s.is_gone() => {
                if s.is_stalled(now) {
                    s.abort();
                    return false;
                }
                s.keep_alive_if_idle(now);
                true
            }
            _ => false,
        });
    }
}

/// Runs while the server or any of its connections is alive (they hold
/// the context), so streams keep their keep-alives even if the `Serve`
/// future is dropped, and the sweep stops once everything is gone.
async fn sweep(ctx: std::sync::Weak<Ctx>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(ctx) = ctx.upgrade() else { return };
        ctx.sweeper.sweep_once();
    }
}

pub(crate) fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What became of a request head.
enum Routed {
    /// One of our streams: write `head`, then the stream's frames; then
    /// close the connection if the flag is set (`Connection: close`).
    Stream(Arc<Shared>, Box<[u8]>, bool),
    /// hyper serves the connection from `prefix` on (the bytes already
    /// read); if `response` is set, it is the answer to the first request
    /// (the router already produced it).
    /// (Boxed: a `Response` is large, and this enum lives in the
    /// connection's state.)
    Hyper(Box<(Bytes, Option<Response>)>),
    /// The connection ended, or the server is shutting down.
    Done,
}

/// One connection until a request is answered with one of our streams;
/// then a separate, smaller task writes the stream (see [`stream_task`]).
/// hyper's machinery and the router's future live behind `Box`es only
/// while used.
async fn connection(mut sock: TcpStream, ctx: Arc<Ctx>, mut pending: BytesMut) {
    let routed = Box::pin(read_and_route(
        &mut sock,
        &mut pending,
        &ctx.router,
        &ctx.shutdown,
    ))
    .await;
    match routed {
        Routed::Stream(shared, head, close_after) => {
            ctx.sweeper.register(&shared);
            let task = stream_task(
                sock,
                Unpark(shared),
                head,
                pending,
                close_after,
                ctx.clone(),
            );
            ctx.tracker.spawn(task);
        }
        Routed::Hyper(handover) => {
            let (prefix, response) = *handover;
            let (router, shutdown) = (ctx.router.clone(), ctx.shutdown.clone());
            drop(ctx);
            Box::pin(serve_hyper(sock, prefix, router, shutdown, response)).await;
        }
        Routed::Done => {}
    }
}

/// The task that writes one light stream: it holds the socket, the
/// stream's queue, and one pointer to the server's context. After a clean
/// end, the connection goes back to reading requests (a new task).
///
/// `shared` comes wrapped in [`Unpark`] and after `sock`: whatever way
/// the task ends (even dropped unfinished, at runtime shutdown), pushes
/// stop writing to the socket before it is closed, since arguments drop in
/// reverse order. (A separate guard would cost a pointer in every stream's
/// task.)
async fn stream_task(
    mut sock: TcpStream,
    shared: Unpark,
    head: Box<[u8]>,
    mut pending: BytesMut,
    close_after: bool,
    ctx: Arc<Ctx>,
) {
    let clean = matches!(
        write_stream(&mut sock, &shared.0, head, &mut pending, &ctx.sweeper).await,
        Ok(true)
    );
    // (`finished` and `abort` take the socket back too.)
    if clean {
        shared.finished();
    } else {
        shared.abort();
    }
    drop(shared);
    if clean && !close_after && !ctx.shutdown.is_triggered() {
        spawn_connection(sock, ctx, pending);
    }
}

/// Takes the socket back from the stream's queue when dropped (see
/// `Shared::push`'s direct write).
struct Unpark(Arc<Shared>);

impl Drop for Unpark {
    fn drop(&mut self) {
        self.0.unpark();
    }
}

impl std::ops::Deref for Unpark {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The descriptor a push may write to while the writer is parked.
fn raw_socket(sock: &TcpStream) -> Option<RawSocket> {
    #[cfg(unix)]
    {
        Some(std::os::fd::AsRawFd::as_raw_fd(sock))
    }
    #[cfg(not(unix))]
    {
        let _ = sock;
        None
    }
}

/// A plain function (not `async`), so that `connection` and `stream_task`,
/// which start each other, do not form a cycle of future types.
fn spawn_connection(sock: TcpStream, ctx: Arc<Ctx>, pending: BytesMut) {
    let tracker = ctx.tracker.clone();
    tracker.spawn(connection(sock, ctx, pending));
}

/// Reads one request head and, when it is a stream request, routes it.
async fn read_and_route(
    sock: &mut TcpStream,
    pending: &mut BytesMut,
    router: &Router,
    shutdown: &Shutdown,
) -> Routed {
    let head_len = match read_head(sock, pending, shutdown).await {
        Ok(Some(n)) => n,
        Ok(None) | Err(HeadError::Io) => return Routed::Done,
        Err(HeadError::NotOurs) => {
            return Routed::Hyper(Box::new((std::mem::take(pending).freeze(), None)))
        }
        Err(HeadError::Refused(refusal)) => {
            refuse(sock, refusal);
            return Routed::Done;
        }
    };
    let Some(request) = light_request(&pending[..head_len], shutdown) else {
        return Routed::Hyper(Box::new((std::mem::take(pending).freeze(), None)));
    };
    let response = match router.clone().oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    match takeover(&response) {
        Some(shared) => {
            let head = encode_head(&response);
            let close_after = response
                .headers()
                .get(header::CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            // The body must not treat its drop as the client leaving: this
            // task goes on writing the stream.
            shared.detach();
            drop(response);
            // Keep only what came after the head (a pipelined request);
            // `split_to` + drop frees nothing until `pending` is empty, so
            // replace it when nothing follows the head.
            if pending.len() == head_len {
                *pending = BytesMut::new();
            } else {
                let _ = pending.split_to(head_len);
            }
            Routed::Stream(shared, head, close_after)
        }
        None => Routed::Hyper(Box::new((std::mem::take(pending).freeze(), Some(response)))),
    }
}

enum HeadError {
    /// Not HTTP/1.x (the HTTP/2 preface): hyper serves it.
    NotOurs,
    /// The connection failed, or sent nothing within [`HEAD_TIMEOUT`].
    Io,
    /// A head we answer with an error and close: too large, too many
    /// headers, malformed, or too slow.
    Refused(Refusal),
}

/// An error answer to a request head, with a body that says why (a bare
/// status leaves the client guessing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    TooLarge,
    TooManyHeaders,
    Malformed(&'static str),
    Timeout,
}

impl Refusal {
    fn from_parse_error(e: httparse::Error) -> Refusal {
        match e {
            httparse::Error::TooManyHeaders => Refusal::TooManyHeaders,
            httparse::Error::HeaderName => Refusal::Malformed("invalid header name"),
            httparse::Error::HeaderValue => Refusal::Malformed("invalid header value"),
            httparse::Error::NewLine => Refusal::Malformed("invalid line ending"),
            httparse::Error::Token => Refusal::Malformed("invalid method or request target"),
            httparse::Error::Version => Refusal::Malformed("unsupported HTTP version"),
            httparse::Error::Status => Refusal::Malformed("invalid request line"),
        }
    }

    /// The whole response: status line, headers, body.
    fn response(self) -> String {
        let (status, body) = match self {
            Refusal::TooLarge => (
                "431 Request Header Fields Too Large",
                format!("request head too large: at most {MAX_HEAD} bytes"),
            ),
            Refusal::TooManyHeaders => (
                "431 Request Header Fields Too Large",
                format!("too many request headers: at most {MAX_HEADERS}"),
            ),
            Refusal::Malformed(why) => {
                ("400 Bad Request", format!("malformed request head: {why}"))
            }
            Refusal::Timeout => (
                "408 Request Timeout",
                format!(
                    "request head not received within {} s",
                    HEAD_TIMEOUT.as_secs()
                ),
            ),
        };
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}\n",
            body.len() + 1
        )
    }
}

/// Answers a refused head and leaves the connection to be closed. One
/// non-blocking write: the answer is small enough for any socket buffer,
/// and a client that does not read it is not waited for.
fn refuse(sock: &TcpStream, refusal: Refusal) {
    let _ = sock.try_write(refusal.response().as_bytes());
}

/// The start of the HTTP/2 connection preface (prior knowledge, h2c).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Reads until `pending` holds a complete head; returns its length.
/// `Ok(None)`: the client closed an idle connection, or shutdown began
/// while it was idle.
async fn read_head(
    sock: &mut TcpStream,
    pending: &mut BytesMut,
    shutdown: &Shutdown,
) -> Result<Option<usize>, HeadError> {
    let deadline = Instant::now() + HEAD_TIMEOUT;
    loop {
        if !pending.is_empty() {
            let n = pending.len().min(H2_PREFACE.len());
            if pending[..n] == H2_PREFACE[..n] {
                if n == H2_PREFACE.len() {
                    return Err(HeadError::NotOurs);
                }
            } else {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(pending) {
                    Ok(httparse::Status::Complete(n)) => return Ok(Some(n)),
                    Ok(httparse::Status::Partial) if pending.len() < MAX_HEAD => {}
                    Ok(httparse::Status::Partial) => {
                        return Err(HeadError::Refused(Refusal::TooLarge))
                    }
                    Err(e) => return Err(HeadError::Refused(Refusal::from_parse_error(e))),
                }
            }
        }
        // Wait for bytes without holding a buffer: an idle keep-alive
        // connection costs no read buffer.
        let ready = tokio::select! {
            r = sock.readable() => r,
            _ = shutdown.triggered(), if pending.is_empty() => return Ok(None),
            _ = tokio::time::sleep_until(deadline) => {
                return Err(if pending.is_empty() {
                    HeadError::Io
                } else {
                    HeadError::Refused(Refusal::Timeout)
                });
            }
        };
        if ready.is_err() {
            return Err(HeadError::Io);
        }
        pending.reserve(2048);
        match sock.try_read_buf(pending) {
            Ok(0) if pending.is_empty() => return Ok(None),
            Ok(0) => return Err(HeadError::Io),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Err(HeadError::Io),
        }
    }
}

/// Builds the request for the router when the head is a light-path
/// candidate: an HTTP/1.1 `GET` with no body and no upgrade, accepting
/// `text/event-stream`.
fn light_request(head: &[u8], shutdown: &Shutdown) -> Option<Request<Body>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = req.parse(head) else {
        return None;
    };
    if req.method != Some("GET") || req.version != Some(1) {
        return None;
    }
    let mut map = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(h.value).ok()?;
        map.append(name, value);
    }
    let has_body = map.contains_key(header::TRANSFER_ENCODING)
        || map
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body
        || map.contains_key(header::UPGRADE)
        || map.contains_key(header::EXPECT)
        || !crate::request::accepts_event_stream(&map)
    {
        return None;
    }
    let uri: http::Uri = req.path?.parse().ok()?;
    let mut request = Request::new(Body::empty());
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = map;
    request.extensions_mut().insert(shutdown.clone());
    Some(request)
}

/// The stream behind a response, when we can write it ourselves: one of
/// ours, 200, and untouched by layers that rewrite bodies.
fn takeover(response: &Response) -> Option<Arc<Shared>> {
    let marker = response.extensions().get::<StreamMarker>()?;
    let h = response.headers();
    if response.status() != StatusCode::OK
        || h.contains_key(header::CONTENT_ENCODING)
        || h.contains_key(header::CONTENT_LENGTH)
        || h.contains_key(header::TRANSFER_ENCODING)
        || marker.0.is_detached()
    {
        return None;
    }
    Some(marker.0.clone())
}

/// The response head, in an allocation of exactly its size (it lives until
/// the first write; a shrinking copy would leave a hole per connection).
fn encode_head(response: &Response) -> Box<[u8]> {
    const STATUS: &[u8] = b"HTTP/1.1 200 OK\r\n";
    const CHUNKED: &[u8] = b"transfer-encoding: chunked\r\n\r\n";
    let date = (!response.headers().contains_key(header::DATE))
        .then(|| httpdate::fmt_http_date(std::time::SystemTime::now()));
    let fields: usize = response
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let len = STATUS.len() + fields + date.as_ref().map_or(0, |d| d.len() + 8) + CHUNKED.len();
    let mut head = Vec::with_capacity(len);
    head.extend_from_slice(STATUS);
    for (name, value) in response.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if let Some(date) = date {
        head.extend_from_slice(b"date: ");
        head.extend_from_slice(date.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(CHUNKED);
    debug_assert_eq!(head.len(), len);
    head.into_boxed_slice()
}

static NO_FRAMES: Taken = Taken {
    frames: VecDeque::new(),
    raw: 0,
};
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Writes one stream: the head, then its frames as chunks, one `writev`
/// per batch of queued frames. `Ok(true)`: it ended cleanly (the last
/// chunk was written); `Ok(false)`: the client left or the stream was
/// disconnected.
///
/// Every wait is one `poll_fn` over the stream's own state (woken by
/// pushes, keep-alives from the sweep, close, shutdown and disconnect
/// alike) and the socket's read readiness, so the task stays small: no
/// timer, no futures for a cancellation token, a shutdown signal or socket
/// readiness.
async fn write_stream(
    sock: &mut TcpStream,
    shared: &Shared,
    head: Box<[u8]>,
    pending: &mut BytesMut,
    sweeper: &Sweeper,
) -> io::Result<bool> {
    let mut head = Some(head);
    loop {
        // Once the head is out, pushes may write straight to the socket
        // while this task waits with nothing queued.
        let park = if head.is_none() {
            raw_socket(sock)
        } else {
            None
        };
        let Some(taken) = shared.take_all(park) else {
            if shared.is_gone() {
                // Disconnected (fell behind, or the client left): no clean end.
                return Ok(false);
            }
            return match write_out(sock, shared, head.take(), &NO_FRAMES, LAST_CHUNK)? {
                None => Ok(true),
                Some(rest) => {
                    shared.write_blocked(sweeper.now_ms());
                    rest.await
                }
            };
        };
        let frames = taken;
        if !frames.frames.is_empty() || head.is_some() {
            if let Some(rest) = write_out(sock, shared, head.take(), &frames, b"")? {
                // The socket is full: the write timeout runs from now.
                shared.write_blocked(sweeper.now_ms());
                if !rest.await? {
                    return Ok(false);
                }
            }
            shared.recycle(frames.frames);
            shared.touch(sweeper.now_ms());
            continue;
        }
        // Not kept across the wait below.
        drop(frames);
        let readable = std::future::poll_fn(|cx| {
            if shared.poll_writer(cx).is_ready() {
                return Poll::Ready(None);
            }
            sock.poll_read_ready(cx).map(Some)
        })
        .await;
        if let Some(r) = readable {
            r?;
            if !read_while_streaming(sock, pending)? {
                return Ok(false);
            }
        }
    }
}

/// Runs a write unless the stream is disconnected first (a client that
/// does not read must not keep the task blocked on its socket).
async fn unless_gone<F>(shared: &Shared, write: F) -> io::Result<Option<()>>
where
    F: Future<Output = io::Result<()>>,
{
    tokio::pin!(write);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = write.as_mut().poll(cx) {
            return Poll::Ready(r.map(Some));
        }
        shared.register_writer(cx.waker());
        if shared.is_gone() {
            return Poll::Ready(Ok(None));
        }
        Poll::Pending
    })
    .await
}

/// Reads what the client sent while its stream is written. `false` when
/// the client closed (EOF, error) or sent more than [`MAX_PIPELINED`].
fn read_while_streaming(sock: &mut TcpStream, pending: &mut BytesMut) -> io::Result<bool> {
    let mut buf = [0u8; 512];
    match sock.try_read(&mut buf) {
        Ok(0) => Ok(false),
        Ok(n) => {
            if pending.len() + n > MAX_PIPELINED {
                return Ok(false);
            }
            pending.extend_from_slice(&buf[..n]);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(_) => Ok(false),
    }
}

/// Frames written from slices on the stack; a longer queue takes the slow
/// path (a heap list of slices), which only a backlog produces.
const STACK_FRAMES: usize = 60;

type SlowWrite<'a> = Pin<Box<dyn Future<Output = io::Result<bool>> + Send + 'a>>;

/// Writes `head` (if any), then all of `frames` as one chunk, then `tail`
/// (a static chunk).
///
/// First a non-blocking `writev` from slices on the stack: while the
/// client keeps up, that writes everything with no allocation and no
/// future state. `Ok(None)` then. Otherwise it returns the rest as a boxed
/// future to await (its state exists only while the socket is full); that
/// future yields `false` when the stream was disconnected meanwhile.
/// A plain function, not `async`, so the caller's state holds at most the
/// `Box`.
fn write_out<'a>(
    sock: &'a mut TcpStream,
    shared: &'a Shared,
    head: Option<Box<[u8]>>,
    frames: &'a Taken,
    tail: &'static [u8],
) -> io::Result<Option<SlowWrite<'a>>> {
    let written = match try_write_now(sock, head.as_deref(), frames, tail) {
        Ok(None) => return Ok(None),
        Ok(Some(n)) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    Ok(Some(Box::pin(async move {
        let rest = write_rest(sock, head.as_deref(), frames, tail, written);
        Ok(unless_gone(shared, rest).await?.is_some())
    })))
}

/// `Ok(None)`: all written; `Ok(Some(n))`: only `n` bytes were.
fn try_write_now(
    sock: &TcpStream,
    head: Option<&[u8]>,
    frames: &Taken,
    tail: &[u8],
) -> io::Result<Option<usize>> {
    if frames.frames.len() > STACK_FRAMES {
        return Ok(Some(0));
    }
    let mut size_line = [0u8; 20];
    let mut slices = [IoSlice::new(&[]); STACK_FRAMES + 4];
    let (count, total) = fill_slices(head, frames, tail, &mut size_line, |i, s| slices[i] = s);
    let n = sock.try_write_vectored(&slices[..count])?;
    Ok((n < total).then_some(n))
}

/// Lays out the slices of one write; returns (slice count, total bytes).
fn fill_slices<'a>(
    head: Option<&'a [u8]>,
    taken: &'a Taken,
    tail: &'a [u8],
    size_line: &'a mut [u8; 20],
    mut put: impl FnMut(usize, IoSlice<'a>),
) -> (usize, usize) {
    let mut i = 0;
    let mut total = 0;
    let mut push = |s: &'a [u8]| {
        put(i, IoSlice::new(s));
        i += 1;
        total += s.len();
    };
    if let Some(h) = head {
        push(h);
    }
    let mut frames = taken.frames.iter();
    // The rest of a chunk a direct write began: it goes first, as is.
    for raw in frames.by_ref().take(usize::from(taken.raw)) {
        push(raw);
    }
    let len: usize = frames.clone().map(Bytes::len).sum();
    if len > 0 {
        push(chunk_size_line(len, size_line));
        for f in frames {
            push(f);
        }
        push(b"\r\n");
    }
    if !tail.is_empty() {
        push(tail);
    }
    (i, total)
}

/// The slow path: writes what `try_write_now` could not, skipping the
/// `skip` bytes it did write.
async fn write_rest(
    sock: &mut TcpStream,
    head: Option<&[u8]>,
    frames: &Taken,
    tail: &[u8],
    skip: usize,
) -> io::Result<()> {
    let mut size_line = [0u8; 20];
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(frames.frames.len() + 4);
    fill_slices(head, frames, tail, &mut size_line, |_, s| slices.push(s));
    let mut rest: &mut [IoSlice<'_>] = &mut slices;
    IoSlice::advance_slices(&mut rest, skip);
    while !rest.is_empty() {
        // At most IOV_MAX (1024 on Linux) slices per call.
        let upto = rest.len().min(1024);
        let n = sock.write_vectored(&rest[..upto]).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut rest, n);
    }
    Ok(())
}

/// hyper serves the rest of the connection, reading `prefix` first. The
/// first request's answer is `first` when the router already produced it.
pub(crate) async fn serve_hyper<S>(
    sock: S,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-subscriber task is the stream task: keep it small
    /// (DESIGN.md budgets under 1 KB of user-space memory per idle
    /// subscriber in all; tokio rounds a task up to 128-byte multiples).
    #[tokio::test]
    async fn stream_task_future_is_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sock = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let ctx = Arc::new(Ctx {
            router: Router::new(),
            shutdown: Shutdown::new(),
            tracker: TaskTracker::new(),
            sweeper: Sweeper::new(),
        });
        let fut = stream_task(
            sock,
            Unpark(Arc::new(Shared::new(
                crate::QueueLimit::default(),
                None,
                None,
                None,
            ))),
            Box::default(),
            BytesMut::new(),
            false,
            ctx,
        );
        let size = std::mem::size_of_val(&fut);
        eprintln!("stream task future: {size} bytes");
        // 400 bytes now. In `bench/compare.sh` a 416-byte future measured
        // 2.01 KB of RSS per idle subscriber and a 448-byte one 2.15 KB
        // (tokio's task cell grows in 128-byte steps), so the bound is
        // 416. It also catches a large future creeping back in (an
        // unboxed hyper connection would be kilobytes).
        assert!(size <= 416, "stream task future is {size} bytes");
    }

    /// A push that finds the writer parked writes to the socket itself; if
    /// the socket takes only part of it, the rest goes out before the next
    /// chunk, and the client reads exactly the frames pushed.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_direct_write_cut_short_is_finished_before_anything_else() {
        use tokio::io::AsyncReadExt;
        // Small buffers on both ends, and a first frame far larger than
        // both: the socket can take only part of it.
        let listening = tokio::net::TcpSocket::new_v4().unwrap();
        listening.set_recv_buffer_size(4096).unwrap();
        listening.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = listening.listen(1).unwrap();
        let connecting = tokio::net::TcpSocket::new_v4().unwrap();
        connecting.set_send_buffer_size(4096).unwrap();
        let mut sender = connecting
            .connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut receiver, _) = listener.accept().await.unwrap();

        let shared = Shared::new(crate::QueueLimit::default(), None, None, None);
        // The writer has written the head and parks.
        assert!(shared
            .take_all(raw_socket(&sender))
            .unwrap()
            .frames
            .is_empty());
        let big: Bytes = (0..1_000_000u32)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<_>>()
            .into();
        shared.push(big.clone(), true).unwrap();
        // The rest of the frame (a slice of it) and the chunk's CRLF.
        let (queued, rest) = shared.queued();
        assert_eq!(queued, 2, "the socket took all of a 1 MB frame");
        assert!(rest > 2 && rest < big.len() + 2, "{rest} bytes left");
        // Not written directly: it waits behind the rest.
        shared
            .push(Bytes::from_static(b"data: next\n\n"), true)
            .unwrap();
        assert_eq!(shared.queued().0, 3);

        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 << 10];
            while !got.ends_with(b"\r\n0\r\n\r\n") {
                let n = receiver.read(&mut buf).await.unwrap();
                assert!(n > 0, "ended early");
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        // The writer wakes, takes both and writes them, then the last chunk.
        let taken = shared.take_all(None).unwrap();
        assert!(taken.raw > 0);
        let rest = write_out(&mut sender, &shared, None, &taken, LAST_CHUNK).unwrap();
        if let Some(rest) = rest {
            assert!(rest.await.unwrap());
        }
        let got = reading.await.unwrap();

        let mut expected = Vec::new();
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
}
