//! The store conformance suite: written once, run against every backend.
//!
//! Each backend provides a [`Factory`] and one `conformance!` line at the
//! bottom of this file; the macro expands every case into a test named
//! `<backend>::<case>`. A backend joins by adding its line. Redis (with the
//! `redis` feature): one private `redis-server` per test binary on a free
//! port, and a fresh key prefix per factory, durable like SQLite. Without
//! `redis-server` the Redis cases skip with a message, or fail under
//! `SSE_TEST_STRICT=1`.
//!
//! Time is a [`ManualClock`]; waits on live feeds are bounded by
//! [`WAIT`]; no test sleeps.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sse_hub::store::{
    Cursor, Entry, LiveFeed, ManualClock, MemoryConfig, MemoryStore, Position, Replay, Retention,
    SqliteConfig, SqliteStore, Store, StoreError, StoreFuture, Synchronous, Tail,
};
use sse_hub::Update;

/// The bound on every wait for a live entry. Generous: it only turns a
/// hang into a failure, it is not a timing assertion.
const WAIT: Duration = Duration::from_secs(20);

/// What a case asks of the store it opens.
#[derive(Clone, Debug)]
struct Options {
    retention: Retention,
    clock: ManualClock,
    live_capacity: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention: Retention::new(10_000),
            clock: ManualClock::new(1_700_000_000_000),
            live_capacity: 4096,
        }
    }
}

type OpenFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Store>, StoreError>> + Send>>;

/// Opens stores of one backend. Every `open` of one factory opens the same
/// underlying data when the backend is `durable` (close the previous store
/// first); otherwise it opens an empty store.
struct Factory {
    open: Box<dyn Fn(Options) -> OpenFuture + Send + Sync>,
    durable: bool,
    /// Keeps the backend's files until the case ends.
    _dir: Option<tempfile::TempDir>,
}

/// A factory, or none when the backend's server is missing and its cases
/// skip.
trait MaybeFactory {
    fn factory(self) -> Option<Factory>;
}

impl MaybeFactory for Factory {
    fn factory(self) -> Option<Factory> {
        Some(self)
    }
}

impl MaybeFactory for Option<Factory> {
    fn factory(self) -> Option<Factory> {
        self
    }
}

impl Factory {
    async fn open(&self, options: Options) -> Arc<dyn Store> {
        (self.open)(options).await.expect("open the store")
    }
}

fn memory_factory() -> Factory {
    Factory {
        open: Box::new(|o: Options| {
            let store = MemoryStore::new(MemoryConfig {
                retention: o.retention,
                clock: Arc::new(o.clock),
                live_capacity: o.live_capacity,
            });
            Box::pin(async move { Ok(Arc::new(store) as Arc<dyn Store>) })
        }),
        durable: false,
        _dir: None,
    }
}

fn sqlite_factory() -> Factory {
    sqlite_factory_with(Synchronous::Full)
}

/// SQLite with the writer's own `fdatasync` instead of SQLite's `fsync`.
fn sqlite_datasync_factory() -> Factory {
    sqlite_factory_with(Synchronous::FullDataSync)
}

fn sqlite_factory_with(synchronous: Synchronous) -> Factory {
    let dir = tempfile::tempdir().expect("temp dir");
    // A subdirectory that does not exist yet: opening creates it.
    let path = dir.path().join("data").join("hub.sqlite3");
    Factory {
        open: Box::new(move |o: Options| {
            let config = SqliteConfig {
                retention: o.retention,
                clock: Arc::new(o.clock),
                live_capacity: o.live_capacity,
                synchronous,
                ..SqliteConfig::new(&path)
            };
            Box::pin(async move {
                let store = tokio::task::spawn_blocking(move || SqliteStore::open(config))
                    .await
                    .expect("open task")?;
                Ok(Arc::new(store) as Arc<dyn Store>)
            })
        }),
        durable: true,
        _dir: Some(dir),
    }
}

#[cfg(feature = "redis")]
mod redis_server {
    //! One private `redis-server` for this test binary.

    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::process::{Command, Stdio};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    /// `redis://127.0.0.1:<port>` of the shared server, or `None` (after a
    /// message) when `redis-server` is not installed and
    /// `SSE_TEST_STRICT` is unset.
    pub fn url() -> Option<String> {
        static URL: OnceLock<Option<String>> = OnceLock::new();
        URL.get_or_init(start).clone()
    }

