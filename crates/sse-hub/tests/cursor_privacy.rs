//! A cursor is no oracle: a subscriber that sends `Last-Event-ID` naming
//! a private update it may not read gets exactly the answer of an unknown
//! id (the same headers, `earliest`, and the same events), in both
//! generations (current `match=` and legacy `topic=`), and the
//! subscriptions API's `lastEventID` never names such an update. Run over
//! real HTTP against the hub on each store: memory, SQLite, and a real
//! `redis-server` (feature `redis`; skipped without the server).

use std::sync::Arc;

use sse_hub::store::{MemoryConfig, MemoryStore, SqliteConfig, SqliteStore, Store};
use sse_testkit::mercure::client::{bearer, bounded, enc, exact, pattern, Sse};
use sse_testkit::mercure::{InProcessHub, MercureHarness, HUB_PATH};

const SECRET_TOPIC: &str = "https://example.com/secret/1";
const PUBLIC_TOPIC: &str = "https://example.com/public/1";

/// The response head a subscriber sees, without what differs by request
/// anyway (`date`).
fn head(sub: &Sse) -> Vec<(String, String)> {
    sub.headers
        .iter()
        .filter(|(name, _)| name != "date")
        .cloned()
        .collect()
}

/// The answers to a cursor naming the private update `private` and to an
/// unknown one are the same, for `query` (a current or legacy subscribe),
/// anonymously and with a token that does not cover the private topic; a
/// token that covers it gets the id confirmed and the replay.
async fn check_cursor(hub: &InProcessHub, query: &str, private: &str, after: &str) {
    let other = hub.sub_token(vec![exact(PUBLIC_TOPIC)]);
    let other = bearer(&other);
    for auth in [None, Some(other.as_str())] {
        let mut known = vec![("last-event-id", private)];
        let mut unknown = vec![("last-event-id", "urn:uuid:never-published")];
        if let Some(a) = auth {
            known.push(("authorization", a));
            unknown.push(("authorization", a));
        }
        let mut probe = hub.subscribe(query, &known).await;
        let mut baseline = hub.subscribe(query, &unknown).await;
        assert_eq!(
            probe.header("last-event-id"),
            Some("earliest"),
            "{query} {auth:?}"
        );
        assert_eq!(head(&probe), head(&baseline), "{query} {auth:?}");
        // The same events: nothing replayed (not even the public update
        // published after the private one), then live.
        let live = hub
            .publish_ok(&format!(
                "topic={}&topic={}&data=live",
                enc(PUBLIC_TOPIC),
                enc(SECRET_TOPIC)
            ))
            .await;
        let (p, b) = (probe.next_update().await, baseline.next_update().await);
        assert_eq!(p.id.as_deref(), Some(live.as_str()), "{query} {auth:?}");
        assert_eq!(p.raw, b.raw, "{query} {auth:?}");
    }
    // A token that may read the private update: the cursor is confirmed
    // and what followed it is replayed.
    let reader = hub.sub_token(vec![exact(SECRET_TOPIC), exact(PUBLIC_TOPIC)]);
    let mut sub = hub
        .subscribe(
            query,
            &[
                ("last-event-id", private),
                ("authorization", &bearer(&reader)),
            ],
        )
        .await;
    assert_eq!(sub.header("last-event-id"), Some(private), "{query}");
    assert_eq!(
        sub.next_update().await.id.as_deref(),
        Some(after),
        "{query}"
    );
}

async fn cursor_naming_a_private_update_is_answered_as_an_unknown_id(store: Arc<dyn Store>) {
    let hub = InProcessHub::start(store, |c| c.subscriptions = true).await;
    let private = hub
        .publish_ok(&format!(
            "topic={}&data=secret&private=on",
            enc(SECRET_TOPIC)
        ))
        .await;
    let after = hub
        .publish_ok(&format!("topic={}&data=public", enc(PUBLIC_TOPIC)))
        .await;
    let current = format!("match={}&match={}", enc(SECRET_TOPIC), enc(PUBLIC_TOPIC));
    check_cursor(&hub, &current, &private, &after).await;
    let legacy = format!("topic={}&topic={}", enc(SECRET_TOPIC), enc(PUBLIC_TOPIC));
    check_cursor(&hub, &legacy, &private, &after).await;
    hub.stop().await;
}

