//! The store conformance suite (`sse_testkit::store_conformance`: written
//! once, run against every backend) for the hub's backends: one
//! `store_conformance!` line each, expanding every case into a test named
//! `<backend>::<case>`. Redis (with the `redis` feature): one private
//! `redis-server` per test binary on a free port, and a fresh key prefix
//! per factory, durable like SQLite; its factory below is how a backend in
//! another crate joins the suite. Without `redis-server` the Redis cases
//! skip with a message, or fail under `SSE_TEST_STRICT=1`.
//!
//! Time is a `ManualClock`; waits on live feeds are bounded; no test
//! sleeps.

use sse_testkit::store_conformance::factories;

sse_testkit::store_conformance!(memory, factories::memory, property_cases = 128);
sse_testkit::store_conformance!(sqlite, factories::sqlite, property_cases = 48);
sse_testkit::store_conformance!(
    sqlite_datasync,
    factories::sqlite_datasync,
    property_cases = 16
);
#[cfg(feature = "redis")]
sse_testkit::store_conformance!(redis, redis_only::factory, property_cases = 24);

/// What only the Redis backend has: a stream shared by several stores (hub
/// nodes), and index keys that must stay bounded by the stream.
#[cfg(feature = "redis")]
mod redis_only {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Duration;

    use sse_hub::store::{Cursor, RedisConfig, RedisStore, Retention, Store};
    use sse_testkit::store_conformance::{replay_all, update, Factory, Options, WAIT};

