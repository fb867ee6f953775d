//! [`Subscriber`]: one subscriber connection as the fan-out sees it, and the
//! replay-to-live hand-off (its bounded buffer and its floor).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use sse_server::FrameSender;

use super::admission::{ConnectionSlot, SubjectSlot};
use super::delivery::Delivery;
use crate::auth::Credentials;
use crate::hub::metrics::{inc, Metrics};
use crate::store::{Handoff, Position};
use crate::topic::{HubUrl, Topic, TopicMatcher};
use crate::Update;

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
    /// Set when the store's history was reset after the handoff: `floor`
    /// belongs to the old history's positions and no longer applies.
    floor_void: AtomicBool,
    pending: Mutex<Pending>,
    /// The last dispatch number delivered, so an update reaches a
    /// subscriber once however many of its matchers select it. Written only
    /// by the fan-out task.
    pub(super) stamp: AtomicU64,
    /// Bound of `pending` (and of the queue, in frames).
    buffer_limit: usize,
    /// When the stream must end (M32): fan-out stops delivering at once,
    /// the reaper closes the stream at its next sweep.
    deadline: Option<Instant>,
    /// Whether `deadline` is the token's `exp` (rather than the lifetime cap).
    pub(crate) deadline_is_token: bool,
    /// Set when the registry let the subscriber go; a replay in progress stops.
    pub(super) removed: AtomicBool,
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
            floor_void: AtomicBool::new(false),
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

    /// Whether this subscriber may see `update` at all, whatever it
    /// subscribed to: it is public, or the credentials may read it. What a
    /// cursor naming the update may confirm.
    pub(crate) fn may_see(&self, update: &Update, hub: &HubUrl) -> bool {
        if !update.private {
            return true;
        }
        let topics: Vec<Topic<'_>> = update.topics.iter().map(|t| Topic::new(t, hub)).collect();
        self.may_read(true, &topics)
    }

    pub(super) fn may_read(&self, private: bool, topics: &[Topic<'_>]) -> bool {
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

    /// After the store's history was reset (positions started again below
    /// those dispatched): a live subscriber takes the new history as it is
    /// dispatched (its replay floor no longer applies); one still
    /// replaying is disconnected, since its replay and its buffered frames
    /// may straddle the two histories, and resumes from its last event.
    /// Returns whether it was disconnected. Under the buffer's lock, so it
    /// cannot race [`go_live`](Self::go_live).
    pub(super) fn after_history_reset(&self) -> bool {
        let pending = self.pending();
        if pending.live {
            self.floor_void.store(true, Ordering::Release);
            false
        } else {
            drop(pending);
            self.disconnect();
            true
        }
    }

    /// Delivers one dispatched frame. Never waits.
    ///
    /// `how`: whether the push may write to the socket itself (see
    /// [`Delivery`]).
    pub(super) fn deliver(
        &self,
        position: Position,
        frame: &Bytes,
        metrics: &Metrics,
        how: Delivery,
    ) {
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
        if self.floor.get().is_some_and(|floor| position <= *floor)
            && !self.floor_void.load(Ordering::Acquire)
        {
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
