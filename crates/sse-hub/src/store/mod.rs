//! The hub's history: the [`Store`] trait and its backends.
//!
//! A store does three things for the hub:
//!
//! 1. [`Store::append`] gives an [`Update`] its [`Position`] (and an id when
//!    the publisher sent none) and resolves once the update is durable. The
//!    publisher is answered only after that.
//! 2. [`Store::replay`] reads the retained history after a [`Cursor`]: the
//!    id a reconnecting client sends (`Last-Event-ID` / `lastEventID`),
//!    `earliest`, or a position. It says whether that history is complete.
//! 3. [`Store::live`] is a feed of committed entries in commit order, which
//!    the hub's fan-out task consumes.
//!
//! Backends: [`MemoryStore`] (a bounded ring), [`SqliteStore`] (a file,
//! WAL, group commit) and, with the `redis` feature, `RedisStore` (a Redis
//! stream shared by many hub nodes; see its module docs in
//! `store/redis/mod.rs` for its keys, trimming and completeness rule).
//!
//! # Handing off from replay to live without gap or duplicate
//!
//! Register the live feed **first**, then replay, then take live entries
//! whose position is greater than the last one replayed ([`Handoff`] does
//! the comparison). Nothing is lost: an entry committed before the replay's
//! read is in the replay; one committed after it is published to the live
//! feed after its commit, so after the feed was registered. Nothing is
//! doubled: the position comparison drops live entries the replay already
//! returned. [`Tail`] packages the whole sequence, including recovery when
//! the live feed lags.
//!
//! In the hub, the fan-out task holds the one live feed (a [`Tail`] started
//! at [`Cursor::Newest`]) and a subscriber registers with fan-out before
//! it replays: the same argument holds, since fan-out forwards entries in
//! position order, and anything it forwarded before the subscriber
//! registered was committed before the replay read. Start the subscriber's
//! [`Handoff`] at [`Replay::after`] (or the last replayed position); when
//! the cursor was not found, at [`Replay::newest`].
//!
//! ```
//! use std::sync::Arc;
//! use sse_hub::store::{Cursor, MemoryConfig, MemoryStore, Store, Tail};
//! use sse_hub::Update;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sse_hub::store::StoreError> {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new(MemoryConfig::default()));
//! let update = |id: &str| Update {
//!     id: id.to_owned(),
//!     topics: vec!["https://example.com/books/1".to_owned()],
//!     data: "{}".to_owned(),
//!     private: false,
//!     event_type: None,
//!     retry: None,
//! };
//! let first = store.append(update("a")).await?;
//! let generated = store.append(update("")).await?; // no id: one is generated
//! assert!(generated.update.id.starts_with("urn:uuid:"));
//! assert!(first.position < generated.position);
//!
//! // A client reconnecting with `Last-Event-ID: a` gets what followed `a`.
//! let replay = store.replay(Cursor::Id("a".to_owned()), 100).await?;
//! assert!(replay.complete);
//! assert_eq!(replay.entries.len(), 1);
//! assert_eq!(replay.entries[0].update.id, generated.update.id);
//!
//! // Replay then live, without gap or duplicate.
//! let mut tail = Tail::start(Arc::clone(&store), Cursor::Earliest, 100).await?;
//! store.append(update("c")).await?;
//! let ids: Vec<String> = [
//!     tail.next().await?,
//!     tail.next().await?,
//!     tail.next().await?,
//! ]
//! .iter()
//! .map(|e| e.update.id.clone())
//! .collect();
//! assert_eq!(ids, ["a", generated.update.id.as_str(), "c"]);
//! # Ok(())
//! # }
//! ```
//!
//! # Duplicate ids: an append is idempotent within history
//!
//! An update id names one update while it is in history. An append whose
//! id is already retained stores nothing, feeds nothing live, and resolves
//! with the entry already stored ([`Entry::is_duplicate`] set): the same
//! position and the first update's fields, whatever the second one carried.
//! The check is atomic with the append (under the memory store's lock, in
//! SQLite's write transaction, inside the Redis append script), so two
//! concurrent appends of one id store it once, across hub nodes too.
//!
//! The window is the history: once retention evicted the entry (by count
//! or age), the id is free again and a new append stores a new entry. This
//! is what makes a publisher's retry safe after an answer whose outcome was
//! unknown (a timeout, a replica that did not confirm): retrying with the
//! same id either stores the update or finds it. Data written by an older
//! version may hold an id more than once; a cursor that names it resolves
//! to the **oldest retained** occurrence.
//!
//! # How the Redis Streams backend maps onto this
//!
//! - [`Store::append`]: one Lua script does `XADD <prefix>:stream * …`,
//!   records the update id in a hash (`<prefix>:ids`), which is also how it
//!   finds an id already in history (and then adds nothing), and evicts
//!   from the head what [`Retention`] no longer keeps, atomically. The returned
//!   `<ms>-<seq>` id is the entry's [`Position`], unique and ordered across
//!   nodes. The update id keeps being the publisher's or a generated UUID
//!   ([`generate_id`]), unique across nodes without coordination.
//! - [`Store::replay`]: one Lua script resolves the cursor (`HGET` for an
//!   id), applies retention exactly (count, and age from the [`Clock`]
//!   time stored in each entry) and reads `XRANGE (<pos> + COUNT n`.
//! - [`Store::live`]: one task per node tails `XREAD BLOCK` from the last
//!   id it saw and feeds a local broadcast channel, exactly as the
//!   embedded backends feed theirs after commit; a node's own appends
//!   arrive the same way. After a Redis outage it reconnects with capped
//!   exponential backoff and resumes from that id, so the feed has no gap;
//!   meanwhile [`Store::is_available`] is `false`. When the history was
//!   deleted and started again with ids below that one (`FLUSHALL` with a
//!   clock behind the old ids), the feed says so ([`StoreError::is_reset`])
//!   and continues with the new history from its start.
//!
//! # Retention
//!
//! [`Retention`] bounds history by count, by bytes ([`update_size`]: an
//! update of 1 MiB counts 1 MiB whatever the count bound says) and
//! optionally by age. Replay applies it exactly (an entry outside it is
//! never returned, and a cursor pointing at one is reported incomplete);
//! backends may delete the underlying data later and in batches, except
//! that the byte bound is also enforced when an update is appended: the
//! append evicts the oldest entries until the rest fits (the memory store
//! and SQLite in the same step, Redis within its per-append budget), so
//! what the store holds stays within it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::Update;

