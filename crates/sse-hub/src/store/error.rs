//! [`StoreError`]: what can go wrong in a store, opaque so it can grow.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// An error from a [`Store`](super::Store).
///
/// Opaque: ask it with the `is_*` predicates. The backend's own error (for
/// SQLite, rusqlite's) is kept as the [`source`](StdError::source), never
/// exposed in a signature.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StoreError(Box<Kind>);

// Private so variants can be added without breaking users.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    #[error("the store is closed")]
    Closed,
    #[error("the store's append queue stayed full for {0:?}")]
    Busy(Duration),
    #[error("the live feed fell behind and skipped {0} entries")]
    Lagged(u64),
    #[error("the consumer fell behind past the retained history")]
    Evicted,
    #[error("the store's history was reset (deleted and started again)")]
    Reset,
    #[error("store backend failed: {context}")]
    Backend {
        context: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Foreign(String),
    #[error("the outcome of update {id:?} is unknown: {context}")]
    OutcomeUnknown {
        context: &'static str,
        doubt: Doubt,
        id: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

/// Why an append's outcome is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Doubt {
    /// The request was sent and no answer came (a timeout, a connection
    /// that broke): the backend may have applied it, even later.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Unanswered,
    /// Applied, but replicas did not confirm it: a failover may lose it.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Unreplicated,
    /// Committed, but syncing it to disk failed: a crash may lose it.
    Unsynced,
}

impl Doubt {
    /// What happened to the update, for a publisher: "update X {this}".
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Doubt::Unanswered => {
                "was sent to the store, which did not answer in time: it may have been stored"
            }
            Doubt::Unreplicated => {
                "reached the store but its replicas did not confirm it in time, so a failover \
                 may lose it"
            }
            Doubt::Unsynced => {
                "was written by the store but syncing it to disk failed, so a crash may lose it"
            }
        }
    }
}

impl StoreError {
    fn new(kind: Kind) -> Self {
        StoreError(Box::new(kind))
    }

    pub(crate) fn closed() -> Self {
        Self::new(Kind::Closed)
    }

    pub(crate) fn busy(waited: Duration) -> Self {
        Self::new(Kind::Busy(waited))
    }

    /// `skipped` is `None` when the consumer fell behind the retained
    /// history rather than the live feed's buffer.
    pub(crate) fn lagged(skipped: Option<u64>) -> Self {
        Self::new(match skipped {
            Some(n) => Kind::Lagged(n),
            None => Kind::Evicted,
        })
    }

    /// The history was deleted and started again (Redis: `FLUSHALL`, or a
    /// restart without persistence) with positions below those already
    /// fed (see [`is_reset`](Self::is_reset)).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn reset() -> Self {
        Self::new(Kind::Reset)
    }

    pub(crate) fn backend(
        context: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::new(Kind::Backend {
            context,
            source: source.into(),
        })
    }

    /// The write may or may not have been stored durably: the backend
    /// may have taken it but did not confirm it the way the store was
    /// asked to (`doubt` says how).
    pub(crate) fn outcome_unknown(
        context: &'static str,
        doubt: Doubt,
        id: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self::new(Kind::OutcomeUnknown {
            context,
            doubt,
            id: id.into(),
            source: source.into(),
        })
    }

    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        Self::new(Kind::Corrupt(what.into()))
    }

    /// `why` says what the data is and that it was left unchanged.
    pub(crate) fn foreign(why: impl Into<String>) -> Self {
        Self::new(Kind::Foreign(why.into()))
    }

    /// The store was closed; nothing was done.
    pub fn is_closed(&self) -> bool {
        matches!(*self.0, Kind::Closed)
    }

    /// The append queue stayed full for the configured time; the update
    /// was not stored. A hub answers 503 and the publisher may retry.
    pub fn is_busy(&self) -> bool {
        matches!(*self.0, Kind::Busy(_))
    }

    /// From a live feed: the history was reset and the feed continues with
    /// the new history from its start, whose positions are *below* those
    /// fed before. Positions before and after are not comparable; a
    /// consumer starts its comparisons again (a [`Handoff`] from `None`)
    /// and reads the new history with [`Cursor::Earliest`].
    ///
    /// [`Handoff`]: super::Handoff
    /// [`Cursor::Earliest`]: super::Cursor::Earliest
    pub fn is_reset(&self) -> bool {
        matches!(*self.0, Kind::Reset)
    }

    /// A live-feed consumer fell behind and entries were skipped. After a
    /// [`LiveFeed`](super::LiveFeed) lag the consumer can replay the gap;
    /// when it also fell behind the retained history (from
    /// [`Tail`](super::Tail)), the skipped entries are gone.
    pub fn is_lagged(&self) -> bool {
        matches!(*self.0, Kind::Lagged(_) | Kind::Evicted)
    }

    /// The backend (database, file system, network) failed.
    pub fn is_backend(&self) -> bool {
        matches!(*self.0, Kind::Backend { .. })
    }

    /// An append whose outcome is unknown: the backend may have received
    /// it but did not confirm it as durable as configured (for Redis: no
    /// answer to the append in time, or `WAIT` saw fewer replicas than
    /// required in time, or the connection broke while waiting; for
    /// SQLite: syncing the commit failed). The update may be in history, or may be lost on a
    /// failover. A hub answers 503 and says so; a retry with the same
    /// update id is how a publisher resolves it. Never
    /// [`is_backend`](Self::is_backend).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(*self.0, Kind::OutcomeUnknown { .. })
    }

    /// For an [`is_outcome_unknown`](Self::is_outcome_unknown) error, the
    /// id of the update in doubt (the one the store assigned when the
    /// publisher gave none): what a retry must carry.
    pub fn outcome_unknown_id(&self) -> Option<&str> {
        match &*self.0 {
            Kind::OutcomeUnknown { id, .. } => Some(id),
            _ => None,
        }
    }

    /// For an outcome-unknown error, why.
    pub(crate) fn doubt(&self) -> Option<Doubt> {
        match &*self.0 {
            Kind::OutcomeUnknown { doubt, .. } => Some(*doubt),
            _ => None,
        }
    }

    /// The backend holds data this version cannot read (or a file written
    /// by a newer version).
    pub fn is_corrupt(&self) -> bool {
        matches!(*self.0, Kind::Corrupt(_))
    }

    /// The backend holds another application's data (an SQLite file with
    /// tables of its own and without the hub's `application_id`): the
    /// store refused to open it and wrote nothing to it. Never
    /// [`is_corrupt`](Self::is_corrupt) or [`is_backend`](Self::is_backend).
    pub fn is_foreign(&self) -> bool {
        matches!(*self.0, Kind::Foreign(_))
    }
}

// Errors cross tasks and threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<StoreError>();
};

/// The text was not a [`Position`](super::Position) (`major-minor`, both
/// decimal `u64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePositionError(());

impl ParsePositionError {
    pub(crate) fn new() -> Self {
        ParsePositionError(())
    }
}

impl fmt::Display for ParsePositionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid position: expected `<u64>-<u64>` or `<u64>`")
    }
}

impl StdError for ParsePositionError {}
