//! A connection until a request is answered with one of our streams:
//! which requests the light path takes, calling the router, and the
//! takeover of a response that is one of our event streams.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use axum::Router;
use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Version};
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::head::{read_head, HeadError, Refusal, MAX_HEADERS};
use super::{fallback, linger, writer, Ctx};
use crate::queue::Shared;
use crate::request::StreamMarker;
use crate::Shutdown;

/// Starts serving a connection (again, after a stream ended cleanly) from
/// the bytes already read. A plain function, not `async`, so that
/// [`connection`] and the stream task, which start each other, do not
/// form a cycle of future types.
pub(crate) fn spawn_connection(sock: TcpStream, ctx: Arc<Ctx>, pending: BytesMut) {
    let tracker = ctx.tracker.clone();
    tracker.spawn(connection(sock, ctx, pending));
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
    /// A head we refuse: answer, then linger (see [`linger`]) and close.
    Refused(Refusal),
    /// The connection ended, or the server is shutting down.
    Done,
}

/// One connection until a request is answered with one of our streams;
/// then a separate, smaller task writes the stream (see [`writer`]).
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
            // From here the stream's queue owns the socket.
            shared.attach(sock, Bytes::from(head));
            let task = writer::stream_task(shared, pending, close_after, ctx.clone());
            ctx.tracker.spawn(task);
        }
        Routed::Hyper(handover) => {
            let (prefix, response) = *handover;
            let (router, shutdown) = (ctx.router.clone(), ctx.shutdown.clone());
            drop(ctx);
            let peer = sock.peer_addr().ok();
            Box::pin(fallback::serve_hyper(
                sock, peer, prefix, router, shutdown, response,
            ))
            .await;
        }
        Routed::Refused(refusal) => {
            // Boxed: the drain's state is not part of every connection's.
            let answer = refusal.response();
            Box::pin(linger::linger(sock, answer.as_bytes(), &ctx.shutdown)).await;
        }
        Routed::Done => {}
    }
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
        Err(HeadError::Refused(refusal)) => return Routed::Refused(refusal),
    };
    let peer = sock.peer_addr().ok();
    let Some(request) = light_request(&pending[..head_len], shutdown, peer) else {
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
            // The body must not treat its drop as the client leaving: the
            // light path goes on writing the stream.
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

/// Builds the request for the router when the head is a light-path
/// candidate: an HTTP/1.1 `GET` with no body and no upgrade, accepting
/// `text/event-stream`.
fn light_request(
    head: &[u8],
    shutdown: &Shutdown,
    peer: Option<SocketAddr>,
) -> Option<Request<Body>> {
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
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
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