mod clock;
mod error;
mod memory;
mod open;
#[cfg(feature = "redis")]
mod redis;
mod sqlite;
mod tail;

#[cfg(feature = "redis")]
pub use self::redis::{RedisConfig, RedisStore, RedisTls};
pub use clock::{Clock, ManualClock, SystemClock};
pub(crate) use error::Doubt;
pub use error::{ParsePositionError, StoreError};
pub use memory::{MemoryConfig, MemoryStore};
pub use open::{open, Dsn, OpenError};
pub use sqlite::{SqliteConfig, SqliteStats, SqliteStore, Synchronous};
pub use tail::{Handoff, Tail};

/// The future returned by [`Store`] methods: boxed so that the trait is
/// object safe.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Durable, ordered history of updates with a live feed.
///
/// The trait is object safe, and the hub holds an `Arc<dyn Store>`: the
/// backend is chosen at run time from configuration (`--store`), and a
/// generic parameter would spread through the hub's state, router and
/// tasks for no gain. The price is one boxed future per call, which is
/// noise next to a commit.
///
/// Every backend passes the shared conformance suite
/// (`tests/store_conformance.rs`).
pub trait Store: Send + Sync + 'static {
    /// Stores `update` and resolves with its entry once it is durable.
    ///
    /// An empty `update.id` is replaced by a generated `urn:uuid:<v4>`
    /// ([`generate_id`]); any other id is kept as given. When an update
    /// with that id is in history, nothing is stored or fed live and the
    /// answer is the stored entry, with [`Entry::is_duplicate`] set (see
    /// the module docs). Positions of successive appends increase; the
    /// entry reaches the live feed in position order.
    ///
    /// Dropping the future after the update was queued does not withdraw
    /// it: whether it was stored is then unknown. Give the update an id
    /// before appending ([`generate_id`]) when the caller must be able
    /// to retry safely.
    ///
    /// # Errors
    ///
    /// [`StoreError::is_closed`] after [`Store::close`];
    /// [`StoreError::is_busy`] when the backend's bounded queue stayed full
    /// for its timeout (the update was not stored);
    /// [`StoreError::is_backend`] when the backend failed (the update was
    /// not stored); [`StoreError::is_outcome_unknown`] when the backend
    /// may have stored it (a request sent that was never answered, a
    /// commit not confirmed durable): appending the same update again,
    /// same id, settles it.
    fn append(&self, update: Update) -> StoreFuture<'_, Entry>;

    /// Reads up to `limit` retained entries after `cursor`, oldest first.
    ///
    /// `limit` is clamped to at least 1. When [`Replay::more`] is set,
    /// continue with [`Cursor::After`] the last entry's position.
    ///
    /// # Errors
    ///
    /// [`StoreError::is_closed`] after [`Store::close`];
    /// [`StoreError::is_backend`] or [`StoreError::is_corrupt`] when the
    /// backend failed or holds data it cannot read.
    fn replay(&self, cursor: Cursor, limit: usize) -> StoreFuture<'_, Replay>;

    /// Registers a live feed: every entry committed after this call, in
    /// position order.
    ///
    /// The feed is bounded; a consumer that falls behind gets
    /// [`StoreError::is_lagged`] and catches up by replaying after the last
    /// position it saw ([`Tail`] does that).
    fn live(&self) -> LiveFeed;

    /// Stops accepting appends, finishes those already queued, and releases
    /// the backend's resources. Live feeds end with
    /// [`StoreError::is_closed`]. Idempotent.
    ///
    /// # Errors
    ///
    /// [`StoreError::is_backend`] when the final housekeeping failed.
    fn close(&self) -> StoreFuture<'_, ()>;

    /// Whether the backend is reachable right now, for health checks. An
    /// embedded backend always is; a networked one (Redis) is not while it
    /// cannot reach its server: appends then fail and the live feed waits
    /// (it resumes without a gap once the server is back).
    fn is_available(&self) -> bool {
        true
    }
}

