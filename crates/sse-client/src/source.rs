//! The event source: drives the reconnect state machine, the connection and
//! the decoder from its own `poll_next`, in the consumer's task.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_util::task::AtomicWaker;
use http::Uri;
use http_body::Body;
use sse_wire::{Decoder, Frame};
use tokio::time::{Instant, Sleep};

use crate::builder::{Builder, Config};
use crate::connect::{self, Opened};
use crate::cookie::CookieJar;
use crate::error::{Error, Kind};
use crate::reconnect::{Action, Disconnect, IdleCheck, IdleTimer, Reconnect};
use crate::{Event, ReadyState, Response};

type OpenFuture = Pin<Box<dyn Future<Output = Result<(Response, Opened), Error>> + Send>>;

/// A WHATWG `EventSource`: a [`Stream`] of [`Event`]s that connects,
/// reconnects and resumes by itself.
///
/// It does its work while polled (there is no background task): the first
/// poll connects, and a source nobody polls holds its connection without
/// reading it (TCP flow control then stops the server). Dropping it, or
/// [`close`](EventSource::close), closes the connection at once.
///
/// The stream ends (yields `None`) after the source is closed: by
/// `close()`, by a [`CloseHandle`], or after an [`Event::Error`] with
/// `will_reconnect: false`.
///
/// # Memory
/// Per source, bounded by: the decoder's [`Limits`](sse_wire::Limits)
/// (`max_line` + `max_event`, plus one received chunk), hyper's HTTP/1 read
/// buffer (at most 64 KiB) or, over HTTP/2, a 256 KiB flow-control window,
/// at most 64 cookies of at most 4 KiB when
/// [`with_credentials`](Builder::with_credentials) is on, the head of the
/// latest response for [`response`](EventSource::response) (bounded like
/// any response head: 64 KiB over HTTP/1, a 64 KiB header list over
/// HTTP/2; about 0.7 KB for a typical one), a proxy's `CONNECT` answer
/// while a tunnel opens (at most 16 KiB), and one event handed out at a
/// time (there is no queue).
#[must_use = "an EventSource does nothing unless its stream is polled"]
pub struct EventSource {
    config: Arc<Config>,
    machine: Reconnect,
    decoder: Decoder,
    state: State,
    shared: Arc<Shared>,
    jar: Option<Arc<Mutex<CookieJar>>>,
    /// Connection attempts started so far.
    attempts: u64,
    /// The head of the response that opened the latest connection.
    response: Option<Box<Response>>,
}

/// What a [`CloseHandle`] shares with its source. The waker is that of the
/// task polling the source, so a close from elsewhere takes effect at once.
#[derive(Debug, Default)]
struct Shared {
    closed: AtomicBool,
    waker: AtomicWaker,
}

enum State {
    /// Created; connects on the first poll.
    Start,
    Waiting(Pin<Box<Sleep>>),
    Connecting(OpenFuture),
    Open(Box<Live>),
    Closed,
}

/// An open stream. Boxed so the idle `State` variants stay small.
struct Live {
    opened: Opened,
    /// Only with an idle timeout: the rule, and the one timer that wakes
    /// the source to apply it.
    idle: Option<(IdleTimer, Pin<Box<Sleep>>)>,
}

/// Closes an [`EventSource`] from anywhere (another task, a signal
/// handler). Cheap to clone.
#[derive(Clone, Debug)]
pub struct CloseHandle(Arc<Shared>);

impl CloseHandle {
    /// Closes the source: its stream ends and its connection is dropped the
    /// next time it is polled, which this call triggers.
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.waker.wake();
    }

    /// Whether the source was closed through a handle or by its owner.
    pub fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Acquire)
    }
}

impl std::fmt::Debug for EventSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSource")
            .field("url", &self.config.url)
            .field("ready_state", &self.ready_state())
            .field("last_event_id", &self.last_event_id())
            .finish_non_exhaustive()
    }
}

impl EventSource {
    /// An event source for `url` with the browser's defaults.
    ///
    /// # Errors
    /// [`Error::is_builder`] when `url` is not an absolute `http` or `https`
    /// URL.
    pub fn new(url: &str) -> Result<EventSource, Error> {
        Builder::new(url).build()
    }

    /// A builder for an event source with more than the defaults.
    pub fn builder(url: &str) -> Builder {
        Builder::new(url)
    }