    fn start() -> Option<String> {
        let strict = std::env::var_os("SSE_TEST_STRICT").is_some_and(|v| v == "1");
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(!strict, "redis-server is not installed (SSE_TEST_STRICT=1)");
            eprintln!("skipping the Redis store cases: redis-server is not installed");
            return None;
        }
        // A free port can be taken between the probe and redis-server's
        // bind: try a few.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            // The server must not outlive this process, and statics are
            // never dropped: a shell watchdog stops it when we are gone.
            let script = format!(
                "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no \
                 --daemonize no --loglevel warning & r=$!; \
                 while kill -0 {pid} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 1; done; \
                 kill $r 2>/dev/null",
                pid = std::process::id()
            );
            let mut watchdog = Command::new("sh")
                .arg("-c")
                .arg(script)
                .stdout(Stdio::null())
                .spawn()
                .expect("start redis-server");
            // Reaped when it ends (with the server), so it never lingers
            // as a zombie.
            std::thread::spawn(move || watchdog.wait());
            if ready(port) {
                return Some(format!("redis://127.0.0.1:{port}"));
            }
        }
        panic!("redis-server did not start");
    }

    /// Whether the server answers PING within a generous bound.
    fn ready(port: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

/// Redis on the shared test server, under a key prefix of its own; `None`
/// when the cases skip (see [`redis_server::url`]).
#[cfg(feature = "redis")]
fn redis_factory() -> Option<Factory> {
    use std::sync::atomic::AtomicU64;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url = redis_server::url()?;
    let prefix = format!(
        "conformance-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    Some(Factory {
        open: Box::new(move |o: Options| {
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
        }),
        durable: true,
        _dir: None,
    })
}

/// An update with id `id` (empty: let the store generate one).
fn update(id: &str) -> Update {
    Update {
        id: id.to_owned(),
        topics: vec![format!("https://example.com/items/{id}")],
        data: format!("data of {id}"),
        private: false,
        event_type: None,
        retry: None,
    }
}

async fn append_ids(store: &dyn Store, ids: &[&str]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for id in ids {
        entries.push(store.append(update(id)).await.expect("append"));
    }
    entries
}

fn ids(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| e.update.id.clone()).collect()
}

/// All of the history after `cursor`, following pages of `page` entries.
async fn replay_all(store: &dyn Store, cursor: Cursor, page: usize) -> (Vec<Entry>, bool) {
    let first = store.replay(cursor, page).await.expect("replay");
    let complete = first.complete;
    let mut more = first.more;
    let mut entries = first.entries;
    let mut rounds = 0;
    while more {
        rounds += 1;
        assert!(rounds < 100_000, "replay pages never end");
        let last = entries.last().expect("`more` after an empty page").position;
        let next = store
            .replay(Cursor::After(last), page)
            .await
            .expect("replay page");
        assert!(next.complete, "a page after a returned entry is complete");
        more = next.more;
        entries.extend(next.entries);
    }
    (entries, complete)
}

/// A store whose first replay lets another publisher append right after
/// the replay read and before the caller sees the result: the interleaving
/// that loses an entry when a consumer registers its live feed after
/// replaying instead of before.
struct Racing {
    inner: Arc<dyn Store>,
    armed: AtomicBool,
}

impl Racing {
    fn wrap(inner: Arc<dyn Store>) -> Arc<Racing> {
        Arc::new(Racing {
            inner,
            armed: AtomicBool::new(true),
        })
    }
}

impl Store for Racing {
    fn append(&self, update: Update) -> StoreFuture<'_, Entry> {
        self.inner.append(update)
    }

    fn replay(&self, cursor: Cursor, limit: usize) -> StoreFuture<'_, Replay> {
        Box::pin(async move {
            let replay = self.inner.replay(cursor, limit).await?;
            if self.armed.swap(false, Ordering::SeqCst) {
                self.inner.append(update("racer")).await?;
            }
            Ok(replay)
        })
    }

    fn live(&self) -> LiveFeed {
        self.inner.live()
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        self.inner.close()
    }
}

async fn next_live(tail: &mut Tail) -> Entry {
    tokio::time::timeout(WAIT, tail.next())
        .await
        .expect("a live entry within the wait bound")
        .expect("tail entry")
}

