//! `serve_tls`: HTTPS with HTTP/2 or HTTP/1.1 chosen by ALPN, against a
//! certificate generated for the test, with real rustls clients.
#![cfg(feature = "tls")]

use std::future::IntoFuture;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sse_server::{Event, EventStreamRequest};
use sse_testkit::tls::SelfSigned;
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(15);

async fn events(req: EventStreamRequest) -> axum::response::Response {
    let (target, response) = req.send_events();
    target
        .dispatch_event(Event::new().id("1").unwrap().data("over tls"))
        .unwrap();
    tokio::spawn(async move {
        let _ = target.close().await;
    });
    axum::response::IntoResponse::into_response(response)
}

type Pki = SelfSigned;

fn pki() -> Pki {
    SelfSigned::new()
}

async fn start(pki: &Pki) -> std::net::SocketAddr {
    let config = sse_server::load_pem_config(&pki.cert_path(), &pki.key_path()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app =
        Router::new().route("/events", get(events)).route(
            "/peer",
            get(
                |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<
                    std::net::SocketAddr,
                >| async move { peer.to_string() },
            ),
        );
    tokio::spawn(sse_server::serve_tls(listener, app, config).into_future());
    addr
}

async fn tls_connect(
    pki: &Pki,
    addr: std::net::SocketAddr,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    pki.connect(addr, alpn).await
}

fn request() -> http::Request<Empty<Bytes>> {
    http::Request::get("https://localhost/events")
        .header("accept", "text/event-stream")
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn http2_is_negotiated_and_events_arrive() {
    let pki = pki();
    let addr = start(&pki).await;
    let tls = tls_connect(&pki, addr, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let response = tokio::time::timeout(WAIT, send.send_request(request()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(
        response.headers().get("connection").is_none(),
        "no Connection header on HTTP/2"
    );
    let body = tokio::time::timeout(WAIT, response.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"id: 1\ndata: over tls\n\n");
}

#[tokio::test]
async fn http1_is_served_when_the_client_offers_only_http1() {
    let pki = pki();
    let addr = start(&pki).await;
    let tls = tls_connect(&pki, addr, &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let response = tokio::time::timeout(WAIT, send.send_request(request()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(response.headers()["connection"], "keep-alive");
    let body = tokio::time::timeout(WAIT, response.into_body().collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"id: 1\ndata: over tls\n\n");
}

#[tokio::test]
async fn handlers_see_the_peer_address_over_tls() {
    let pki = pki();
    let addr = start(&pki).await;
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let tls = tls_connect(&pki, addr, &[alpn]).await;
        let local = tls.get_ref().0.local_addr().unwrap();
        let req = http::Request::get("https://localhost/peer")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = if alpn == b"h2" {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            tokio::time::timeout(WAIT, send.send_request(req)).await
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            tokio::time::timeout(WAIT, send.send_request(req)).await
        }
        .unwrap()
        .unwrap();
        assert_eq!(response.status(), 200);
        let body = tokio::time::timeout(WAIT, response.into_body().collect())
            .await
            .unwrap()
            .unwrap()
            .to_bytes();
        assert_eq!(
            body,
            local.to_string(),
            "over {}",
            String::from_utf8_lossy(alpn)
        );
    }
}

#[test]
fn unreadable_or_mismatched_pem_is_a_clear_error() {
    let pki = pki();
    let missing =
        sse_server::load_pem_config(&pki.dir().join("nope.pem"), &pki.dir().join("key.pem"))
            .unwrap_err();
    assert!(missing.to_string().contains("cannot read"), "{missing}");
    let other = rcgen::generate_simple_self_signed(vec!["x".to_owned()]).unwrap();
    std::fs::write(
        pki.dir().join("other-key.pem"),
        other.key_pair.serialize_pem(),
    )
    .unwrap();
    let mismatch = sse_server::load_pem_config(
        &pki.dir().join("cert.pem"),
        &pki.dir().join("other-key.pem"),
    )
    .unwrap_err();
    assert!(mismatch.to_string().contains("does not fit"), "{mismatch}");
    std::fs::write(pki.dir().join("empty.pem"), "").unwrap();
    let empty =
        sse_server::load_pem_config(&pki.dir().join("empty.pem"), &pki.dir().join("key.pem"))
            .unwrap_err();
    assert!(empty.to_string().contains("no certificate"), "{empty}");
}

/// A 64 KiB (and an 8 MiB) head over TLS (HTTP/1.1) gets hyper's 431, read whole, then
/// the TLS close (issue 18): the server drains what it will not parse
/// instead of closing on it, which made the kernel send RST (the 8 MiB
/// head is still being sent when hyper gives up: it lost the answer).
#[tokio::test]
async fn large_heads_over_tls_get_the_whole_431() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let pki = pki();
    let addr = start(&pki).await;
    let head = |size: usize| {
        format!(
            "GET /events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\
             Authorization: Bearer {}\r\n\r\n",
            "t".repeat(size)
        )
    };
    for size in [64 << 10, 8 << 20].repeat(5) {
        let head = head(size);
        let mut tls = tls_connect(&pki, addr, &[b"http/1.1"]).await;
        tokio::time::timeout(WAIT, tls.write_all(head.as_bytes()))
            .await
            .expect("sent in time")
            .expect("the whole head sent");
        let mut got = Vec::new();
        let read = tokio::time::timeout(WAIT, tls.read_to_end(&mut got))
            .await
            .expect("answered in time");
        let answer = String::from_utf8_lossy(&got);
        read.unwrap_or_else(|e| panic!("{e} after {answer:?}"));
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{answer}"
        );
        assert!(answer.ends_with("\r\n\r\n"), "{answer}");
    }
}