    pub(crate) fn from_config(config: Arc<Config>) -> Self {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let decoder =
            Decoder::with_limits(config.limits).with_last_event_id(config.last_event_id.as_str());
        EventSource {
            machine: Reconnect::new(config.policy.clone(), seed),
            decoder,
            state: State::Start,
            shared: Arc::default(),
            jar: config.credentials.then(Arc::default),
            attempts: 0,
            response: None,
            config,
        }
    }

    /// The URL given to the builder (reconnects go there again, even after
    /// a redirect, as in browsers).
    pub fn url(&self) -> &Uri {
        &self.config.url
    }

    /// The status and headers of the response that opened the latest
    /// connection: set at each [`Event::Open`], kept after the connection
    /// ends until the next one opens. `None` before the first open.
    ///
    /// ```no_run
    /// # async fn f(mut source: sse_client::EventSource) {
    /// use futures_util::StreamExt;
    /// use sse_client::Event;
    /// while let Some(event) = source.next().await {
    ///     if let Event::Open = event {
    ///         let head = source.response().expect("set at each open");
    ///         if head.headers().get("mercure-last-event-id").is_some_and(|v| v == "earliest") {
    ///             // The hub no longer has the history asked for: refetch the state.
    ///         }
    ///     }
    /// }
    /// # }
    /// ```
    pub fn response(&self) -> Option<&Response> {
        self.response.as_deref()
    }

    /// Connecting (or waiting to reconnect), open, or closed.
    pub fn ready_state(&self) -> ReadyState {
        match self.state {
            _ if self.shared.closed.load(Ordering::Acquire) => ReadyState::Closed,
            State::Closed => ReadyState::Closed,
            State::Open(_) => ReadyState::Open,
            State::Start | State::Waiting(_) | State::Connecting(_) => ReadyState::Connecting,
        }
    }

    /// The last event ID: what the next reconnect sends as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        self.decoder.last_event_id()
    }

    /// The reconnection time now in force (the server's last `retry:`).
    pub fn retry(&self) -> std::time::Duration {
        self.machine.retry()
    }

    /// Closes the source for good: the connection is dropped now and the
    /// stream ends. No event is emitted, as in browsers.
    pub fn close(&mut self) {
        self.machine.close();
        self.state = State::Closed;
        self.shared.closed.store(true, Ordering::Release);
    }

    /// A handle that closes this source from elsewhere.
    pub fn close_handle(&self) -> CloseHandle {
        CloseHandle(self.shared.clone())
    }

    fn connect(&mut self) {
        self.machine.on_connect(Instant::now().into_std());
        let fut = connect::open(
            self.config.clone(),
            self.jar.clone(),
            self.decoder.last_event_id().clone(),
            self.attempts,
        );
        self.attempts += 1;
        self.state = State::Connecting(Box::pin(fut));
    }

    /// A connection or attempt ended: decide with the state machine, and
    /// report it as an error event.
    fn disconnect(&mut self, error: Error, why: Disconnect) -> Event {
        // The decoder keeps the last event ID for the next connection and
        // drops any half-received event, as the standard says.
        self.decoder.finish();
        let now = Instant::now();
        match self.machine.on_disconnect(now.into_std(), why) {
            Action::Reconnect { at, delay } => {
                tracing::debug!(error = %error, ?delay, "event source reconnecting");
                self.state =
                    State::Waiting(Box::pin(tokio::time::sleep_until(Instant::from_std(at))));
                Event::Error {
                    error,
                    will_reconnect: true,
                }
            }
            Action::Close => {
                tracing::debug!(error = %error, "event source closed");
                self.state = State::Closed;
                Event::Error {
                    error,
                    will_reconnect: false,
                }
            }
        }
    }
}

fn cause(error: &Error) -> Disconnect {
    match error.kind() {
        Kind::NoContent => Disconnect::NoContent,
        // A proxy refusing the tunnel is judged like the server's own
        // status: for a plain http:// URL the two cannot be told apart.
        Kind::Status(s) | Kind::ProxyStatus(s) => Disconnect::Status(s.as_u16()),
        Kind::Connect(_)
        | Kind::ProxyConnect(_)
        | Kind::Proxy(_)
        | Kind::Hook
        | Kind::Tls(_)
        | Kind::Http
        | Kind::ConnectTimeout(_)
        | Kind::IdleTimeout(_)
        | Kind::Decode => Disconnect::Network,
        Kind::Eof => Disconnect::Eof,
        Kind::Builder(_)
        | Kind::ContentType(_)
        | Kind::TooManyRedirects(_)
        | Kind::Redirect(_)
        | Kind::Json => Disconnect::Fatal,
    }
}

