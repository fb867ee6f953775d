//! Refusals the client can read (issue 18): after an answer the server will
//! not read past (a head too large or malformed, an answer before an
//! unread body), the connection is half-closed and drained before it is
//! closed, so the client reads the whole answer and then the end of the
//! stream, instead of a reset. On the light path (the server's own head
//! reader) and behind hyper (a second request on a connection hyper
//! serves). And transfer codings other than `chunked` alone are refused
//! as RFC 9112 §6 says. Raw TCP over loopback against `serve()`.

mod common;

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use common::{within, Kind, Server};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's drain bound (`serve::linger::LINGER_BYTES`).
const LINGER_BYTES: usize = 16 << 20;

fn router() -> Router {
    Router::new()
        .route("/plain", get(|| async { "plain" }))
        // Answers before reading the body, as a size check on
        // `Content-Length` does.
        .route(
            "/upload",
            post(|| async { (StatusCode::PAYLOAD_TOO_LARGE, "too large, not read\n") }),
        )
        .route(
            "/echo",
            post(|body: Bytes| async move { format!("{} bytes", body.len()) }),
        )
}

/// A stream request whose head is `size` bytes, most of them one header
/// (a token with many topics).
fn big_head(size: usize) -> Vec<u8> {
    let start =
        "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer ";
    let end = "\r\n\r\n";
    let token = "t".repeat(size - start.len() - end.len());
    format!("{start}{token}{end}").into_bytes()
}

async fn connect(addr: SocketAddr) -> TcpStream {
    within("connect", TcpStream::connect(addr)).await.unwrap()
}

/// Sends `raw` in full (the server must take all of it) and reads to the
/// end of the stream (which must be a clean close, not a reset).
async fn send_all_then_read_all(conn: &mut TcpStream, raw: &[u8]) -> String {
    within("sending the request", conn.write_all(raw))
        .await
        .unwrap_or_else(|e| panic!("sending {} bytes: {e}", raw.len()));
    let mut got = Vec::new();
    within("the answer", conn.read_to_end(&mut got))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "reading the answer: {e} after {:?}",
                String::from_utf8_lossy(&got)
            )
        });
    String::from_utf8(got).unwrap()
}

/// Reads one answer with a `content-length` (and nothing after it) from
/// a connection that stays open.
async fn read_one_answer(conn: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = within("an answer", conn.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("a content-length");
            if got.len() >= end + 4 + len {
                return text.into_owned();
            }
        }
    }
}

