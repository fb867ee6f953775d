//! Subscribe: `GET` (or H's `QUERY`) on the hub URL → an event stream.
//!
//! Order of work, and why:
//! 1. Take a connection slot (the limit is checked before any parsing, so
//!    an overloaded hub sheds load cheaply: 503 with `Retry-After`).
//! 2. Parse the request (400s, M3–M5) and authorize it (401/403, M25–M27).
//! 3. Register the subscription with fan-out in *buffering* mode, **then**
//!    read history after the cursor: an update committed after the read is
//!    certain to reach the subscriber through fan-out, one committed before
//!    is in the replay, and positions tell the two apart (no gap, no
//!    duplicate): at handoff for what fan-out buffered meanwhile, and after
//!    it for entries the replay read before fan-out got to them (the
//!    subscriber's *floor*, see `fanout.rs`).
//! 4. Answer with the stream (headers can now say where history resumed,
//!    M37). Without a cursor the subscriber goes live at once; with one, a
//!    task pushes the replay (waiting for room in the subscriber's own
//!    queue: the replay is this subscriber's business), hands off to live,
//!    and ends. Subscription events (M39) are stored by a short task.
//!
//! A live subscriber has no task of its own: its whole cost is its record
//! in the fan-out registry (see `fanout.rs`), which holds the stream's only
//! producer handle. The `reaper` task sweeps the registry: it lets go of
//! subscribers whose client left, that were disconnected, or whose token
//! expired (M32; fan-out already stopped delivering to them), and dropping
//! the record ends the stream after what is queued.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use sse_server::{EventStreamRequest, EventTarget, QueueLimit};

use super::fanout::{
    encode, ConnectionSlot, HandoffOutcome, NewSubscriber, SubjectSlot, Subscriber,
};
use super::metrics::inc;
use super::{header_values, rejection, unavailable, unix_now, unix_now_ms, HubState};
use crate::auth::TokenSources;
use crate::store::{Cursor as StoreCursor, Handoff, Replay};
use crate::subscribe::{
    new_subscriber_id, subscription_update, Cursor, SubscribeInput, SubscribeRequest,
    SubscriptionFormat, SubscriptionInfo, LAST_EVENT_ID_HEADER, LEGACY_LAST_EVENT_ID_HEADER,
};
use crate::Update;

/// Longest form body accepted for a `QUERY` subscribe (H); matchers are
/// capped anyway, this only bounds what is read.
const MAX_QUERY_BODY: usize = 64 * 1024;

/// M46: streams must be neither cached nor stored by intermediaries.
const CACHE_CONTROL: &str = "private, no-cache, no-store";

