//! The event target and its response over real HTTP, through both
//! `axum::serve` and `sse_server::serve`.

mod common;

use std::time::Duration;

use common::{get, get_h2, target_router, within, Kind, Server};
use sse_server::{Event, Verdict};

both!(
    default_headers_on_http11,
    headers_can_be_added_and_overridden,
    http2_has_no_connection_header,
    exact_bytes_then_close_flushes_and_ends,
    interceptor_sees_events_and_can_cancel,
    keep_alive_when_idle_and_disconnect_noticed,
    no_content_answer,
    shutdown_sends_retry_and_ends_streams,
    events_arrive_one_by_one,
    connection_serves_a_second_request_after_a_stream,
    light_path_takes_over_http11_streams_only,
    http2_streams_end_at_shutdown_too,
    write_timeout_ends_a_stream_whose_client_stopped_reading,
    a_slow_reader_gets_every_byte_in_order,
);

async fn default_headers_on_http11(kind: Kind) {
    let (router, mut targets) = target_router(|b| b);
    let server = Server::start(kind, router).await;
    let s = get(server.addr, "/events", &[]).await;
    let _target = within("target", targets.recv()).await.unwrap();
    assert_eq!(s.status, 200);
    assert_eq!(s.version, http::Version::HTTP_11);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    assert_eq!(s.header("cache-control"), Some("no-cache"));
    assert_eq!(s.header("x-accel-buffering"), Some("no"));
    assert_eq!(s.header("connection"), Some("keep-alive"));
    assert_eq!(s.header("transfer-encoding"), Some("chunked"));
    assert_eq!(s.header("content-length"), None);
}

async fn headers_can_be_added_and_overridden(kind: Kind) {
    let (router, mut targets) = target_router(|b| {
        b.header("cache-control", "no-store")
            .header("x-custom", "one")
            .header("x-custom", "two")
    });
    let server = Server::start(kind, router).await;
    let s = get(server.addr, "/events", &[]).await;
    let _target = within("target", targets.recv()).await.unwrap();
    let cc: Vec<_> = s.headers.get_all("cache-control").iter().collect();
    assert_eq!(cc, ["no-store"]);
    let custom: Vec<_> = s.headers.get_all("x-custom").iter().collect();
    assert_eq!(custom, ["one", "two"]);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
}

async fn http2_has_no_connection_header(kind: Kind) {
    let (router, mut targets) = target_router(|b| b);
    let server = Server::start(kind, router).await;
    let mut s = get_h2(server.addr, "/events").await;
    let target = within("target", targets.recv()).await.unwrap();
    assert_eq!(s.version, http::Version::HTTP_2);
    assert_eq!(s.status, 200);
    assert_eq!(s.header("connection"), None);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    assert_eq!(s.header("cache-control"), Some("no-cache"));
    assert_eq!(s.header("x-accel-buffering"), Some("no"));
    target.dispatch_message("over h2").unwrap();
    assert_eq!(s.read_until(b"\n\n").await, b"data: over h2\n\n");
}

async fn exact_bytes_then_close_flushes_and_ends(kind: Kind) {
    let (router, mut targets) = target_router(|b| b.retry(Duration::from_secs(3)));
    let server = Server::start(kind, router).await;
    let mut s = get(server.addr, "/events", &[]).await;
    let target = within("target", targets.recv()).await.unwrap();
    assert!(target.dispatch_message("hello\nworld").unwrap());
    assert!(target
        .dispatch_message(&serde_json::json!({"hello": "world"}))
        .unwrap());
    let ping = Event::new()
        .event("ping")
        .unwrap()
        .id("1")
        .unwrap()
        .retry(Duration::from_millis(2500))
        .json_data(&serde_json::json!({"n": 1}))
        .unwrap();
    assert!(target.dispatch_event(ping).unwrap());
    target.dispatch_comment("note").unwrap();
    assert!(!target.is_closed());
    within("close", target.close()).await;
    assert!(target.is_closed());
    assert!(target.dispatch_message("late").unwrap_err().is_closed());
    let body = s.read_to_end().await;
    assert_eq!(
        std::str::from_utf8(body).unwrap(),
        "retry: 3000\n\n\
         data: hello\ndata: world\n\n\
         data: {\"hello\":\"world\"}\n\n\
         id: 1\nevent: ping\nretry: 2500\ndata: {\"n\":1}\n\n\
         : note\n\n"
    );
}