// The hub holds `Arc<dyn Store>`: keep the trait object safe, and the
// handles it moves into tasks `Send`.
const _: Option<&dyn Store> = None;
const _: fn() = || {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Tail>();
    assert_send::<LiveFeed>();
    assert_send::<Entry>();
    assert_send::<Replay>();
};

/// Where an entry sits in a store's total order.
///
/// Two unsigned parts compared in order, written `major-minor`: a Redis
/// Streams entry id (`<ms>-<seq>`) is one as it is, and the embedded
/// backends use a sequence number as `major` with `minor` 0. Positions are
/// comparable only within one store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    // Field order is the comparison order (derived `Ord`).
    major: u64,
    minor: u64,
}

impl Position {
    /// The position before every entry.
    pub const ZERO: Position = Position { major: 0, minor: 0 };

    /// A position from its two parts.
    pub const fn new(major: u64, minor: u64) -> Self {
        Position { major, minor }
    }

    /// The first part (a sequence number, or a Redis entry's milliseconds).
    pub const fn major(self) -> u64 {
        self.major
    }

    /// The second part (0, or a Redis entry's sequence within its
    /// millisecond).
    pub const fn minor(self) -> u64 {
        self.minor
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.major, self.minor)
    }
}

impl FromStr for Position {
    type Err = ParsePositionError;

    /// Parses `major-minor` (as Redis writes stream ids) or a bare `major`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (major, minor) = s.split_once('-').unwrap_or((s, "0"));
        let part = |p: &str| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParsePositionError::new());
            }
            p.parse::<u64>().map_err(|_| ParsePositionError::new())
        };
        Ok(Position::new(part(major)?, part(minor)?))
    }
}

/// A stored update and its position. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The entry's place in the store's order.
    pub position: Position,
    /// The update, with its final id.
    pub update: Arc<Update>,
    /// Set only on the answer of an append that found its id already in
    /// history: this entry is the one stored before.
    duplicate: bool,
}

impl Entry {
    /// An entry (for backends, and for tests of code that consumes
    /// entries).
    pub fn new(position: Position, update: Arc<Update>) -> Self {
        Entry {
            position,
            update,
            duplicate: false,
        }
    }

