//! Black-box HTTP tests of the hub (MERCURE.md, requirement by
//! requirement): the router served by `sse_server::serve` on 127.0.0.1:0,
//! spoken to over raw TCP. Each test is named after the requirement it
//! checks (M… for S/H, L… for the legacy generation); durability, fan-out
//! and limits tests follow. Waits are on events, each bounded.
//!
//! The cases every harness runs are `sse_testkit::mercure::cases`
//! (`sse-cli`'s `mercure_binary` test runs them against the `sse serve`
//! binary); the tests below need the hub in process (its metrics object,
//! a store the test opens itself, settings `sse serve` has no flag for).

use std::time::Duration;

use sse_testkit::mercure::client::{bounded, enc, request, Sse};
use sse_testkit::mercure::{InProcessHub, MercureHarness, HUB_PATH};

sse_testkit::mercure_cases!(InProcessHub);

use std::sync::Arc;

use sse_hub::store::Store;

/// S: exactly one topic, behind a switch `sse serve` does not offer.
#[tokio::test]
async fn m14_s_single_topic_behind_the_switch() {
    let hub = InProcessHub::memory(|c| c.publish.single_topic = true).await;
    assert_eq!(hub.publish("topic=a&topic=b").await.status, 400);
    hub.stop().await;
}

/// S/L: the reserved namespace is a 403, behind a switch `sse serve`
/// does not offer.
#[tokio::test]
async fn m15_s_reserved_namespace_is_403_behind_the_switch() {
    let hub = InProcessHub::memory(|c| c.publish.reserved_namespace_forbidden = true).await;
    assert_eq!(
        hub.publish("topic=%2F.well-known%2Fmercure%2Fx")
            .await
            .status,
        403
    );
    hub.stop().await;
}

