//! Subscribing (M1–M11, M32, M35–M37): [`Hub::subscribe`] and the
//! [`Subscription`] it gives, which becomes the event stream.
//!
//! Order of work, and why:
//! 1. Take a connection slot (the limit is checked before any parsing, so
//!    an overloaded hub sheds load cheaply: 503 with `Retry-After`).
//! 2. Parse the request (400s, M3–M5) and authorize it (401/403, M25–M27),
//!    then take the token subject's slot (429).
//! 3. Register the subscription with fan-out in *buffering* mode, **then**
//!    read history after the cursor: an update committed after the read is
//!    certain to reach the subscriber through fan-out, one committed before
//!    is in the replay, and positions tell the two apart (no gap, no
//!    duplicate): at handoff for what fan-out buffered meanwhile, and after
//!    it for entries the replay read before fan-out got to them (the
//!    subscriber's *floor*, see `fanout/subscriber.rs`).
//! 4. [`Subscription::into_response`]: the stream (headers can now say
//!    where history resumed, M37). Without a cursor the subscriber goes
//!    live at once; with one, a task pushes the replay (waiting for room in
//!    the subscriber's own queue: the replay is this subscriber's
//!    business), hands off to live, and ends. Subscription events (M39)
//!    are stored by a short task.
//!
//! A live subscriber has no task of its own: its whole cost is its record
//! in the fan-out registry, which holds the stream's only producer handle
//! (see `lifecycle.rs` for how it ends).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, HeaderName, HeaderValue, Response};
use sse_server::{EventStream, EventStreamRequest, EventTarget, QueueLimit};

use super::lifecycle::{announce_active, finish};
use super::metrics::inc;
use super::publishing::shutting_down;
use super::{unix_now, unix_now_ms, Caller, Hub, HubState};
use crate::fanout::{
    encode, ConnectionSlot, HandoffOutcome, NewSubscriber, SubjectSlot, Subscriber,
};
use crate::store::{Cursor as StoreCursor, Handoff, Replay};
use crate::subscribe::{
    Cursor, SubscribeInput, SubscribeRequest, LAST_EVENT_ID_HEADER, LEGACY_LAST_EVENT_ID_HEADER,
};
use crate::Rejection;

/// M46: streams must be neither cached nor stored by intermediaries.
const CACHE_CONTROL: &str = "private, no-cache, no-store";

impl Hub {
    /// A subscribe request: its matchers and cursor (`input`: the query
    /// string, H's `QUERY` form body, the `Last-Event-ID` header) and the
    /// caller's credentials. Holds the whole protocol up to the stream: the
    /// connection limits, parsing, authorization, registration with the
    /// fan-out and the first page of history. Turn the [`Subscription`]
    /// into the response with [`Subscription::into_response`].
    ///
    /// # Errors
    ///
    /// A [`Rejection`] to answer with: 400 (M3–M5), 401/403 (M25–M27), 429
    /// (too many streams for the token's subject), 503 (shutting down, at
    /// the connection limit, or history unreadable).
    pub async fn subscribe(
        &self,
        input: &SubscribeInput<'_>,
        caller: &Caller<'_>,
    ) -> Result<Subscription, Rejection> {
        let state = &self.state;
        if state.is_stopping() {
            return Err(shutting_down());
        }
        let limits = &state.config.limits;
        let Some(slot) = ConnectionSlot::take(&state.metrics, limits.max_connections) else {
            inc(&state.metrics.connections_refused);
            tracing::warn!(
                max = limits.max_connections,
                "subscriber refused: connection limit reached"
            );
            return Err(Rejection::unavailable(
                format!(
                    "too many subscribers: this hub serves at most {} connections, retry later",
                    limits.max_connections
                ),
                Duration::from_secs(5),
            ));
        };
        let request = SubscribeRequest::parse(input, &state.hub, &state.config.subscribe)?;
        let sources = caller.token_sources(request.is_legacy());
        let allow_anonymous = state.config.allow_anonymous;
        let credentials = state
            .authorizer
            .with_key_refresh(|a| a.authorize_subscribe(&sources, allow_anonymous, unix_now()))
            .await?;

        // H: connections per client SHOULD be capped (429).
        let subject = credentials
            .as_ref()
            .and_then(|c| c.subject().map(|s| (c.issuer(), s)));
        let subject_slot = match (limits.max_connections_per_subject, subject) {
            (Some(max), Some((issuer, subject))) => {
                let Some(slot) = SubjectSlot::take(&state.subjects, issuer, subject, max) else {
                    inc(&state.metrics.connections_refused);
                    return Err(Rejection::too_many_requests(
                        format!("too many connections for this token: at most {max}, close one or retry later"),
                        Duration::from_secs(5),
                    ));
                };
                Some(slot)
            }
            _ => None,
        };

        // The stream ends at the token's `exp` (M32) or the lifetime cap,
        // whichever comes first.
        let token_left = credentials
            .as_ref()
            .and_then(|c| c.expires_at())
            .map(|exp| {
                Duration::from_millis(exp.saturating_mul(1000).saturating_sub(unix_now_ms()))
            });
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
            subscriber_id: crate::generate_id(),
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
            state: Arc::clone(state),
            subscriber: Some(Arc::clone(&subscriber)),
        };
        // Shutdown drains the registry after raising its flag: seen here,
        // or this subscriber is drained.
        if state.is_stopping() {
            return Err(shutting_down());
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
                Ok(page) => Some(page),
                Err(e) => {
                    tracing::error!(error = %e, "history replay failed");
                    return Err(Rejection::unavailable(
                        "history is unavailable right now, retry later",
                        Duration::from_secs(1),
                    ));
                }
            },
        };
        // A cursor naming an update this subscriber may not see (a private
        // update its credentials do not cover) is answered exactly as an
        // unknown id: the same `earliest` header and the same events (none
        // replayed, live from the newest position), so that nobody learns
        // from a cursor whether a private update exists.
        let first_page = first_page.map(|page| match &page.at {
            Some(at) if !subscriber.may_see(at, &state.hub) => Replay {
                newest: page.newest,
                ..Replay::default()
            },
            _ => page,
        });
        // M37: the id itself when history after it is complete, otherwise
        // `earliest` (unknown or evicted id, or `earliest` asked for).
        let resumed_from = cursor
            .was_requested()
            .then(|| match (&cursor, &first_page) {
                (Cursor::After(id), Some(page)) if page.complete => id.clone(),
                _ => "earliest".to_owned(),
            });
        Ok(Subscription {
            registration,
            first_page,
            resumed_from,
        })
    }
}

