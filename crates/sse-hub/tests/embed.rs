//! The embedding example (`examples/embed.rs`) served for real on loopback:
//! the app keeps its own `/healthz`, routes and fallback beside the hub,
//! and an in-process publish reaches a real `sse-client` EventSource.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use sse_client::{Event, EventSource};
use sse_hub::Hub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../examples/embed.rs"]
#[allow(dead_code)]
mod embed;

/// Serves the example app with `sse_server::serve` (`light`) or
/// `axum::serve` on a free port.
async fn start(light: bool) -> (SocketAddr, Hub) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = embed::hub_config(&format!("http://{addr}/.well-known/mercure"));
    let store = config.memory_store();
    let hub = Hub::new(config, store).unwrap();
    let app = embed::app(hub.clone());
    if light {
        tokio::spawn(sse_server::serve(listener, app).into_future());
    } else {
        tokio::spawn(axum::serve(listener, app).into_future());
    }
    (addr, hub)
}

/// One HTTP/1.1 request with `Connection: close`: the status and the body.
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut raw))
        .await
        .expect("the app answers")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, body.to_owned())
}

async fn the_app_keeps_its_routes_and_the_hub_delivers_an_in_process_publish(light: bool) {
    let (addr, hub) = start(light).await;
    // The app's own routes and fallback, untouched by the hub's.
    assert_eq!(
        request(addr, "GET", "/healthz").await,
        (200, "app ok\n".to_owned())
    );
    assert_eq!(
        request(addr, "GET", "/").await,
        (200, "welcome to the example shop\n".to_owned())
    );
    assert_eq!(
        request(addr, "GET", "/no/such/page").await,
        (404, "no such page in this shop\n".to_owned())
    );
    // The hub's health check where the app put it.
    assert_eq!(
        request(addr, "GET", "/hub/healthz").await,
        (200, "ok\n".to_owned())
    );
    let (status, metrics) = request(addr, "GET", "/hub/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("mercure_subscribers_connected"),
        "{metrics}"
    );

    let topic = embed::order_topic(42);
    let url = format!(
        "http://{addr}/.well-known/mercure?topic={}",
        urlencode(&topic)
    );
    let mut source = EventSource::new(&url).unwrap();
    assert!(matches!(next(&mut source).await, Event::Open));

    let (status, body) = request(addr, "POST", "/orders/42/ship").await;
    assert_eq!(status, 200, "{body}");
    let event_id = body
        .strip_prefix("order 42 shipped (event ")
        .and_then(|b| b.strip_suffix(")\n"))
        .expect("the handler names the event id")
        .to_owned();
    assert!(event_id.starts_with("urn:uuid:"), "{event_id}");

    match next(&mut source).await {
        Event::Message(m) => {
            assert_eq!(m.event_type, "order-status");
            assert_eq!(m.data, r#"{"order":42,"status":"shipped"}"#);
            assert_eq!(m.id, event_id);
        }
        other => panic!("expected the update, got {other:?}"),
    }
    source.close();
    hub.shutdown().await;
}

async fn next(source: &mut EventSource) -> Event {
    tokio::time::timeout(Duration::from_secs(5), source.next())
        .await
        .expect("an event within 5 s")
        .expect("the source is open")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn embedded_behind_sse_server() {
    the_app_keeps_its_routes_and_the_hub_delivers_an_in_process_publish(true).await;
}

#[tokio::test]
async fn embedded_behind_axum_serve() {
    the_app_keeps_its_routes_and_the_hub_delivers_an_in_process_publish(false).await;
}

/// What the old `Hub::router()` did to an app like this one: merging two
/// fallbacks (or two `/healthz`) panics. The stand-alone router still has
/// both, so it is for serving alone; the composable routes are not.
#[test]
#[should_panic]
fn merging_the_standalone_router_into_an_app_with_a_fallback_panics() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let config = embed::hub_config("http://127.0.0.1:1/.well-known/mercure");
    let store = config.memory_store();
    let hub = Hub::new(config, store).unwrap();
    let _ = axum::Router::<()>::new()
        .route("/healthz", axum::routing::get(|| async { "app" }))
        .fallback(|| async { "app" })
        .merge(hub.router());
}
