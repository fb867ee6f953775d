//! Each example's router, served both ways, checked from a real client;
//! `digits` also in headless Chromium.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::{get, within, Kind, Server};
use sse_wire::{Decoder, Frame};

#[path = "../examples/oak.rs"]
#[allow(dead_code)]
mod oak;

#[path = "../examples/clock.rs"]
#[allow(dead_code)]
mod clock;

#[path = "../examples/digits.rs"]
#[allow(dead_code)]
mod digits;

both!(
    oak_hello_pings_then_server_closes,
    oak_cleans_up_when_the_client_leaves,
    oak_refuses_clients_that_do_not_accept_event_streams,
    clock_cors_hello_then_current_time_until_the_client_leaves,
    digits_page_and_stream,
);

fn messages(bytes: &[u8]) -> Vec<(String, String, String)> {
    let mut d = Decoder::new();
    d.push(bytes);
    let mut out = Vec::new();
    while let Some(f) = d.next_frame().unwrap() {
        if let Frame::Message(m) = f {
            out.push((
                m.event_type.to_string(),
                m.data.to_string(),
                m.last_event_id.to_string(),
            ));
        }
    }
    out
}

async fn oak_hello_pings_then_server_closes(kind: Kind) {
    let config = oak::Config {
        ping_every: Duration::from_millis(20),
        pings: 3,
    };
    let server = Server::start(kind, oak::app(config, Arc::default())).await;
    let mut s = get(server.addr, "/sse", &[]).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.header("x-oak-example"), Some("sse"));
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        s.read_to_end().await,
        &b"data: {\"hello\":\"world\"}\n\n\
           id: 1\nevent: ping\ndata: {\"n\":1}\n\n\
           id: 2\nevent: ping\ndata: {\"n\":2}\n\n\
           id: 3\nevent: ping\ndata: {\"n\":3}\n\n"[..]
    );
}

async fn oak_cleans_up_when_the_client_leaves(kind: Kind) {
    let config = oak::Config {
        ping_every: Duration::from_millis(50),
        pings: u64::MAX,
    };
    let cleanups = Arc::new(oak::Cleanups::default());
    let server = Server::start(kind, oak::app(config, cleanups.clone())).await;
    let mut s = get(server.addr, "/sse", &[]).await;
    s.read_until(b"event: ping\n").await;
    let cleaned = cleanups.notify.notified();
    tokio::pin!(cleaned);
    cleaned.as_mut().enable();
    drop(s);
    within("cleanup after the client left", cleaned).await;
    assert_eq!(cleanups.count.load(Ordering::SeqCst), 1);
}

async fn oak_refuses_clients_that_do_not_accept_event_streams(kind: Kind) {
    let server = Server::start(kind, oak::app(oak::Config::default(), Arc::default())).await;
    // A raw request: the test client always sends `Accept: text/event-stream`.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    sock.write_all(
        b"GET /sse HTTP/1.1\r\nhost: x\r\naccept: application/json\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    within("406 answer", sock.read_to_end(&mut got))
        .await
        .unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 406 Not Acceptable\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

async fn clock_cors_hello_then_current_time_until_the_client_leaves(kind: Kind) {
    let clocks = Arc::new(clock::Clocks::default());
    let app = clock::app(
        Duration::from_millis(20),
        clocks.clone(),
        &["http://page.test"],
    );
    let server = Server::start(kind, app).await;
    // Another origin: the stream, but no allowed origin (a browser refuses
    // it; tower-http sends `allow-credentials` either way, harmless alone).
    let mut other = get(server.addr, "/events", &[("origin", "http://evil.test")]).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("access-control-allow-origin"), None);
    other.read_until(b"\n\n").await;
    drop(other);
    let mut s = get(server.addr, "/events", &[("origin", "http://page.test")]).await;
    assert_eq!(
        s.header("access-control-allow-origin"),
        Some("http://page.test")
    );
    assert_eq!(s.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(s.read_until(b"\n\n").await, b"id: 0\ndata: connected\n\n");
    while messages(&s.received).len() < 4 {
        assert!(s.read_more().await);
    }
    let got = messages(&s.received);
    for (i, (ty, data, id)) in got.iter().enumerate().skip(1).take(3) {
        assert_eq!(ty, "currentTime");
        assert_eq!(id, &i.to_string());
        assert!(data.ends_with(" GMT"), "{data}");
    }
    within("the other clock stops", async {
        while clocks.running.load(Ordering::SeqCst) != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let stopped = clocks.stopped.notified();
    tokio::pin!(stopped);
    stopped.as_mut().enable();
    drop(s);
    within("the clock stops", stopped).await;
    assert_eq!(clocks.running.load(Ordering::SeqCst), 0);
}

async fn digits_page_and_stream(kind: Kind) {
    let config = digits::Config {
        every: Duration::from_millis(10),
        retry: None,
    };
    let server = Server::start(kind, digits::app(config)).await;
    let mut page = get(server.addr, "/", &[("accept", "text/html")]).await;
    let html = String::from_utf8(page.read_to_end().await.to_vec()).unwrap();
    assert!(html.contains("new EventSource('digits')"));
    let mut s = get(server.addr, "/digits", &[]).await;
    assert_eq!(
        s.read_to_end().await,
        b"data: 1\n\ndata: 2\n\ndata: 3\n\nevent: bye\ndata: bye-bye\n\n"
    );
}

/// Runs `node tests/browser/<script> <url>`; `None` when node, chromium or
/// playwright-core is missing (a failure under `SSE_TEST_STRICT=1`).
async fn run_browser_script(script: &str, urls: &[&str]) -> Option<serde_json::Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/browser");
    let missing = if !std::path::Path::new("/usr/bin/chromium").exists()
        && std::env::var_os("CHROMIUM").is_none()
    {
        Some("chromium (/usr/bin/chromium)")
    } else if !std::path::Path::new(dir)
        .join("node_modules/playwright-core")
        .exists()
    {
        Some("playwright-core (npm ci in tests/browser)")
    } else if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        Some("node")
    } else {
        None
    };
    if let Some(what) = missing {
        assert!(!common::strict(), "SSE_TEST_STRICT=1 and {what} is missing");
        eprintln!("skipping the browser test: {what} is missing");
        return None;
    }
    let out = tokio::process::Command::new("node")
        .arg(format!("{dir}/{script}"))
        .args(urls)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the browser script finishes within 60 s")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "node failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_str(stdout.trim()).expect("the script prints JSON"))
}

