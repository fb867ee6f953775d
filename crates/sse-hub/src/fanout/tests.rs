//! The fan-out's invariants, tested on its parts: the replay-to-live
//! hand-off (no gap, no duplicate, the floor), the replay buffer's bound,
//! the registry's once-per-update rule, and the admission slots.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use sse_server::{EventStream, EventStreamRequest, EventTarget};

use super::delivery::Delivery;
use super::*;
use crate::hub::metrics::Metrics;
use crate::store::{Entry, Handoff, Position};
use crate::topic::{HubUrl, MatchType, TopicMatcher};
use crate::Update;

const HUB: &str = "https://hub.example/.well-known/mercure";

fn hub() -> HubUrl {
    HubUrl::parse(HUB).unwrap()
}

fn update(n: u64, topics: &[&str]) -> Arc<Update> {
    Arc::new(Update::new(topics.iter().copied(), format!("data {n}")).with_id(format!("u{n}")))
}

fn frame(n: u64) -> Bytes {
    encode(&update(n, &["https://hub.example/t"])).unwrap()
}

fn at(n: u64) -> Position {
    Position::new(n, 0)
}

/// An event stream as the hub makes one, without a socket (the hyper path:
/// the response body yields what is pushed).
fn stream() -> (EventTarget, http::Response<EventStream>) {
    let request = http::Request::get("/")
        .header("accept", "text/event-stream")
        .body(())
        .unwrap();
    EventStreamRequest::from_request(&request)
        .into_builder()
        .keep_alive(None)
        .build()
        .unwrap()
}

fn subscriber(
    metrics: &Arc<Metrics>,
    matchers: Vec<TopicMatcher>,
    buffer_limit: usize,
) -> Subscriber {
    subscriber_until(metrics, matchers, buffer_limit, None)
}

fn subscriber_until(
    metrics: &Arc<Metrics>,
    matchers: Vec<TopicMatcher>,
    buffer_limit: usize,
    deadline: Option<Instant>,
) -> Subscriber {
    static KEY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    Subscriber::new(NewSubscriber {
        key: KEY.fetch_add(1, Ordering::Relaxed),
        subscriber_id: crate::generate_id(),
        matchers,
        credentials: None,
        legacy: false,
        buffer_limit,
        deadline: deadline.map(|d| (d, true)),
        slot: ConnectionSlot::take(metrics, usize::MAX).unwrap(),
        subject_slot: None,
    })
}

fn exact(topic: &str) -> TopicMatcher {
    TopicMatcher::new(MatchType::Exact, topic, &hub()).unwrap()
}

/// Everything the stream sent, once its producers are gone.
async fn body(response: http::Response<EventStream>) -> Bytes {
    tokio::time::timeout(Duration::from_secs(5), response.into_body().collect())
        .await
        .expect("the stream ends once its producers are dropped")
        .expect("the body reads")
        .to_bytes()
}

fn frames(numbers: impl IntoIterator<Item = u64>) -> Bytes {
    numbers
        .into_iter()
        .flat_map(|n| frame(n).to_vec())
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::test]
async fn the_handoff_sends_what_was_buffered_after_the_replay_once() {
    let metrics = Arc::new(Metrics::default());
    let sub = subscriber(&metrics, vec![TopicMatcher::any()], 16);
    let (target, response) = stream();
    sub.attach(target.frame_sender());
    // The fan-out dispatches 2..=5 while the replay is still running: all
    // buffered.
    for n in 2..=5 {
        sub.deliver(at(n), &frame(n), &metrics, Delivery::Queued);
    }
    // The replay sends 1..=3 (read from the store), then hands off.
    let mut handoff = Handoff::new(None);
    for n in 1..=3 {
        assert!(handoff.admit(at(n)));
        target.frame_sender().try_push_queued(frame(n)).unwrap();
    }
    assert!(matches!(
        sub.go_live(&mut handoff, &metrics),
        HandoffOutcome::Live
    ));
    // Live from here: pushed at once.
    sub.deliver(at(6), &frame(6), &metrics, Delivery::Queued);
    drop((sub, target));
    assert_eq!(body(response).await, frames(1..=6));
}

#[tokio::test]
async fn the_floor_drops_what_the_replay_read_ahead_of_the_fanout() {
    let metrics = Arc::new(Metrics::default());
    let sub = subscriber(&metrics, vec![TopicMatcher::any()], 16);
    let (target, response) = stream();
    sub.attach(target.frame_sender());
    // The fan-out has dispatched 1 and 2 so far; the replay read the store
    // directly and got to 4, which the fan-out has not dispatched yet.
    for n in 1..=2 {
        sub.deliver(at(n), &frame(n), &metrics, Delivery::Queued);
    }
    let mut handoff = Handoff::new(None);
    for n in 1..=4 {
        assert!(handoff.admit(at(n)));
        target.frame_sender().try_push_queued(frame(n)).unwrap();
    }
    assert!(matches!(
        sub.go_live(&mut handoff, &metrics),
        HandoffOutcome::Live
    ));
    // Now the fan-out reaches 3 and 4 (below the floor) and then 5.
    for n in 3..=5 {
        sub.deliver(at(n), &frame(n), &metrics, Delivery::Queued);
    }
    drop((sub, target));
    assert_eq!(body(response).await, frames(1..=5));
}