/// A subscriber the hub accepted and registered: the fan-out buffers what
/// is published for it until [`into_response`](Self::into_response) starts
/// the stream. Dropping it instead lets the subscriber go.
pub struct Subscription {
    registration: Registration,
    /// The first page of history after the cursor, when one was sent.
    first_page: Option<Replay>,
    resumed_from: Option<String>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("subscriber_id", &self.subscriber_id())
            .field("resumed_from", &self.resumed_from)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// Where history resumes (M37), when the client sent a cursor: the
    /// cursor itself when the history after it is complete, otherwise
    /// `earliest` (an unknown or evicted id, or `earliest` asked for).
    /// Sent as `Mercure-Last-Event-ID` (and `Last-Event-ID`).
    pub fn resumed_from(&self) -> Option<&str> {
        self.resumed_from.as_deref()
    }

    /// The subscriber's id (M40): a fresh `urn:uuid:`.
    pub fn subscriber_id(&self) -> &str {
        self.registration
            .subscriber()
            .map_or("", |s| &s.subscriber_id)
    }

    /// Starts the stream for the subscribe request `request` (made from its
    /// parts with [`EventStreamRequest::from_parts`], which also lets
    /// [`sse_server::serve`] take the connection over): the response, with
    /// the hub's headers (M37, M46), keep-alives and queue bounds. The
    /// replay of history, if any, runs in a task; then the subscriber is
    /// live.
    ///
    /// # Errors
    ///
    /// A 500 [`Rejection`] if the stream could not be built.
    pub fn into_response(
        mut self,
        request: EventStreamRequest,
    ) -> Result<Response<EventStream>, Rejection> {
        let state = Arc::clone(&self.registration.state);
        let Some(subscriber) = self.registration.subscriber().cloned() else {
            return Err(Rejection::internal("the subscription was already started"));
        };
        let limits = &state.config.limits;
        let mut builder = request
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
        // Ids passed the M4 character rules, so only non-ASCII can remain,
        // which `from_bytes` accepts (obs-text).
        if let Some(value) = self
            .resumed_from
            .as_deref()
            .and_then(|r| HeaderValue::from_bytes(r.as_bytes()).ok())
        {
            // `from_bytes` lowercases the names, as HTTP/2 requires.
            if let Ok(name) = HeaderName::from_bytes(LAST_EVENT_ID_HEADER.as_bytes()) {
                builder = builder.header(name, value.clone());
            }
            if state.config.legacy_last_event_id_header {
                if let Ok(name) = HeaderName::from_bytes(LEGACY_LAST_EVENT_ID_HEADER.as_bytes()) {
                    builder = builder.header(name, value);
                }
            }
        }
        let (target, response) = builder.build().map_err(|e| {
            tracing::error!(error = %e, "could not build the stream response");
            Rejection::internal("could not start the stream")
        })?;
        subscriber.attach(target.frame_sender());
        tracing::debug!(
            subscriber = subscriber.key,
            matchers = subscriber.matchers.len(),
            anonymous = subscriber.credentials.is_none(),
            "subscriber connected"
        );
        inc(&state.metrics.connections_total);
        match self.first_page.take() {
            None => {
                // No history: live at once (what fan-out buffered since the
                // registration goes first).
                drop(target);
                match subscriber.go_live(&mut Handoff::new(None), &state.metrics) {
                    HandoffOutcome::Live => {
                        if state.config.subscriptions {
                            tokio::spawn(announce_active(
                                Arc::clone(&state),
                                Arc::clone(&subscriber),
                            ));
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
        self.registration.keep();
        Ok(response)
    }
}

/// Lets the subscriber go if the stream is never started (the request was
/// refused later, or the handler was cancelled).
struct Registration {
    state: Arc<HubState>,
    subscriber: Option<Arc<Subscriber>>,
}

impl Registration {
    fn subscriber(&self) -> Option<&Arc<Subscriber>> {
        self.subscriber.as_ref()
    }

    /// The stream is handed over: the reaper is in charge from now on.
    fn keep(&mut self) {
        self.subscriber = None;
    }
}

impl Drop for Registration {
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
