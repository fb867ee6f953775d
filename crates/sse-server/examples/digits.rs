//! The javascript.info `EventSource` demo, in Rust.
//!
//! ```text
//! cargo run -p sse-http-server --example digits   # then open http://localhost:8000/
//! ```
//!
//! `/` is a page with Start and Stop buttons; Start opens an `EventSource`
//! on `/digits`, which sends `1`, `2`, `3` a second apart, then
//! `event: bye`, and closes. The browser reconnects by itself (and gets
//! 1, 2, 3 again) until Stop is pressed.

use std::time::Duration;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sse_server::{Event, EventStreamRequest};

/// Timing of the demo; the tests shorten it.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Time between digits.
    pub every: Duration,
    /// A `retry:` to send first (the original sends none, so browsers wait
    /// their default of about 3 s before reconnecting).
    pub retry: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            every: Duration::from_secs(1),
            retry: None,
        }
    }
}

pub fn app(config: Config) -> Router {
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/digits", get(digits))
        .with_state(config)
}

async fn digits(State(config): State<Config>, request: EventStreamRequest) -> Response {
    let mut builder = request.into_builder();
    if let Some(r) = config.retry {
        builder = builder.retry(r);
    }
    let (target, response) = match builder.build() {
        Ok(pair) => pair,
        Err(_) => return sse_server::no_content().into_response(),
    };
    tokio::spawn(async move {
        for i in 1..=3 {
            if target.dispatch_message(&i.to_string()).is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(config.every) => {}
                _ = target.closed() => return,
            }
        }
        if let Ok(bye) = Event::new().event("bye") {
            let _ = target.dispatch_event(bye.data("bye-bye"));
        }
        target.close().await;
    });
    response.into_response()
}

/// The demo page, as on javascript.info, plus `window.events` so that a
/// test can read what the page saw.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>EventSource digits</title>
<script>
let eventSource;
window.events = [];

function start() {
  if (!window.EventSource) {
    alert('Your browser does not support EventSource.');
    return;
  }
  eventSource = new EventSource('digits');
  eventSource.onopen = function(e) {
    log("Event: open", "open");
  };
  eventSource.onerror = function(e) {
    if (this.readyState == EventSource.CONNECTING) {
      log(`Reconnecting (readyState=${this.readyState})...`, "reconnecting");
    } else {
      log("Error has occurred.", "error");
    }
  };
  eventSource.addEventListener('bye', function(e) {
    log("Event: bye, data: " + e.data, "bye:" + e.data);
  });
  eventSource.onmessage = function(e) {
    log("Event: message, data: " + e.data, "message:" + e.data);
  };
}

function stop() {
  eventSource.close();
  log("eventSource.close()", "closed");
}

function log(msg, short) {
  window.events.push(short);
  logElem.innerHTML += msg + "<br>";
  document.documentElement.scrollTop = 99999999;
}
</script>

<button id="start" onclick="start()">Start</button> Press the "Start" to begin.
<div id="logElem" style="margin: 6px 0"></div>
<button id="stop" onclick="stop()">Stop</button> "Stop" to finish.
"#;

#[allow(dead_code)]
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("open http://{}/", listener.local_addr()?);
    sse_server::serve(listener, app(Config::default()))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