fn assert_increasing(entries: &[Entry]) {
    for pair in entries.windows(2) {
        assert!(
            pair[0].position < pair[1].position,
            "positions not increasing: {} then {}",
            pair[0].position,
            pair[1].position
        );
    }
}

mod cases {
    use super::*;

    pub async fn positions_increase_and_ids_are_kept(f: Factory) {
        let store = f.open(Options::default()).await;
        let entries = append_ids(&*store, &["a", "", "b", ""]).await;
        assert_increasing(&entries);
        assert_eq!(entries[0].update.id, "a");
        assert_eq!(entries[2].update.id, "b");
        for generated in [&entries[1], &entries[3]] {
            let id = &generated.update.id;
            assert!(id.starts_with("urn:uuid:"), "generated id {id:?}");
            assert_eq!(id.len(), "urn:uuid:".len() + 36);
        }
        assert_ne!(entries[1].update.id, entries[3].update.id);
        // The stored entries are exactly what append returned.
        let (replayed, complete) = replay_all(&*store, Cursor::Earliest, 100).await;
        assert!(complete);
        assert_eq!(replayed, entries);
    }

    pub async fn fields_round_trip(f: Factory) {
        let store = f.open(Options::default()).await;
        let odd = Update {
            id: "ünïcode id \u{0}".to_owned(),
            topics: vec![
                "https://example.com/a".to_owned(),
                "relative/b".to_owned(),
                "\"quoted\" [json]".to_owned(),
            ],
            data: "line 1\nline 2\r\nline 3\r\u{0}end".to_owned(),
            private: true,
            event_type: Some("custom".to_owned()),
            retry: Some(u64::MAX),
        };
        let plain = Update {
            topics: Vec::new(),
            data: String::new(),
            retry: Some(0),
            ..update("plain")
        };
        store.append(odd.clone()).await.expect("append");
        store.append(plain.clone()).await.expect("append");
        let (replayed, _) = replay_all(&*store, Cursor::Earliest, 10).await;
        assert_eq!(*replayed[0].update, odd);
        assert_eq!(*replayed[1].update, plain);
    }

    pub async fn replay_after_id(f: Factory) {
        let store = f.open(Options::default()).await;
        let names = ["a", "b", "c", "d", "e"];
        let entries = append_ids(&*store, &names).await;
        for (i, name) in names.iter().enumerate() {
            let replay = store
                .replay(Cursor::Id((*name).to_owned()), 100)
                .await
                .expect("replay");
            assert!(replay.complete, "after {name}");
            assert!(!replay.more);
            assert_eq!(replay.after, Some(entries[i].position));
            assert_eq!(replay.entries, entries[i + 1..], "after {name}");
        }
    }

    pub async fn replay_earliest(f: Factory) {
        let store = f.open(Options::default()).await;
        let empty = store.replay(Cursor::Earliest, 10).await.expect("replay");
        assert!(empty.complete && empty.entries.is_empty() && !empty.more);
        let entries = append_ids(&*store, &["a", "b", "c"]).await;
        let replay = store.replay(Cursor::Earliest, 10).await.expect("replay");
        assert!(replay.complete);
        assert_eq!(replay.after, None);
        assert_eq!(replay.entries, entries);
    }

    pub async fn replay_unknown_id_is_incomplete(f: Factory) {
        let store = f.open(Options::default()).await;
        append_ids(&*store, &["a", "b"]).await;
        for unknown in ["zzz", "", "earliest", "A"] {
            let replay = store
                .replay(Cursor::Id(unknown.to_owned()), 10)
                .await
                .expect("replay");
            assert!(!replay.complete, "{unknown:?} counted as known");
            assert!(replay.entries.is_empty());
            assert_eq!(replay.after, None);
        }
    }

