//! Fan-out: one task takes committed updates from the store's live feed in
//! order, encodes each once, and pushes the shared frame into the queue of
//! every subscriber it is meant for, without ever waiting on a subscriber.
//!
//! How a frame reaches the socket depends on whether the fan-out keeps up
//! ([`Delivery`]). While it does, a push to a subscriber whose stream
//! writer is idle writes the frame to the socket there and then
//! (`sse_server`'s light path), which skips waking the writer: most of what
//! a delivery costs in user space. Once updates wait in the feed, pushes
//! only queue, and each writer sends everything queued for it in one
//! `writev`, so the cost per delivery falls as the load rises.
//!
//! The index ([`Registry`]) finds subscribers three ways: exact topics by
//! hash lookup, `*` subscribers always, and URL-pattern / URI-template
//! matchers evaluated once per distinct matcher per update (a thousand
//! subscribers on `/books/:id` cost one evaluation). A subscriber with
//! several matching matchers gets the update once: each subscriber records
//! the number of the last dispatch it received.
//!
//! While a new subscriber's history is replayed, live frames for it are
//! held in a small bounded buffer ([`Subscriber`]); its task hands off from
//! replay to live by comparing store positions, so nothing is lost or sent
//! twice. The replay reads the store directly and can see entries the
//! fan-out has not dispatched yet, so after the handoff the fan-out still
//! skips positions at or below the last replayed one (the *floor*).
//!
//! A subscriber whose queue (or replay buffer) overflows is disconnected;
//! it reconnects with `Last-Event-ID` and loses nothing. Queue bounds:
//! [`Limits::queue_frames`] / [`Limits::queue_bytes`] per subscriber (the
//! replay buffer: `queue_frames` entries); the store's live feed is bounded
//! by the store, and a lag there is recovered from history.
//!
//! [`Limits::queue_frames`]: super::Limits::queue_frames
//! [`Limits::queue_bytes`]: super::Limits::queue_bytes

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use bytes::Bytes;
use sse_server::FrameSender;
use sse_wire::Event;

use super::metrics::{inc, Metrics};
use crate::auth::Credentials;
use crate::store::{Cursor, Entry, Handoff, LiveFeed, Position, Store};
use crate::topic::{HubUrl, MatchType, Topic, TopicMatcher};
use crate::Update;

/// Encodes an update as its SSE frame (M10, M34): `id:` always, `event:`
/// and `retry:` when set, and `data:` split into lines (always present, so
/// an update with empty data is still dispatched by `EventSource`).
///
/// `None` when the id or type cannot be carried by the format (CR, LF or
/// NUL). Publish validation refuses such values, so this only happens for
/// an entry some other writer put in a shared store; it is skipped rather
/// than sent malformed.
pub(crate) fn encode(update: &Update) -> Option<Bytes> {
    let mut event = Event::new().id(update.id.as_str()).ok()?;
    if let Some(t) = &update.event_type {
        event = event.event(t.as_str()).ok()?;
    }
    if let Some(ms) = update.retry {
        event = event.retry(std::time::Duration::from_millis(ms));
    }
    Some(event.data(update.data.as_str()).to_bytes())
}

/// One of the hub's connection slots ([`Limits::max_connections`]); given
/// back when dropped, that is when the subscriber's record goes.
///
/// [`Limits::max_connections`]: super::Limits::max_connections
pub(crate) struct ConnectionSlot(Arc<Metrics>);