    /// The answer of an append whose id was already in history: the stored
    /// entry, marked [`is_duplicate`](Self::is_duplicate).
    #[must_use]
    pub fn into_duplicate(mut self) -> Self {
        self.duplicate = true;
        self
    }

    /// Whether [`Store::append`] found this update's id already in history
    /// and stored nothing: this is the entry stored before, and it was not
    /// fed live again. Always `false` for entries of a replay or a live
    /// feed.
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }
}

/// Where a replay starts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cursor {
    /// All retained history (Mercure's `earliest`).
    Earliest,
    /// After the update with this id (a client's `Last-Event-ID`). An id
    /// stored more than once (by an older version) means its oldest
    /// retained occurrence.
    Id(String),
    /// After this position (a consumer resuming where it stopped).
    After(Position),
    /// After the newest entry: nothing is replayed, and a [`Tail`] started
    /// here yields only entries committed later (the fan-out task's start).
    Newest,
}

impl Cursor {
    /// The cursor a Mercure client asks for with `Last-Event-ID` or
    /// `lastEventID`: `earliest` means all history, anything else an id.
    pub fn from_last_event_id(value: &str) -> Self {
        if value == "earliest" {
            Cursor::Earliest
        } else {
            Cursor::Id(value.to_owned())
        }
    }
}

/// The answer to [`Store::replay`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replay {
    /// Entries after the cursor, oldest first, at most the requested limit.
    pub entries: Vec<Entry>,
    /// Whether `entries` (with the following pages) is everything that
    /// followed the cursor. `false` when the cursor names an unknown or
    /// evicted id, or a position older than retained history; `entries` is
    /// then empty. Always `true` for [`Cursor::Earliest`], which asks for
    /// whatever is retained, and for [`Cursor::Newest`].
    ///
    /// For Mercure: when `true` for [`Cursor::Id`], the response's
    /// `Last-Event-ID` / `Mercure-Last-Event-ID` header is that id;
    /// otherwise it is `earliest`.
    pub complete: bool,
    /// More entries follow the last one returned: replay again with
    /// [`Cursor::After`] its position.
    pub more: bool,
    /// The position the cursor resolved to (entries are strictly after
    /// it); `None` for [`Cursor::Earliest`] and for a cursor that was not
    /// found. A consumer handing off to live compares against the last
    /// replayed position, or this one when nothing was replayed.
    pub after: Option<Position>,
    /// The newest position the store had assigned when the replay read
    /// (retained or not); `None` when it never held an entry. A consumer
    /// whose cursor was not found starts its live handoff here.
    pub newest: Option<Position>,
    /// For a [`Cursor::Id`] that was found: the update it names, so that
    /// a hub can check the subscriber may see it before it confirms the
    /// cursor (a cursor must not tell who may not read an update that it
    /// exists). `None` otherwise.
    pub at: Option<Arc<Update>>,
}

/// What a backend that counts gaps (Redis) sends on its channel, in order
/// with the entries, when its history was reset with positions below those
/// already sent: no entry has it (Redis never assigns `0-0`).
/// [`LiveFeed::recv`] turns it into [`StoreError::is_reset`].
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) const RESET_MARKER: Position = Position::ZERO;

/// A live feed of committed entries, in position order. See
/// [`Store::live`].
#[derive(Debug)]
#[must_use = "a live feed does nothing unless received from"]
pub struct LiveFeed {
    rx: broadcast::Receiver<Entry>,
    /// Shared with a backend that can lose entries before they reach the
    /// channel (Redis: a node cut off while other nodes publish past the
    /// history size); it counts such gaps. `None` for backends that feed
    /// every commit to the channel.
    gaps: Option<Arc<AtomicU64>>,
    /// The gap count this feed has reported.
    seen_gaps: u64,
}

impl LiveFeed {
    /// Wraps the receiving end of a backend's broadcast channel.
    pub(crate) fn new(rx: broadcast::Receiver<Entry>) -> Self {
        LiveFeed {
            rx,
            gaps: None,
            seen_gaps: 0,
        }
    }

