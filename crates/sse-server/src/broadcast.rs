//! [`Broadcast`]: an in-process channel with a bounded history ring and
//! `Last-Event-ID` replay.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use http::Response;
use sse_wire::{Event, EventId};

use crate::{EventStream, EventStreamBuilder, EventStreamRequest, EventTarget, FrameSender};

/// The event type a subscriber receives when the `Last-Event-ID` it sent is
/// not in the history (older than the ring holds, or from before a
/// restart): `event: history-gap` with the requested id as data. It is sent
/// first; the whole history that is still held follows, then live events.
pub const HISTORY_GAP_EVENT: &str = "history-gap";

/// An in-process channel that many event streams subscribe to.
///
/// - Each event is encoded **once**; every subscriber gets the same `Bytes`.
/// - The last `history` events are kept. A subscriber that sends
///   `Last-Event-ID` gets the events after that id, then live ones, with no
///   gap and no duplicate (the replay and the registration happen under the
///   one lock that [`send`](Broadcast::send) also takes, so every event is
///   either in the replay or delivered live, never both).
/// - Each subscriber has a bounded queue ([`QueueLimit`](crate::QueueLimit)).
///   A subscriber whose queue is full when an event arrives is
///   disconnected at once (its queue dropped, its response ended); it
///   reconnects with `Last-Event-ID` and catches up from history. Sending
///   never waits for a subscriber. A replay is queued beyond the bound
///   (it is itself bounded by `history`).
/// - If the requested id is not in the history, the subscriber receives
///   [`HISTORY_GAP_EVENT`] first.
///
/// Events sent without an id get one: `<instance>-<sequence>`, where
/// `<instance>` differs between `Broadcast` values (and process runs), so
/// an id from before a restart is never mistaken for a new one. Events with
/// their own id keep it; such ids should be unique.
///
/// Cheap to clone; every clone is the same channel. When the last clone is
/// dropped, every subscriber's stream is closed (drained, then ended).
#[derive(Clone)]
pub struct Broadcast {
    inner: Arc<Inner>,
}

struct Inner {
    // A std mutex: nothing awaits under it; `send` holds it while it pushes
    // into every subscriber's queue, which never blocks.
    state: Mutex<State>,
    capacity: usize,
    instance: String,
}

struct State {
    next_seq: u64,
    history: VecDeque<Entry>,
    /// Each holds its stream open; dropping the channel closes them all.
    subscribers: Vec<FrameSender>,
    /// Subscriber count after the last prune; closed subscribers are
    /// dropped on every send, and on subscribe once the list has doubled,
    /// so a quiet channel with churning clients stays bounded too.
    pruned_len: usize,
}

struct Entry {
    id: EventId,
    frame: Bytes,
}

/// What [`Broadcast::send`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sent {
    /// The event's position in this channel (0, 1, 2, ...).
    pub sequence: u64,
    /// Subscribers the event was queued for.
    pub delivered: usize,
    /// Subscribers disconnected because their queue was full.
    pub disconnected: usize,
}

