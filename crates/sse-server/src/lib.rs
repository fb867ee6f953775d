//! Server-sent events for axum and hyper, with oak's `sendEvents()` API.
//!
//! ```
//! use axum::{response::IntoResponse, routing::get, Router};
//! use serde_json::json;
//! use sse_server::EventStreamRequest;
//!
//! async fn events(sse: EventStreamRequest) -> impl IntoResponse {
//!     let (target, response) = sse.send_events();
//!     target.dispatch_message(&json!({"hello": "world"})).ok();
//!     tokio::spawn(async move { target.closed().await; println!("client left") });
//!     response
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let app = Router::new().route("/events", get(events));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let addr = listener.local_addr()?;
//! # let server = async move {
//! sse_server::serve(listener, app).await // or axum::serve(listener, app)
//! # };
//! # tokio::spawn(server);
//! # use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # let mut s = tokio::net::TcpStream::connect(addr).await?;
//! # s.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n").await?;
//! # let mut got = Vec::new();
//! # while !got.windows(2).any(|w| w == b"}\n") {
//! #     let mut buf = [0u8; 1024];
//! #     let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf)).await??;
//! #     assert!(n > 0, "closed early");
//! #     got.extend_from_slice(&buf[..n]);
//! # }
//! # let got = String::from_utf8_lossy(&got);
//! # assert!(got.contains("content-type: text/event-stream\r\n"), "{got}");
//! # assert!(got.contains("data: {\"hello\":\"world\"}\n"), "{got}");
//! # Ok(()) }
//! ```
//!
//! # What you get
//! - [`EventStreamRequest`] (an axum extractor, or built from any
//!   `http::Request`): [`accepts_event_stream`](EventStreamRequest::accepts_event_stream),
//!   [`last_event_id`](EventStreamRequest::last_event_id), and
//!   [`send_events`](EventStreamRequest::send_events) /
//!   [`into_builder`](EventStreamRequest::into_builder), which answer 200 with
//!   `Content-Type: text/event-stream`, `Cache-Control: no-cache`,
//!   `X-Accel-Buffering: no` and, on HTTP/1.1 only, `Connection: keep-alive`;
//!   any header can be added or replaced.
//! - [`EventTarget`]: `dispatch_message` (strings as they are, anything
//!   `Serialize` as JSON), `dispatch_event`, `dispatch_comment`,
//!   interceptors that can cancel events, `close().await`, `is_closed()`,
//!   `closed().await`.
//! - [`EventStream`]: the response body, a plain [`http_body::Body`]; it
//!   writes keep-alive comments when idle, so a client that left is
//!   noticed at the latest at the next one.
//! - [`Broadcast`]: a channel with a history ring and `Last-Event-ID`
//!   replay; events are encoded once and shared.
//! - [`EventStreamRequest::stream`] / [`EventStreamBuilder::stream`]: a
//!   response fed by any `Stream<Item = Result<Event, E>>`, axum's idiom.
//! - [`FrameSender`]: push pre-encoded frames into a stream without
//!   waiting (for fan-out code such as a hub).
//! - [`Shutdown`]: end every open stream with a final `retry:`.
//! - [`serve`] (feature `axum`): a drop-in for `axum::serve` whose event
//!   streams cost under 1 KB of user-space memory each.
//!
//! # Migrating from `axum::response::Sse`
//! | axum | sse-server |
//! |---|---|
//! | `Sse::new(stream)` | `request.stream(stream)` (an [`EventStreamRequest`] extractor in the handler) |
//! | `.keep_alive(KeepAlive::new().interval(d))` | `request.into_builder().keep_alive(Some(d)).stream(stream)` (on by default, 15 s) |
//! | `Event::default().event("x").data(d)` (panics on a newline in `event`) | `Event::new().event("x")?.data(d)` (a typed error instead) |
//! | `axum::serve(listener, app)` | [`serve`]`(listener, app)`: the same router, light streams |
//! | `ConnectInfo<SocketAddr>` via `into_make_service_with_connect_info` | always present under [`serve`] |
//!
//! The stream is polled only while the client's queue has room, and
//! dropped when the client leaves; see [`EventStreamRequest::stream`] for a
//! running example. Push-style code (a broadcast, a fan-out) is better
//! served by [`EventStreamRequest::send_events`] and the [`EventTarget`].
//!
//! # Memory bounds
//! Every stream's queue is bounded by a [`QueueLimit`] (default 256 frames
//! or 1 MiB). Nothing between a sender and a socket is unbounded.
//!
//! # Compression
//! `tower-http`'s `CompressionLayer` with its default predicate leaves
//! `text/event-stream` uncompressed, so events pass one by one: keep the
//! default, or include `NotForContentType::SSE` in a custom predicate.
//! Forced compression still delivers events one by one (tower-http 0.6
//! flushes its encoder whenever the stream waits; tested), but costs a
//! compressor per subscriber, and [`serve`] then leaves the stream to hyper.
//!
//! # Features
//! - `axum` (default): the extractor, `IntoResponse`, and [`serve`].
//! - `tls`: `serve_tls` and `load_pem_config`, HTTPS with HTTP/2 and
//!   HTTP/1.1 by ALPN (rustls).

#![deny(missing_docs)]
#![warn(rust_2018_idioms)]

#[cfg(feature = "axum")]
mod axum;
mod body;
mod broadcast;
mod chunked;
mod error;
mod json;
mod queue;
mod request;
#[cfg(feature = "axum")]
mod serve;
mod shutdown;
mod stream;
mod target;
#[cfg(feature = "tls")]
mod tls;

pub use body::EventStream;
pub use broadcast::{Broadcast, Sent, HISTORY_GAP_EVENT};
pub use error::{Error, PushError};
pub use queue::QueueLimit;
pub use request::{
    no_content, EventStreamBuilder, EventStreamRequest, DEFAULT_KEEP_ALIVE, DEFAULT_WRITE_TIMEOUT,
};
#[cfg(feature = "axum")]
pub use serve::{serve, Serve};
pub use shutdown::Shutdown;
pub use sse_wire::{Event, EventId, EventType};
pub use target::{Closed, EventTarget, FrameSender, Verdict};
#[cfg(feature = "tls")]
pub use tls::{load_pem_config, serve_tls, TlsConfigError};

// Handles cross tasks and threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Error>();
    assert_send_sync::<PushError>();
    assert_send_sync::<EventTarget>();
    assert_send_sync::<FrameSender>();
    assert_send_sync::<EventStream>();
    assert_send_sync::<Broadcast>();
    assert_send_sync::<Shutdown>();
};