    pub async fn replay_after_position(f: Factory) {
        let store = f.open(Options::default()).await;
        let fresh = store
            .replay(Cursor::After(Position::ZERO), 10)
            .await
            .expect("replay");
        assert!(fresh.complete && fresh.entries.is_empty());
        let entries = append_ids(&*store, &["a", "b", "c"]).await;
        let all = store
            .replay(Cursor::After(Position::ZERO), 10)
            .await
            .expect("replay");
        assert!(all.complete);
        assert_eq!(all.entries, entries);
        let tail = store
            .replay(Cursor::After(entries[0].position), 10)
            .await
            .expect("replay");
        assert_eq!(tail.entries, entries[1..]);
        assert_eq!(tail.after, Some(entries[0].position));
        let none = store
            .replay(Cursor::After(entries[2].position), 10)
            .await
            .expect("replay");
        assert!(none.complete && none.entries.is_empty());
        let future = store
            .replay(Cursor::After(Position::new(u64::MAX, u64::MAX)), 10)
            .await
            .expect("replay");
        assert!(future.complete && future.entries.is_empty());
    }

    pub async fn replay_newest_is_empty_and_complete(f: Factory) {
        let store = f.open(Options::default()).await;
        let empty = store.replay(Cursor::Newest, 10).await.expect("replay");
        assert!(empty.complete && empty.entries.is_empty() && !empty.more);
        let entries = append_ids(&*store, &["a", "b"]).await;
        let r = store.replay(Cursor::Newest, 10).await.expect("replay");
        assert!(r.complete && r.entries.is_empty() && !r.more);
        assert_eq!(r.after, Some(entries[1].position));
        assert_eq!(r.newest, Some(entries[1].position));
        let mut tail = Tail::start(Arc::clone(&store), Cursor::Newest, 10)
            .await
            .expect("tail");
        let later = append_ids(&*store, &["c"]).await;
        assert_eq!(next_live(&mut tail).await, later[0]);
    }

    pub async fn replay_in_pages(f: Factory) {
        let store = f.open(Options::default()).await;
        let names: Vec<String> = (0..10).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let entries = append_ids(&*store, &refs).await;
        let first = store.replay(Cursor::Earliest, 3).await.expect("replay");
        assert_eq!(first.entries, entries[..3]);
        assert!(first.more);
        // A limit of 0 still makes progress.
        let zero = store.replay(Cursor::Earliest, 0).await.expect("replay");
        assert_eq!(zero.entries, entries[..1]);
        assert!(zero.more);
        for page in [1, 3, 4, 10, 11] {
            let (all, complete) = replay_all(&*store, Cursor::Earliest, page).await;
            assert!(complete);
            assert_eq!(all, entries, "page size {page}");
        }
        let exact = store.replay(Cursor::Earliest, 10).await.expect("replay");
        assert!(!exact.more, "`more` with nothing more");
    }

    pub async fn duplicate_id_resolves_to_oldest(f: Factory) {
        let store = f.open(Options::default()).await;
        let entries = append_ids(&*store, &["a", "x", "a", "c"]).await;
        let replay = store
            .replay(Cursor::Id("a".to_owned()), 10)
            .await
            .expect("replay");
        assert!(replay.complete);
        assert_eq!(replay.after, Some(entries[0].position));
        assert_eq!(ids(&replay.entries), ["x", "a", "c"]);
    }

    pub async fn duplicate_id_after_eviction_resolves_to_next_occurrence(f: Factory) {
        let store = f
            .open(Options {
                retention: Retention::new(3),
                ..Options::default()
            })
            .await;
        let entries = append_ids(&*store, &["a", "y", "a", "w"]).await;
        // The first "a" is evicted; the retained "a" is the oldest now.
        let replay = store
            .replay(Cursor::Id("a".to_owned()), 10)
            .await
            .expect("replay");
        assert!(replay.complete);
        assert_eq!(replay.after, Some(entries[2].position));
        assert_eq!(ids(&replay.entries), ["w"]);
        append_ids(&*store, &["v", "u"]).await;
        let gone = store
            .replay(Cursor::Id("a".to_owned()), 10)
            .await
            .expect("replay");
        assert!(!gone.complete, "both occurrences evicted");
    }

