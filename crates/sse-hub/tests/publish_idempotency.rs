//! Idempotent publishing, over real HTTP: a publish whose `id` is already
//! in history is answered 200 with that id and stores and delivers nothing
//! new (memory, SQLite, and a real `redis-server` with the `redis`
//! feature); and a publish whose outcome the hub cannot know (Redis paused
//! with SIGSTOP while the append waits for its answer) is answered 503
//! "outcome unknown" naming the id, and a retry with that id after SIGCONT
//! is delivered exactly once. Without `redis-server` the Redis tests skip
//! with a message, or fail under `SSE_TEST_STRICT=1`.

use std::sync::Arc;

use sse_hub::store::{MemoryConfig, MemoryStore, SqliteConfig, SqliteStore, Store};
use sse_testkit::mercure::client::Sse;
use sse_testkit::mercure::{InProcessHub, MercureHarness};

/// The ids a subscriber receives up to and including `last`.
async fn ids_until(sub: &mut Sse, last: &str) -> Vec<String> {
    let mut ids = Vec::new();
    while ids.last().map(String::as_str) != Some(last) {
        let ev = sub.next_update().await;
        ids.push(ev.id.unwrap_or_default());
        assert!(ids.len() < 100, "no {last:?} among {ids:?}");
    }
    ids
}

async fn a_repeated_id_is_answered_200_and_stored_and_delivered_once(store: Arc<dyn Store>) {
    let hub = InProcessHub::start(Arc::clone(&store), |_| {}).await;
    let mut sub = hub.subscribe("match=t", &[]).await;
    assert_eq!(hub.publish_ok("topic=t&id=x&data=first").await, "x");
    let again = hub.publish("topic=t&id=x&data=second").await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.text(), "x", "the answer names the id");
    assert_eq!(
        (
            hub.hub.metrics().publishes(),
            hub.hub.metrics().publish_duplicates()
        ),
        (2, 1),
        "both acknowledged, the second counted as a duplicate"
    );
    hub.publish_ok("topic=t&id=end").await;
    let mut seen = Vec::new();
    while seen.last().map(|(id, _): &(String, String)| id.as_str()) != Some("end") {
        let ev = sub.next_update().await;
        seen.push((ev.id.unwrap_or_default(), ev.data.unwrap_or_default()));
    }
    assert_eq!(
        seen,
        [
            ("x".to_owned(), "first".to_owned()),
            ("end".to_owned(), String::new())
        ],
        "x is delivered once, as first published"
    );
    // History holds it once too: a replay from the start.
    let mut replay = hub.subscribe("match=t&last_event_id=earliest", &[]).await;
    assert_eq!(ids_until(&mut replay, "end").await, ["x", "end"]);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_repeated_id_is_answered_200_and_stored_and_delivered_once() {
    let store = Arc::new(MemoryStore::new(MemoryConfig::default()));
    a_repeated_id_is_answered_200_and_stored_and_delivered_once(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_repeated_id_is_answered_200_and_stored_and_delivered_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteConfig::new(dir.path().join("hub.sqlite3"))).expect("open");
    a_repeated_id_is_answered_200_and_stored_and_delivered_once(Arc::new(store)).await;
}

#[cfg(feature = "redis")]
mod redis {
    use std::sync::Arc;
    use std::time::Duration;

    use sse_hub::store::{RedisConfig, RedisStore};
    use sse_testkit::mercure::{InProcessHub, MercureHarness};
    use sse_testkit::redis::Redis;

    use super::{a_repeated_id_is_answered_200_and_stored_and_delivered_once, ids_until};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_a_repeated_id_is_answered_200_and_stored_and_delivered_once() {
        let Some(url) = sse_testkit::redis::shared_url() else {
            return;
        };
        let config = RedisConfig {
            prefix: format!("idempotent-{}", std::process::id()),
            ..RedisConfig::new(url)
        };
        let store = RedisStore::open(config).await.expect("open");
        a_repeated_id_is_answered_200_and_stored_and_delivered_once(Arc::new(store)).await;
    }

    /// The id a 503 "outcome unknown" tells the publisher to retry with.
    fn retry_id(body: &str) -> String {
        let (_, rest) = body
            .split_once("same id (")
            .unwrap_or_else(|| panic!("no retry id in {body:?}"));
        rest.split_once(')')
            .expect("a closing parenthesis")
            .0
            .to_owned()
    }

    /// Redis paused (SIGSTOP) while an append waits for its answer: the
    /// script may run once Redis resumes, so the publish is answered 503
    /// "outcome unknown" naming the id (the publisher's, or the one the
    /// hub generated), never "not stored". After SIGCONT a retry with that
    /// id is answered 200, and the subscriber receives the update once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unanswered_append_is_outcome_unknown_and_its_retry_is_delivered_once() {
        let Some(redis) = Redis::start() else {
            return;
        };
        let store = RedisStore::open(RedisConfig {
            prefix: "paused".to_owned(),
            // The publish's 503 comes after this long without an answer.
            command_timeout: Duration::from_millis(500),
            ..RedisConfig::new(redis.url())
        })
        .await
        .expect("open");
        let hub = InProcessHub::start(Arc::new(store), |_| {}).await;
        let mut sub = hub.subscribe("match=t", &[]).await;
        hub.publish_ok("topic=t&id=before").await;

        // The publisher's own id.
        redis.signal("-STOP");
        let r = hub.publish("topic=t&id=doubt&data=d").await;
        redis.signal("-CONT");
        let body = r.text();
        assert_eq!(r.status, 503, "{body}");
        assert!(body.contains("outcome is unknown"), "{body}");
        assert!(!body.contains("not stored"), "{body}");
        assert_eq!(retry_id(&body), "doubt");
        assert!(r.header("retry-after").is_some());
        assert_eq!(hub.publish_ok("topic=t&id=doubt&data=d").await, "doubt");

        // No id: the hub generated one before the append and names it.
        redis.signal("-STOP");
        let r = hub.publish("topic=t&data=g").await;
        redis.signal("-CONT");
        let body = r.text();
        assert_eq!(r.status, 503, "{body}");
        assert!(body.contains("outcome is unknown"), "{body}");
        let generated = retry_id(&body);
        assert!(generated.starts_with("urn:uuid:"), "{body}");
        let form = format!(
            "topic=t&data=g&id={}",
            sse_testkit::mercure::client::enc(&generated)
        );
        assert_eq!(hub.publish_ok(&form).await, generated);

        hub.publish_ok("topic=t&id=end").await;
        assert_eq!(
            ids_until(&mut sub, "end").await,
            ["before", "doubt", generated.as_str(), "end"],
            "each update in doubt is delivered exactly once"
        );
        hub.stop().await;
    }
}
