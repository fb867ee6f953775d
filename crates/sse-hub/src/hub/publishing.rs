//! Publishing (M13–M23, M29): [`Hub::publish`] for a request from a
//! publisher, [`Hub::publish_update`] for the application's own server code.
//!
//! Both end in one append: the store orders the update and keeps it in
//! history, and the fan-out delivers it from the store's live feed, so a
//! publisher never waits on a subscriber and the two kinds of publish share
//! one order. A store that is busy, closed or failing gives a 503 that says
//! so: an update is never dropped silently. The 503 says "not stored" only
//! when the hub knows the store did not take the update, and "the outcome
//! is unknown", with the id to retry with, when it may have.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::metrics::inc;
use super::{unix_now, Caller, Hub};
use crate::auth::{check_cookie_publish_origin, TokenTransport};
use crate::publish::PublishRequest;
use crate::store::{ensure_id, Doubt};
use crate::{Rejection, Update};

impl Hub {
    /// A publish request: its form body (`content_type` is the request's
    /// `Content-Type`, the form must be `application/x-www-form-urlencoded`)
    /// and the caller's credentials. Parses (400/413/415), authorizes every
    /// topic (401/403), checks the origin when the token came in a cookie
    /// (CSRF, M29), appends, and waits until the store made it durable.
    ///
    /// Returns the update's id (the publisher's, or a generated
    /// `urn:uuid:`), which is the whole body of the 200 answer (M21).
    /// Idempotent within history: when an update with that id is in
    /// history, the answer is the same id and nothing new is stored or
    /// delivered, so a publisher may always retry with the same id.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] to answer with: the 4xx above, or a 503 when the hub
    /// is shutting down or the store cannot take the update now (then
    /// nothing was stored, unless [`Rejection::is_outcome_unknown`]).
    pub async fn publish(
        &self,
        content_type: Option<&[u8]>,
        body: &[u8],
        caller: &Caller<'_>,
    ) -> Result<String, Rejection> {
        let state = &self.state;
        if state.is_stopping() {
            return Err(shutting_down());
        }
        let publish = PublishRequest::parse(content_type, body, &state.hub, &state.config.publish)?;
        // A publish looks the same in both generations: never a legacy
        // request, so a token in the query string is ignored (M27-H).
        let sources = caller.token_sources(false);
        let credentials = state
            .authorizer
            .with_key_refresh(|a| a.authorize_publish(&sources, publish.topics(), unix_now()))
            .await?;
        if credentials.transport() == TokenTransport::Cookie {
            // M29: a cookie rides along with any cross-site form post; only
            // the configured origins may publish with one.
            check_cookie_publish_origin(caller.origin(), caller.referer(), &state.csrf_origins)?;
        }
        self.append(publish.into_update()).await
    }

    /// Publishes an update on the application's own behalf: no token, the
    /// same checks of its fields as a form publish
    /// ([`PublishRequest::from_update`]), the same store, history and order
    /// as every other publish. For server code that embeds the hub (an
    /// order shipped, a document saved); never expose it to a request
    /// without checking that request's rights yourself.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use sse_hub::{Hub, HubConfig, Update};
    ///
    /// let config = HubConfig::new("https://example.com/.well-known/mercure");
    /// let store = config.memory_store();
    /// let hub = Hub::new(config, store)?;
    /// let id = hub
    ///     .publish_update(Update::new(["https://example.com/orders/42"], "shipped").with_id("o42"))
    ///     .await?;
    /// assert_eq!(id, "o42");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`publish`](Self::publish), without the token rejections.
    pub async fn publish_update(&self, update: Update) -> Result<String, Rejection> {
        let state = &self.state;
        if state.is_stopping() {
            return Err(shutting_down());
        }
        let publish = PublishRequest::from_update(update, &state.hub, &state.config.publish)?;
        self.append(publish.into_update()).await
    }

    /// Appends and turns the store's answer into the publish outcome.
    ///
    /// The update gets its id here, before it goes to the store, so that
    /// an answer whose outcome is unknown can name the id a retry must
    /// carry. A retry is safe because appends are idempotent within
    /// history: an id already there is answered 200 and stored and
    /// delivered once (`store/mod.rs`, "Duplicate ids").
    async fn append(&self, mut update: Update) -> Result<String, Rejection> {
        let state = &self.state;
        let started = Instant::now();
        ensure_id(&mut update);
        match state.store.append(update).await {
            Ok(entry) => {
                state.metrics.observe_append(started.elapsed());
                state.store_failing.store(false, Ordering::Release);
                inc(&state.metrics.publishes);
                if entry.is_duplicate() {
                    // A retry, most likely after an unknown outcome: the
                    // update is in history already and was delivered from
                    // there; the same answer again, nothing new.
                    inc(&state.metrics.publish_duplicates);
                    tracing::debug!(position = %entry.position, "publish of an id already in history");
                } else {
                    tracing::debug!(position = %entry.position, "update published");
                }
                Ok(entry.update.id.clone())
            }
            Err(e) => {
                inc(&state.metrics.publish_failures);
                Err(if let Some(id) = e.outcome_unknown_id() {
                    // Checked first: the store may also have just become
                    // unavailable (a failover), and "not stored" would be a
                    // lie. The update may be in history; only a retry with
                    // the same id settles it without a second copy.
                    tracing::warn!(error = %e, "publish outcome unknown");
                    let why = e.doubt().map_or("may have been stored", Doubt::describe);
                    Rejection::outcome_unknown(
                        format!(
                            "the outcome is unknown: update {id} {why}; retrying with the same \
                             id ({id}) is safe: an id already in history is answered 200 and \
                             stored only once"
                        ),
                        Duration::from_secs(1),
                    )
                } else if e.is_busy() {
                    tracing::warn!("publish refused: the store is busy");
                    Rejection::unavailable(
                        "the store is busy: the update was not stored, retry later",
                        Duration::from_secs(1),
                    )
                } else if e.is_closed() {
                    Rejection::unavailable(
                        "the hub is shutting down: the update was not stored",
                        Duration::from_secs(1),
                    )
                } else if !state.store.is_available() {
                    // A networked store (Redis) that lost its server: say
                    // so, so operators look at the right place. It
                    // reconnects by itself and `/healthz` follows its
                    // availability, so `store_failing` is not set: it would
                    // stay set until the next publish succeeds, and a load
                    // balancer that routes by health would then never send
                    // one.
                    tracing::error!(error = %e, "publish failed: the store's server is unreachable");
                    Rejection::unavailable(
                        "the store is unreachable: the update was not stored, retry later",
                        Duration::from_secs(1),
                    )
                } else {
                    state.store_failing.store(true, Ordering::Release);
                    tracing::error!(error = %e, "publish failed: store error");
                    Rejection::unavailable(
                        "the store failed: the update was not stored, retry later",
                        Duration::from_secs(5),
                    )
                })
            }
        }
    }
}

/// The 503 for any request during shutdown.
pub(crate) fn shutting_down() -> Rejection {
    Rejection::unavailable("the hub is shutting down", Duration::from_secs(1))
}