/// The subscriptions API's `lastEventID` (S's JSON-LD body and the legacy
/// body) names the newest update the caller may read: never a private
/// update outside its grants.
async fn subscriptions_api_never_names_a_private_update(store: Arc<dyn Store>) {
    let hub = InProcessHub::start(store, |c| {
        c.subscriptions = true;
        c.subscription_format = sse_hub::subscribe::SubscriptionFormat::JsonLd;
    })
    .await;
    let public = hub
        .publish_ok(&format!("topic={}&data=public", enc(PUBLIC_TOPIC)))
        .await;
    let private = hub
        .publish_ok(&format!(
            "topic={}&data=secret&private=on",
            enc(SECRET_TOPIC)
        ))
        .await;
    let api = format!("{HUB_PATH}/subscriptions");
    let api_grants = || vec![exact(&api), pattern(&format!("{api}/*"))];
    let reader = hub.sub_token([api_grants(), vec![exact(SECRET_TOPIC)]].concat());
    let outsider = hub.sub_token(api_grants());
    // The API reports what the fan-out dispatched: wait (bounded) until it
    // reached the private update, as seen by a caller that may read it.
    bounded("the API to report the private update", async {
        loop {
            let r = hub.get(&api, &[("authorization", &bearer(&reader))]).await;
            if r.json()["lastEventID"] == private.as_str() {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    let outsider = bearer(&outsider);
    let legacy_path = format!("{api}/{}", enc(PUBLIC_TOPIC));
    for path in [&api, &legacy_path] {
        let r = hub.get(path, &[("authorization", &outsider)]).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.json()["lastEventID"], public.as_str(), "{path}");
        let link = r.header("link").expect("a discovery link");
        assert!(
            link.contains(&format!("last-event-id=\"{public}\"")),
            "{path}: {link}"
        );
        assert!(!link.contains(&private), "{path}: {link}");
    }
    hub.stop().await;
}

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new(MemoryConfig::default()))
}

fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(SqliteConfig::new(dir.path().join("hub.sqlite3"))).expect("open"))
}

#[cfg(feature = "redis")]
async fn redis(name: &str) -> Option<Arc<dyn Store>> {
    let url = sse_testkit::redis::shared_url()?;
    let config = sse_hub::store::RedisConfig {
        prefix: format!("{name}-{}", std::process::id()),
        ..sse_hub::store::RedisConfig::new(url)
    };
    Some(Arc::new(
        sse_hub::store::RedisStore::open(config)
            .await
            .expect("open"),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_cursor_naming_a_private_update_is_answered_as_an_unknown_id() {
    cursor_naming_a_private_update_is_answered_as_an_unknown_id(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_cursor_naming_a_private_update_is_answered_as_an_unknown_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    cursor_naming_a_private_update_is_answered_as_an_unknown_id(sqlite(&dir)).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cursor_naming_a_private_update_is_answered_as_an_unknown_id() {
    let Some(store) = redis("cursor").await else {
        return;
    };
    cursor_naming_a_private_update_is_answered_as_an_unknown_id(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_subscriptions_api_never_names_a_private_update() {
    subscriptions_api_never_names_a_private_update(memory()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_subscriptions_api_never_names_a_private_update() {
    let dir = tempfile::tempdir().expect("temp dir");
    subscriptions_api_never_names_a_private_update(sqlite(&dir)).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_subscriptions_api_never_names_a_private_update() {
    let Some(store) = redis("api").await else {
        return;
    };
    subscriptions_api_never_names_a_private_update(store).await;
}
