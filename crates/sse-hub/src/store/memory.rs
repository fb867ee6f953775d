//! [`MemoryStore`]: history in a bounded ring, for tests and for hubs that
//! need no durability.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use super::{
    ensure_id, update_size, Clock, Cursor, Entry, LiveFeed, Position, Replay, Retention, Store,
    StoreError, StoreFuture, SystemClock,
};
use crate::Update;

/// Settings of a [`MemoryStore`].
#[derive(Clone, Debug)]
#[must_use]
pub struct MemoryConfig {
    /// What is kept; the ring never holds more than
    /// `retention.max_entries()` entries, nor more than
    /// `retention.max_bytes()` of updates beyond the newest one.
    pub retention: Retention,
    /// The time source for age retention.
    pub clock: Arc<dyn Clock>,
    /// How many entries a live feed buffers before its consumer lags
    /// (at least 1).
    pub live_capacity: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            retention: Retention::default(),
            clock: Arc::new(SystemClock),
            live_capacity: 4096,
        }
    }
}

/// A [`Store`] that keeps history in memory: a ring bounded by
/// [`Retention`]. Appends are "durable" once in the ring, so they complete
/// at once; history is lost with the process.
///
/// ```
/// use sse_hub::store::{Cursor, MemoryConfig, MemoryStore, Retention, Store};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sse_hub::store::StoreError> {
/// let store = MemoryStore::new(MemoryConfig {
///     retention: Retention::new(2),
///     ..MemoryConfig::default()
/// });
/// for id in ["a", "b", "c"] {
///     let update = sse_hub::Update {
///         id: id.into(),
///         topics: vec!["t".into()],
///         data: String::new(),
///         private: false,
///         event_type: None,
///         retry: None,
///     };
///     store.append(update).await?;
/// }
/// // "a" was evicted: a client resuming from it is told history is incomplete.
/// assert!(!store.replay(Cursor::Id("a".into()), 10).await?.complete);
/// assert_eq!(store.replay(Cursor::Earliest, 10).await?.entries.len(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    // A std Mutex: every critical section is short, synchronous and never
    // awaits, so an async mutex would only add cost. Holding it while
    // sending to the live feed is what makes feed order equal position
    // order.
    inner: Mutex<Inner>,
    retention: Retention,
    clock: Arc<dyn Clock>,
}

#[derive(Debug)]
struct Inner {
    /// Retained entries, in position order, positions consecutive.
    ring: VecDeque<Slot>,
    /// The sum of [`update_size`] over `ring`.
    bytes: u64,
    /// The last sequence number assigned (0 before the first append).
    last_seq: u64,
    /// For each retained id: the sequence of its oldest retained
    /// occurrence and how many occurrences are retained.
    ids: HashMap<String, (u64, usize)>,
    /// `None` once closed.
    live: Option<broadcast::Sender<Entry>>,
}

#[derive(Debug)]
struct Slot {
    entry: Entry,
    created_ms: u64,
    /// [`update_size`] of the entry's update.
    bytes: u64,
}