    pub async fn retention_by_count(f: Factory) {
        let store = f
            .open(Options {
                retention: Retention::new(5),
                ..Options::default()
            })
            .await;
        let names: Vec<String> = (1..=12).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let entries = append_ids(&*store, &refs).await;
        let (kept, complete) = replay_all(&*store, Cursor::Earliest, 100).await;
        assert!(complete);
        assert_eq!(kept, entries[7..], "the newest five");
        for evicted in ["u1", "u7"] {
            let r = store
                .replay(Cursor::Id(evicted.to_owned()), 100)
                .await
                .expect("replay");
            assert!(!r.complete && r.entries.is_empty(), "{evicted} still found");
        }
        // u8 is the oldest kept: everything after it is there.
        let r = store
            .replay(Cursor::Id("u8".to_owned()), 100)
            .await
            .expect("replay");
        assert!(r.complete);
        assert_eq!(r.entries, entries[8..]);
        // After u7's position nothing was evicted: complete. After u6's,
        // u7 is gone: incomplete.
        let r = store
            .replay(Cursor::After(entries[6].position), 100)
            .await
            .expect("replay");
        assert!(r.complete);
        assert_eq!(r.entries, entries[7..]);
        let r = store
            .replay(Cursor::After(entries[5].position), 100)
            .await
            .expect("replay");
        assert!(!r.complete && r.entries.is_empty());
    }

    pub async fn retention_by_age(f: Factory) {
        let clock = ManualClock::new(1_700_000_000_000);
        let store = f
            .open(Options {
                retention: Retention::new(1_000).with_max_age(Duration::from_secs(60)),
                clock: clock.clone(),
                ..Options::default()
            })
            .await;
        let first = append_ids(&*store, &["a", "b"]).await;
        clock.advance(Duration::from_secs(30));
        let c = append_ids(&*store, &["c"]).await;
        let r = store.replay(Cursor::Earliest, 10).await.expect("replay");
        assert_eq!(ids(&r.entries), ["a", "b", "c"], "nothing expired yet");
        // a and b are 61 s old, c 31 s.
        clock.advance(Duration::from_secs(31));
        let r = store.replay(Cursor::Earliest, 10).await.expect("replay");
        assert!(r.complete);
        assert_eq!(ids(&r.entries), ["c"]);
        let r = store
            .replay(Cursor::Id("a".to_owned()), 10)
            .await
            .expect("replay");
        assert!(!r.complete, "expired id still found");
        let r = store
            .replay(Cursor::After(first[0].position), 10)
            .await
            .expect("replay");
        assert!(!r.complete, "b expired after a's position");
        let r = store
            .replay(Cursor::After(first[1].position), 10)
            .await
            .expect("replay");
        assert!(r.complete);
        assert_eq!(r.entries, c);
        // Everything expired: history is empty, positions carry on.
        clock.advance(Duration::from_secs(30));
        let r = store.replay(Cursor::Earliest, 10).await.expect("replay");
        assert!(r.complete && r.entries.is_empty());
        assert!(
            !store
                .replay(Cursor::Id("c".to_owned()), 10)
                .await
                .expect("replay")
                .complete
        );
        let d = append_ids(&*store, &["d"]).await;
        assert!(d[0].position > c[0].position);
        let r = store.replay(Cursor::Earliest, 10).await.expect("replay");
        assert_eq!(r.entries, d);
    }

    pub async fn reopen_keeps_history_and_positions(f: Factory) {
        if !f.durable {
            return;
        }
        let store = f.open(Options::default()).await;
        let before = append_ids(&*store, &["a", "b", "c", ""]).await;
        store.close().await.expect("close");
        drop(store);

        let store = f.open(Options::default()).await;
        let r = store
            .replay(Cursor::Id("b".to_owned()), 10)
            .await
            .expect("replay");
        assert!(r.complete);
        assert_eq!(r.entries, before[2..]);
        let mut tail = Tail::start(Arc::clone(&store), Cursor::Id("c".to_owned()), 10)
            .await
            .expect("tail");
        let after = append_ids(&*store, &["d"]).await;
        assert!(after[0].position > before[3].position, "positions continue");
        assert_eq!(next_live(&mut tail).await, before[3]);
        assert_eq!(next_live(&mut tail).await, after[0]);
        store.close().await.expect("close");
        drop(store);

        // Reopened with a tighter retention: it applies to old data too.
        let store = f
            .open(Options {
                retention: Retention::new(2),
                ..Options::default()
            })
            .await;
        let (kept, _) = replay_all(&*store, Cursor::Earliest, 10).await;
        assert_eq!(kept, [before[3].clone(), after[0].clone()]);
        store.close().await.expect("close");
    }