pub(crate) async fn handle(state: Arc<HubState>, request: Request) -> Response {
    if state.is_stopping() {
        return unavailable("the hub is shutting down", Duration::from_secs(1));
    }
    let Some(slot) = ConnectionSlot::take(&state.metrics, state.config.limits.max_connections)
    else {
        inc(&state.metrics.connections_refused);
        tracing::warn!(
            max = state.config.limits.max_connections,
            "subscriber refused: connection limit reached"
        );
        return unavailable(
            &format!(
                "too many subscribers: this hub serves at most {} connections, retry later",
                state.config.limits.max_connections
            ),
            Duration::from_secs(5),
        );
    };

    let (parts, body) = request.into_parts();
    let body = if parts.method.as_str() == "QUERY" {
        let form = parts.headers.get(header::CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes().split(|&b| b == b';').next().is_some_and(|e| {
                e.trim_ascii()
                    .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
            })
        });
        if !form {
            return super::plain(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "QUERY subscribe bodies must be application/x-www-form-urlencoded\n",
            );
        }
        match axum::body::to_bytes(body, MAX_QUERY_BODY).await {
            Ok(b) => Some(b),
            Err(_) => {
                return super::plain(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    format!("subscribe body too large: at most {MAX_QUERY_BODY} bytes\n"),
                )
            }
        }
    } else {
        None
    };

    let query = parts.uri.query().unwrap_or("").as_bytes();
    let input = SubscribeInput {
        query,
        body: body.as_deref(),
        last_event_id: parts
            .headers
            .get("last-event-id")
            .map(HeaderValue::as_bytes),
    };
    let request = match SubscribeRequest::parse(&input, &state.hub, &state.config.subscribe) {
        Ok(r) => r,
        Err(r) => return rejection(&r),
    };
    let authorization = header_values(&parts.headers, header::AUTHORIZATION);
    let cookies = header_values(&parts.headers, header::COOKIE);
    let sources = TokenSources {
        authorization: &authorization,
        cookies: &cookies,
        query,
        legacy_request: request.is_legacy(),
    };
    let allow_anonymous = state.config.allow_anonymous;
    let credentials = match state
        .authorizer
        .with_key_refresh(|a| a.authorize_subscribe(&sources, allow_anonymous, unix_now()))
        .await
    {
        Ok(c) => c,
        Err(r) => return rejection(&r),
    };

    // H: connections per client SHOULD be capped (429).
    let subject_slot = match (
        state.config.limits.max_connections_per_subject,
        credentials
            .as_ref()
            .and_then(|c| c.subject().map(|s| (c.issuer(), s))),
    ) {
        (Some(max), Some((issuer, subject))) => {
            match SubjectSlot::take(&state.subjects, issuer, subject, max) {
                Some(slot) => Some(slot),
                None => {
                    inc(&state.metrics.connections_refused);
                    let mut r = super::plain(
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        format!("too many connections for this token: at most {max}, close one or retry later\n"),
                    );
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                    return r;
                }
            }
        }
        _ => None,
    };

    // The stream ends at the token's `exp` (M32) or the lifetime cap,
    // whichever comes first.
    let limits = &state.config.limits;
    let token_left = credentials
        .as_ref()
        .and_then(|c| c.expires_at())
        .map(|exp| Duration::from_millis(exp.saturating_mul(1000).saturating_sub(unix_now_ms())));
    let deadline = match (token_left, limits.max_connection_lifetime) {
        (Some(t), Some(l)) if l < t => Some((l, false)),
        (Some(t), _) => Some((t, true)),
        (None, Some(l)) => Some((l, false)),
        (None, None) => None,
    }
    .and_then(|(left, token)| Instant::now().checked_add(left).map(|at| (at, token)));

    // 3. Register first (buffering), then read history.
    let subscriber = Arc::new(Subscriber::new(NewSubscriber {
        key: state.next_key.fetch_add(1, Ordering::Relaxed),
        subscriber_id: new_subscriber_id(),
        matchers: request.matchers().to_vec(),
        credentials,
        legacy: request.is_legacy(),
        buffer_limit: limits.queue_frames,
        deadline,
        slot,
        subject_slot,
    }));
    state.registry.insert(Arc::clone(&subscriber));
    let registration = Registration {
        state: &state,
        subscriber: Some(Arc::clone(&subscriber)),
    };
    // Shutdown drains the registry after raising its flag: seen here, or
    // this subscriber is drained.
    if state.is_stopping() {
        return unavailable("the hub is shutting down", Duration::from_secs(1));
    }

    let cursor = request.cursor().clone();
    let replay = match &cursor {
        Cursor::Live => None,
        Cursor::Earliest => Some(StoreCursor::Earliest),
        Cursor::After(id) => Some(StoreCursor::Id(id.clone())),
    };
    let first_page = match replay {
        None => None,
        Some(c) => match state.store.replay(c, limits.replay_page.max(1)).await {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!(error = %e, "history replay failed");
                return unavailable(
                    "history is unavailable right now, retry later",
                    Duration::from_secs(1),
                );
            }
        },
    };

    // 4. The response.
    let mut builder = EventStreamRequest::from_parts(&parts)
        .into_builder()
        .keep_alive(state.config.heartbeat)
        .write_timeout(Some(limits.write_timeout))
        .queue_limit(
            QueueLimit::default()
                .with_max_frames(limits.queue_frames)
                .with_max_bytes(limits.queue_bytes),
        )
        .header(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        )
        .header(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        );
    if let Some(retry) = state.config.retry {
        builder = builder.retry(retry);
    }
    if cursor.was_requested() {
        // M37: the id itself when history after it is complete, otherwise
        // `earliest` (unknown or evicted id, or `earliest` asked for).
        let resumed = match (&cursor, &first_page) {
            (Cursor::After(id), Some(page)) if page.complete => id.as_str(),
            _ => "earliest",
        };
        // Ids passed the M4 character rules, so only non-ASCII can remain,
        // which `from_bytes` accepts (obs-text).
        if let Ok(value) = HeaderValue::from_bytes(resumed.as_bytes()) {
            if let Ok(name) = HeaderName::from_bytes(LAST_EVENT_ID_HEADER.as_bytes()) {
                builder = builder.header(name, value.clone());
            }
            if state.config.legacy_last_event_id_header {
                if let Ok(name) = HeaderName::from_bytes(LEGACY_LAST_EVENT_ID_HEADER.as_bytes()) {
                    builder = builder.header(name, value);
                }
            }
        }
    }
    let (target, response) = match builder.build() {
        Ok(built) => built,
        Err(e) => {
            tracing::error!(error = %e, "could not build the stream response");
            return super::plain(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "could not start the stream\n",
            );
        }
    };
    subscriber.attach(target.frame_sender());
    tracing::debug!(
        subscriber = subscriber.key,
        matchers = subscriber.matchers.len(),
        anonymous = subscriber.credentials.is_none(),
        "subscriber connected"
    );
    inc(&state.metrics.connections_total);
    match first_page {
        None => {
            // No history: live at once (what fan-out buffered since the
            // registration goes first).
            drop(target);
            match subscriber.go_live(&mut Handoff::new(None), &state.metrics) {
                HandoffOutcome::Live => {
                    if state.config.subscriptions {
                        tokio::spawn(announce_active(Arc::clone(&state), Arc::clone(&subscriber)));
                    }
                }
                HandoffOutcome::Overflowed => {
                    inc(&state.metrics.drops);
                    subscriber.disconnect();
                }
            }
        }
        Some(page) => {
            tokio::spawn(replay_task(
                Arc::clone(&state),
                Arc::clone(&subscriber),
                target,
                page,
            ));
        }
    }
    registration.keep();
    response.map(Body::new)
}