async fn interceptor_sees_events_and_can_cancel(kind: Kind) {
    let (router, mut targets) = target_router(|b| b);
    let server = Server::start(kind, router).await;
    let mut s = get(server.addr, "/events", &[]).await;
    let mut target = within("target", targets.recv()).await.unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    target.add_interceptor(move |ev| {
        log.lock()
            .unwrap()
            .push(ev.data_ref().unwrap_or_default().to_owned());
        Verdict::Send
    });
    target.add_interceptor(|ev| match ev.event_type() {
        Some(t) if t == "secret" => Verdict::Cancel,
        _ => Verdict::Send,
    });
    let secret = Event::new().event("secret").unwrap().data("hidden");
    assert!(!target.dispatch_event(secret).unwrap());
    assert!(target.dispatch_message("shown").unwrap());
    within("close", target.close()).await;
    assert_eq!(s.read_to_end().await, b"data: shown\n\n");
    assert_eq!(*seen.lock().unwrap(), ["hidden", "shown"]);
}

async fn keep_alive_when_idle_and_disconnect_noticed(kind: Kind) {
    let (router, mut targets) = target_router(|b| b.keep_alive(Some(Duration::from_millis(300))));
    let server = Server::start(kind, router).await;
    let mut s = get(server.addr, "/events", &[]).await;
    let target = within("target", targets.recv()).await.unwrap();
    target.dispatch_message("first").unwrap();
    // Idle after the event: the next thing on the wire is a keep-alive.
    assert_eq!(s.read_until(b":\n\n").await, b"data: first\n\n:\n\n");
    // The client leaves; the server notices when it next writes, at the
    // latest at the next keep-alive.
    drop(s);
    within("disconnect noticed", target.closed()).await;
    assert!(target.is_closed());
    assert!(target.dispatch_message("x").unwrap_err().is_closed());
}

async fn no_content_answer(kind: Kind) {
    let router = axum::Router::new().route(
        "/events",
        axum::routing::get(|| async { sse_server::no_content() }),
    );
    let server = Server::start(kind, router).await;
    let mut s = get(server.addr, "/events", &[]).await;
    assert_eq!(s.status, 204);
    assert_eq!(s.header("content-type"), None);
    assert_eq!(s.read_to_end().await, b"");
}

async fn shutdown_sends_retry_and_ends_streams(kind: Kind) {
    let (router, mut targets) = target_router(|b| b);
    let mut server = Server::start(kind, router).await;
    let mut s = get(server.addr, "/events", &[]).await;
    let target = within("target", targets.recv()).await.unwrap();
    target.dispatch_message("before").unwrap();
    s.read_until(b"before\n\n").await;
    let done = server.shut_down();
    assert_eq!(
        s.read_to_end().await,
        b"data: before\n\nretry: 1000\n\n",
        "the stream ends cleanly after a final retry"
    );
    within("target closed", target.closed()).await;
    within("server stops", done).await.unwrap().unwrap();
}

async fn events_arrive_one_by_one(kind: Kind) {
    let (router, mut targets) = target_router(|b| b);
    let server = Server::start(kind, router).await;
    let mut s = get(server.addr, "/events", &[]).await;
    let target = within("target", targets.recv()).await.unwrap();
    for i in 0..5 {
        // The next event is only sent once the previous one arrived, so
        // any buffering between target and client makes this hang.
        let line = format!("data: {i}\n\n");
        target.dispatch_message(&i.to_string()).unwrap();
        s.read_until(line.as_bytes()).await;
    }
}

async fn connection_serves_a_second_request_after_a_stream(kind: Kind) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (router, mut targets) = target_router(|b| b.keep_alive(None));
    let router = router.route("/plain", axum::routing::get(|| async { "plain" }));
    let server = Server::start(kind, router).await;
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    sock.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let target = within("target", targets.recv()).await.unwrap();
    target.dispatch_message("one").unwrap();
    target.close().await;
    sock.write_all(b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    while !common::contains(&got, b"plain") {
        let mut buf = [0u8; 1024];
        let n = within("read", sock.read(&mut buf)).await.unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.to_ascii_lowercase()
            .contains("\r\n\r\nb\r\ndata: one\n\n\r\n0\r\n\r\nhttp/1.1 200 ok\r\n"),
        "{text}"
    );
}

