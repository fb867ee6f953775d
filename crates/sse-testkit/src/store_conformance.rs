//! The store conformance suite: written once, run against every
//! [`Store`] backend, in this workspace or another crate.
//!
//! A backend provides a [`Factory`] (how to open its stores) and one
//! [`store_conformance!`](crate::store_conformance) line in an integration
//! test; the macro expands every case into a test named
//! `<backend>::<case>`:
//!
//! ```ignore
//! // crates/<crate>/tests/store_conformance.rs
//! use sse_testkit::store_conformance::factories;
//!
//! sse_testkit::store_conformance!(memory, factories::memory, property_cases = 128);
//! ```
//!
//! A factory function returns a [`Factory`], or an `Option<Factory>` that
//! is `None` when the backend's server is missing and its cases skip (see
//! [`crate::skip`]). Time is a [`ManualClock`]; waits on live feeds are
//! bounded by [`WAIT`]; no case sleeps.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sse_hub::store::{
    Cursor, Entry, LiveFeed, ManualClock, Replay, Retention, Store, StoreError, StoreFuture, Tail,
};
use sse_hub::Update;

pub mod cases;
pub mod factories;

/// The bound on every wait for a live entry. Generous: it only turns a
/// hang into a failure, it is not a timing assertion.
pub const WAIT: Duration = Duration::from_secs(20);

/// What a case asks of the store it opens.
#[derive(Clone, Debug)]
pub struct Options {
    /// The history bound.
    pub retention: Retention,
    /// The store's clock (time moves only when the case moves it).
    pub clock: ManualClock,
    /// The live feed's capacity, in entries.
    pub live_capacity: usize,
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

/// What a [`Factory`] returns: a store opening.
pub type OpenFuture = Pin<Box<dyn Future<Output = Result<Arc<dyn Store>, StoreError>> + Send>>;

/// Opens stores of one backend. Every `open` of one factory opens the same
/// underlying data when the backend is `durable` (close the previous store
/// first); otherwise it opens an empty store.
pub struct Factory {
    open: Box<dyn Fn(Options) -> OpenFuture + Send + Sync>,
    durable: bool,
    /// Keeps the backend's files until the case ends.
    _dir: Option<tempfile::TempDir>,
}

/// A factory, or none when the backend's server is missing and its cases
/// skip.
pub trait MaybeFactory {
    /// The factory, or `None` when the cases skip.
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
    /// A factory opening stores with `open`. `durable`: every `open`
    /// opens the same underlying data (the cases close the previous store
    /// first), so the reopen case runs; otherwise each `open` is an empty
    /// store and that case is skipped.
    pub fn new<F>(durable: bool, open: F) -> Factory
    where
        F: Fn(Options) -> OpenFuture + Send + Sync + 'static,
    {
        Factory {
            open: Box::new(open),
            durable,
            _dir: None,
        }
    }

    /// Keeps `dir` (the backend's files) until the factory is dropped, at
    /// the end of the case.
    #[must_use]
    pub fn keeping(mut self, dir: tempfile::TempDir) -> Factory {
        self._dir = Some(dir);
        self
    }

    /// Whether every `open` sees the same data.
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// Opens a store.
    ///
    /// # Panics
    ///
    /// When the backend fails to open it.
    pub async fn open(&self, options: Options) -> Arc<dyn Store> {
        (self.open)(options).await.expect("open the store")
    }
}

/// An update with id `id` (empty: let the store generate one).
pub fn update(id: &str) -> Update {
    Update {
        id: id.to_owned(),
        topics: vec![format!("https://example.com/items/{id}")],
        data: format!("data of {id}"),
        private: false,
        event_type: None,
        retry: None,
    }
}

/// Appends an update for each id, in order; the entries.
///
/// # Panics
///
/// When an append fails.
pub async fn append_ids(store: &dyn Store, ids: &[&str]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for id in ids {
        entries.push(store.append(update(id)).await.expect("append"));
    }
    entries
}

/// The ids of `entries`.
pub fn ids(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| e.update.id.clone()).collect()
}

/// All of the history after `cursor`, following pages of `page` entries.
///
/// # Panics
///
/// When a replay fails or the pages never end.
pub async fn replay_all(store: &dyn Store, cursor: Cursor, page: usize) -> (Vec<Entry>, bool) {
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
pub(crate) struct Racing {
    inner: Arc<dyn Store>,
    armed: AtomicBool,
}

impl Racing {
    pub(crate) fn wrap(inner: Arc<dyn Store>) -> Arc<Racing> {
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

/// The next entry of a tail, bounded by [`WAIT`].
///
/// # Panics
///
/// When none comes in time or the tail fails.
pub async fn next_live(tail: &mut Tail) -> Entry {
    tokio::time::timeout(WAIT, tail.next())
        .await
        .expect("a live entry within the wait bound")
        .expect("tail entry")
}

/// Asserts that positions strictly increase.
///
/// # Panics
///
/// When they do not.
pub fn assert_increasing(entries: &[Entry]) {
    for pair in entries.windows(2) {
        assert!(
            pair[0].position < pair[1].position,
            "positions not increasing: {} then {}",
            pair[0].position,
            pair[1].position
        );
    }
}

/// Every case of the store conformance suite as a test
/// `<backend>::<case>`, for the backend whose factory function is
/// `factory` (a path, resolved in the module where the macro is expanded;
/// returning a [`Factory`](crate::store_conformance::Factory) or an
/// `Option` of one, `None` to skip). `property_cases` is how many cases
/// the hand-off property runs (fewer for slower backends). The crate needs
/// `tokio` (features `macros`, `rt-multi-thread`) as a dev-dependency.
///
/// ```ignore
/// sse_testkit::store_conformance!(sqlite, sse_testkit::store_conformance::factories::sqlite, property_cases = 48);
/// ```
#[macro_export]
macro_rules! store_conformance {
    ($backend:ident, $factory:path, property_cases = $cases:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let Some(f) = $crate::store_conformance::MaybeFactory::factory($factory())
                        else {
                            return; // skipped, with a message from the factory
                        };
                        $crate::store_conformance::cases::$name(f).await;
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
            case!(appending_an_id_in_history_stores_once_and_returns_the_first_entry);
            case!(concurrent_appends_of_one_id_store_it_once);
            case!(an_id_evicted_from_history_is_stored_again);
            case!(replay_after_an_id_names_the_update_at_the_cursor);
            case!(retention_by_count);
            case!(retention_by_bytes);
            case!(retention_by_age);
            case!(reopen_keeps_history_and_positions);
            case!(close_refuses_work_and_ends_feeds);
            case!(concurrent_appends);
            case!(tail_recovers_from_live_lag);
            case!(tail_reports_lag_past_retention);

            #[test]
            fn handoff_has_no_gap_or_duplicate() {
                $crate::store_conformance::cases::handoff_has_no_gap_or_duplicate($factory, $cases);
            }
        }
    };
}
