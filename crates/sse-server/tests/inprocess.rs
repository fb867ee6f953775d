//! The body and the queue without a network: keep-alive timing on tokio's
//! paused clock, queue bounds, `FrameSender`, and the broadcast handoff
//! property under concurrent sends.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use proptest::prelude::*;
use sse_server::{Broadcast, Event, EventStream, EventStreamRequest, QueueLimit};
use sse_wire::{Decoder, Frame};

fn request(last_event_id: Option<&str>) -> EventStreamRequest {
    let mut b = http::Request::builder().header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        b = b.header("last-event-id", id);
    }
    EventStreamRequest::from_request(&b.body(()).unwrap())
}

async fn next_frame(body: &mut EventStream) -> Option<Bytes> {
    let f = tokio::time::timeout(Duration::from_secs(3600), body.frame())
        .await
        .expect("a frame within the (paused) hour")?;
    Some(f.unwrap().into_data().unwrap())
}

#[tokio::test(start_paused = true)]
async fn keep_alive_after_idle_time_reset_by_activity() {
    let start = tokio::time::Instant::now();
    let (target, response) = request(None)
        .into_builder()
        .keep_alive(Some(Duration::from_secs(10)))
        .build()
        .unwrap();
    let mut body = response.into_body();
    assert_eq!(next_frame(&mut body).await.unwrap(), &b":\n\n"[..]);
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    tokio::time::sleep(Duration::from_secs(5)).await;
    target.dispatch_message("x").unwrap();
    assert_eq!(next_frame(&mut body).await.unwrap(), &b"data: x\n\n"[..]);
    // The event at 15 s moved the next keep-alive to 25 s, not 20 s.
    assert_eq!(next_frame(&mut body).await.unwrap(), &b":\n\n"[..]);
    assert_eq!(start.elapsed(), Duration::from_secs(25));
}

#[tokio::test(start_paused = true)]
async fn no_keep_alive_when_turned_off() {
    let (_target, response) = request(None)
        .into_builder()
        .keep_alive(None)
        .build()
        .unwrap();
    let mut body = response.into_body();
    assert!(
        tokio::time::timeout(Duration::from_secs(3600), body.frame())
            .await
            .is_err(),
        "nothing is written by an idle stream without keep-alive"
    );
}

#[tokio::test]
async fn full_queue_is_an_error_and_writable_waits_for_room() {
    let (target, response) = request(None)
        .into_builder()
        .queue_limit(QueueLimit::default().with_max_frames(2))
        .build()
        .unwrap();
    let mut body = response.into_body();
    target.dispatch_message("1").unwrap();
    target.dispatch_message("2").unwrap();
    let err = target.dispatch_message("3").unwrap_err();
    assert!(err.is_queue_full(), "{err}");
    assert!(
        !target.is_closed(),
        "a full queue does not close the stream"
    );
    let waiter = async {
        target.writable().await.unwrap();
        target.dispatch_message("3").unwrap();
    };
    let reader = async {
        assert_eq!(next_frame(&mut body).await.unwrap(), &b"data: 1\n\n"[..]);
    };
    tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(waiter, reader)
    })
    .await
    .unwrap();
    assert_eq!(next_frame(&mut body).await.unwrap(), &b"data: 2\n\n"[..]);
    assert_eq!(next_frame(&mut body).await.unwrap(), &b"data: 3\n\n"[..]);
}

#[tokio::test]
async fn frame_sender_reports_full_and_disconnect_ends_the_body() {
    let (target, response) = request(None)
        .into_builder()
        .queue_limit(QueueLimit::default().with_max_frames(1))
        .build()
        .unwrap();
    let mut body = response.into_body();
    let tx = target.frame_sender();
    let frame = Event::new().data("shared").to_bytes();
    tx.try_push(frame.clone()).unwrap();
    let err = tx.try_push(frame.clone()).unwrap_err();
    assert!(err.is_queue_full() && !err.is_closed());
    assert_eq!(err.into_frame(), frame);
    tx.disconnect();
    assert!(tx.is_closed() && target.is_closed());
    // Disconnecting drops what was queued: the body ends at once.
    assert!(next_frame(&mut body).await.is_none());
    assert!(tx.try_push(frame).unwrap_err().is_closed());
    tokio::time::timeout(Duration::from_secs(10), target.closed())
        .await
        .unwrap();
}

