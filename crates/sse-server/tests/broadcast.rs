//! `Broadcast` over real HTTP: replay, handoff, history gaps, a stalled
//! subscriber, through both `axum::serve` and `sse_server::serve`.

mod common;

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use common::{get as get_events, within, Kind, Server};
use sse_server::{Broadcast, Event, EventStreamRequest, QueueLimit};

both!(
    replay_after_last_event_id_then_live,
    unknown_last_event_id_is_announced_then_whole_history,
    without_last_event_id_only_live_events,
    stalled_subscriber_is_disconnected_and_never_delays_others,
    subscribers_joining_during_sends_see_gapless_sequences,
);

fn router(bc: Broadcast) -> Router {
    Router::new()
        .route(
            "/events",
            get(|State(bc): State<Broadcast>, sse: EventStreamRequest| async move {
                bc.subscribe(sse)
            }),
        )
        .route(
            "/small",
            get(|State(bc): State<Broadcast>, sse: EventStreamRequest| async move {
                let builder = sse
                    .into_builder()
                    .queue_limit(QueueLimit::default().with_max_frames(4));
                bc.subscribe_with(builder).unwrap().1
            }),
        )
        .route(
            // Room for a whole burst: for tests of the replay-to-live
            // handoff, where a client that is slow to be polled (a loaded
            // machine) must not be dropped by the slow-subscriber policy.
            "/roomy",
            get(|State(bc): State<Broadcast>, sse: EventStreamRequest| async move {
                let builder = sse
                    .into_builder()
                    .queue_limit(QueueLimit::default().with_max_frames(4096));
                bc.subscribe_with(builder).unwrap().1
            }),
        )
        .with_state(bc)
}

fn ev(id: &str, data: &str) -> Event {
    Event::new().id(id).unwrap().data(data.to_owned())
}

async fn wait_subscribers(bc: &Broadcast, n: usize) {
    within("subscriber count", async {
        while bc.subscriber_count() != n {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

async fn replay_after_last_event_id_then_live(kind: Kind) {
    let bc = Broadcast::new(10);
    for (id, d) in [("a", "1"), ("b", "2"), ("c", "3")] {
        bc.send(ev(id, d));
    }
    let server = Server::start(kind, router(bc.clone())).await;
    let mut s = get_events(server.addr, "/events", &[("last-event-id", "a")]).await;
    wait_subscribers(&bc, 1).await;
    let sent = bc.send(ev("d", "4"));
    assert_eq!(sent.delivered, 1);
    assert_eq!(
        s.read_until(b"data: 4\n\n").await,
        b"id: b\ndata: 2\n\nid: c\ndata: 3\n\nid: d\ndata: 4\n\n"
    );
}

async fn unknown_last_event_id_is_announced_then_whole_history(kind: Kind) {
    let bc = Broadcast::new(2);
    for (id, d) in [("a", "1"), ("b", "2"), ("c", "3")] {
        bc.send(ev(id, d));
    }
    let server = Server::start(kind, router(bc.clone())).await;
    // "a" fell out of the two-event history.
    let mut s = get_events(server.addr, "/events", &[("last-event-id", "a")]).await;
    assert_eq!(
        s.read_until(b"data: 3\n\n").await,
        b"event: history-gap\ndata: a\n\nid: b\ndata: 2\n\nid: c\ndata: 3\n\n"
    );
}

async fn without_last_event_id_only_live_events(kind: Kind) {
    let bc = Broadcast::new(10);
    bc.send(ev("a", "old"));
    let server = Server::start(kind, router(bc.clone())).await;
    let mut s = get_events(server.addr, "/events", &[]).await;
    wait_subscribers(&bc, 1).await;
    bc.send(Event::new().data("new"));
    let got = s.read_until(b"data: new\n\n").await.to_vec();
    let text = String::from_utf8(got).unwrap();
    // A generated id: <instance>-<sequence>, sequence 1.
    assert!(
        text.starts_with("id: ") && text.ends_with("-1\ndata: new\n\n"),
        "{text}"
    );
}

async fn stalled_subscriber_is_disconnected_and_never_delays_others(kind: Kind) {
    use tokio::io::AsyncWriteExt;
    let bc = Broadcast::new(8);
    let server = Server::start(kind, router(bc.clone())).await;
    // A client that sends its request and never reads, with a small
    // receive window so that its socket fills quickly.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut stalled = sock.connect(server.addr).await.unwrap();
    stalled
        .write_all(b"GET /small HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    wait_subscribers(&bc, 1).await;
    let mut good = get_events(server.addr, "/events", &[]).await;
    wait_subscribers(&bc, 2).await;

    let payload = "x".repeat(32 * 1024);
    let mut disconnected = 0;
    let mut i = 0;
    // Each event is sent only after the good subscriber received the one
    // before: the stalled one's queue fills (its socket does not drain)
    // while the good one keeps pace. Bounded: 3000 × 32 KiB.
    while disconnected == 0 {
        assert!(i < 3000, "the stalled subscriber was never disconnected");
        let sent = bc.send(ev(&i.to_string(), &payload));
        disconnected += sent.disconnected;
        let end = format!("id: {i}\ndata: {payload}\n\n");
        good.read_until(end.as_bytes()).await;
        good.received.clear();
        i += 1;
    }
    assert_eq!(disconnected, 1);
    assert_eq!(bc.subscriber_count(), 1);
    // The good subscriber still gets everything.
    bc.send(ev("last", "done"));
    good.read_until(b"id: last\ndata: done\n\n").await;
    drop(stalled);
}

/// Clients join over HTTP while another task sends without pause, each
/// resuming from an id a little behind; every client must see a gapless,
/// duplicate-free run from right after its id to the last event.
async fn subscribers_joining_during_sends_see_gapless_sequences(kind: Kind) {
    const EVENTS: u64 = 400;
    let bc = Broadcast::new(1000);
    let server = Server::start(kind, router(bc.clone())).await;
    bc.send(ev("0", "x"));
    let sender = {
        let bc = bc.clone();
        tokio::spawn(async move {
            for i in 1..EVENTS {
                bc.send(ev(&i.to_string(), "x"));
                if i % 8 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut clients = Vec::new();
    for k in 0..8u64 {
        // The newest id sent so far is unknown here, so resume from a low
        // one that is certainly in the history: k * 10.
        let resume = (k * 10).to_string();
        let s = get_events(server.addr, "/roomy", &[("last-event-id", &resume)]).await;
        clients.push((k * 10, s));
        tokio::task::yield_now().await;
    }
    within("sender", sender).await.unwrap();
    bc.close_all();
    for (resume, mut s) in clients {
        let bytes = s.read_to_end().await.to_vec();
        let mut d = sse_wire::Decoder::new();
        d.push(&bytes);
        let mut ids = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            if let sse_wire::Frame::Message(m) = f {
                assert_ne!(m.event_type, sse_server::HISTORY_GAP_EVENT);
                ids.push(m.last_event_id.parse::<u64>().unwrap());
            }
        }
        let want: Vec<u64> = (resume + 1..EVENTS).collect();
        assert_eq!(ids, want, "client resuming after {resume}");
    }
}
