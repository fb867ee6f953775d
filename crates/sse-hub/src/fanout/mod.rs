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
//! [`Limits::queue_frames`]: crate::hub::Limits::queue_frames
//! [`Limits::queue_bytes`]: crate::hub::Limits::queue_bytes
//!
//! The parts, each in its own file:
//!
//! | file | holds | invariant it keeps |
//! |---|---|---|
//! | `admission.rs` | [`ConnectionSlot`], [`SubjectSlot`] | at most `max_connections` streams, at most `max_connections_per_subject` per token subject; a slot is given back when its subscriber's record goes |
//! | `subscriber.rs` | [`Subscriber`] | replay-to-live hand-off with no gap and no duplicate; the floor; the replay buffer's bound |
//! | `registry.rs` | [`Registry`], [`MatchCache`] | every subscriber found once per update, whichever of its matchers select it |
//! | `delivery.rs` | [`Fanout`], the task | updates dispatched in store order, never waiting on a subscriber |

mod admission;
mod delivery;
mod registry;
mod subscriber;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use sse_wire::Event;

use crate::Update;

pub(crate) use admission::{ConnectionSlot, SubjectCounts, SubjectSlot};
pub(crate) use delivery::{Fanout, LastDispatched};
pub(crate) use registry::{MatchCache, Registry};
pub(crate) use subscriber::{HandoffOutcome, NewSubscriber, Subscriber};

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