    pub async fn close_refuses_work_and_ends_feeds(f: Factory) {
        let store = f.open(Options::default()).await;
        let mut live = store.live();
        let entries = append_ids(&*store, &["a"]).await;
        store.close().await.expect("close");
        store.close().await.expect("close is idempotent");
        // Entries committed before close are still delivered, then the end.
        let got = tokio::time::timeout(WAIT, live.recv())
            .await
            .expect("bounded");
        assert_eq!(got.expect("entry before close"), entries[0]);
        let end = tokio::time::timeout(WAIT, live.recv())
            .await
            .expect("bounded");
        assert!(end.expect_err("feed ends").is_closed());
        let append = store.append(update("b")).await;
        assert!(append.expect_err("append after close").is_closed());
        let replay = store.replay(Cursor::Earliest, 1).await;
        assert!(replay.expect_err("replay after close").is_closed());
        let mut late = store.live();
        let end = tokio::time::timeout(WAIT, late.recv())
            .await
            .expect("bounded");
        assert!(end.expect_err("late feed is closed").is_closed());
    }

    /// Concurrent publishers: every acknowledged entry is stored exactly
    /// once, and the live feed's order is the replay order.
    pub async fn concurrent_appends(f: Factory) {
        const PUBLISHERS: usize = 16;
        const EACH: usize = 40;
        let store = f.open(Options::default()).await;
        let mut live = store.live();
        let mut tasks = Vec::new();
        for p in 0..PUBLISHERS {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..EACH {
                    let id = if i % 5 == 0 {
                        String::new()
                    } else {
                        format!("p{p}-{i}")
                    };
                    acked.push(store.append(update(&id)).await.expect("append"));
                }
                acked
            }));
        }
        let mut acked = Vec::new();
        for task in tasks {
            let mine = task.await.expect("publisher");
            // Each publisher's own appends are ordered.
            assert_increasing(&mine);
            acked.extend(mine);
        }
        let (replayed, complete) = replay_all(&*store, Cursor::Earliest, 64).await;
        assert!(complete);
        assert_eq!(replayed.len(), PUBLISHERS * EACH);
        assert_increasing(&replayed);
        let unique: HashSet<&str> = replayed.iter().map(|e| e.update.id.as_str()).collect();
        assert_eq!(unique.len(), replayed.len(), "an update stored twice");
        acked.sort_by_key(|e| e.position);
        assert_eq!(acked, replayed, "acknowledged entries = stored entries");
        let mut fed = Vec::new();
        for _ in 0..replayed.len() {
            let entry = tokio::time::timeout(WAIT, live.recv())
                .await
                .expect("bounded")
                .expect("live entry");
            fed.push(entry);
        }
        assert_eq!(fed, replayed, "live order = replay order");
    }

    /// A tail whose live feed overflows recovers the skipped entries from
    /// the store.
    pub async fn tail_recovers_from_live_lag(f: Factory) {
        let store = f
            .open(Options {
                live_capacity: 4,
                ..Options::default()
            })
            .await;
        let first = append_ids(&*store, &["a"]).await;
        let mut tail = Tail::start(Arc::clone(&store), Cursor::Earliest, 3)
            .await
            .expect("tail");
        assert_eq!(next_live(&mut tail).await, first[0]);
        let names: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        // Far more than the feed buffers, before the tail reads any.
        let more = append_ids(&*store, &refs).await;
        let mut got = Vec::new();
        for _ in 0..more.len() {
            got.push(next_live(&mut tail).await);
        }
        assert_eq!(got, more);
        let last = append_ids(&*store, &["z"]).await;
        assert_eq!(next_live(&mut tail).await, last[0]);
    }

    /// When the skipped entries were also evicted, the tail says so.
    pub async fn tail_reports_lag_past_retention(f: Factory) {
        let store = f
            .open(Options {
                live_capacity: 2,
                retention: Retention::new(5),
                ..Options::default()
            })
            .await;
        let first = append_ids(&*store, &["a"]).await;
        let mut tail = Tail::start(Arc::clone(&store), Cursor::Earliest, 10)
            .await
            .expect("tail");
        assert_eq!(next_live(&mut tail).await, first[0]);
        let names: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        append_ids(&*store, &refs).await;
        let err = tokio::time::timeout(WAIT, tail.next())
            .await
            .expect("bounded")
            .expect_err("entries were lost");
        assert!(err.is_lagged(), "{err}");
    }

    /// The handoff property: with publishers appending concurrently, a tail
    /// started at any cursor yields exactly the entries after the cursor,
    /// in order, each once.
    pub fn handoff_has_no_gap_or_duplicate<F: MaybeFactory>(make: fn() -> F, cases: u32) {
        use proptest::test_runner::{Config, TestCaseError, TestRunner};

        if make().factory().is_none() {
            return; // skipped, with a message from the factory
        }

        let strategy = (
            0usize..30, // appended before the tail starts
            1usize..4,  // concurrent publishers
            1usize..25, // appends per publisher
            0usize..5,  // cursor: earliest, id, position, unknown id, newest
            1usize..8,  // replay page size
            1usize..6,  // live feed capacity (small: lag happens)
        );
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(
            &strategy,
            |(before, publishers, each, cursor_kind, page, live_capacity)| {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let f = make()
                    .factory()
                    .ok_or_else(|| TestCaseError::fail("the backend went away"))?;
                rt.block_on(check_handoff(
                    f,
                    before,
                    publishers,
                    each,
                    cursor_kind,
                    page,
                    live_capacity,
                ))
                .map_err(TestCaseError::fail)
            },
        );
        if let Err(e) = result {
            panic!("{e}");
        }
    }

    async fn check_handoff(
        f: Factory,
        before: usize,
        publishers: usize,
        each: usize,
        cursor_kind: usize,
        page: usize,
        live_capacity: usize,
    ) -> Result<(), String> {
        let store: Arc<dyn Store> = Racing::wrap(
            f.open(Options {
                live_capacity,
                ..Options::default()
            })
            .await,
        );
        let names: Vec<String> = (0..before).map(|i| format!("b{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let history = append_ids(&*store, &refs).await;
        // The racer appends once, during the tail's first replay.
        let total = before + publishers * each + 1;

        let mut tasks = Vec::new();
        for p in 0..publishers {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for i in 0..each {
                    store
                        .append(update(&format!("p{p}-{i}")))
                        .await
                        .expect("append");
                }
            }));
        }
        // Pick the cursor while the publishers run.
        let (cursor, skip, complete) = match (cursor_kind, history.len()) {
            (1, n) if n > 0 => (
                Cursor::Id(history[n / 2].update.id.clone()),
                n / 2 + 1,
                true,
            ),
            (2, n) if n > 0 => (Cursor::After(history[n / 3].position), n / 3 + 1, true),
            (3, _) => (Cursor::Id("unknown".to_owned()), usize::MAX, false),
            (4, _) => (Cursor::Newest, usize::MAX, true),
            _ => (Cursor::Earliest, 0, true),
        };
        let mut tail = Tail::start(Arc::clone(&store), cursor.clone(), page)
            .await
            .map_err(|e| e.to_string())?;
        if tail.complete() != complete {
            return Err(format!("complete = {} for {cursor:?}", tail.complete()));
        }
        let start = tail.last();
        for task in tasks {
            task.await.map_err(|e| e.to_string())?;
        }
        let (all, _) = replay_all(&*store, Cursor::Earliest, 100).await;
        if all.len() != total {
            return Err(format!("stored {} of {total}", all.len()));
        }
        // What the tail must yield: everything after the cursor; for an
        // unknown id or `Newest`, everything after the store's newest
        // position when the tail started.
        let skip = if skip == usize::MAX {
            match start {
                Some(p) => all.partition_point(|e| e.position <= p),
                None => 0,
            }
        } else {
            skip
        };
        let expected = all[skip.min(all.len())..].to_vec();
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(next_entry(&mut tail).await?);
        }
        if got != expected {
            return Err(format!(
                "tail from {cursor:?} yielded {:?}, expected {:?}",
                ids(&got),
                ids(&expected)
            ));
        }
        // Nothing extra: the next entry is a new append, not a repeat.
        let fresh = store
            .append(update("fresh"))
            .await
            .map_err(|e| e.to_string())?;
        let next = next_entry(&mut tail).await?;
        if next != fresh {
            return Err(format!(
                "after the run: {} instead of fresh",
                next.update.id
            ));
        }
        store.close().await.map_err(|e| e.to_string())?;
        Ok(())
    }

    async fn next_entry(tail: &mut Tail) -> Result<Entry, String> {
        match tokio::time::timeout(WAIT, tail.next()).await {
            Ok(Ok(entry)) => Ok(entry),
            Ok(Err(e)) => Err(format!("tail failed: {e}")),
            Err(_) => Err("no entry within the wait bound".to_owned()),
        }
    }
}