    /// Redis on the shared test server, under a key prefix of its own; `None`
    /// when the cases skip (see `sse_testkit::redis::shared_url`).
    pub fn factory() -> Option<Factory> {
        use std::sync::atomic::AtomicU64;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let url = sse_testkit::redis::shared_url()?;
        let prefix = format!(
            "conformance-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Some(Factory::new(true, move |o: Options| {
            let config = sse_hub::store::RedisConfig {
                prefix: prefix.clone(),
                retention: o.retention,
                clock: Arc::new(o.clock),
                live_capacity: o.live_capacity,
                ..sse_hub::store::RedisConfig::new(url.clone())
            };
            Box::pin(async move {
                let store = sse_hub::store::RedisStore::open(config).await?;
                Ok(Arc::new(store) as Arc<dyn Store>)
            })
        }))
    }

    async fn open(url: &str, prefix: &str, retention: Retention) -> RedisStore {
        RedisStore::open(RedisConfig {
            prefix: prefix.to_owned(),
            retention,
            ..RedisConfig::new(url)
        })
        .await
        .expect("open")
    }

    fn prefix(name: &str) -> String {
        format!("{name}-{}", std::process::id())
    }

    /// The field names of hash `key`.
    async fn hkeys(url: &str, key: &str) -> Vec<String> {
        let client = ::redis::Client::open(url).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        ::redis::cmd("HKEYS")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("HKEYS")
    }

    async fn hlen(url: &str, key: &str) -> usize {
        hkeys(url, key).await.len()
    }

    /// Two nodes on one stream: each one's live feed yields every update,
    /// both in the stream's order, whoever appended it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_on_one_stream_see_every_update_in_one_order() {
        let Some(url) = sse_testkit::redis::shared_url() else {
            return;
        };
        let prefix = prefix("two-nodes");
        let a = Arc::new(open(&url, &prefix, Retention::new(1_000)).await);
        let b = Arc::new(open(&url, &prefix, Retention::new(1_000)).await);
        let (mut live_a, mut live_b) = (a.live(), b.live());
        let mut tasks = Vec::new();
        for (n, store) in [Arc::clone(&a), Arc::clone(&b)].into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                for i in 0..50 {
                    store
                        .append(update(&format!("n{n}-{i}")))
                        .await
                        .expect("append");
                }
            }));
        }
        for t in tasks {
            t.await.expect("publisher");
        }
        let (stored, complete) = replay_all(&*a, Cursor::Earliest, 32).await;
        assert!(complete);
        assert_eq!(stored.len(), 100);
        for live in [&mut live_a, &mut live_b] {
            let mut fed = Vec::new();
            for _ in 0..stored.len() {
                let e = tokio::time::timeout(WAIT, live.recv())
                    .await
                    .expect("bounded")
                    .expect("entry");
                fed.push(e);
            }
            assert_eq!(fed, stored, "a node's feed = the stream");
        }
        // Either node resumes a client from an id the other stored.
        let r = b
            .replay(Cursor::Id("n0-10".to_owned()), 1_000)
            .await
            .expect("replay");
        let at = stored
            .iter()
            .position(|e| e.update.id == "n0-10")
            .expect("stored");
        assert!(r.complete);
        assert_eq!(r.entries, stored[at + 1..]);
        a.close().await.expect("close");
        b.close().await.expect("close");
    }

    async fn command(url: &str, args: &[&str]) {
        let client = ::redis::Client::open(url).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let mut cmd = ::redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query_async::<::redis::Value>(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    }

    /// A node cut off from Redis while other nodes publish past the history
    /// size cannot feed what was evicted meanwhile: once it is back, its
    /// live feed reports a lag (so the fan-out replays, finds history
    /// incomplete and sends its subscribers to resume, where they learn it)
    /// instead of skipping the evicted updates silently.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_that_missed_evicted_updates_reports_a_lag() {
        let Some(url) = sse_testkit::redis::shared_url() else {
            return;
        };
        let prefix = prefix("cut-off");
        // Node B connects as its own ACL user, so that it alone can be cut
        // off: disable the user and kill its connections.
        let user = format!("node-b-{}", std::process::id());
        command(
            &url,
            &["ACL", "SETUSER", &user, "on", ">secret", "~*", "+@all"],
        )
        .await;
        let b_url = url.replacen("redis://", &format!("redis://{user}:secret@"), 1);
        let retention = Retention::new(3);
        let a = open(&url, &prefix, retention).await;
        let b = RedisStore::open(RedisConfig {
            prefix: prefix.clone(),
            retention,
            max_backoff: Duration::from_millis(100),
            ..RedisConfig::new(&b_url)
        })
        .await
        .expect("open b");
        let mut live_b = b.live();
        let first = a.append(update("before")).await.expect("append");
        let got = tokio::time::timeout(WAIT, live_b.recv())
            .await
            .expect("bounded")
            .expect("entry");
        assert_eq!(got, first);

        command(&url, &["ACL", "SETUSER", &user, "off"]).await;
        command(&url, &["CLIENT", "KILL", "USER", &user]).await;
        // More than the history holds, while B cannot read.
        for i in 0..5 {
            a.append(update(&format!("missed-{i}")))
                .await
                .expect("append");
        }
        command(&url, &["ACL", "SETUSER", &user, "on"]).await;
        let after = a.append(update("after")).await.expect("append");

        // B's feed: a lag, not a silent jump from `before` to the retained
        // tail.
        let mut fed = Vec::new();
        let lagged = loop {
            match tokio::time::timeout(WAIT, live_b.recv())
                .await
                .expect("B never reported the gap")
            {
                Ok(e) => {
                    let done = e.position >= after.position;
                    fed.push(e.update.id.clone());
                    assert!(!done, "B fed {fed:?} past the gap without a lag");
                }
                Err(e) => break e,
            }
        };
        assert!(lagged.is_lagged(), "{lagged}");
        // Recovery by replay says history is incomplete from there.
        let r = b
            .replay(Cursor::After(first.position), 10)
            .await
            .expect("replay");
        assert!(!r.complete);
        a.close().await.expect("close");
        b.close().await.expect("close");
        command(&url, &["ACL", "DELUSER", &user]).await;
    }

    /// The id index shrinks with the stream: it never names an evicted
    /// entry, so it stays within the history bound; ids come back after
    /// their eviction as new entries (the idempotency window is the
    /// history), so the duplicate chain stays empty.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn index_keys_stay_bounded_by_retention() {
        let Some(url) = sse_testkit::redis::shared_url() else {
            return;
        };
        let prefix = prefix("bounded");
        let store = open(&url, &prefix, Retention::new(3)).await;
        let mut appended = Vec::new();
        for i in 0..60 {
            // Mostly reused ids, each one evicted before it comes back.
            let id = match i % 4 {
                0 => format!("unique-{i}"),
                k => format!("reused-{k}"),
            };
            let entry = store.append(update(&id)).await.expect("append");
            assert!(
                !entry.is_duplicate(),
                "{id} was evicted before it came back"
            );
            appended.push(entry);
        }
        assert!(hlen(&url, &format!("{prefix}:ids")).await <= 3);
        // The dups hash also holds the history's epoch (see the store's
        // "History reset" docs), and nothing else here.
        let chained: Vec<String> = hkeys(&url, &format!("{prefix}:dups"))
            .await
            .into_iter()
            .filter(|k| k != "epoch")
            .collect();
        assert_eq!(chained, Vec::<String>::new());
        let retained = &appended[appended.len() - 3..];
        let (kept, _) = replay_all(&store, Cursor::Earliest, 10).await;
        assert_eq!(kept, retained);
        for (i, e) in retained.iter().enumerate() {
            let r = store
                .replay(Cursor::Id(e.update.id.clone()), 10)
                .await
                .expect("replay");
            assert!(r.complete, "{}", e.update.id);
            assert_eq!(r.after, Some(e.position));
            assert_eq!(r.entries, retained[i + 1..]);
        }
        store.close().await.expect("close");
    }

    /// Two nodes appending one id at once store it once: the check runs in
    /// the append script, atomically, whichever node runs it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_appending_one_id_store_it_once() {
        let Some(url) = sse_testkit::redis::shared_url() else {
            return;
        };
        let prefix = prefix("one-id");
        let a = Arc::new(open(&url, &prefix, Retention::new(100)).await);
        let b = Arc::new(open(&url, &prefix, Retention::new(100)).await);
        let mut tasks = Vec::new();
        for store in [&a, &b, &a, &b] {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                store.append(update("both")).await.expect("append")
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.expect("publisher"));
        }
        assert_eq!(answers.iter().filter(|e| !e.is_duplicate()).count(), 1);
        let (stored, _) = replay_all(&*a, Cursor::Earliest, 10).await;
        assert_eq!(stored.len(), 1);
        assert!(answers.iter().all(|e| e.position == stored[0].position));
        a.close().await.expect("close");
        b.close().await.expect("close");
    }
}
