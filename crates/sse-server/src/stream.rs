//! Event streams from a `Stream` of events: axum's `Sse::new(stream)`
//! idiom, on both of [`serve`](crate::serve)'s paths.

use std::fmt::Display;

use futures_util::{Stream, StreamExt};
use http::Response;

use crate::{Error, Event, EventStream, EventStreamBuilder, EventStreamRequest, EventTarget};

impl EventStreamRequest {
    /// Answers with the events of `events`, like axum's
    /// `Sse::new(events)`, with this crate's defaults (keep-alive every
    /// 15 s, write timeout, bounded queue). Use
    /// [`into_builder`](Self::into_builder)`.`[`stream`](EventStreamBuilder::stream)
    /// to change them or add headers.
    ///
    /// The stream is polled by a task of its own, and only when the
    /// response's queue has room, so a slow client slows the stream down
    /// instead of filling memory (the backpressure axum's `Sse` gets from
    /// polling the stream in the body). The response ends when the stream
    /// ends or yields an error (logged at `warn`; the events before it are
    /// all written); the stream is dropped as soon as the client leaves.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    /// use axum::{response::IntoResponse, routing::get, Router};
    /// use futures_util::{stream, StreamExt};
    /// use sse_server::{Event, EventStreamRequest};
    ///
    /// // With axum: `Sse::new(events).keep_alive(KeepAlive::default())`.
    /// async fn ticks(sse: EventStreamRequest) -> impl IntoResponse {
    ///     let events = stream::iter(1..=3)
    ///         .map(|n| Event::new().event("tick").map(|e| e.data(n.to_string())));
    ///     sse.into_builder()
    ///         .keep_alive(Some(Duration::from_secs(15)))
    ///         .stream(events)
    ///         .map_err(|e| e.to_string())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let app = Router::new().route("/ticks", get(ticks));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let addr = listener.local_addr()?;
    /// tokio::spawn(async move { sse_server::serve(listener, app).await });
    /// # use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// # let mut s = tokio::net::TcpStream::connect(addr).await?;
    /// # s.write_all(b"GET /ticks HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n").await?;
    /// # let mut got = Vec::new();
    /// # while !got.ends_with(b"0\r\n\r\n") {
    /// #     let mut buf = [0u8; 1024];
    /// #     let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await??;
    /// #     assert!(n > 0, "closed early");
    /// #     got.extend_from_slice(&buf[..n]);
    /// # }
    /// # let got = String::from_utf8_lossy(&got);
    /// # assert!(got.contains("event: tick\ndata: 3\n\n"), "{got}");
    /// # let _: Option<Infallible> = None;
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// Outside a Tokio runtime (an axum handler always runs inside one).
    pub fn stream<S, E>(self, events: S) -> Response<EventStream>
    where
        S: Stream<Item = Result<Event, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let (target, response) = self.send_events();
        drive(target, events);
        response
    }
}

impl EventStreamBuilder {
    /// Builds the response and feeds it the events of `events` (see
    /// [`EventStreamRequest::stream`]).
    ///
    /// # Errors
    /// When a header given to [`header`](EventStreamBuilder::header) was
    /// invalid.
    ///
    /// # Panics
    /// Outside a Tokio runtime (an axum handler always runs inside one).
    pub fn stream<S, E>(self, events: S) -> Result<Response<EventStream>, Error>
    where
        S: Stream<Item = Result<Event, E>> + Send + 'static,
        E: Display + Send + 'static,
    {
        let (target, response) = self.build()?;
        drive(target, events);
        Ok(response)
    }
}

/// Moves events from `events` into `target` while the client is there.
/// Dropping the target at the end closes the stream gracefully.
fn drive<S, E>(target: EventTarget, events: S)
where
    S: Stream<Item = Result<Event, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        loop {
            // Room first, then the next event: a slow client holds the
            // stream back rather than queueing without end.
            let next = tokio::select! {
                biased;
                () = target.closed() => return,
                next = async {
                    target.writable().await.ok()?;
                    events.next().await
                } => next,
            };
            match next {
                Some(Ok(event)) => {
                    if target.dispatch_event(event).is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "event stream ended with an error");
                    return;
                }
                None => return,
            }
        }
    });
}