/// Expands every case for one backend.
macro_rules! conformance {
    ($backend:ident, $factory:path, property_cases = $cases:expr) => {
        mod $backend {
            use super::*;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let Some(f) = MaybeFactory::factory($factory()) else {
                            return; // skipped, with a message from the factory
                        };
                        cases::$name(f).await;
                    }
                };
            }

            case!(positions_increase_and_ids_are_kept);
            case!(fields_round_trip);
            case!(replay_after_id);
            case!(replay_earliest);
            case!(replay_unknown_id_is_incomplete);
            case!(replay_after_position);
            case!(replay_newest_is_empty_and_complete);
            case!(replay_in_pages);
            case!(duplicate_id_resolves_to_oldest);
            case!(duplicate_id_after_eviction_resolves_to_next_occurrence);
            case!(retention_by_count);
            case!(retention_by_age);
            case!(reopen_keeps_history_and_positions);
            case!(close_refuses_work_and_ends_feeds);
            case!(concurrent_appends);
            case!(tail_recovers_from_live_lag);
            case!(tail_reports_lag_past_retention);

            #[test]
            fn handoff_has_no_gap_or_duplicate() {
                cases::handoff_has_no_gap_or_duplicate($factory, $cases);
            }
        }
    };
}

conformance!(memory, memory_factory, property_cases = 128);
conformance!(sqlite, sqlite_factory, property_cases = 48);
conformance!(
    sqlite_datasync,
    sqlite_datasync_factory,
    property_cases = 16
);
#[cfg(feature = "redis")]
conformance!(redis, redis_factory, property_cases = 24);