impl Slot {
    fn seq(&self) -> u64 {
        self.entry.position.major()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new(config: MemoryConfig) -> Self {
        let (live, _) = broadcast::channel(config.live_capacity.max(1));
        MemoryStore {
            inner: Mutex::new(Inner {
                ring: VecDeque::new(),
                bytes: 0,
                last_seq: 0,
                ids: HashMap::new(),
                live: Some(live),
            }),
            retention: config.retention,
            clock: config.clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code path panics while holding the lock with the ring
        // half-updated, so a poisoned lock's data is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn append_now(&self, mut update: Update) -> Result<Entry, StoreError> {
        ensure_id(&mut update);
        let now_ms = self.clock.now_ms();
        let mut inner = self.lock();
        if inner.live.is_none() {
            return Err(StoreError::closed());
        }
        // Age first, so that the duplicate check below sees exactly the
        // history a replay would (count is applied after every append).
        inner.evict_expired(self.retention.age_cutoff_ms(now_ms));
        if let Some(stored) = inner.retained(&update.id) {
            // Idempotent within history: under the lock, so two appends
            // of one id store it once.
            return Ok(stored.into_duplicate());
        }
        inner.last_seq += 1;
        let seq = inner.last_seq;
        let entry = Entry::new(Position::new(seq, 0), Arc::new(update));
        match inner.ids.entry(entry.update.id.clone()) {
            MapEntry::Occupied(mut o) => o.get_mut().1 += 1,
            MapEntry::Vacant(v) => {
                v.insert((seq, 1));
            }
        }
        let bytes = update_size(&entry.update);
        inner.ring.push_back(Slot {
            entry: entry.clone(),
            created_ms: now_ms,
            bytes,
        });
        inner.bytes = inner.bytes.saturating_add(bytes);
        // Never below one entry: the newest stays whatever its size.
        while inner.ring.len() > 1
            && (inner.ring.len() > self.retention.max_entries()
                || inner.bytes > self.retention.max_bytes())
        {
            inner.evict_front();
        }
        inner.evict_expired(self.retention.age_cutoff_ms(now_ms));
        if let Some(live) = &inner.live {
            // No receiver is not an error: nobody is listening yet.
            let _ = live.send(entry.clone());
        }
        Ok(entry)
    }

    fn replay_now(&self, cursor: Cursor, limit: usize) -> Result<Replay, StoreError> {
        let limit = limit.max(1);
        let cutoff = self.retention.age_cutoff_ms(self.clock.now_ms());
        let mut inner = self.lock();
        if inner.live.is_none() {
            return Err(StoreError::closed());
        }
        inner.evict_expired(cutoff);
        let oldest_visible = inner
            .ring
            .front()
            .map_or(inner.last_seq.saturating_add(1), Slot::seq);
        let newest = (inner.last_seq > 0).then(|| Position::new(inner.last_seq, 0));
        let mut at = None;
        let after = match cursor {
            Cursor::Earliest => None,
            Cursor::Newest => Some(inner.last_seq),
            Cursor::Id(id) => match inner.retained(&id) {
                Some(stored) => {
                    at = Some(stored.update);
                    Some(stored.position.major())
                }
                None => return Ok(incomplete(newest)),
            },
            Cursor::After(p) => {
                let seq = p.major();
                if seq.saturating_add(1) < oldest_visible && seq < inner.last_seq {
                    return Ok(incomplete(newest));
                }
                Some(seq)
            }
        };
        let start = match after {
            Some(seq) => inner.ring.partition_point(|s| s.seq() <= seq),
            None => 0,
        };
        let mut entries: Vec<Entry> = inner
            .ring
            .iter()
            .skip(start)
            .take(limit.saturating_add(1))
            .map(|s| s.entry.clone())
            .collect();
        let more = entries.len() > limit;
        entries.truncate(limit);
        Ok(Replay {
            entries,
            complete: true,
            more,
            after: after.map(|seq| Position::new(seq, 0)),
            newest,
            at,
        })
    }
}

fn incomplete(newest: Option<Position>) -> Replay {
    Replay {
        newest,
        ..Replay::default()
    }
}

impl Inner {
    /// The oldest retained entry with update id `id`.
    fn retained(&self, id: &str) -> Option<Entry> {
        let &(seq, _) = self.ids.get(id)?;
        // Positions in the ring are consecutive.
        let front = self.ring.front()?.seq();
        let index = usize::try_from(seq.checked_sub(front)?).ok()?;
        self.ring.get(index).map(|s| s.entry.clone())
    }

    fn evict_front(&mut self) {
        let Some(slot) = self.ring.pop_front() else {
            return;
        };
        self.bytes = self.bytes.saturating_sub(slot.bytes);
        let seq = slot.seq();
        let id = &slot.entry.update.id;
        let Some(&(oldest, count)) = self.ids.get(id) else {
            return;
        };
        if count <= 1 {
            self.ids.remove(id);
        } else {
            // A duplicated id: the next occurrence becomes the oldest. It
            // is usually close to the front, so the scan is short.
            let next = if oldest == seq {
                self.ring
                    .iter()
                    .find(|s| s.entry.update.id == *id)
                    .map_or(oldest, Slot::seq)
            } else {
                oldest
            };
            self.ids.insert(id.clone(), (next, count - 1));
        }
    }

    /// Evicts from the front while the oldest entry was created before
    /// `cutoff_ms` (see [`Retention`]).
    fn evict_expired(&mut self, cutoff_ms: u64) {
        while self.ring.front().is_some_and(|s| s.created_ms < cutoff_ms) {
            self.evict_front();
        }
    }
}

impl Store for MemoryStore {
    // Lazy like every store future: nothing happens until polled.
    fn append(&self, update: Update) -> StoreFuture<'_, Entry> {
        Box::pin(async move { self.append_now(update) })
    }

    fn replay(&self, cursor: Cursor, limit: usize) -> StoreFuture<'_, Replay> {
        Box::pin(async move { self.replay_now(cursor, limit) })
    }

    fn live(&self) -> LiveFeed {
        match &self.lock().live {
            Some(tx) => LiveFeed::new(tx.subscribe()),
            None => LiveFeed::closed(),
        }
    }

    fn close(&self) -> StoreFuture<'_, ()> {
        // Dropping the sender ends every live feed once drained.
        self.lock().live = None;
        Box::pin(async { Ok(()) })
    }
}
