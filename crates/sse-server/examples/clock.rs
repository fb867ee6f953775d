//! The Node.js tutorial's clock service, in Rust.
//!
//! ```text
//! cargo run -p sse-server --example clock    # then: curl -N localhost:8000/events
//! ```
//!
//! `GET /events` allows cross-origin `EventSource`s with credentials
//! (`Access-Control-Allow-Origin` echoing the page's origin,
//! `Access-Control-Allow-Credentials: true`), sends an unnamed message with
//! an id, then a `currentTime` event with an id every second, and stops its
//! clock as soon as the client leaves.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sse_server::{Event, EventStreamRequest};

/// Clocks currently ticking, and a wake-up whenever one stops.
#[derive(Default)]
pub struct Clocks {
    pub running: AtomicUsize,
    pub stopped: tokio::sync::Notify,
}

pub fn app(every: Duration, clocks: Arc<Clocks>) -> Router {
    Router::new()
        .route("/events", get(events))
        .with_state((every, clocks))
}

async fn events(
    State((every, clocks)): State<(Duration, Arc<Clocks>)>,
    headers: HeaderMap,
    request: EventStreamRequest,
) -> Response {
    // With credentials, browsers refuse `*`: echo the page's origin.
    let origin = headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*")
        .to_owned();
    let built = request
        .into_builder()
        .header("access-control-allow-origin", origin)
        .header("access-control-allow-credentials", "true")
        .build();
    let (target, response) = match built {
        Ok(pair) => pair,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let hello = Event::new().id("0").map(|e| e.data("connected"));
    if let Ok(ev) = hello {
        let _ = target.dispatch_event(ev);
    }
    clocks.running.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut id = 0u64;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = target.closed() => break,
            }
            id += 1;
            let now = httpdate::fmt_http_date(std::time::SystemTime::now());
            let ev = Event::new()
                .event("currentTime")
                .and_then(|e| e.id(id.to_string()))
                .map(|e| e.data(now));
            let sent = ev
                .map_err(sse_server::Error::from)
                .and_then(|ev| target.dispatch_event(ev));
            if sent.is_err() {
                break;
            }
        }
        clocks.running.fetch_sub(1, Ordering::SeqCst);
        clocks.stopped.notify_waiters();
    });
    response.into_response()
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}/events", listener.local_addr()?);
    let app = app(Duration::from_secs(1), Arc::default());
    sse_server::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
