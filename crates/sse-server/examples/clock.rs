//! The Node.js tutorial's clock service, in Rust.
//!
//! ```text
//! ALLOWED_ORIGINS=http://localhost:3000 cargo run -p sse-http-server --example clock
//! curl -N localhost:8000/events
//! ```
//!
//! `GET /events` sends an unnamed message with an id, then a `currentTime`
//! event with an id every second, and stops its clock as soon as the client
//! leaves. Pages on the origins in `ALLOWED_ORIGINS` (comma-separated;
//! default `http://localhost:3000`) may open it cross-origin with
//! credentials (`new EventSource(url, { withCredentials: true })`): CORS
//! answers from that allowlist with tower-http's `CorsLayer`. Never reflect
//! any `Origin` back with `Access-Control-Allow-Credentials: true`: that
//! lets every site on the web read the stream with the user's cookies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sse_server::{Event, EventStreamRequest};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Clocks currently ticking, and a wake-up whenever one stops.
#[derive(Default)]
pub struct Clocks {
    pub running: AtomicUsize,
    pub stopped: tokio::sync::Notify,
}

/// The clock service; pages on the `allowed` origins may read it with
/// credentials. An origin that does not parse as a header value is left out.
pub fn app(every: Duration, clocks: Arc<Clocks>, allowed: &[&str]) -> Router {
    let origins: Vec<HeaderValue> = allowed
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    // Credentials need the exact origin (browsers refuse `*` with them), so
    // the layer answers with the request's origin only when it is listed,
    // and with no CORS headers at all otherwise: the browser then refuses.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET]);
    Router::new()
        .route("/events", get(events))
        .with_state((every, clocks))
        .layer(cors)
}

async fn events(
    State((every, clocks)): State<(Duration, Arc<Clocks>)>,
    request: EventStreamRequest,
) -> Response {
    if !request.accepts_event_stream() {
        return (StatusCode::NOT_ACCEPTABLE, "accept: text/event-stream").into_response();
    }
    let (target, response) = request.send_events();
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
    let allowed =
        std::env::var("ALLOWED_ORIGINS").unwrap_or_else(|_| "http://localhost:3000".into());
    let allowed: Vec<&str> = allowed.split(',').collect();
    let app = app(Duration::from_secs(1), Arc::default(), &allowed);
    sse_server::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
