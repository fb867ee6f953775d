//! The cases, each a function of a [`Factory`] (see
//! [`store_conformance!`](crate::store_conformance), which runs them all).
//! Each is named after the property of the [`Store`] contract it checks.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sse_hub::store::{update_size, Cursor, Entry, ManualClock, Position, Retention, Store, Tail};
use sse_hub::Update;

use super::{
    append_ids, assert_increasing, ids, next_live, replay_all, update, Factory, MaybeFactory,
    Options, Racing, WAIT,
};

/// Positions increase and ids are kept.
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

/// Fields round trip.
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

/// Replay after id.
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

/// Replay earliest.
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

/// Replay unknown id is incomplete.
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

/// Replay after position.
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

/// Replay newest is empty and complete.
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

/// Replay in pages.
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

/// Appending an id that is in history stores nothing and answers with the
/// entry stored first (its position and fields), marked duplicate; it is
/// not fed live again. A cursor naming the id resolves to that entry.
pub async fn appending_an_id_in_history_stores_once_and_returns_the_first_entry(f: Factory) {
    let store = f.open(Options::default()).await;
    let mut live = store.live();
    let first = store.append(update("a")).await.expect("append");
    assert!(!first.is_duplicate());
    append_ids(&*store, &["x"]).await;
    let retry = Update {
        data: "a retry that carries other data".to_owned(),
        ..update("a")
    };
    let again = store.append(retry).await.expect("append again");
    assert!(
        again.is_duplicate(),
        "the second append of `a` is a duplicate"
    );
    assert_eq!(again.position, first.position);
    assert_eq!(again.update, first.update, "the first update's fields");
    let last = store.append(update("c")).await.expect("append");
    let (replayed, complete) = replay_all(&*store, Cursor::Earliest, 10).await;
    assert!(complete);
    assert_eq!(ids(&replayed), ["a", "x", "c"], "`a` is stored once");
    assert!(replayed.iter().all(|e| !e.is_duplicate()));
    // Live: a, x, c, nothing in between.
    let mut fed = Vec::new();
    while fed.last() != Some(&last.update.id) {
        let e = tokio::time::timeout(WAIT, live.recv())
            .await
            .expect("a live entry within the wait bound")
            .expect("entry");
        fed.push(e.update.id.clone());
    }
    assert_eq!(fed, ["a", "x", "c"], "the duplicate is not fed live");
    let after_a = store
        .replay(Cursor::Id("a".to_owned()), 10)
        .await
        .expect("replay");
    assert!(after_a.complete);
    assert_eq!(after_a.after, Some(first.position));
    assert_eq!(after_a.at.as_deref(), Some(&*first.update));
    assert_eq!(ids(&after_a.entries), ["x", "c"]);
}

/// Concurrent appends of one id store it once: the check is atomic with
/// the append.
pub async fn concurrent_appends_of_one_id_store_it_once(f: Factory) {
    let store = f.open(Options::default()).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.append(update("same")).await.expect("append")
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("publisher"));
    }
    assert_eq!(answers.iter().filter(|e| !e.is_duplicate()).count(), 1);
    assert!(answers.windows(2).all(|w| w[0].position == w[1].position));
    let (replayed, _) = replay_all(&*store, Cursor::Earliest, 10).await;
    assert_eq!(ids(&replayed), ["same"]);
}

/// The idempotency window is the history: once retention evicted an id
/// (by count or by age), appending it again stores a new entry.
pub async fn an_id_evicted_from_history_is_stored_again(f: Factory) {
    let clock = ManualClock::new(1_700_000_000_000);
    let store = f
        .open(Options {
            retention: Retention::new(3).with_max_age(Duration::from_secs(60)),
            clock: clock.clone(),
            ..Options::default()
        })
        .await;
    let entries = append_ids(&*store, &["a", "y", "w", "v"]).await;
    // `a` was evicted by count.
    let again = store.append(update("a")).await.expect("append");
    assert!(!again.is_duplicate(), "an evicted id is free again");
    assert!(again.position > entries[3].position);
    let (kept, _) = replay_all(&*store, Cursor::Earliest, 10).await;
    assert_eq!(ids(&kept), ["w", "v", "a"]);
    // Everything expires by age: `v` is free again too.
    clock.advance(Duration::from_secs(61));
    let v = store.append(update("v")).await.expect("append");
    assert!(!v.is_duplicate(), "an expired id is free again");
    let (kept, _) = replay_all(&*store, Cursor::Earliest, 10).await;
    assert_eq!(ids(&kept), ["v"]);
    assert_eq!(kept[0].position, v.position);
}