    /// Like [`new`](Self::new), for a backend that counts gaps in `gaps`:
    /// the feed reports a lag when the count has moved.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn with_gaps(rx: broadcast::Receiver<Entry>, gaps: Arc<AtomicU64>) -> Self {
        let seen_gaps = gaps.load(AtomicOrdering::Acquire);
        LiveFeed {
            rx,
            gaps: Some(gaps),
            seen_gaps,
        }
    }

    /// A feed that is already closed (for a closed store).
    pub(crate) fn closed() -> Self {
        let (_tx, rx) = broadcast::channel(1);
        LiveFeed::new(rx)
    }

    /// Whether more entries are already waiting to be received: the
    /// consumer is behind the publishers.
    pub fn is_behind(&self) -> bool {
        !self.rx.is_empty()
    }

    /// The next committed entry.
    ///
    /// # Errors
    ///
    /// [`StoreError::is_lagged`] when this consumer fell behind and entries
    /// were skipped (the feed continues with newer ones), or when the
    /// backend lost entries on the way to the feed; either way, replaying
    /// after the last position seen recovers what history still holds;
    /// [`StoreError::is_reset`] when the history was reset (Redis) and the
    /// feed continues with the new history from its start, at positions
    /// below those received before;
    /// [`StoreError::is_closed`] when the store closed.
    pub async fn recv(&mut self) -> Result<Entry, StoreError> {
        let received = self.rx.recv().await;
        if let (Some(gaps), Ok(entry)) = (&self.gaps, &received) {
            if entry.position == RESET_MARKER {
                // A reset supersedes any gap counted before it: the
                // consumer reads the new history from its start.
                self.seen_gaps = gaps.load(AtomicOrdering::Acquire);
                return Err(StoreError::reset());
            }
        }
        if let Some(gaps) = &self.gaps {
            let now = gaps.load(AtomicOrdering::Acquire);
            if now != self.seen_gaps {
                self.seen_gaps = now;
                // The entry just received is dropped too: the replay that
                // recovers from the lag returns it (it was committed).
                return Err(StoreError::lagged(None));
            }
        }
        match received {
            Ok(entry) => Ok(entry),
            Err(broadcast::error::RecvError::Lagged(n)) => Err(StoreError::lagged(Some(n))),
            Err(broadcast::error::RecvError::Closed) => Err(StoreError::closed()),
        }
    }
}

/// The default byte bound of a [`Retention`]: 64 MiB of update bytes
/// ([`update_size`]), which a small machine can hold in memory several
/// times over.
pub const DEFAULT_HISTORY_BYTES: u64 = 64 * 1024 * 1024;

/// How much history a store keeps.
///
/// Invariant: `max_entries >= 1`. An entry is retained while it is among
/// the newest `max_entries`, while it and the entries newer than it add up
/// to at most `max_bytes` ([`update_size`]), and, when `max_age` is set,
/// while it is younger than `max_age` by the store's [`Clock`]. The newest
/// entry is always retained whatever its size (a history never trims below
/// one entry, so the bound can be exceeded by one update, itself bounded by
/// the hub's `max_body`). Eviction goes oldest first: an entry stays while
/// an older one does (which matters only when the clock moved back).
///
/// The byte bound is what bounds memory: the memory store holds at most
/// `max_bytes` of update bytes plus a small per-entry overhead (about
/// 200 bytes); SQLite's file holds as much (plus page overhead, and up to
/// 64 MiB of WAL after a checkpoint); a Redis stream as much plus Redis's
/// per-entry overhead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    max_entries: usize,
    max_bytes: u64,
    max_age: Option<Duration>,
}

impl Retention {
    /// Keeps the newest `max_entries` (at least 1) within
    /// [`DEFAULT_HISTORY_BYTES`], with no age limit.
    pub const fn new(max_entries: usize) -> Self {
        Retention {
            max_entries: if max_entries == 0 { 1 } else { max_entries },
            max_bytes: DEFAULT_HISTORY_BYTES,
            max_age: None,
        }
    }

    /// Keeps at most `max_bytes` of updates ([`update_size`]) instead of
    /// [`DEFAULT_HISTORY_BYTES`]; the newest entry is kept whatever its
    /// size.
    #[must_use]
    pub const fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Also evicts entries older than `max_age`.
    #[must_use]
    pub const fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The same byte bound and age limit with another count bound (at
    /// least 1).
    #[must_use]
    pub const fn with_max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = if max_entries == 0 { 1 } else { max_entries };
        self
    }

