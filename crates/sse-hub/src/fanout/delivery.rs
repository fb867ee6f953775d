//! Delivery: the fan-out task, which takes committed updates from the
//! store's live feed in order and hands each to its subscribers without
//! ever waiting on one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;

use super::encode;
use super::registry::{MatchCache, Registry};
use super::subscriber::Subscriber;
use crate::hub::metrics::{inc, Metrics};
use crate::store::{Cursor, Entry, Handoff, LiveFeed, Position, Store};
use crate::topic::HubUrl;
use crate::Update;

/// Subscribers delivered to between two yields of the fan-out task. Pushing
/// a frame costs well under a microsecond, but a large fan-out done in one
/// go delays every write behind it: with 10,000 subscribers on a topic the
/// first socket write would wait for all 10,000 pushes (~4 ms on one core).
/// Yielding every `DELIVER_BATCH` lets the woken writers (and the runtime's
/// other work: publishes, new connections) run in between, for the cost of
/// one trip through the scheduler per batch.
const DELIVER_BATCH: usize = 256;

/// Queued pushes the fan-out makes while it is behind before it lets the
/// writers run (about 10 ms of pushing). Writers then find several updates
/// queued and send them in one `writev` each: with 10,000 subscribers,
/// three or four updates per write; with 1,000, thirty. Yielding after
/// every batch instead would have each writer send one update per write,
/// the cost that put the fan-out behind in the first place.
const BACKLOG_PUSHES_PER_YIELD: usize = 32 * 1024;

/// Queued pushes since the writers last had a turn (see
/// [`BACKLOG_PUSHES_PER_YIELD`]).
#[derive(Default)]
struct Backlog(usize);

impl Backlog {
    /// Counts `pushed` queued pushes; yields once they reach the budget.
    async fn pushed(&mut self, pushed: usize) {
        self.0 += pushed;
        if self.0 >= BACKLOG_PUSHES_PER_YIELD {
            self.0 = 0;
            tokio::task::yield_now().await;
        }
    }
}

/// How the fan-out hands a frame to a subscriber's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Delivery {
    /// The fan-out is caught up: a push to an idle stream writes the frame
    /// to its socket at once (no wake-up of the stream's writer; the
    /// lowest latency and CPU per delivery while each subscriber gets one
    /// update at a time).
    Direct,
    /// More updates are already waiting: frames are queued and each
    /// stream's writer sends all it has in one `writev`, so the cost per
    /// delivery falls as the backlog grows instead of the fan-out making
    /// one write per delivery and falling further behind.
    Queued,
}

/// Delivers one update to a batch of its subscribers.
fn deliver_batch(
    batch: &[Arc<Subscriber>],
    position: Position,
    frame: &Bytes,
    metrics: &Metrics,
    how: Delivery,
) {
    // M32 again at delivery time: a token may have expired while earlier
    // batches were delivered.
    let now = Instant::now();
    for sub in batch {
        if !sub.is_expired(now) {
            sub.deliver(position, frame, metrics, how);
        }
    }
}

/// The newest update dispatched, and the newest public one: what the
/// subscriptions API reports as `lastEventID`. Two reference counts, set
/// once per update.
#[derive(Debug, Default)]
pub(crate) struct LastDispatched {
    newest: Option<Arc<Update>>,
    newest_public: Option<Arc<Update>>,
}

impl LastDispatched {
    fn record(&mut self, update: &Arc<Update>) {
        if !update.private {
            self.newest_public = Some(Arc::clone(update));
        }
        self.newest = Some(Arc::clone(update));
    }

    /// The id to tell a caller for whom `may_read` says which private
    /// updates it may read: the newest update when it may read it, else
    /// the newest public one. A private id never reaches a caller that may
    /// not read it, and what such a caller is told depends on public
    /// updates only (so it cannot even tell that a private one followed).
    pub(crate) fn id_for(&self, may_read: impl Fn(&Update) -> bool) -> Option<&str> {
        match &self.newest {
            Some(u) if !u.private || may_read(u) => Some(&u.id),
            _ => self.newest_public.as_deref().map(|u| u.id.as_str()),
        }
    }
}

/// The fan-out task's state.
pub(crate) struct Fanout {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) hub: HubUrl,
    pub(crate) page: usize,
    /// The newest updates dispatched (the subscriptions API's
    /// `lastEventID`).
    pub(crate) last_id: Arc<Mutex<LastDispatched>>,
    /// Cleared when the live feed ends while the hub is not shutting down
    /// (`/healthz` then says degraded).
    pub(crate) alive: Arc<AtomicBool>,
    pub(crate) cache: MatchCache,
}