#[tokio::test]
async fn a_full_replay_buffer_ends_the_stream_at_the_handoff() {
    let metrics = Arc::new(Metrics::default());
    let sub = subscriber(&metrics, vec![TopicMatcher::any()], 2);
    let (target, response) = stream();
    sub.attach(target.frame_sender());
    for n in 1..=3 {
        sub.deliver(at(n), &frame(n), &metrics, Delivery::Queued);
    }
    assert!(matches!(
        sub.go_live(&mut Handoff::new(None), &metrics),
        HandoffOutcome::Overflowed
    ));
    // Nothing of the buffer was sent: the client resumes from its last
    // event instead of getting a stream with a hole.
    drop((sub, target));
    assert_eq!(body(response).await, Bytes::new());
}

#[tokio::test]
async fn a_replay_buffer_filled_to_its_bound_still_hands_off() {
    let metrics = Arc::new(Metrics::default());
    let sub = subscriber(&metrics, vec![TopicMatcher::any()], 3);
    let (target, response) = stream();
    sub.attach(target.frame_sender());
    for n in 1..=3 {
        sub.deliver(at(n), &frame(n), &metrics, Delivery::Queued);
    }
    assert!(matches!(
        sub.go_live(&mut Handoff::new(None), &metrics),
        HandoffOutcome::Live
    ));
    drop((sub, target));
    assert_eq!(body(response).await, frames(1..=3));
}

#[test]
fn an_update_reaches_a_subscriber_once_whatever_its_matchers() {
    let metrics = Arc::new(Metrics::default());
    let hub = hub();
    let registry = Registry::default();
    let template =
        TopicMatcher::new(MatchType::UriTemplate, "https://hub.example/{x}", &hub).unwrap();
    let all = Arc::new(subscriber(
        &metrics,
        vec![
            exact("https://hub.example/a"),
            TopicMatcher::any(),
            template.clone(),
        ],
        4,
    ));
    let only_b = Arc::new(subscriber(
        &metrics,
        vec![exact("https://hub.example/b")],
        4,
    ));
    let only_c = Arc::new(subscriber(
        &metrics,
        vec![exact("https://hub.example/c")],
        4,
    ));
    for s in [&all, &only_b, &only_c] {
        registry.insert(Arc::clone(s));
    }
    let mut cache = MatchCache::default();
    let mut out = Vec::new();
    let entry = Entry::new(
        at(1),
        update(1, &["https://hub.example/a", "https://hub.example/b"]),
    );
    registry.collect(&entry, 1, &hub, &mut cache, &mut out);
    let mut keys: Vec<u64> = out.iter().map(|s| s.key).collect();
    keys.sort_unstable();
    assert_eq!(keys, [all.key, only_b.key]);

    // Let go of them: nothing is found any more, and a pattern nobody
    // holds is not evaluated.
    out.clear();
    for s in [&all, &only_b, &only_c] {
        registry.remove(s);
        assert!(s.is_removed());
    }
    registry.collect(&entry, 2, &hub, &mut cache, &mut out);
    assert!(out.is_empty());
    assert!(registry.snapshot().is_empty());
}

#[test]
fn an_expired_subscriber_is_not_collected() {
    let metrics = Arc::new(Metrics::default());
    let hub = hub();
    let registry = Registry::default();
    let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
    let expired = Arc::new(subscriber_until(
        &metrics,
        vec![TopicMatcher::any()],
        4,
        Some(past),
    ));
    let fresh = Arc::new(subscriber(&metrics, vec![TopicMatcher::any()], 4));
    registry.insert(Arc::clone(&expired));
    registry.insert(Arc::clone(&fresh));
    let mut out = Vec::new();
    let entry = Entry::new(at(1), update(1, &["https://hub.example/a"]));
    registry.collect(&entry, 1, &hub, &mut MatchCache::default(), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].key, fresh.key);
}

#[test]
fn a_private_update_is_not_collected_for_an_anonymous_subscriber() {
    let metrics = Arc::new(Metrics::default());
    let hub = hub();
    let registry = Registry::default();
    registry.insert(Arc::new(subscriber(&metrics, vec![TopicMatcher::any()], 4)));
    let private = Arc::new(Update::new(["https://hub.example/a"], "x").private());
    let mut out = Vec::new();
    registry.collect(
        &Entry::new(at(1), private),
        1,
        &hub,
        &mut MatchCache::default(),
        &mut out,
    );
    assert!(out.is_empty());
}

#[test]
fn connection_slots_are_given_back_when_dropped() {
    let metrics = Arc::new(Metrics::default());
    let first = ConnectionSlot::take(&metrics, 2).unwrap();
    let _second = ConnectionSlot::take(&metrics, 2).unwrap();
    assert!(ConnectionSlot::take(&metrics, 2).is_none());
    assert_eq!(metrics.subscribers(), 2);
    drop(first);
    assert!(ConnectionSlot::take(&metrics, 2).is_some());
}

#[test]
fn subject_slots_count_per_subject() {
    let counts = Arc::new(SubjectCounts::default());
    let a1 = SubjectSlot::take(&counts, Some("iss"), "alice", 1).unwrap();
    assert!(SubjectSlot::take(&counts, Some("iss"), "alice", 1).is_none());
    // Another subject, or the same `sub` from another issuer, is another client.
    let _bob = SubjectSlot::take(&counts, Some("iss"), "bob", 1).unwrap();
    let _other = SubjectSlot::take(&counts, None, "alice", 1).unwrap();
    drop(a1);
    assert!(SubjectSlot::take(&counts, Some("iss"), "alice", 1).is_some());
}
