//! A complete WHATWG `EventSource` for Rust, plus what browsers cannot do.
//!
//! ```
//! use futures_util::StreamExt;
//! use sse_client::{Event, EventSource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let url = doc_server().await?;
//! let mut source = EventSource::new(&url)?;
//! while let Some(event) = source.next().await {
//!     match event {
//!         Event::Open => println!("connected to {}", source.url()),
//!         Event::Message(m) if m.data == "bye" => source.close(),
//!         Event::Message(m) => println!("{} #{}: {}", m.event_type, m.id, m.data),
//!         Event::Error { error, will_reconnect } => eprintln!("{error} (reconnect: {will_reconnect})"),
//!         _ => {}
//!     }
//! }
//! assert_eq!(source.last_event_id(), "2");
//! # Ok(()) }
//! # // A tiny server on loopback, so the example runs as a test.
//! # async fn doc_server() -> std::io::Result<String> {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! #     let url = format!("http://{}/events", listener.local_addr()?);
//! #     tokio::spawn(async move {
//! #         let (mut socket, _) = listener.accept().await?;
//! #         let mut head = [0u8; 4096];
//! #         let _ = socket.read(&mut head).await?;
//! #         socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n\
//! #             id: 1\ndata: hello\n\nid: 2\nevent: greeting\ndata: world\n\ndata: bye\n\n").await?;
//! #         socket.read(&mut head).await // hold the connection until the client leaves
//! #     });
//! #     Ok(url)
//! # }
//! ```
//!
//! # What it does, as browsers do
//! - Every request sends `Accept: text/event-stream` and `Cache-Control:
//!   no-cache`, and `Last-Event-ID` when (and only when) the last event ID
//!   is non-empty, on every reconnect.
//! - Redirects 301, 302, 303, 307 and 308 are followed up to a limit (20);
//!   303, and 301/302 after a POST, continue as GET, as fetch does.
//! - 200 with a `text/event-stream` content type (parameters allowed, any
//!   case) opens the stream. 204 closes the source for good. Any other
//!   status or content type fails it without reconnecting.
//! - A network error or the end of the response reconnects after the
//!   reconnection time, which `retry:` sets and which persists across
//!   connections. [`EventSource::close`] stops everything at once.
//! - With [`Builder::with_credentials`], cookies the server sets are sent
//!   back on every reconnect.
//!
//! # What browsers cannot do
//! Custom method, headers and body; an initial last event ID; exponential
//! backoff with jitter and a cap after repeated failures (the server's
//! `retry:` stays the minimum); opt-in retries of chosen statuses such as
//! 502 and 503; an idle timeout that treats a silent connection as dead; a
//! connect timeout; TLS with rustls; HTTP/2; size limits on lines and events
//! so a hostile server cannot make the client use unbounded memory; typed
//! JSON data with [`Message::json`].
//!
//! # For the APIs people consume
//! - [`EventSource::response`]: the status and headers of each open
//!   (`Mercure-Last-Event-ID: earliest`, rate limits, request IDs).
//! - [`Builder::before_connect`]: an async hook before every attempt that
//!   sets headers, such as a fresh bearer token.
//! - [`Proxy`]: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`
//!   by default, or an explicit proxy; `https://` through `CONNECT`.
//! - [`Builder::add_root_certificates_pem`] for a private CA.
//! - [`Builder::comments`]: keep-alive comments as [`Event::Comment`].
//! - [`Publisher`]: publishes [`Update`]s to a Mercure hub (a token, or a
//!   key that signs one), with a connection pool, the same TLS and proxy
//!   options, and typed errors for 401, 403, 413 and 503 ([`publish`]).
//! - POST streaming APIs: a non-idempotent request is never sent twice
//!   unless [`ReconnectPolicy::reconnect_non_idempotent`] allows it (see
//!   `examples/llm_stream.rs`).
//!
//! # Design
//! The reconnect rules are a pure state machine ([`reconnect::Reconnect`]):
//! it takes the time and what happened, and returns what to do, so every
//! timing rule is unit-tested without sleeping. The parsing is `sse-wire`'s
//! [`Decoder`](sse_wire::Decoder). [`EventSource`] only drives them, inside
//! its own `poll_next`: no background task, no channel, so a received
//! chunk goes from hyper to the decoder to the consumer in one task.

#![deny(missing_docs, unsafe_code)]
#![warn(rust_2018_idioms)]

mod builder;
mod connect;
mod cookie;
mod error;
mod event;
mod hook;
mod proxy;
pub mod publish;
pub mod reconnect;
mod response;
mod source;
mod tls;

pub use builder::Builder;
pub use error::Error;
pub use event::{Event, Message, ReadyState};
pub use hook::Attempt;
pub use proxy::Proxy;
pub use publish::{HmacAlgorithm, PublishError, Publisher, PublisherBuilder, Update};
pub use reconnect::ReconnectPolicy;
pub use response::Response;
pub use source::{CloseHandle, EventSource};
pub use sse_wire::{Limits, Text};

/// The `http` crate this one uses (for [`Builder::method`],
/// [`Builder::headers`] and [`EventSource::url`]).
pub use http;
/// The `rustls` crate this one uses (for [`Builder::tls_config`] and
/// [`Builder::add_root_certificate`]).
pub use rustls;

// The source moves between threads in multi-threaded runtimes; errors
// cross threads everywhere.
const _: () = {
    const fn assert_send<T: Send>() {}
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<EventSource>();
    assert_send::<Event>();
    assert_send_sync::<Error>();
    assert_send_sync::<CloseHandle>();
    assert_send_sync::<Message>();
    assert_send_sync::<Response>();
    assert_send_sync::<Proxy>();
    assert_send_sync::<Attempt>();
    assert_send_sync::<Publisher>();
    assert_send_sync::<PublishError>();
    assert_send_sync::<Update>();
};