/// A replay after an id says which update the cursor names (the hub
/// checks that the subscriber may see it); other cursors name none.
pub async fn replay_after_an_id_names_the_update_at_the_cursor(f: Factory) {
    let store = f.open(Options::default()).await;
    let private = Update {
        private: true,
        ..update("p")
    };
    store.append(private.clone()).await.expect("append");
    append_ids(&*store, &["q"]).await;
    let r = store
        .replay(Cursor::Id("p".to_owned()), 10)
        .await
        .expect("replay");
    assert_eq!(r.at.as_deref(), Some(&private));
    for cursor in [
        Cursor::Earliest,
        Cursor::Newest,
        Cursor::Id("unknown".to_owned()),
    ] {
        let r = store.replay(cursor.clone(), 10).await.expect("replay");
        assert_eq!(r.at, None, "{cursor:?}");
    }
}

/// Retention by count.
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

/// Retention by bytes: appends past the byte bound evict the oldest until
/// the rest fits; the newest is kept whatever its size; a reopen with a
/// lower bound trims to it.
pub async fn retention_by_bytes(f: Factory) {
    const MAX_BYTES: u64 = 10_000;
    let sized = |id: &str, data_len: usize| Update {
        data: "x".repeat(data_len),
        event_type: Some("t".to_owned()),
        ..update(id)
    };
    let store = f
        .open(Options {
            retention: Retention::new(1_000).with_max_bytes(MAX_BYTES),
            ..Options::default()
        })
        .await;
    // Sizes vary, so the cut does not fall on a round count.
    let mut entries = Vec::new();
    for i in 0..40 {
        let u = sized(&format!("b{i:02}"), 200 + (i * 97) % 900);
        entries.push(store.append(u).await.expect("append"));
    }
    // The newest entries whose sizes add up to at most MAX_BYTES.
    let mut fit = 0;
    let mut bytes = 0;
    for e in entries.iter().rev() {
        let size = update_size(&e.update);
        if bytes + size > MAX_BYTES {
            break;
        }
        bytes += size;
        fit += 1;
    }
    assert!(
        (3..40).contains(&fit),
        "the case overflows the bound ({fit} fit)"
    );
    let (kept, complete) = replay_all(&*store, Cursor::Earliest, 100).await;
    assert!(complete);
    // Ids first: a failure then prints names, not kilobytes of data.
    let newest = &entries[entries.len() - fit..];
    assert_eq!(ids(&kept), ids(newest), "the newest that fit");
    assert_eq!(kept, newest);
    let evicted = &entries[entries.len() - fit - 1].update.id;
    let r = store
        .replay(Cursor::Id(evicted.clone()), 100)
        .await
        .expect("replay");
    assert!(!r.complete, "{evicted} was evicted");

    // One update larger than the bound: kept alone, then evicted by the
    // next one.
    let big = store
        .append(sized("big", usize::try_from(MAX_BYTES).unwrap() * 2))
        .await
        .expect("append");
    let (kept, _) = replay_all(&*store, Cursor::Earliest, 100).await;
    assert_eq!(ids(&kept), ["big"], "the newest stays whatever its size");
    assert_eq!(kept, [big]);
    let small = append_ids(&*store, &["small"]).await;
    let (kept, _) = replay_all(&*store, Cursor::Earliest, 100).await;
    assert_eq!(ids(&kept), ["small"]);
    assert_eq!(kept, small);

    if !f.is_durable() {
        return;
    }
    let more = append_ids(&*store, &["m1", "m2", "m3", "m4"]).await;
    store.close().await.expect("close");
    drop(store);
    let lower = update_size(&more[2].update) + update_size(&more[3].update);
    let store = f
        .open(Options {
            retention: Retention::new(1_000).with_max_bytes(lower),
            ..Options::default()
        })
        .await;
    let (kept, _) = replay_all(&*store, Cursor::Earliest, 100).await;
    assert_eq!(
        ids(&kept),
        ["m3", "m4"],
        "a reopen with a lower bound trims to it"
    );
    assert_eq!(kept, more[2..]);
    store.close().await.expect("close");
}

/// Retention by age.
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

/// Reopen keeps history and positions.
pub async fn reopen_keeps_history_and_positions(f: Factory) {
    if !f.is_durable() {
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

/// Close refuses work and ends feeds.
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