impl Broadcast {
    /// A channel that keeps the last `history` events for replay (0 keeps
    /// none: `Last-Event-ID` then always yields a [`HISTORY_GAP_EVENT`]).
    pub fn new(history: usize) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Broadcast {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    next_seq: 0,
                    history: VecDeque::with_capacity(history.min(1024)),
                    subscribers: Vec::new(),
                    pruned_len: 0,
                }),
                capacity: history,
                instance: format!("{:x}", (nanos as u64) ^ n.rotate_left(48)),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing under this lock can be left half-done by a panic that
        // matters more than stopping the channel, so poisoning is ignored.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends an event to every subscriber and records it in the history.
    /// Never waits.
    pub fn send(&self, event: Event) -> Sent {
        let mut st = self.lock();
        let sequence = st.next_seq;
        st.next_seq += 1;
        let event = match event.event_id() {
            Some(_) => event,
            // Hex and digits only: always a valid id.
            None => match EventId::new(format!("{}-{}", self.inner.instance, sequence)) {
                Ok(id) => event.with_id(id),
                Err(_) => event,
            },
        };
        let frame = event.to_bytes();
        let id = event.event_id().cloned();
        let mut delivered = 0;
        let mut disconnected = 0;
        st.subscribers
            // Queued, not written here: this runs under the broadcast's
            // lock, once per subscriber, and must stay a few pointer moves.
            .retain(|s| match s.shared.push_queued(frame.clone(), true) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(e) if e.is_queue_full() => {
                    s.disconnect();
                    disconnected += 1;
                    false
                }
                Err(_) => false,
            });
        st.pruned_len = st.subscribers.len();
        if self.inner.capacity > 0 {
            if st.history.len() == self.inner.capacity {
                st.history.pop_front();
            }
            if let Some(id) = id {
                st.history.push_back(Entry { id, frame });
            }
        }
        Sent {
            sequence,
            delivered,
            disconnected,
        }
    }

    /// Subscribes a request with the default stream settings: replay after
    /// its `Last-Event-ID`, then live events.
    pub fn subscribe(&self, request: EventStreamRequest) -> Response<EventStream> {
        let last = request.last_event_id().map(str::to_owned);
        let (target, response) = request.send_events();
        self.attach(&target, last.as_deref());
        response
    }

    /// Subscribes with a configured builder (headers, keep-alive, queue
    /// limit, ...).
    ///
    /// # Errors
    /// When the builder holds an invalid header.
    pub fn subscribe_with(
        &self,
        builder: EventStreamBuilder,
    ) -> Result<(EventTarget, Response<EventStream>), crate::Error> {
        let last = builder.last_event_id().map(str::to_owned);
        let (target, response) = builder.build()?;
        self.attach(&target, last.as_deref());
        Ok((target, response))
    }

    /// Adds an existing stream as a subscriber, replaying the events after
    /// `last_event_id` first (see [`HISTORY_GAP_EVENT`] when it is unknown).
    pub fn attach(&self, target: &EventTarget, last_event_id: Option<&str>) {
        let sender = target.frame_sender();
        let shared = &sender.shared;
        let mut st = self.lock();
        if let Some(last) = last_event_id {
            match st.history.iter().rposition(|e| e.id.as_str() == last) {
                Some(i) => {
                    for e in st.history.range(i + 1..) {
                        let _ = shared.push(e.frame.clone(), false);
                    }
                }
                None => {
                    let gap = Event::new()
                        .event(HISTORY_GAP_EVENT)
                        .map(|e| e.data(last.to_owned()).to_bytes())
                        .unwrap_or_else(|_| {
                            let mut b = BytesMut::new();
                            sse_wire::encode_comment(HISTORY_GAP_EVENT, &mut b);
                            b.freeze()
                        });
                    let _ = shared.push(gap, false);
                    for e in &st.history {
                        let _ = shared.push(e.frame.clone(), false);
                    }
                }
            }
        }
        if st.subscribers.len() >= 2 * st.pruned_len + 16 {
            st.subscribers.retain(|s| !s.is_closed());
            st.pruned_len = st.subscribers.len();
        }
        st.subscribers.push(sender);
    }

    /// The number of subscribers still open.
    pub fn subscriber_count(&self) -> usize {
        let mut st = self.lock();
        st.subscribers.retain(|s| !s.is_closed());
        st.pruned_len = st.subscribers.len();
        st.subscribers.len()
    }

    /// Closes every subscriber's stream (each writes what is queued, then
    /// ends) and forgets them. The history is kept.
    pub fn close_all(&self) {
        let subs = std::mem::take(&mut self.lock().subscribers);
        for s in subs {
            s.shared.close();
        }
    }
}

impl fmt::Debug for Broadcast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Broadcast")
            .field("history", &st.history.len())
            .field("capacity", &self.inner.capacity)
            .field("subscribers", &st.subscribers.len())
            .field("next_seq", &st.next_seq)
            .finish()
    }
}