impl ConnectionSlot {
    /// A slot, unless `max` are taken.
    pub(crate) fn take(metrics: &Arc<Metrics>, max: usize) -> Option<Self> {
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        let before = metrics.subscribers.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            metrics.subscribers.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(ConnectionSlot(Arc::clone(metrics)))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Open streams per token subject, for
/// [`Limits::max_connections_per_subject`](super::Limits::max_connections_per_subject).
#[derive(Default)]
pub(crate) struct SubjectCounts(Mutex<HashMap<SubjectKey, usize>>);

/// A token subject: its `iss` (when present) and `sub`.
type SubjectKey = (Option<Box<str>>, Box<str>);

/// One stream counted against its token's subject (`iss`, `sub`); given
/// back when dropped.
pub(crate) struct SubjectSlot {
    counts: Arc<SubjectCounts>,
    key: SubjectKey,
}

impl SubjectSlot {
    /// A slot for the subject, unless it already holds `max` streams.
    pub(crate) fn take(
        counts: &Arc<SubjectCounts>,
        issuer: Option<&str>,
        subject: &str,
        max: usize,
    ) -> Option<Self> {
        let key = (issuer.map(Box::from), Box::from(subject));
        let mut map = counts.0.lock().unwrap_or_else(|p| p.into_inner());
        let open = map.entry(key.clone()).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(SubjectSlot {
            counts: Arc::clone(counts),
            key,
        })
    }
}

impl Drop for SubjectSlot {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = map.get_mut(&self.key) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// What a new [`Subscriber`] is made of.
pub(crate) struct NewSubscriber {
    pub(crate) key: u64,
    pub(crate) subscriber_id: String,
    pub(crate) matchers: Vec<TopicMatcher>,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) legacy: bool,
    pub(crate) buffer_limit: usize,
    /// When the stream must end, and whether that is the token's `exp`.
    pub(crate) deadline: Option<(Instant, bool)>,
    pub(crate) slot: ConnectionSlot,
    pub(crate) subject_slot: Option<SubjectSlot>,
}

/// [`Subscriber::announce`] states (M39 events are sent once each, in order).
const ANNOUNCE_NONE: u8 = 0;
const ANNOUNCE_ACTIVE: u8 = 1;
const ANNOUNCE_ENDED: u8 = 2;

/// One subscriber connection as fan-out sees it.
///
/// This record is all an idle live subscriber costs the hub (no task of
/// its own): it holds the only producer handle of the stream, so dropping
/// it (when the registry lets it go) ends the stream gracefully.
pub(crate) struct Subscriber {
    /// Registry key, unique for the hub's life.
    pub(crate) key: u64,
    /// The hub-assigned subscriber id (M40). Boxed, like the credentials
    /// and the subject slot below: this record is most of what an idle
    /// subscriber costs, so it holds only what every subscriber needs
    /// inline (an anonymous one then costs 8 bytes for each instead of its
    /// size).
    pub(crate) subscriber_id: Box<str>,
    pub(crate) matchers: Vec<TopicMatcher>,
    /// `None`: anonymous, public updates only (M11).
    pub(crate) credentials: Option<Box<Credentials>>,
    /// A legacy (`topic=`) subscription (L6 shapes).
    pub(crate) legacy: bool,
    /// Set once the response exists; frames are only pushed after that
    /// (before, they are buffered in `pending`).
    sender: OnceLock<FrameSender>,
    /// Fast path: once live, fan-out pushes without taking `pending`'s lock.
    live: AtomicBool,
    /// The last position the replay delivered, set before `live`. The
    /// replay can read entries the fan-out has not dispatched yet; when the
    /// fan-out gets to them after the handoff, they are dropped here.
    floor: OnceLock<Position>,
    pending: Mutex<Pending>,
    /// The last dispatch number delivered, so an update reaches a
    /// subscriber once however many of its matchers select it. Written only
    /// by the fan-out task.
    stamp: AtomicU64,
    /// Bound of `pending` (and of the queue, in frames).
    buffer_limit: usize,
    /// When the stream must end (M32): fan-out stops delivering at once,
    /// the reaper closes the stream at its next sweep.
    deadline: Option<Instant>,
    /// Whether `deadline` is the token's `exp` (rather than the lifetime cap).
    pub(crate) deadline_is_token: bool,
    /// Set when the registry let the subscriber go; a replay in progress stops.
    removed: AtomicBool,
    /// Subscription events sent: none, active, ended ([`ANNOUNCE_NONE`]…).
    announce: AtomicU8,
    _slot: ConnectionSlot,
    _subject_slot: Option<Box<SubjectSlot>>,
}

#[derive(Default)]
struct Pending {
    frames: Vec<(Position, Bytes)>,
    overflowed: bool,
    live: bool,
}

/// What became of the replay-to-live handoff.
pub(crate) enum HandoffOutcome {
    /// The subscriber is live; fan-out pushes to it directly from now on.
    Live,
    /// More live updates arrived during replay than the buffer holds, or
    /// the queue filled while draining it: end the stream (the client
    /// resumes after the last event it received).
    Overflowed,
}

impl Subscriber {
    pub(crate) fn new(new: NewSubscriber) -> Self {
        Subscriber {
            key: new.key,
            subscriber_id: new.subscriber_id.into_boxed_str(),
            matchers: new.matchers,
            credentials: new.credentials.map(Box::new),
            legacy: new.legacy,
            sender: OnceLock::new(),
            live: AtomicBool::new(false),
            floor: OnceLock::new(),
            pending: Mutex::new(Pending::default()),
            stamp: AtomicU64::new(0),
            buffer_limit: new.buffer_limit.max(1),
            deadline: new.deadline.map(|(at, _)| at),
            deadline_is_token: new.deadline.is_some_and(|(_, token)| token),
            removed: AtomicBool::new(false),
            announce: AtomicU8::new(ANNOUNCE_NONE),
            _slot: new.slot,
            _subject_slot: new.subject_slot.map(Box::new),
        }
    }

    /// Whether the stream is over (the client left, or it was disconnected).
    pub(crate) fn is_closed(&self) -> bool {
        self.sender.get().is_some_and(FrameSender::is_closed)
    }

    /// Whether the deadline (token `exp`, lifetime) has passed at `now`.
    pub(crate) fn is_expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    /// Whether the registry let the subscriber go.
    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// After the "active" subscription events were stored: `false` when the
    /// subscriber already ended meanwhile (the caller then announces the
    /// end itself, so the two events keep their order).
    pub(crate) fn mark_announced_active(&self) -> bool {
        self.announce
            .compare_exchange(
                ANNOUNCE_NONE,
                ANNOUNCE_ACTIVE,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// When the subscriber ends: `true` when its "active" events were
    /// stored, so the caller announces the end.
    pub(crate) fn mark_ended(&self) -> bool {
        self.announce.swap(ANNOUNCE_ENDED, Ordering::AcqRel) == ANNOUNCE_ACTIVE
    }

    /// Queues a frame on the stream's own behalf (the shutdown `retry:`);
    /// a subscriber too far behind to take it is disconnected.
    pub(crate) fn push_control(&self, frame: Bytes) {
        if let Some(sender) = self.sender.get() {
            if let Err(e) = sender.try_push(frame) {
                if e.is_queue_full() {
                    sender.disconnect();
                }
            }
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        // Every critical section is a few moves; a panic elsewhere cannot
        // leave the buffer inconsistent, so a poisoned lock is used as is.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attaches the stream's sender (once the response exists).
    pub(crate) fn attach(&self, sender: FrameSender) {
        let _ = self.sender.set(sender);
    }

    /// Whether `update` is for this subscriber: some matcher selects one of
    /// its topics (routing), and a private update is readable with the
    /// current credentials (M11, M35).
    pub(crate) fn wants(&self, update: &Update, hub: &HubUrl) -> bool {
        let topics: Vec<Topic<'_>> = update.topics.iter().map(|t| Topic::new(t, hub)).collect();
        let routed = self
            .matchers
            .iter()
            .any(|m| topics.iter().any(|t| m.matches(t)));
        routed && self.may_read(update.private, &topics)
    }

    fn may_read(&self, private: bool, topics: &[Topic<'_>]) -> bool {
        !private
            || self
                .credentials
                .as_ref()
                .is_some_and(|c| c.can_read_private(topics))
    }

    /// Ends the replay: pushes the buffered live frames that follow what the
    /// replay delivered (`handoff` holds the last replayed position), then
    /// switches to live delivery. Runs under the buffer's lock, so fan-out
    /// cannot slip a frame in between.
    pub(crate) fn go_live(&self, handoff: &mut Handoff, metrics: &Metrics) -> HandoffOutcome {
        let mut pending = self.pending();
        if pending.overflowed {
            pending.frames = Vec::new();
            return HandoffOutcome::Overflowed;
        }
        let Some(sender) = self.sender.get() else {
            return HandoffOutcome::Overflowed;
        };
        let mut delivered = 0;
        for (position, frame) in std::mem::take(&mut pending.frames) {
            if !handoff.admit(position) {
                continue; // already replayed
            }
            // Queued: a run of frames, written together by the writer.
            match sender.try_push_queued(frame) {
                Ok(()) => delivered += 1,
                Err(e) if e.is_queue_full() => {
                    metrics.add_deliveries(delivered);
                    return HandoffOutcome::Overflowed;
                }
                Err(_) => break, // the client left; the task notices
            }
        }
        metrics.add_deliveries(delivered);
        if let Some(last) = handoff.last() {
            let _ = self.floor.set(last);
        }
        pending.live = true;
        self.live.store(true, Ordering::Release);
        HandoffOutcome::Live
    }

    /// Delivers one dispatched frame. Never waits.
    ///
    /// `how`: whether the push may write to the socket itself (see
    /// [`Delivery`]).
    fn deliver(&self, position: Position, frame: &Bytes, metrics: &Metrics, how: Delivery) {
        if self.live.load(Ordering::Acquire) {
            self.push_after_floor(position, frame, metrics, how);
            return;
        }
        let mut pending = self.pending();
        if pending.live {
            drop(pending);
            self.push_after_floor(position, frame, metrics, how);
        } else if pending.overflowed {
            // Already doomed; the task ends the stream at handoff.
        } else if pending.frames.len() < self.buffer_limit {
            pending.frames.push((position, frame.clone()));
        } else {
            // Too much arrived during replay: the task ends the stream at
            // handoff, and the client resumes from its last event.
            pending.overflowed = true;
            pending.frames = Vec::new();
        }
    }

    /// Pushes unless the replay already delivered `position`.
    fn push_after_floor(
        &self,
        position: Position,
        frame: &Bytes,
        metrics: &Metrics,
        how: Delivery,
    ) {
        if self.floor.get().is_some_and(|floor| position <= *floor) {
            return;
        }
        self.push(frame, metrics, how);
    }

    fn push(&self, frame: &Bytes, metrics: &Metrics, how: Delivery) {
        let Some(sender) = self.sender.get() else {
            return;
        };
        let pushed = match how {
            Delivery::Direct => sender.try_push(frame.clone()),
            Delivery::Queued => sender.try_push_queued(frame.clone()),
        };
        match pushed {
            Ok(()) => inc(&metrics.deliveries),
            Err(e) if e.is_queue_full() => {
                // Never wait on a slow subscriber: disconnect it. It knows
                // the id of the last event it received and resumes there.
                sender.disconnect();
                inc(&metrics.drops);
                tracing::debug!(subscriber = self.key, "queue full: subscriber disconnected");
            }
            Err(_) => {} // already gone; its task unregisters it
        }
    }

    /// Disconnects the stream now, dropping what is queued: the fan-out
    /// lost updates it cannot recover, or the subscriber fell behind. It
    /// resumes from history with `Last-Event-ID`.
    pub(crate) fn disconnect(&self) {
        if let Some(sender) = self.sender.get() {
            sender.disconnect();
        } else {
            self.pending().overflowed = true;
        }
    }
}

type Bucket = HashMap<u64, Arc<Subscriber>>;

/// The subscriber index, shared by the fan-out task (reader) and the
/// connection handlers (writers).
#[derive(Default)]
pub(crate) struct Registry {
    // A std lock: nothing awaits under it. The fan-out holds the read side
    // for one update's dispatch (pushes never wait), so registration waits
    // at most that long.
    index: RwLock<Index>,
}

#[derive(Default)]
struct Index {
    subscribers: Bucket,
    /// `*` matchers (M6).
    any: Bucket,
    /// Exact matchers, by topic string (M7).
    exact: HashMap<Arc<str>, Bucket>,
    /// URL patterns and URI templates, one entry per distinct matcher.
    // `TopicMatcher`'s hash and equality read only its type and text (see
    // its docs); the compiled program's scratch pool never affects them.
    #[allow(clippy::mutable_key_type)]
    patterns: HashMap<TopicMatcher, Bucket>,
    /// Bumped whenever a distinct pattern is added or removed, so the
    /// fan-out's per-topic match cache knows when it is stale.
    patterns_generation: u64,
}

/// Most topics whose pattern matches the fan-out remembers; when full the
/// cache is emptied (cheap, and a hot topic is back after one update).
const MATCH_CACHE_TOPICS: usize = 4096;

/// Per-topic results of URL-pattern / URI-template evaluation, owned by the
/// fan-out task (no lock). Valid while the set of distinct patterns is the
/// same (`generation`); a subscriber joining an existing pattern does not
/// invalidate it.
#[derive(Default)]
pub(crate) struct MatchCache {
    generation: u64,
    topics: HashMap<Box<str>, Vec<TopicMatcher>>,
}

impl MatchCache {
    /// The distinct patterns of `index` that select `topic`.
    fn lookup<'c>(&'c mut self, index: &Index, topic: &Topic<'_>) -> &'c [TopicMatcher] {
        if self.generation != index.patterns_generation {
            self.topics.clear();
            self.generation = index.patterns_generation;
        }
        if !self.topics.contains_key(topic.as_str()) {
            if self.topics.len() >= MATCH_CACHE_TOPICS {
                self.topics.clear();
            }
            let matched: Vec<TopicMatcher> = index
                .patterns
                .keys()
                .filter(|m| m.matches(topic))
                .cloned()
                .collect();
            self.topics.insert(Box::from(topic.as_str()), matched);
        }
        self.topics.get(topic.as_str()).map_or(&[], Vec::as_slice)
    }
}

/// Where a matcher is indexed.
enum Slot<'a> {
    Any,
    Exact(&'a str),
    Pattern,
}

fn slot(matcher: &TopicMatcher) -> Slot<'_> {
    if matcher.is_any() {
        Slot::Any
    } else if matcher.match_type() == MatchType::Exact {
        Slot::Exact(matcher.pattern())
    } else {
        Slot::Pattern
    }
}

impl Registry {
    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn insert(&self, sub: Arc<Subscriber>) {
        let mut index = self.write();
        for matcher in &sub.matchers {
            let bucket = match slot(matcher) {
                Slot::Any => &mut index.any,
                Slot::Exact(topic) => index.exact.entry(Arc::from(topic)).or_default(),
                Slot::Pattern => {
                    if !index.patterns.contains_key(matcher) {
                        index.patterns_generation += 1;
                    }
                    index.patterns.entry(matcher.clone()).or_default()
                }
            };
            bucket.insert(sub.key, Arc::clone(&sub));
        }
        index.subscribers.insert(sub.key, sub);
    }

    /// Lets `sub` go (idempotent).
    pub(crate) fn remove(&self, sub: &Subscriber) {
        Self::unlink(&mut self.write(), sub);
    }

    /// Lets go of every subscriber for which `ended` holds and returns them.
    /// A read-locked scan first, so a sweep that finds nothing never blocks
    /// the fan-out.
    pub(crate) fn remove_where(&self, ended: impl Fn(&Subscriber) -> bool) -> Vec<Arc<Subscriber>> {
        let found: Vec<Arc<Subscriber>> = self
            .read()
            .subscribers
            .values()
            .filter(|s| ended(s))
            .cloned()
            .collect();
        if !found.is_empty() {
            let mut index = self.write();
            for sub in &found {
                Self::unlink(&mut index, sub);
            }
        }
        found
    }

    /// Lets go of every subscriber (shutdown).
    pub(crate) fn drain_all(&self) -> Vec<Arc<Subscriber>> {
        self.remove_where(|_| true)
    }

    fn unlink(index: &mut Index, sub: &Subscriber) {
        sub.removed.store(true, Ordering::Release);
        for matcher in &sub.matchers {
            match slot(matcher) {
                Slot::Any => {
                    index.any.remove(&sub.key);
                }
                Slot::Exact(topic) => {
                    if let Some(bucket) = index.exact.get_mut(topic) {
                        bucket.remove(&sub.key);
                        if bucket.is_empty() {
                            index.exact.remove(topic);
                        }
                    }
                }
                Slot::Pattern => {
                    if let Some(bucket) = index.patterns.get_mut(matcher) {
                        bucket.remove(&sub.key);
                        if bucket.is_empty() {
                            index.patterns.remove(matcher);
                            index.patterns_generation += 1;
                        }
                    }
                }
            }
        }
        index.subscribers.remove(&sub.key);
    }

    /// A snapshot of every registered subscriber (for the subscriptions API).
    pub(crate) fn snapshot(&self) -> Vec<Arc<Subscriber>> {
        let index = self.read();
        let mut all: Vec<_> = index.subscribers.values().cloned().collect();
        all.sort_by_key(|s| s.key);
        all
    }

    fn disconnect_all(&self) {
        for sub in self.read().subscribers.values() {
            sub.disconnect();
        }
    }

    /// Collects into `out` every subscriber `entry` is for (each once).
    /// `dispatch` is this dispatch's number (strictly increasing).
    ///
    /// Delivery happens after the index lock is released (see
    /// [`Fanout::dispatch`]). That loses nothing: a subscriber registered
    /// after this scan replays history from the store, which already holds
    /// `entry` (the store appends before its live feed hands it over).
    fn collect(
        &self,
        entry: &Entry,
        dispatch: u64,
        hub: &HubUrl,
        cache: &mut MatchCache,
        out: &mut Vec<Arc<Subscriber>>,
    ) {
        let update = &entry.update;
        // Each topic is resolved against the hub at most once, however many
        // URL patterns test it.
        let topics: Vec<Topic<'_>> = update.topics.iter().map(|t| Topic::new(t, hub)).collect();
        let now = Instant::now();
        let index = self.read();
        let mut offer = |sub: &Arc<Subscriber>| {
            // At most once per subscriber per update.
            if sub.stamp.swap(dispatch, Ordering::Relaxed) == dispatch {
                return;
            }
            // M32: nothing more once the token expired, even before the
            // reaper closes the stream.
            if sub.is_expired(now) {
                return;
            }
            if sub.may_read(update.private, &topics) {
                out.push(Arc::clone(sub));
            }
        };
        index.any.values().for_each(&mut offer);
        for topic in &update.topics {
            if let Some(bucket) = index.exact.get(topic.as_str()) {
                bucket.values().for_each(&mut offer);
            }
        }
        if index.patterns.is_empty() {
            return;
        }
        for topic in &topics {
            for matcher in cache.lookup(&index, topic) {
                if let Some(bucket) = index.patterns.get(matcher) {
                    bucket.values().for_each(&mut offer);
                }
            }
        }
    }
}

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
enum Delivery {
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

/// The fan-out task's state.
pub(crate) struct Fanout {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) hub: HubUrl,
    pub(crate) page: usize,
    /// The newest id dispatched (the subscriptions API's `lastEventID`).
    pub(crate) last_id: Arc<Mutex<Option<Arc<Update>>>>,
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
            *last = Some(Arc::clone(&entry.update));
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
            if !replay.complete {
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