/// A closed store: publishing says 503 and health degrades.
#[tokio::test]
async fn a_closed_store_gives_503_and_degraded_health() {
    let store = fresh_memory_store();
    let hub2 = InProcessHub::start(Arc::clone(&store) as Arc<dyn Store>, |_| {}).await;
    store.close().await.unwrap();
    let r = hub2.publish("topic=t").await;
    assert_eq!(r.status, 503, "{}", r.text());
    let r = bounded("health to degrade", async {
        loop {
            let r = hub2.get("/healthz", &[]).await;
            if r.status == 503 {
                break r;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(r.text(), "degraded\n");
    hub2.stop().await;
}

fn fresh_memory_store() -> Arc<sse_hub::store::MemoryStore> {
    sse_hub::HubConfig::default().memory_store()
}

#[tokio::test]
async fn shutdown_tells_streams_to_retry() {
    let hub = InProcessHub::memory(|c| c.shutdown_retry = Duration::from_millis(1234)).await;
    let mut sub = hub.subscribe("match=t", &[]).await;
    hub.hub.shutdown().await;
    let events = sub.until_end().await;
    assert!(events.iter().any(|e| e.retry == Some(1234)), "{events:?}");
    assert_eq!(hub.publish("topic=t").await.status, 503);
    hub.stop().await;
}

#[tokio::test]
async fn durability_sqlite_history_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.sqlite3");
    let config = sse_hub::HubConfig::default();

    let store = config.sqlite_store(&path).unwrap();
    let hub = InProcessHub::start(store, |_| {}).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(hub.publish_ok(&format!("topic=t&data={i}")).await);
    }
    hub.stop().await; // closes the store

    let store = config.sqlite_store(&path).unwrap();
    let hub = InProcessHub::start(store, |_| {}).await;
    let mut sub = hub
        .subscribe("match=t", &[("last-event-id", &ids[3])])
        .await;
    assert_eq!(
        sub.header("mercure-last-event-id"),
        Some(ids[3].as_str()),
        "complete history"
    );
    let later = hub.publish_ok("topic=t&data=10").await;
    for (i, id) in ids.iter().enumerate().skip(4) {
        let ev = sub.next_update().await;
        assert_eq!(ev.id.as_deref(), Some(id.as_str()));
        assert_eq!(ev.data, Some(i.to_string()));
    }
    let ev = sub.next_update().await;
    assert_eq!(ev.id.as_deref(), Some(later.as_str()), "then live, once");
    // Unknown id: `earliest`.
    let sub = hub
        .subscribe("match=t", &[("last-event-id", "urn:uuid:gone")])
        .await;
    assert_eq!(sub.header("mercure-last-event-id"), Some("earliest"));
    hub.stop().await;
}

#[tokio::test]
async fn handoff_from_replay_to_live_has_no_gap_or_duplicate() {
    let hub = InProcessHub::memory(|c| c.limits.replay_page = 7).await;
    let total = 60;
    for i in 0..total / 2 {
        hub.publish_ok(&format!("topic=t&data={i}")).await;
    }
    // Publish concurrently with the subscriber's replay.
    let publisher = {
        let addr = hub.addr;
        let token = hub.pub_token();
        tokio::spawn(async move {
            for i in total / 2..total {
                let auth = format!("Bearer {token}");
                let r = request(
                    addr,
                    "POST",
                    HUB_PATH,
                    &[
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("authorization", &auth),
                    ],
                    format!("topic=t&data={i}").as_bytes(),
                )
                .await;
                assert_eq!(r.status, 200);
            }
        })
    };
    let mut sub = hub.subscribe("match=t&last_event_id=earliest", &[]).await;
    let mut got = Vec::new();
    for _ in 0..total {
        got.push(sub.next_update().await.data.unwrap());
    }
    let expected: Vec<String> = (0..total).map(|i| i.to_string()).collect();
    assert_eq!(got, expected);
    publisher.await.unwrap();
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_200_subscribers_get_exactly_what_they_match() {
    let hub = InProcessHub::memory(|_| {}).await;
    let topics: Vec<String> = (0..10)
        .map(|i| format!("https://example.com/books/{i}"))
        .collect();
    // Subscriber k: exact topic k%10, or the pattern for even books, or `*`.
    let mut subs = Vec::new();
    for k in 0..200 {
        let (query, wants): (String, Box<dyn Fn(usize) -> bool + Send>) = match k % 3 {
            0 => (
                format!("match={}", enc(&topics[k % 10])),
                Box::new(move |t| t == k % 10),
            ),
            1 => (
                format!(
                    "match_urlpattern={}&match={}",
                    enc("https://example.com/books/:id([02468])"),
                    enc(&topics[k % 10])
                ),
                Box::new(move |t| t % 2 == 0 || t == k % 10),
            ),
            _ => ("match=*".to_owned(), Box::new(|_| true)),
        };
        subs.push((hub.subscribe(&query, &[]).await, wants));
    }
    for (t, topic) in topics.iter().enumerate() {
        hub.publish_ok(&format!("topic={}&data={t}", enc(topic)))
            .await;
    }
    hub.publish_ok("topic=end&data=end").await; // nobody but `*` wants it
    for (k, (sub, wants)) in subs.iter_mut().enumerate() {
        let expected: Vec<String> = (0..10)
            .filter(|&t| wants(t))
            .map(|t| t.to_string())
            .collect();
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(sub.next_update().await.data.unwrap());
        }
        assert_eq!(got, expected, "subscriber {k}");
    }
    // Nothing more (no duplicate): the `*` subscribers' next update is `end`.
    for (sub, _) in subs.iter_mut().skip(2).step_by(3) {
        assert_eq!(sub.next_update().await.data.as_deref(), Some("end"));
    }
    assert_eq!(hub.hub.metrics().drops(), 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_a_stalled_subscriber_is_disconnected_and_others_keep_up() {
    let hub = InProcessHub::memory(|c| {
        c.limits.queue_frames = 4;
        c.publish.max_body = 256 * 1024;
    })
    .await;
    let stalled = Sse::open(hub.addr, &format!("{HUB_PATH}?match=t"), &[], Some(4096))
        .await
        .unwrap_or_else(|r| panic!("{}", r.status));
    let mut reader = hub.subscribe("match=t", &[]).await;
    let payload = "x".repeat(128 * 1024);
    let mut sent = 0;
    // Publish until the stalled subscriber is dropped (bounded), reading
    // everything on the healthy one as it arrives.
    bounded("the stalled subscriber to be dropped", async {
        while hub.hub.metrics().drops() == 0 {
            assert!(sent < 2000, "never dropped");
            hub.publish_ok(&format!("topic=t&data={payload}&id=n{sent}"))
                .await;
            let ev = reader.next_update().await;
            assert_eq!(ev.id, Some(format!("n{sent}")));
            sent += 1;
        }
    })
    .await;
    // The healthy reader keeps receiving after the drop.
    hub.publish_ok("topic=t&data=after&id=last").await;
    assert_eq!(reader.next_update().await.id.as_deref(), Some("last"));
    drop(stalled);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_a_subscriber_that_takes_nothing_is_dropped_after_the_write_timeout() {
    // A queue too large to fill here: only the write timeout can end the
    // stalled stream.
    let hub = InProcessHub::memory(|c| {
        c.limits.queue_frames = 1 << 16;
        c.limits.queue_bytes = 1 << 30;
        c.limits.write_timeout = Duration::from_millis(300);
        c.publish.max_body = 256 * 1024;
    })
    .await;
    let stalled = Sse::open(hub.addr, &format!("{HUB_PATH}?match=t"), &[], Some(4096))
        .await
        .unwrap_or_else(|r| panic!("{}", r.status));
    let mut reader = hub.subscribe("match=t", &[]).await;
    assert_eq!(hub.hub.metrics().subscribers(), 2);
    let payload = "x".repeat(128 * 1024);
    let mut sent = 0;
    bounded("the stalled subscriber to be dropped", async {
        while hub.hub.metrics().subscribers() == 2 {
            assert!(sent < 400, "never dropped");
            hub.publish_ok(&format!("topic=t&data={payload}&id=n{sent}"))
                .await;
            assert_eq!(reader.next_update().await.id, Some(format!("n{sent}")));
            sent += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    // Not a queue overflow: the drop counter counts those.
    assert_eq!(hub.hub.metrics().drops(), 0);
    assert_eq!(hub.hub.metrics().subscribers(), 1);
    hub.publish_ok("topic=t&data=after&id=last").await;
    assert_eq!(reader.next_update().await.id.as_deref(), Some("last"));
    drop(stalled);
    hub.stop().await;
}

fn update(id: &str, data: &str) -> sse_hub::Update {
    sse_hub::Update {
        id: id.to_owned(),
        topics: vec!["t".to_owned()],
        data: data.to_owned(),
        private: false,
        event_type: None,
        retry: None,
    }
}

/// A memory store whose live feed holds only `live` entries, so a burst of
/// appends that never yields makes the fan-out lag.
fn lagging_store(live: usize, retained: usize) -> Arc<sse_hub::store::MemoryStore> {
    Arc::new(sse_hub::store::MemoryStore::new(
        sse_hub::store::MemoryConfig {
            live_capacity: live,
            retention: sse_hub::store::Retention::new(retained),
            ..sse_hub::store::MemoryConfig::default()
        },
    ))
}

#[tokio::test]
async fn fanout_recovers_from_history_when_the_live_feed_lags() {
    let store = lagging_store(4, 1000);
    let hub = InProcessHub::start(Arc::clone(&store) as Arc<dyn Store>, |_| {}).await;
    let mut sub = hub.subscribe("match=t", &[]).await;
    // One update through the fan-out first, so it has a position to resume
    // after.
    store.append(update("u0", "0")).await.unwrap();
    assert_eq!(sub.next_update().await.data.as_deref(), Some("0"));
    // A burst: the memory store's appends complete without yielding, so
    // the fan-out task cannot keep up with its 4-entry live feed.
    for i in 1..100 {
        store
            .append(update(&format!("u{i}"), &i.to_string()))
            .await
            .unwrap();
    }
    for i in 1..100 {
        let ev = sub.next_update().await;
        assert_eq!(ev.data, Some(i.to_string()), "in order, once");
    }
    store.append(update("end", "end")).await.unwrap();
    assert_eq!(sub.next_update().await.data.as_deref(), Some("end"));
    let metrics = hub.hub.metrics().render();
    assert!(
        !metrics.contains("sse_hub_fanout_recoveries_total 0\n"),
        "the burst did not make the fan-out lag:\n{metrics}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn fanout_lag_past_history_disconnects_subscribers_to_resume() {
    let store = lagging_store(4, 10);
    let hub = InProcessHub::start(Arc::clone(&store) as Arc<dyn Store>, |_| {}).await;
    let mut sub = hub.subscribe("match=t", &[]).await;
    store.append(update("u0", "0")).await.unwrap();
    assert_eq!(sub.next_update().await.data.as_deref(), Some("0"));
    for i in 1..100 {
        store
            .append(update(&format!("u{i}"), &i.to_string()))
            .await
            .unwrap();
    }
    // The lost range cannot be re-read: the stream ends, and a resume says
    // history is incomplete.
    sub.until_end().await;
    let again = hub.subscribe("match=t", &[("last-event-id", "u0")]).await;
    assert_eq!(again.header("mercure-last-event-id"), Some("earliest"));
    hub.stop().await;
}

#[tokio::test]
async fn m32_a_maximum_connection_lifetime_is_enforced() {
    let hub = InProcessHub::memory(|c| {
        c.limits.max_connection_lifetime = Some(Duration::from_millis(300));
        c.limits.sweep_interval = Duration::from_millis(50);
    })
    .await;
    let mut sub = hub.subscribe("match=t", &[]).await;
    sub.until_end().await;
    hub.stop().await;
}

#[tokio::test]
async fn a_failing_store_gives_503_never_a_silent_drop() {
    let store = fresh_memory_store();
    let hub = InProcessHub::start(Arc::clone(&store) as Arc<dyn Store>, |_| {}).await;
    hub.publish_ok("topic=t").await;
    store.close().await.unwrap();
    let r = hub.publish("topic=t&data=lost").await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("not stored"), "{}", r.text());
    assert!(r.header("retry-after").is_some());
    // History cannot be read either: a cursor subscribe is refused.
    let r = hub
        .try_subscribe("match=t&last_event_id=earliest", &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(r.status, 503);
    hub.stop().await;
}