async fn digits_in_chromium(kind: Kind) {
    let config = digits::Config {
        every: Duration::from_millis(100),
        retry: Some(Duration::from_millis(200)),
    };
    let server = Server::start(kind, digits::app(config)).await;
    let Some(result) = run_browser_script("digits.mjs", &[&server.url("/")]).await else {
        return;
    };
    assert_eq!(result["error"], serde_json::Value::Null, "{result}");
    let events: Vec<String> = serde_json::from_value(result["events"].clone()).unwrap();
    let expected_start = [
        "open",
        "message:1",
        "message:2",
        "message:3",
        "bye:bye-bye",
        "reconnecting",
        "open",
        "message:1",
    ];
    assert!(
        events.len() >= expected_start.len() && events[..expected_start.len()] == expected_start,
        "{events:?}"
    );
    assert_eq!(events.last().map(String::as_str), Some("closed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digits_in_chromium_light_serve() {
    digits_in_chromium(Kind::Light).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digits_in_chromium_axum_serve() {
    digits_in_chromium(Kind::Axum).await
}

/// A page that opens the clock at `clock` cross-origin with credentials
/// and records what it sees (read by tests/browser/clock_cors.mjs).
fn clock_page(clock: String) -> axum::Router {
    let html = format!(
        "<!doctype html><meta charset=utf-8><title>clock</title><script>\n\
         window.messages = [];\n\
         window.source = new EventSource({clock:?}, {{ withCredentials: true }});\n\
         window.source.onmessage = (e) => window.messages.push('message:' + e.data);\n\
         window.source.addEventListener('currentTime', (e) => window.messages.push('currentTime:' + e.lastEventId));\n\
         </script>"
    );
    axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(html) }),
    )
}

/// The clock in Chromium: a page on an allowed origin reads it with
/// credentials; a page on another origin is refused by the browser.
async fn clock_cross_origin_in_chromium(kind: Kind) {
    // Two page servers: two origins (ports differ).
    let allowed_page = TcpListenerServer::start().await;
    let denied_page = TcpListenerServer::start().await;
    let allowed_origin = format!("http://{}", allowed_page.addr);
    let clocks = Arc::new(clock::Clocks::default());
    let app = clock::app(Duration::from_millis(50), clocks, &[&allowed_origin]);
    let server = Server::start(kind, app).await;
    let clock_url = server.url("/events");
    allowed_page.serve(clock_page(clock_url.clone()));
    denied_page.serve(clock_page(clock_url));
    let urls = [
        format!("http://{}/", allowed_page.addr),
        format!("http://{}/", denied_page.addr),
    ];
    let Some(result) = run_browser_script("clock_cors.mjs", &[&urls[0], &urls[1]]).await else {
        return;
    };
    assert!(result.get("error").is_none(), "{result}");
    let allowed = &result["allowed"];
    assert_eq!(allowed["credentials"], true, "{result}");
    assert_eq!(allowed["messages"][0], "message:connected", "{result}");
    assert_eq!(allowed["messages"][1], "currentTime:1", "{result}");
    let denied = &result["denied"];
    assert_eq!(denied["readyState"], 2, "refused for good: {result}");
    assert_eq!(denied["messages"], serde_json::json!([]), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_cross_origin_in_chromium_light_serve() {
    clock_cross_origin_in_chromium(Kind::Light).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_cross_origin_in_chromium_axum_serve() {
    clock_cross_origin_in_chromium(Kind::Axum).await
}

/// A listener bound first (so its address, and so its origin, is known
/// before the page that names the clock is built), served later.
struct TcpListenerServer {
    addr: std::net::SocketAddr,
    listener: std::sync::Mutex<Option<tokio::net::TcpListener>>,
}

impl TcpListenerServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        TcpListenerServer {
            addr: listener.local_addr().unwrap(),
            listener: std::sync::Mutex::new(Some(listener)),
        }
    }

    fn serve(&self, app: axum::Router) {
        let listener = self.listener.lock().unwrap().take().expect("served once");
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
}
