//! oak's server-sent events example, in Rust.
//!
//! ```text
//! cargo run -p sse-http-server --example oak      # then: curl -N localhost:8000/sse
//! ```
//!
//! `GET /sse` answers with an event stream (and a custom header), sends
//! `{"hello":"world"}` as a message, then a `ping` event with JSON data
//! every second, and closes the stream itself after five pings. If the
//! client leaves first, the handler notices and cleans up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use sse_server::{Event, EventStreamRequest};

/// What the example does; the tests use shorter intervals.
#[derive(Clone, Debug)]
pub struct Config {
    pub ping_every: Duration,
    pub pings: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ping_every: Duration::from_secs(1),
            pings: 5,
        }
    }
}

/// Counts streams whose client left early (the cleanup ran), and wakes
/// whoever waits for it.
#[derive(Default)]
pub struct Cleanups {
    pub count: AtomicUsize,
    pub notify: tokio::sync::Notify,
}

pub fn app(config: Config, cleanups: Arc<Cleanups>) -> Router {
    Router::new()
        .route("/sse", get(sse))
        .with_state((config, cleanups))
}

async fn sse(
    State((config, cleanups)): State<(Config, Arc<Cleanups>)>,
    request: EventStreamRequest,
) -> Response {
    if !request.accepts_event_stream() {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "this endpoint sends text/event-stream",
        )
            .into_response();
    }
    // oak: `const target = await ctx.sendEvents({ headers })`.
    let built = request
        .into_builder()
        .header("x-oak-example", "sse")
        .build();
    let (target, response) = match built {
        Ok(pair) => pair,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    // oak: `target.dispatchMessage({ hello: "world" })`.
    if target
        .dispatch_message(&json!({ "hello": "world" }))
        .is_err()
    {
        return response.into_response();
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + config.ping_every,
            config.ping_every,
        );
        for n in 1..=config.pings {
            tokio::select! {
                _ = ticks.tick() => {}
                // oak: `target.addEventListener("close", ...)`.
                _ = target.closed() => {
                    println!("client left after {} pings; cleaning up", n - 1);
                    cleanups.count.fetch_add(1, Ordering::SeqCst);
                    cleanups.notify.notify_waiters();
                    return;
                }
            }
            let ping = Event::new()
                .event("ping")
                .and_then(|e| e.id(n.to_string()))
                .map(|e| e.data(json!({ "n": n }).to_string()));
            let sent = ping
                .map_err(sse_server::Error::from)
                .and_then(|ev| target.dispatch_event(ev));
            if sent.is_err() {
                break;
            }
        }
        // oak: `await target.close()`.
        target.close().await;
    });
    response.into_response()
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}/sse", listener.local_addr()?);
    let app = app(Config::default(), Arc::default());
    sse_server::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