async fn light_path_takes_over_http11_streams_only(kind: Kind) {
    let (router, mut targets) = target_router(|b| b);
    let server = Server::start(kind, router).await;
    let _s1 = get(server.addr, "/events", &[]).await;
    let t1 = within("target", targets.recv()).await.unwrap();
    assert_eq!(t1.is_written_by_light_path(), kind == Kind::Light);
    let _s2 = get_h2(server.addr, "/events").await;
    let t2 = within("target", targets.recv()).await.unwrap();
    assert!(!t2.is_written_by_light_path(), "HTTP/2 stays in hyper");
}

async fn http2_streams_end_at_shutdown_too(kind: Kind) {
    let (router, mut targets) = target_router(|b| b);
    let mut server = Server::start(kind, router).await;
    let mut s = get_h2(server.addr, "/events").await;
    let target = within("target", targets.recv()).await.unwrap();
    target.dispatch_message("h2").unwrap();
    s.read_until(b"data: h2\n\n").await;
    let done = server.shut_down();
    assert_eq!(s.read_to_end().await, b"data: h2\n\nretry: 1000\n\n");
    within("server stops", done).await.unwrap().unwrap();
}

/// Opens `/events` with a small receive buffer and never reads: a client
/// that stopped reading (or whose network went silent).
async fn stalled_client(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut conn = within("connect", sock.connect(addr)).await.unwrap();
    conn.write_all(
        format!("GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    conn
}

/// A queue too big to fill in a test (so only a write timeout, if any,
/// ends the stream).
fn unbounded(b: sse_server::EventStreamBuilder) -> sse_server::EventStreamBuilder {
    b.queue_limit(
        sse_server::QueueLimit::default()
            .with_max_frames(1 << 20)
            .with_max_bytes(1 << 30),
    )
}

/// Pushes 64 KiB frames until `bytes` were queued or the stream ended;
/// returns whether it ended.
async fn push_until_closed(target: &sse_server::EventTarget, bytes: usize) -> bool {
    let frame = "x".repeat(64 << 10);
    let mut pushed = 0;
    while pushed < bytes {
        if target.dispatch_message(&frame).is_err() {
            return true;
        }
        pushed += frame.len();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    target.is_closed()
}

async fn write_timeout_ends_a_stream_whose_client_stopped_reading(kind: Kind) {
    let (router, mut targets) =
        target_router(|b| unbounded(b).write_timeout(Some(Duration::from_millis(300))));
    let server = Server::start(kind, router).await;
    let _client = stalled_client(server.addr).await;
    let target = within("target", targets.recv()).await.unwrap();
    // Far more than the socket buffers and hyper's hold: the writer gets
    // stuck, and 300 ms later the stream ends.
    let ended = within("write timeout", push_until_closed(&target, 512 << 20)).await;
    assert!(ended, "the stream outlived its write timeout");
    within("closed", target.closed()).await;

    // Control: the same client without a write timeout stays connected.
    let (router, mut targets) = target_router(|b| unbounded(b).write_timeout(None));
    let server = Server::start(kind, router).await;
    let _client = stalled_client(server.addr).await;
    let target = within("target", targets.recv()).await.unwrap();
    assert!(!push_until_closed(&target, 16 << 20).await);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(!push_until_closed(&target, 64 << 10).await);
}

/// Sends `raw` on a fresh connection to `serve()` and reads the answer to
/// its end (the server closes after refusing a head).
async fn raw_exchange(addr: std::net::SocketAddr, raw: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = within("connect", tokio::net::TcpStream::connect(addr))
        .await
        .unwrap();
    // The server may answer (and close) before taking all of a large head.
    let _ = conn.write_all(raw).await;
    let mut got = Vec::new();
    let _ = within("the answer", conn.read_to_end(&mut got)).await;
    String::from_utf8_lossy(&got).into_owned()
}

/// Heads `serve()` refuses get a status and a body that says why, and
/// the connection is closed; the h2c preface still reaches hyper.
#[tokio::test]
async fn refused_heads_are_answered_with_a_reason() {
    let (router, _targets) = target_router(|b| b);
    let server = Server::start(Kind::Light, router).await;
    let many: String = (0..101).map(|i| format!("x-h{i}: v\r\n")).collect();
    let cases: [(Vec<u8>, &str, &str); 4] = [
        (
            format!("GET /events HTTP/1.1\r\nHost: x\r\n{many}\r\n").into_bytes(),
            "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            "too many request headers: at most 100\n",
        ),
        (
            format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(20_000)).into_bytes(),
            "HTTP/1.1 431 Request Header Fields Too Large\r\n",
            "request head too large: at most 16384 bytes\n",
        ),
        (
            b"GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "HTTP/1.1 400 Bad Request\r\n",
            "malformed request head: invalid method or request target\n",
        ),
        (
            b"GET /events HTTP/1.1\r\nBad Header: x\r\n\r\n".to_vec(),
            "HTTP/1.1 400 Bad Request\r\n",
            "malformed request head: invalid header name\n",
        ),
    ];
    for (raw, status, body) in cases {
        let answer = raw_exchange(server.addr, &raw).await;
        assert!(answer.starts_with(status), "{answer}");
        assert!(answer.contains("connection: close\r\n"), "{answer}");
        assert!(answer.ends_with(&format!("\r\n\r\n{body}")), "{answer}");
    }
    // HTTP/2 with prior knowledge is not refused: hyper serves it.
    let h2 = common::get_h2(server.addr, "/events").await;
    assert_eq!(h2.status, 200);
    assert_eq!(h2.version, http::Version::HTTP_2);
}

/// Decodes an HTTP/1.1 chunked body (after the head) into its payload;
/// `None` until the last chunk has arrived. Panics on malformed framing.
fn dechunk(raw: &[u8]) -> Option<Vec<u8>> {
    let start = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut rest = &raw[start..];
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16)
            .expect("a hex chunk size");
        rest = &rest[eol + 2..];
        if rest.len() < size + 2 {
            return None;
        }
        assert_eq!(&rest[size..size + 2], b"\r\n", "chunk not followed by CRLF");
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Large frames pushed one by one to a client that reads in small steps
/// arrive complete and in order. On the light path most of them are
/// written by the push itself (the writer is parked between them); the
/// unit test `a_direct_write_cut_short_is_finished_before_anything_else`
/// covers a socket that takes only part of one.
async fn a_slow_reader_gets_every_byte_in_order(kind: Kind) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (router, mut targets) = target_router(|b| unbounded(b).write_timeout(None));
    let server = Server::start(kind, router).await;
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(16 << 10).unwrap();
    let mut conn = within("connect", sock.connect(server.addr)).await.unwrap();
    conn.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let target = within("target", targets.recv()).await.unwrap();
    // Frames of up to 32 KiB pushed a little faster than the client reads:
    // the socket's send buffer (which grows to a few MiB) fills, and the
    // writer alternates between waiting for room and parking.
    let mut expected = Vec::new();
    let pushing = {
        let mut frames = Vec::new();
        for i in 0..400usize {
            let len = (i * 7919) % 32_768 + 1;
            let payload: String = (0..len)
                .map(|j| char::from(b'a' + ((i + j) % 26) as u8))
                .collect();
            expected.extend_from_slice(format!("data: {payload}\n\n").as_bytes());
            frames.push(payload);
        }
        tokio::spawn(async move {
            for payload in &frames {
                target.dispatch_message(payload.as_str()).unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            target.close().await;
        })
    };
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 24 << 10];
    within("the whole stream", async {
        // Payloads are letters, so only the last chunk ends like this.
        while !raw.ends_with(b"\r\n0\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream ended before its last chunk");
            raw.extend_from_slice(&buf[..n]);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    within("pusher", pushing).await.unwrap();
    let body = dechunk(&raw).expect("a complete chunked body");
    assert_eq!(body.len(), expected.len());
    assert!(body == expected, "the body differs from the frames pushed");
}
