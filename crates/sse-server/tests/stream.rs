//! Responses fed by a `Stream` of events (axum's `Sse::new(stream)` idiom),
//! served both ways: exact bytes, an error ends the response after the
//! events before it, the stream is dropped when the client leaves, and it
//! is pulled only while the queue has room.

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse;
use axum::routing;
use axum::Router;
use common::{get, within, Kind, Server};
use futures_util::{stream, StreamExt};
use sse_server::{Event, EventStreamRequest, QueueLimit};

both!(
    events_from_a_stream_then_the_end,
    an_error_ends_the_response_after_the_events_before_it,
    the_stream_is_dropped_when_the_client_leaves,
    a_quiet_stream_gets_keep_alives,
);

fn numbered(n: u32) -> Event {
    Event::new()
        .event("n")
        .and_then(|e| e.id(n.to_string()))
        .unwrap()
        .data(n.to_string())
}

async fn events_from_a_stream_then_the_end(kind: Kind) {
    let app = Router::new().route(
        "/s",
        routing::get(|sse: EventStreamRequest| async move {
            sse.stream(stream::iter(1..=3).map(|n| Ok::<_, Infallible>(numbered(n))))
        }),
    );
    let server = Server::start(kind, app).await;
    let mut s = get(server.addr, "/s", &[]).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    assert_eq!(
        s.read_to_end().await,
        &b"id: 1\nevent: n\ndata: 1\n\nid: 2\nevent: n\ndata: 2\n\nid: 3\nevent: n\ndata: 3\n\n"[..]
    );
}

async fn an_error_ends_the_response_after_the_events_before_it(kind: Kind) {
    let app = Router::new().route(
        "/s",
        routing::get(|sse: EventStreamRequest| async move {
            let items = vec![Ok(numbered(1)), Err("the feed broke"), Ok(numbered(2))];
            sse.into_builder()
                .header("x-feed", "numbers")
                .stream(stream::iter(items))
                .map_err(|e| e.to_string())
        }),
    );
    let server = Server::start(kind, app).await;
    let mut s = get(server.addr, "/s", &[]).await;
    assert_eq!(s.header("x-feed"), Some("numbers"));
    assert_eq!(s.read_to_end().await, &b"id: 1\nevent: n\ndata: 1\n\n"[..]);
}

/// Counts its live copies: dropped means the stream was let go.
struct Alive(Arc<AtomicUsize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn the_stream_is_dropped_when_the_client_leaves(kind: Kind) {
    let alive = Arc::new(AtomicUsize::new(0));
    let a = alive.clone();
    let app = Router::new().route(
        "/s",
        routing::get(move |sse: EventStreamRequest| {
            let alive = a.clone();
            async move {
                alive.fetch_add(1, Ordering::SeqCst);
                let guard = Alive(alive);
                // Endless, one event every 20 ms, holding the guard.
                let ticks = stream::unfold((0u32, guard), |(n, g)| async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((Ok::<_, Infallible>(numbered(n)), (n + 1, g)))
                });
                sse.into_builder()
                    .keep_alive(Some(Duration::from_millis(50)))
                    .stream(ticks)
                    .unwrap()
                    .into_response()
            }
        }),
    );
    let server = Server::start(kind, app).await;
    let mut s = get(server.addr, "/s", &[]).await;
    s.read_until(b"id: 2\n").await;
    assert_eq!(alive.load(Ordering::SeqCst), 1);
    drop(s);
    within("the stream to be dropped", async {
        while alive.load(Ordering::SeqCst) != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

/// The stream is pulled only while the queue has room: with a body nobody
/// polls and a queue of 4 frames, exactly 4 events are taken from it; one
/// frame written, and the next one is taken.
#[tokio::test(flavor = "current_thread")]
async fn the_stream_is_pulled_only_while_the_queue_has_room() {
    use http_body_util::BodyExt;
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = pulled.clone();
    let events = stream::iter(0..).map(move |n| {
        p.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Infallible>(numbered(n))
    });
    let request = http::Request::get("/s")
        .header("accept", "text/event-stream")
        .body(())
        .unwrap();
    let mut response = EventStreamRequest::from_request(&request)
        .into_builder()
        .keep_alive(None)
        .queue_limit(QueueLimit::default().with_max_frames(4))
        .stream(events)
        .unwrap();
    // Let the feeding task run until it waits for room.
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(pulled.load(Ordering::SeqCst), 4);
    let frame = within("a frame", response.body_mut().frame())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame.into_data().unwrap(), "id: 0\nevent: n\ndata: 0\n\n");
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(pulled.load(Ordering::SeqCst), 5);
}

async fn a_quiet_stream_gets_keep_alives(kind: Kind) {
    let app = Router::new().route(
        "/s",
        routing::get(|sse: EventStreamRequest| async move {
            // One event, then nothing for ever.
            let events =
                stream::once(async { Ok::<_, Infallible>(numbered(1)) }).chain(stream::pending());
            sse.into_builder()
                .keep_alive(Some(Duration::from_millis(50)))
                .stream(events)
                .unwrap()
        }),
    );
    let server = Server::start(kind, app).await;
    let mut s = get(server.addr, "/s", &[]).await;
    let got = s.read_until(b"data: 1\n\n:\n\n:\n\n").await.to_vec();
    assert!(
        got.ends_with(b"id: 1\nevent: n\ndata: 1\n\n:\n\n:\n\n"),
        "{got:?}"
    );
}
