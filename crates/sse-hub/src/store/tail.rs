//! Replay-then-live without gap or duplicate: [`Handoff`] (the rule) and
//! [`Tail`] (the whole sequence over a [`Store`]).

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Cursor, Entry, LiveFeed, Position, Store, StoreError};

/// The handoff rule: admit an entry only when it is newer than everything
/// delivered so far.
///
/// Start it at the replay's resolved position ([`Replay::after`]), feed it
/// the replayed entries, then the live ones: live entries the replay
/// already covered are refused. Positions are totally ordered, so one
/// comparison per entry suffices.
///
/// [`Replay::after`]: super::Replay::after
///
/// ```
/// use sse_hub::store::{Handoff, Position};
///
/// let mut handoff = Handoff::new(Some(Position::new(3, 0)));
/// assert!(!handoff.admit(Position::new(3, 0))); // the cursor itself
/// assert!(handoff.admit(Position::new(4, 0))); // replayed
/// assert!(!handoff.admit(Position::new(4, 0))); // seen again live
/// assert!(handoff.admit(Position::new(5, 0)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Handoff {
    last: Option<Position>,
}

impl Handoff {
    /// A handoff that admits positions after `after` (all, for `None`).
    pub const fn new(after: Option<Position>) -> Self {
        Handoff { last: after }
    }

    /// Whether `position` is new; if so, it becomes the last delivered.
    pub fn admit(&mut self, position: Position) -> bool {
        match self.last {
            Some(last) if position <= last => false,
            _ => {
                self.last = Some(position);
                true
            }
        }
    }

    /// The newest position admitted (or the starting one).
    pub const fn last(&self) -> Option<Position> {
        self.last
    }
}

/// Every entry after a cursor, replayed history first and then live, each
/// exactly once and in position order.
///
/// Built on [`Store::live`] and [`Store::replay`] with [`Handoff`]: the
/// live feed is registered before the first replay page is read. Replay is
/// read page by page, so memory stays bounded by the page size and the live
/// feed's buffer. When the live feed lags, `Tail` replays the skipped range
/// from the store and carries on; only when that range was already evicted
/// does it fail. When the store's history is reset ([`StoreError::is_reset`])
/// it goes on with the new history from its start.
#[must_use = "a tail does nothing unless `next` is awaited"]
pub struct Tail {
    store: Arc<dyn Store>,
    live: LiveFeed,
    page: usize,
    buffered: VecDeque<Entry>,
    handoff: Handoff,
    /// The store's newest position at the first replay: where to resume
    /// after a lag when nothing was delivered yet.
    newest: Option<Position>,
    /// More history to read before (or instead of) the live feed.
    replaying: bool,
    complete: bool,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail")
            .field("page", &self.page)
            .field("buffered", &self.buffered.len())
            .field("handoff", &self.handoff)
            .field("newest", &self.newest)
            .field("replaying", &self.replaying)
            .field("complete", &self.complete)
            .finish_non_exhaustive()
    }
}

impl Tail {
    /// Registers a live feed on `store`, then reads the first replay page
    /// (up to `page` entries) after `cursor`.
    ///
    /// # Errors
    ///
    /// Those of [`Store::replay`].
    pub async fn start(
        store: Arc<dyn Store>,
        cursor: Cursor,
        page: usize,
    ) -> Result<Tail, StoreError> {
        let page = page.max(1);
        // Live first: anything committed after the replay's read is then
        // certain to arrive on the feed.
        let live = store.live();
        let replay = store.replay(cursor, page).await?;
        // A cursor that was not found yields live entries after the
        // replay's snapshot; one that was, entries after it.
        let start = if replay.complete {
            replay.after
        } else {
            replay.newest
        };
        Ok(Tail {
            store,
            live,
            page,
            handoff: Handoff::new(start),
            newest: replay.newest,
            replaying: replay.more,
            complete: replay.complete,
            buffered: replay.entries.into(),
        })
    }

    /// Whether the history after the cursor was complete (see
    /// [`Replay::complete`](super::Replay::complete)). When it was not
    /// (an unknown or evicted id), the tail yields the entries committed
    /// after it started.
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// The newest position returned so far (or the cursor's).
    pub fn last(&self) -> Option<Position> {
        self.handoff.last()
    }

    /// The next entry.
    ///
    /// Waits for a live entry when history is exhausted; wrap it in a
    /// timeout where waiting forever is wrong.
    ///
    /// # Errors
    ///
    /// [`StoreError::is_lagged`] when the live feed fell behind past the
    /// retained history (entries were lost); [`StoreError::is_closed`] when the store closed; the errors of
    /// [`Store::replay`].
    pub async fn next(&mut self) -> Result<Entry, StoreError> {
        loop {
            while let Some(entry) = self.buffered.pop_front() {
                if self.handoff.admit(entry.position) {
                    return Ok(entry);
                }
            }
            if self.replaying {
                self.read_page().await?;
                continue;
            }
            match self.live.recv().await {
                Ok(entry) => {
                    if self.handoff.admit(entry.position) {
                        return Ok(entry);
                    }
                }
                Err(e) if e.is_reset() => {
                    // The feed continues with the new history from its
                    // start: everything of it is new to this tail.
                    self.handoff = Handoff::new(None);
                    self.newest = None;
                    self.buffered.clear();
                    self.replaying = false;
                }
                Err(e) if e.is_lagged() => {
                    // The skipped entries are committed, so the store has
                    // them unless retention evicted them: read them back.
                    self.replaying = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn read_page(&mut self) -> Result<(), StoreError> {
        // Nothing delivered yet: everything after the first replay's
        // snapshot is owed (after every entry when the store was empty).
        let last = self
            .handoff
            .last()
            .or(self.newest)
            .unwrap_or(Position::ZERO);
        let replay = self.store.replay(Cursor::After(last), self.page).await?;
        if !replay.complete {
            self.replaying = false;
            return Err(StoreError::lagged(None));
        }
        self.replaying = replay.more;
        self.buffered.extend(replay.entries);
        Ok(())
    }
}