/// What one look at the open stream found, computed while it is borrowed.
enum Step {
    Yield(Event),
    Again,
    Fail(Error),
    Pending,
}

impl Stream for EventSource {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        loop {
            if this.shared.closed.load(Ordering::Acquire) && !matches!(this.state, State::Closed) {
                this.close();
            }
            let step = match &mut this.state {
                State::Closed => return Poll::Ready(None),
                State::Start => {
                    this.connect();
                    Step::Again
                }
                State::Waiting(sleep) => match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.connect();
                        Step::Again
                    }
                    Poll::Pending => Step::Pending,
                },
                State::Connecting(fut) => match fut.as_mut().poll(cx) {
                    Poll::Ready(Ok((head, opened))) => {
                        this.response = Some(Box::new(head));
                        let now = Instant::now();
                        this.machine.on_open(now.into_std());
                        let idle = this.config.idle_timeout.map(|limit| {
                            let timer = IdleTimer::new(limit, now.into_std());
                            let sleep =
                                tokio::time::sleep_until(Instant::from_std(timer.deadline()));
                            (timer, Box::pin(sleep))
                        });
                        this.state = State::Open(Box::new(Live { opened, idle }));
                        Step::Yield(Event::Open)
                    }
                    Poll::Ready(Err(e)) => Step::Fail(e),
                    Poll::Pending => Step::Pending,
                },
                State::Open(open) => poll_open(
                    open,
                    &mut this.decoder,
                    &mut this.machine,
                    this.config.comments,
                    cx,
                ),
            };
            match step {
                Step::Yield(ev) => return Poll::Ready(Some(ev)),
                Step::Again => {}
                Step::Fail(error) => {
                    let why = cause(&error);
                    return Poll::Ready(Some(this.disconnect(error, why)));
                }
                Step::Pending => {
                    // Register for a close from a handle, then look again so
                    // a close racing with the registration is not missed.
                    this.shared.waker.register(cx.waker());
                    if !this.shared.closed.load(Ordering::Acquire) {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

fn poll_open(
    open: &mut Live,
    decoder: &mut Decoder,
    machine: &mut Reconnect,
    comments: bool,
    cx: &mut Context<'_>,
) -> Step {
    // Frames already buffered come first: the decoder holds at most what
    // one chunk completed.
    loop {
        match decoder.next_frame() {
            Ok(Some(Frame::Message(m))) => {
                machine.on_message();
                return Step::Yield(Event::Message(m.into()));
            }
            Ok(Some(Frame::Retry(d))) => machine.on_retry(d),
            Ok(Some(Frame::Comment(text))) if comments => {
                return Step::Yield(Event::Comment(text));
            }
            Ok(Some(_)) => {} // comments (keep-alives) and future frame kinds
            Ok(None) => break,
            Err(e) => return Step::Fail(Error::with(Kind::Decode, e)),
        }
    }
    if let Some(conn) = &mut open.opened.conn {
        // The connection's result also reaches the body, which reports it.
        if conn.as_mut().poll(cx).is_ready() {
            open.opened.conn = None;
        }
    }
    match Pin::new(&mut open.opened.body).poll_frame(cx) {
        Poll::Ready(Some(Ok(frame))) => {
            if let Ok(data) = frame.into_data() {
                if !data.is_empty() {
                    if let Some((timer, _)) = &mut open.idle {
                        timer.on_bytes(Instant::now().into_std());
                    }
                    decoder.push(&data);
                }
            }
            Step::Again
        }
        Poll::Ready(Some(Err(e))) => Step::Fail(Error::with(Kind::Http, e)),
        Poll::Ready(None) => Step::Fail(Error::new(Kind::Eof)),
        Poll::Pending => {
            let Some((timer, sleep)) = &mut open.idle else {
                return Step::Pending;
            };
            // The timer is re-armed lazily: bytes only move the idle
            // timer's timestamp, and the sleep, when it fires early, is
            // pushed to the real deadline.
            loop {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Step::Pending;
                }
                match timer.check(Instant::now().into_std()) {
                    IdleCheck::Expired => {
                        return Step::Fail(Error::new(Kind::IdleTimeout(timer.limit())))
                    }
                    IdleCheck::WaitUntil(at) => sleep.as_mut().reset(Instant::from_std(at)),
                }
            }
        }
    }
}
