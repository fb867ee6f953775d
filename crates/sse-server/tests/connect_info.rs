//! `ConnectInfo<SocketAddr>` reaches handlers on every path of `serve`: the
//! light path, hyper over HTTP/1.1 and h2c (TLS is in tests/tls.rs), and, as
//! a control, `axum::serve` with `into_make_service_with_connect_info`.

mod common;

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use common::{within, Kind, Server};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sse_server::{Event, EventStreamRequest};
use tokio::net::TcpStream;

both!(
    a_stream_handler_sees_the_peer_address,
    a_plain_handler_sees_the_peer_address,
);

/// Answers with the peer's address: as one event to an event-stream
/// request (the light path's, under `sse_server::serve`), as text otherwise.
async fn peer(ConnectInfo(addr): ConnectInfo<SocketAddr>, sse: EventStreamRequest) -> Response {
    if !sse.accepts_event_stream() {
        return addr.to_string().into_response();
    }
    let (target, response) = sse.send_events();
    let _ = target.dispatch_event(Event::new().data(addr.to_string()));
    // Dropping the last target ends the stream once the event is written.
    drop(target);
    response.into_response()
}

fn app() -> Router {
    Router::new().route("/peer", get(peer))
}

/// Sends one GET over a fresh HTTP/1.1 (or h2c) connection; returns the
/// connection's local address, the status and the whole body.
async fn fetch(addr: SocketAddr, accept_events: bool, h2: bool) -> (SocketAddr, u16, Bytes) {
    let tcp = within("connect", TcpStream::connect(addr)).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let mut req =
        http::Request::get(format!("http://{addr}/peer")).header("host", addr.to_string());
    let accept = if accept_events {
        "text/event-stream"
    } else {
        "text/plain"
    };
    req = req.header("accept", accept);
    let req = req.body(http_body_util::Empty::<Bytes>::new()).unwrap();
    let response = if h2 {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        within("response", send.send_request(req)).await.unwrap()
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        within("response", send.send_request(req)).await.unwrap()
    };
    let status = response.status().as_u16();
    let body = within("body", response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    (local, status, body)
}

async fn a_stream_handler_sees_the_peer_address(kind: Kind) {
    let server = Server::start(kind, app()).await;
    let (local, status, body) = fetch(server.addr, true, false).await;
    assert_eq!(status, 200);
    assert_eq!(body, format!("data: {local}\n\n"));
    // HTTP/2 streams are hyper's on both servers.
    let (local, status, body) = fetch(server.addr, true, true).await;
    assert_eq!(status, 200);
    assert_eq!(body, format!("data: {local}\n\n"));
}

async fn a_plain_handler_sees_the_peer_address(kind: Kind) {
    let server = Server::start(kind, app()).await;
    let (local, status, body) = fetch(server.addr, false, false).await;
    assert_eq!(status, 200);
    assert_eq!(body, local.to_string());
}