/// What only the Redis backend has: a stream shared by several stores (hub
/// nodes), and index keys that must stay bounded by the stream.
#[cfg(feature = "redis")]
mod redis_only {
    use super::*;
    use sse_hub::store::{RedisConfig, RedisStore};

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

    async fn hlen(url: &str, key: &str) -> usize {
        let client = ::redis::Client::open(url).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        ::redis::cmd("HLEN")
            .arg(key)
            .query_async(&mut conn)
            .await
            .expect("HLEN")
    }

    /// Two nodes on one stream: each one's live feed yields every update,
    /// both in the stream's order, whoever appended it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nodes_on_one_stream_see_every_update_in_one_order() {
        let Some(url) = redis_server::url() else {
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
        let Some(url) = redis_server::url() else {
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

    /// The id index and the duplicate chain shrink with the stream: they
    /// never name an evicted entry, so they stay within the history bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn index_keys_stay_bounded_by_retention() {
        let Some(url) = redis_server::url() else {
            return;
        };
        let prefix = prefix("bounded");
        let store = open(&url, &prefix, Retention::new(5)).await;
        let mut appended = Vec::new();
        for i in 0..60 {
            // Mostly reused ids, so the duplicate chain is exercised.
            let id = match i % 4 {
                0 => format!("unique-{i}"),
                k => format!("dup-{k}"),
            };
            appended.push(store.append(update(&id)).await.expect("append"));
        }
        assert!(hlen(&url, &format!("{prefix}:ids")).await <= 5);
        assert!(hlen(&url, &format!("{prefix}:dups")).await <= 5);
        let retained = &appended[appended.len() - 5..];
        let (kept, _) = replay_all(&store, Cursor::Earliest, 10).await;
        assert_eq!(kept, retained);
        // Each duplicated id resolves to its oldest retained occurrence.
        for k in 1..4 {
            let id = format!("dup-{k}");
            let oldest = retained
                .iter()
                .position(|e| e.update.id == id)
                .expect("retained");
            let r = store
                .replay(Cursor::Id(id.clone()), 10)
                .await
                .expect("replay");
            assert!(r.complete, "{id}");
            assert_eq!(r.after, Some(retained[oldest].position), "{id}");
            assert_eq!(r.entries, retained[oldest + 1..], "{id}");
        }
        store.close().await.expect("close");
    }
}