/// A connection that hyper serves: the light path hands it over with a
/// request it does not take (no `Accept: text/event-stream`); what comes
/// after on it is parsed by hyper.
async fn hyper_connection(addr: SocketAddr) -> TcpStream {
    let mut conn = connect(addr).await;
    conn.write_all(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_one_answer(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nplain"), "{answer}");
    conn
}

/// How many times each exchange is repeated: without the linger, the
/// reset loses the answer in most tries but not in every one.
const TRIES: usize = 20;

#[tokio::test]
async fn a_64_kib_head_gets_the_whole_431_on_the_light_path() {
    let server = Server::start(Kind::Light, router()).await;
    for _ in 0..TRIES {
        let mut conn = connect(server.addr).await;
        let answer = send_all_then_read_all(&mut conn, &big_head(64 << 10)).await;
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{answer}"
        );
        assert!(
            answer.ends_with("\r\n\r\nrequest head too large: at most 16384 bytes\n"),
            "{answer}"
        );
    }
}

/// hyper's own 431 (it has no body: hyper writes it). hyper half-closes
/// before it drops the socket, so a client that has sent everything reads
/// our FIN before the RST; one still sending when hyper gives up (8 MiB:
/// more than the socket buffers take) got the RST, and lost the answer.
#[tokio::test]
async fn large_heads_get_the_whole_431_behind_hyper() {
    let server = Server::start(Kind::Light, router()).await;
    for size in [64 << 10, 8 << 20].repeat(TRIES / 2) {
        let mut conn = hyper_connection(server.addr).await;
        let answer = send_all_then_read_all(&mut conn, &big_head(size)).await;
        assert!(
            answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{answer}"
        );
        assert!(answer.ends_with("\r\n\r\n"), "{answer}");
        assert!(answer.contains("content-length: 0\r\n"), "{answer}");
    }
}

/// A malformed line early in a large head: refused without reading the
/// rest, which the client still sends.
#[tokio::test]
async fn a_malformed_head_gets_the_whole_400_on_both_paths() {
    let server = Server::start(Kind::Light, router()).await;
    let mut raw = b"GET /events HTTP/1.1\r\nBad Header: x\r\n".to_vec();
    raw.extend(std::iter::repeat_n(b"x-filler: yyyyyyyyyyyyyyyyyyyy\r\n", 2000).flatten());
    raw.extend_from_slice(b"\r\n");
    for _ in 0..TRIES {
        let mut conn = connect(server.addr).await;
        let answer = send_all_then_read_all(&mut conn, &raw).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(
            answer.ends_with("\r\n\r\nmalformed request head: invalid header name\n"),
            "{answer}"
        );

        let mut conn = hyper_connection(server.addr).await;
        let answer = send_all_then_read_all(&mut conn, &raw).await;
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
    }
}

/// An 8 MiB body the route answers 413 to without reading: the client
/// sends all of it, then reads the 413.
#[tokio::test]
async fn a_413_before_an_announced_body_is_read_whole() {
    let server = Server::start(Kind::Light, router()).await;
    let body = vec![b'b'; 8 << 20];
    let mut raw = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    for _ in 0..TRIES / 4 {
        let mut conn = connect(server.addr).await;
        let answer = send_all_then_read_all(&mut conn, &raw).await;
        assert!(
            answer.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
            "{answer}"
        );
        assert!(
            answer.ends_with("\r\n\r\ntoo large, not read\n"),
            "{answer}"
        );
    }
}

/// RFC 9112 §6.1: a transfer coding the server does not know is a 501;
/// §6.3: `chunked` not last is a 400. hyper alone takes any list ending
/// in `chunked` as chunked and would hand the body on still coded.
#[tokio::test]
async fn unknown_transfer_codings_are_answered_501() {
    let server = Server::start(Kind::Light, router()).await;
    let body = "5\r\nhello\r\n0\r\n\r\n";
    let request = |coding: &str| {
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\n\r\n{body}")
            .into_bytes()
    };
    let cases = [
        ("identity, chunked", "HTTP/1.1 501 Not Implemented\r\n"),
        ("gzip, chunked", "HTTP/1.1 501 Not Implemented\r\n"),
        ("foo", "HTTP/1.1 400 Bad Request\r\n"),
        ("chunked, chunked", "HTTP/1.1 400 Bad Request\r\n"),
        ("chunked", "HTTP/1.1 200 OK\r\n"),
    ];
    for (coding, status) in cases {
        for path in ["light", "hyper"] {
            let mut conn = match path {
                "light" => connect(server.addr).await,
                _ => hyper_connection(server.addr).await,
            };
            conn.write_all(&request(coding)).await.unwrap();
            let answer = read_one_answer(&mut conn).await;
            assert!(answer.starts_with(status), "{coding} ({path}): {answer}");
            if status.contains("501") {
                assert!(
                    answer.ends_with("transfer coding not implemented: only a body coded with `chunked` alone is accepted\n"),
                    "{coding} ({path}): {answer}"
                );
            }
            if status.contains("200") {
                assert!(answer.ends_with("\r\n\r\n5 bytes"), "{answer}");
            }
        }
    }
}

/// RFC 9112 §6.3: with both `Transfer-Encoding` and `Content-Length`, the
/// transfer coding wins and the server closes after answering.
#[tokio::test]
async fn transfer_encoding_overrides_content_length_and_closes() {
    let server = Server::start(Kind::Light, router()).await;
    let raw = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\
               Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    for path in ["light", "hyper"] {
        let mut conn = match path {
            "light" => connect(server.addr).await,
            _ => hyper_connection(server.addr).await,
        };
        // No half-close: the server closes by itself.
        let answer = send_all_then_read_all(&mut conn, raw.as_bytes()).await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n"),
            "{path}: {answer}"
        );
        assert!(answer.ends_with("\r\n\r\n5 bytes"), "{path}: {answer}");
    }
}

/// A client that goes on sending after a refusal is cut once the server
/// has drained its byte bound: the drain is bounded in bytes (and in time,
/// which this test does not wait for).
#[tokio::test]
async fn a_client_that_keeps_sending_after_a_refusal_is_cut() {
    let server = Server::start(Kind::Light, router()).await;
    let mut conn = connect(server.addr).await;
    let head = big_head(64 << 10);
    conn.write_all(&head).await.unwrap();
    // The refusal arrives whole, then our side's end (a half-close).
    let mut got = Vec::new();
    within("the 431", conn.read_to_end(&mut got)).await.unwrap();
    assert!(got.starts_with(b"HTTP/1.1 431 "));
    // Whatever the socket buffers hold on both sides (at most 4 MiB to
    // send and 32 MiB to receive on Linux's defaults) comes on top.
    let slack = 40 << 20;
    let chunk = vec![b'z'; 64 << 10];
    let mut sent = head.len();
    let cut = within("the cut", async {
        while sent < LINGER_BYTES + slack {
            match conn.write(&chunk).await {
                Ok(n) => sent += n,
                Err(e) => return Some(e),
            }
        }
        None
    })
    .await;
    let Some(e) = cut else {
        panic!("still sending after {sent} bytes");
    };
    eprintln!("cut after {sent} bytes: {e}");
}