#[tokio::test]
async fn dropping_the_body_closes_the_target() {
    let (target, response) = request(None).send_events();
    assert!(!target.is_closed());
    drop(response);
    tokio::time::timeout(Duration::from_secs(10), target.closed())
        .await
        .unwrap();
    assert!(target.dispatch_comment("x").unwrap_err().is_closed());
}

#[test]
fn invalid_field_values_are_errors_not_panics() {
    assert!(Event::new().event("a\nb").is_err());
    let err: sse_server::Error = Event::new().id("a\0").unwrap_err().into();
    assert!(err.is_invalid_field());
}

/// Decodes a subscriber's bytes into the sequence numbers it received
/// (event ids are the sequence numbers) and whether a gap was announced.
fn received(bytes: &[u8]) -> (bool, Vec<u64>) {
    let mut d = Decoder::new();
    d.push(bytes);
    let mut gap = false;
    let mut seqs = Vec::new();
    while let Some(f) = d.next_frame().unwrap() {
        if let Frame::Message(m) = f {
            if m.event_type == sse_server::HISTORY_GAP_EVENT {
                assert!(seqs.is_empty(), "the gap event comes first");
                gap = true;
            } else {
                seqs.push(m.last_event_id.parse().unwrap());
            }
        }
    }
    (gap, seqs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Subscribers join while another thread sends; whatever id each one
    /// resumes from, it sees a gapless, duplicate-free run ending at the
    /// last event, starting right after its id unless a gap was announced.
    #[test]
    fn replay_to_live_handoff_has_no_gap_and_no_duplicate(
        history in 1usize..40,
        events in 1u64..300,
        joins in proptest::collection::vec((0u64..300, 0u64..50), 1..8),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let bc = Broadcast::new(history);
            let limit = QueueLimit::default().with_max_frames(100_000).with_max_bytes(usize::MAX);
            let sender = {
                let bc = bc.clone();
                tokio::task::spawn_blocking(move || {
                    for seq in 0..events {
                        bc.send(Event::new().id(seq.to_string()).unwrap().data("x"));
                        if seq % 16 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            };
            let mut subs = Vec::new();
            for (at, back) in joins {
                // Join roughly when event `at` goes out, resuming `back`
                // events earlier (maybe older than the history holds).
                let at = at.min(events);
                let resume = at.checked_sub(back + 1);
                let builder = request(resume.map(|r| r.to_string()).as_deref())
                    .into_builder()
                    .keep_alive(None)
                    .queue_limit(limit);
                let (_t, resp) = bc.subscribe_with(builder).unwrap();
                subs.push((resume, resp.into_body()));
                tokio::task::yield_now().await;
            }
            sender.await.unwrap();
            bc.close_all();
            for (resume, body) in subs {
                let bytes = body.collect().await.unwrap().to_bytes();
                let (gap, seqs) = received(&bytes);
                for w in seqs.windows(2) {
                    assert_eq!(w[1], w[0] + 1, "gap or duplicate: {seqs:?}");
                }
                if let Some(last) = seqs.last() {
                    assert_eq!(*last, events - 1);
                }
                if !gap {
                    if let (Some(r), Some(first)) = (resume, seqs.first()) {
                        // Resumed from an id still in history (or not yet sent,
                        // which only happens when nothing was sent after it).
                        assert_eq!(*first, r + 1, "{seqs:?}");
                    }
                } else {
                    assert!(resume.is_some());
                }
            }
        });
    }
}

#[tokio::test]
async fn stream_closes_when_every_producer_is_dropped() {
    let (target, response) = request(None).send_events();
    let mut body = response.into_body();
    let tx = target.frame_sender();
    drop(target);
    // The sender still holds the stream open.
    tx.try_push(Bytes::from_static(b"data: via sender\n\n"))
        .unwrap();
    let tx2 = tx.clone();
    drop(tx);
    assert!(!tx2.is_closed());
    drop(tx2);
    // Queued frames are still written, then the body ends.
    assert_eq!(
        next_frame(&mut body).await.unwrap(),
        &b"data: via sender\n\n"[..]
    );
    assert!(next_frame(&mut body).await.is_none());
}

#[tokio::test]
async fn dropping_the_broadcast_ends_its_subscribers() {
    let bc = Broadcast::new(4);
    let mut body = bc.subscribe(request(None)).into_body();
    bc.send(Event::new().id("1").unwrap().data("last"));
    drop(bc);
    assert_eq!(
        next_frame(&mut body).await.unwrap(),
        &b"id: 1\ndata: last\n\n"[..]
    );
    assert!(next_frame(&mut body).await.is_none());
}