/// Lets the subscriber go if the handler ends (or is cancelled) before the
/// stream is handed over.
struct Registration<'a> {
    state: &'a HubState,
    subscriber: Option<Arc<Subscriber>>,
}

impl Registration<'_> {
    /// The stream is handed over: the reaper is in charge from now on.
    fn keep(mut self) {
        self.subscriber = None;
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Some(sub) = self.subscriber.take() {
            self.state.registry.remove(&sub);
        }
    }
}

/// Why a replay stopped early.
enum Stop {
    /// The client left, or the subscriber was let go (expired, shutdown):
    /// the reaper or shutdown finishes it.
    Gone,
    /// The queue stayed full past the write timeout, or the live buffer
    /// overflowed: disconnect; the client resumes from its last event.
    Behind,
    /// History was evicted while it was read, or the store failed: end the
    /// stream after what was sent; the client resumes (and is told
    /// `earliest` if history is gone).
    Cut,
}

/// Sends the history after the cursor, hands off to live, announces the
/// subscription; then the task ends.
async fn replay_task(
    state: Arc<HubState>,
    subscriber: Arc<Subscriber>,
    target: EventTarget,
    page: Replay,
) {
    let mut handoff = Handoff::new(None);
    let outcome = replay(&state, &subscriber, &target, page, &mut handoff).await;
    drop(target);
    let stop = match outcome {
        Ok(()) => match subscriber.go_live(&mut handoff, &state.metrics) {
            HandoffOutcome::Live => {
                if state.config.subscriptions {
                    announce_active(Arc::clone(&state), Arc::clone(&subscriber)).await;
                }
                return;
            }
            HandoffOutcome::Overflowed => Stop::Behind,
        },
        Err(stop) => stop,
    };
    match stop {
        Stop::Gone => {}
        Stop::Behind => {
            inc(&state.metrics.drops);
            subscriber.disconnect();
        }
        Stop::Cut => {
            // Dropping the record (here and in the registry) closes the
            // stream after what is queued.
            state.registry.remove(&subscriber);
            finish(&state, subscriber);
        }
    }
}

/// Sends the history after the cursor, page by page; `handoff` ends at the
/// last position replayed.
async fn replay(
    state: &HubState,
    subscriber: &Subscriber,
    target: &EventTarget,
    page: Replay,
    handoff: &mut Handoff,
) -> Result<(), Stop> {
    let write_timeout = state.config.limits.write_timeout;
    // An unknown or evicted cursor: no history, live from the store's
    // newest position at the time of the read.
    *handoff = Handoff::new(if page.complete {
        page.after
    } else {
        page.newest
    });
    let mut page = page;
    loop {
        for entry in &page.entries {
            if subscriber.is_removed() || subscriber.is_expired(Instant::now()) {
                return Err(Stop::Gone);
            }
            if !handoff.admit(entry.position) || !subscriber.wants(&entry.update, &state.hub) {
                continue;
            }
            let Some(frame) = encode(&entry.update) else {
                continue;
            };
            // Waiting here is right: only this subscriber's own replay
            // waits on its own socket. Bounded, so a client that stops
            // reading mid-replay does not hold its connection forever.
            match tokio::time::timeout(write_timeout, target.writable()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(Stop::Gone),
                Err(_) => return Err(Stop::Behind),
            }
            // Queued: history comes in runs, and the stream's writer sends
            // a run in one `writev` instead of one write per entry.
            match target.frame_sender().try_push_queued(frame) {
                Ok(()) => inc(&state.metrics.deliveries),
                Err(e) if e.is_queue_full() => return Err(Stop::Behind),
                Err(_) => return Err(Stop::Gone),
            }
        }
        let Some(last) = page.entries.last().map(|e| e.position) else {
            return Ok(());
        };
        if !page.more {
            return Ok(());
        }
        page = match state
            .store
            .replay(
                StoreCursor::After(last),
                state.config.limits.replay_page.max(1),
            )
            .await
        {
            Ok(p) if p.complete => p,
            Ok(_) => return Err(Stop::Cut),
            Err(e) => {
                tracing::error!(error = %e, "history replay failed");
                return Err(Stop::Cut);
            }
        };
    }
}

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
async fn announce_active(state: Arc<HubState>, subscriber: Arc<Subscriber>) {
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