    /// The maximum number of retained entries.
    pub const fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The maximum retained bytes ([`update_size`]) beyond the newest
    /// entry.
    pub const fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The maximum age of a retained entry, if any.
    pub const fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// The oldest creation time (ms since the Unix epoch) still retained at
    /// `now_ms`, or 0 when there is no age limit.
    pub(crate) fn age_cutoff_ms(&self, now_ms: u64) -> u64 {
        match self.max_age {
            Some(age) => now_ms.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            None => 0,
        }
    }
}

impl Default for Retention {
    /// 100,000 entries within [`DEFAULT_HISTORY_BYTES`], no age limit.
    fn default() -> Self {
        Retention::new(100_000)
    }
}

/// The bytes an update counts against [`Retention::max_bytes`]: its id,
/// data, event type and topics, as UTF-8. Every backend counts the same.
pub fn update_size(update: &Update) -> u64 {
    let topics: usize = update.topics.iter().map(String::len).sum();
    let len = update.id.len()
        + update.data.len()
        + update.event_type.as_ref().map_or(0, String::len)
        + topics;
    u64::try_from(len).unwrap_or(u64::MAX)
}

pub use crate::update::generate_id;

/// Gives `update` a generated id when it has none.
pub(crate) fn ensure_id(update: &mut Update) {
    if update.id.is_empty() {
        update.id = generate_id();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_order_is_major_then_minor() {
        assert!(Position::new(1, 9) < Position::new(2, 0));
        assert!(Position::new(2, 0) < Position::new(2, 1));
        assert!(Position::ZERO < Position::new(0, 1));
    }

    #[test]
    fn position_round_trips_through_text() {
        let p = Position::new(1_700_000_000_000, 3);
        assert_eq!(p.to_string(), "1700000000000-3");
        assert_eq!("1700000000000-3".parse::<Position>(), Ok(p));
        assert_eq!("42".parse::<Position>(), Ok(Position::new(42, 0)));
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "a-1",
            "1-2-3",
            "+1",
            "1 -2",
            "99999999999999999999",
        ] {
            assert!(bad.parse::<Position>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn cursor_from_last_event_id() {
        assert_eq!(Cursor::from_last_event_id("earliest"), Cursor::Earliest);
        assert_eq!(
            Cursor::from_last_event_id("urn:uuid:x"),
            Cursor::Id("urn:uuid:x".to_owned())
        );
    }

    #[test]
    fn retention_is_at_least_one_entry() {
        assert_eq!(Retention::new(0).max_entries(), 1);
        let r = Retention::new(5).with_max_age(Duration::from_secs(2));
        assert_eq!(r.age_cutoff_ms(10_000), 8_000);
        assert_eq!(r.age_cutoff_ms(1_000), 0);
        assert_eq!(Retention::new(5).age_cutoff_ms(10_000), 0);
    }

    #[test]
    fn retention_keeps_its_other_bounds_when_one_changes() {
        let r = Retention::new(5)
            .with_max_bytes(100)
            .with_max_age(Duration::from_secs(2));
        assert_eq!(Retention::new(5).max_bytes(), DEFAULT_HISTORY_BYTES);
        let r = r.with_max_entries(0);
        assert_eq!(
            (r.max_entries(), r.max_bytes(), r.max_age()),
            (1, 100, Some(Duration::from_secs(2)))
        );
    }

    #[test]
    fn update_size_counts_id_data_type_and_topics() {
        let u = Update {
            id: "ab".to_owned(),
            topics: vec!["t1".to_owned(), "ü".to_owned()],
            data: "hello".to_owned(),
            private: true,
            event_type: Some("e".to_owned()),
            retry: Some(5),
        };
        assert_eq!(update_size(&u), 2 + 5 + 1 + 2 + 2);
    }

    #[test]
    fn generated_ids_are_urn_uuids() {
        let a = generate_id();
        assert!(a.starts_with("urn:uuid:") && a.len() == "urn:uuid:".len() + 36);
        assert_ne!(a, generate_id());
    }
}
