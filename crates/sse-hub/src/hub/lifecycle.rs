//! How a subscriber ends, and the subscription events (M39–M41) around its
//! life.
//!
//! The `reaper` task sweeps the registry: it lets go of subscribers whose
//! client left, that were disconnected, or whose token expired (M32;
//! fan-out already stopped delivering to them), and dropping the record
//! ends the stream after what is queued.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::metrics::inc;
use super::HubState;
use crate::fanout::Subscriber;
use crate::subscribe::{subscription_update, SubscriptionFormat, SubscriptionInfo};
use crate::Update;

/// Sweeps the registry every `every`: subscribers whose stream is over or
/// whose deadline passed are let go ([`finish`]). Stops when the hub is
/// dropped or shut down. Holds only a weak reference, so it never keeps a
/// hub alive.
pub(crate) async fn reaper(state: Weak<HubState>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else {
            return;
        };
        if state.is_stopping() {
            return;
        }
        let now = Instant::now();
        for sub in state
            .registry
            .remove_where(|s| s.is_closed() || s.is_expired(now))
        {
            let expired = !sub.is_closed() && sub.is_expired(now);
            if expired && sub.deadline_is_token {
                inc(&state.metrics.expired);
                tracing::debug!(subscriber = sub.key, "token expired: stream closed");
            }
            finish(&state, sub);
        }
    }
}

/// The end of a subscriber the registry let go: counts it, stores the end
/// of its subscriptions (M39) when their start was stored, and drops the
/// record, which ends the stream after what is queued.
pub(crate) fn finish(state: &Arc<HubState>, subscriber: Arc<Subscriber>) {
    inc(&state.metrics.disconnects);
    if subscriber.mark_ended() && state.config.subscriptions && !state.is_stopping() {
        let updates = subscription_updates(state, &subscriber, false);
        // Not holding the record while storing: the stream ends now.
        drop(subscriber);
        tokio::spawn(store_updates(Arc::clone(state), updates));
    }
}

/// Stores the "active" subscription events, then the "inactive" ones too
/// if the subscriber ended meanwhile (so the two never swap).
pub(crate) async fn announce_active(state: Arc<HubState>, subscriber: Arc<Subscriber>) {
    let updates = subscription_updates(&state, &subscriber, true);
    store_updates(Arc::clone(&state), updates).await;
    if !subscriber.mark_announced_active() {
        let updates = subscription_updates(&state, &subscriber, false);
        drop(subscriber);
        store_updates(state, updates).await;
    }
}

/// The subscription events (M39–M41) for every matcher of `subscriber`:
/// private updates that go through the store like any other (durable,
/// replayable, delivered by fan-out to authorized subscribers).
fn subscription_updates(state: &HubState, subscriber: &Subscriber, active: bool) -> Vec<Update> {
    let format = if subscriber.legacy {
        SubscriptionFormat::Legacy
    } else {
        state.config.subscription_format
    };
    subscriber
        .matchers
        .iter()
        .map(|matcher| {
            let info = SubscriptionInfo {
                matcher,
                subscriber: &subscriber.subscriber_id,
                active,
                payload: subscriber
                    .credentials
                    .as_ref()
                    .and_then(|c| c.payload_for(matcher)),
            };
            subscription_update(&state.hub, &info, format)
        })
        .collect()
}

async fn store_updates(state: Arc<HubState>, updates: Vec<Update>) {
    for update in updates {
        if let Err(e) = state.store.append(update).await {
            tracing::warn!(error = %e, "subscription event not stored");
        }
    }
}