impl Fanout {
    /// Consumes `live` until the store closes or `stop` fires.
    pub(crate) async fn run(
        mut self,
        mut live: LiveFeed,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut handoff = Handoff::new(None);
        let mut dispatch = 0u64;
        // The subscribers one update goes to; kept between updates so a
        // steady fan-out allocates nothing (8 bytes per subscriber at most).
        let mut targets = Vec::new();
        let mut backlog = Backlog::default();
        loop {
            let next = tokio::select! {
                biased;
                _ = stop.changed() => break,
                next = live.recv() => next,
            };
            match next {
                Ok(entry) => {
                    if handoff.admit(entry.position) {
                        dispatch += 1;
                        let how = if live.is_behind() {
                            Delivery::Queued
                        } else {
                            Delivery::Direct
                        };
                        let pushed = self.dispatch(&entry, dispatch, &mut targets, how).await;
                        match how {
                            Delivery::Queued => backlog.pushed(pushed).await,
                            Delivery::Direct => backlog = Backlog::default(),
                        }
                    }
                }
                Err(e) if e.is_reset() => {
                    // The store's history started again below what was
                    // dispatched: compare positions afresh, and let the
                    // subscribers take the new history too.
                    inc(&self.metrics.fanout_recoveries);
                    handoff = Handoff::new(None);
                    let ended = self.registry.after_history_reset();
                    tracing::warn!(
                        ended,
                        "the store's history was reset: live subscribers continue with the new \
                         history; those still replaying were disconnected to resume"
                    );
                }
                Err(e) if e.is_lagged() => {
                    inc(&self.metrics.fanout_recoveries);
                    if !self
                        .recover(&mut handoff, &mut dispatch, &mut targets)
                        .await
                    {
                        // Updates were lost between the feed and history:
                        // make every subscriber resume from its last event.
                        tracing::warn!("fan-out fell behind past the retained history; disconnecting subscribers so they resume");
                        self.registry.disconnect_all();
                    }
                }
                Err(e) => {
                    if !*stop.borrow() {
                        tracing::error!(error = %e, "the store's live feed ended; fan-out stopped");
                        self.alive.store(false, Ordering::Release);
                    }
                    break;
                }
            }
        }
    }

    /// Delivers one update to every subscriber it is for; returns how
    /// many that was. Updates go out one after the other, so each
    /// subscriber gets them in order.
    ///
    /// [`Delivery::Direct`]: in batches of [`DELIVER_BATCH`] with a yield
    /// in between, since each push may be a socket write. [`Delivery::Queued`]:
    /// all at once (pushes only queue); the caller yields every
    /// [`BACKLOG_PUSHES_PER_YIELD`].
    async fn dispatch(
        &mut self,
        entry: &Entry,
        dispatch: u64,
        targets: &mut Vec<Arc<Subscriber>>,
        how: Delivery,
    ) -> usize {
        inc(&self.metrics.updates_dispatched);
        // A reference count, not a copy: this runs once per update.
        if let Ok(mut last) = self.last_id.lock() {
            last.record(&entry.update);
        }
        let Some(frame) = encode(&entry.update) else {
            tracing::warn!(position = %entry.position, "update skipped: its id or type cannot be encoded");
            return 0;
        };
        targets.clear();
        self.registry
            .collect(entry, dispatch, &self.hub, &mut self.cache, targets);
        let position = entry.position;
        if how == Delivery::Direct
            && targets.len() > DELIVER_BATCH
            && tokio::runtime::Handle::current().metrics().num_workers() > 1
        {
            // Each direct push is a socket write: with more than one
            // runtime thread, batches run as tasks the other threads can
            // take, so the writes of one update proceed in parallel. The
            // next update waits for all of them, which keeps every
            // subscriber's updates in order.
            let mut batches = tokio::task::JoinSet::new();
            for batch in targets.chunks(DELIVER_BATCH) {
                let batch = batch.to_vec();
                let (frame, metrics) = (frame.clone(), Arc::clone(&self.metrics));
                batches
                    .spawn(async move { deliver_batch(&batch, position, &frame, &metrics, how) });
            }
            while let Some(done) = batches.join_next().await {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a fan-out batch failed");
                }
            }
        } else {
            let mut batches = targets.chunks(DELIVER_BATCH).peekable();
            while let Some(batch) = batches.next() {
                deliver_batch(batch, position, &frame, &self.metrics, how);
                // Direct pushes write: let the rest of the runtime (new
                // connections, publishes) in between batches.
                if how == Delivery::Direct && batches.peek().is_some() {
                    tokio::task::yield_now().await;
                }
            }
        }
        let count = targets.len();
        // Releases the references now rather than at the next update, so a
        // subscriber that left is freed as soon as the registry lets it go.
        targets.clear();
        count
    }

    /// Re-reads from the store what the live feed skipped. `false` when it
    /// cannot (nothing dispatched yet to resume after, history evicted, or
    /// the store failed).
    async fn recover(
        &mut self,
        handoff: &mut Handoff,
        dispatch: &mut u64,
        targets: &mut Vec<Arc<Subscriber>>,
    ) -> bool {
        let Some(mut last) = handoff.last() else {
            return false;
        };
        // Catching up is a backlog by definition: queued pushes, with the
        // writers let run every so often.
        let mut backlog = Backlog::default();
        loop {
            let replay = match self.store.replay(Cursor::After(last), self.page).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "fan-out could not re-read history");
                    return false;
                }
            };
            // The store's newest position below what was dispatched: its
            // history was reset while the feed lagged (the reset's marker
            // was among the skipped). Positions are no longer comparable.
            if !replay.complete || replay.newest.is_some_and(|newest| newest < last) {
                return false;
            }
            for entry in &replay.entries {
                if handoff.admit(entry.position) {
                    *dispatch += 1;
                    // Catching up: a backlog by definition.
                    let pushed = self
                        .dispatch(entry, *dispatch, targets, Delivery::Queued)
                        .await;
                    backlog.pushed(pushed).await;
                }
            }
            match (replay.more, replay.entries.last()) {
                (true, Some(e)) => last = e.position,
                _ => return true,
            }
        }
    }
}
