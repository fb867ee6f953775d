//! The "plain axum" peer of `bench/compare.sh`: what people write today for
//! server-sent events in Rust, with nothing of this workspace in it. axum's
//! own `Sse` response over one `tokio::sync::broadcast` channel per topic,
//! served by `axum::serve`.
//!
//! ```text
//! cargo run --release -p sse-bench --example axum_broadcast -- 127.0.0.1:8091
//! sse bench --subscribe-url 'http://127.0.0.1:8091/sub?topic={topic}' \
//!           --publish-url 'http://127.0.0.1:8091/pub?topic={topic}' -n 2000 --rate 50
//! ```
//!
//! Routes: `GET /sub?topic=T` streams topic `T`; `POST /pub?topic=T` with
//! the data as the body publishes it (`200`, the number of receivers as the
//! body). Each event gets an `id:` (a per-process sequence number) so the
//! frames are the same shape as the hub's, but there is no history: a
//! receiver that falls more than [`CAPACITY`] events behind skips ahead
//! (`RecvError::Lagged`, the usual handling), which the load generator
//! reports as loss.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::broadcast;

/// Events a receiver may fall behind before it skips ahead; the same bound
/// as `sse-server`'s per-subscriber queue (256 frames), so that slow
/// consumers cost the same order of memory in both.
const CAPACITY: usize = 256;

/// One message: its id and its data, shared by every receiver (the
/// channel clones the `Arc`, not the text).
type Msg = Arc<(u64, String)>;

#[derive(Clone, Default)]
struct AppState {
    /// Topics are never removed: a benchmark uses a fixed set of them.
    topics: Arc<Mutex<HashMap<String, broadcast::Sender<Msg>>>>,
    next_id: Arc<AtomicU64>,
}

impl AppState {
    fn sender(&self, topic: &str) -> broadcast::Sender<Msg> {
        // A poisoned lock only means another handler panicked mid-insert;
        // the map is still usable.
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .clone()
    }
}

#[derive(serde::Deserialize)]
struct TopicQuery {
    topic: String,
}

async fn subscribe(
    State(state): State<AppState>,
    Query(q): Query<TopicQuery>,
) -> impl IntoResponse {
    let rx = state.sender(&q.topic).subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(msg) => {
                    let ev = Event::default().id(msg.0.to_string()).data(&msg.1);
                    return Some((Ok::<_, Infallible>(ev), rx));
                }
                // Fell behind: skip ahead, as most handlers do.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn publish(
    State(state): State<AppState>,
    Query(q): Query<TopicQuery>,
    body: String,
) -> impl IntoResponse {
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    // `send` fails only when nobody listens, which is not an error here.
    let receivers = state
        .sender(&q.topic)
        .send(Arc::new((id, body)))
        .unwrap_or(0);
    receivers.to_string()
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8091".into());
    let app = Router::new()
        .route("/sub", get(subscribe))
        .route("/pub", post(publish))
        .with_state(AppState::default());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("axum_broadcast: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("axum_broadcast on {addr}, pid {}", std::process::id());
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("axum_broadcast: {e}");
        std::process::exit(1);
    }
}
