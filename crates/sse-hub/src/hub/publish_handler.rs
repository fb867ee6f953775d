//! Publish: `POST` on the hub URL (M13–M23, M29).
//!
//! Parse (400/413/415), authorize every topic (401/403), check the origin
//! when the token came in a cookie (CSRF, M29), append to the store and
//! wait until it is durable, then answer `200 text/plain; charset=utf-8`
//! with the id. The fan-out delivers from the store's live feed, so the
//! publisher never waits on a subscriber. A store that is busy, closed or
//! failing gives a 503 that says so: an update is never dropped silently.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;

use super::metrics::inc;
use super::{header_values, plain, rejection, unavailable, unix_now, HubState};
use crate::auth::{check_cookie_publish_origin, TokenSources, TokenTransport};
use crate::publish::PublishRequest;

/// How long a publish body may take to arrive. A client that announces a
/// body and sends it slowly (or never) would otherwise hold its connection
/// and its share of memory for ever.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) async fn handle(state: Arc<HubState>, request: Request) -> Response {
    if state.is_stopping() {
        return unavailable("the hub is shutting down", Duration::from_secs(1));
    }
    let (parts, body) = request.into_parts();
    let max_body = state.config.publish.max_body;
    let too_large = || {
        let mut r = plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large: at most {max_body} bytes\n"),
        );
        // The rest of the body is not read: the connection cannot carry
        // another request.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    // An announced length over the cap is refused before reading a byte
    // (M22); the client may never send it all.
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > max_body as u64) {
        return too_large();
    }
    // Stop reading past the cap: one byte more is enough to know.
    let read = axum::body::to_bytes(body, max_body.saturating_add(1));
    let body = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(b)) if b.len() <= max_body => b,
        Ok(Ok(_)) => return too_large(),
        Ok(Err(e)) => {
            // `to_bytes` fails once the limit is passed; any other failure
            // is a body that does not parse (a bad chunk) or a client that
            // went away.
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                return too_large();
            }
            let mut r = plain(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {inner}\n"),
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
        Err(_) => {
            let mut r = plain(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not received within {} s\n",
                    BODY_TIMEOUT.as_secs()
                ),
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map(HeaderValue::as_bytes);
    let publish =
        match PublishRequest::parse(content_type, &body, &state.hub, &state.config.publish) {
            Ok(p) => p,
            Err(r) => return rejection(&r),
        };

    let query = parts.uri.query().unwrap_or("").as_bytes();
    let authorization = header_values(&parts.headers, header::AUTHORIZATION);
    let cookies = header_values(&parts.headers, header::COOKIE);
    // A publish looks the same in both generations: never a legacy
    // request, so a token in the query string is ignored (M27-H).
    let sources = TokenSources {
        authorization: &authorization,
        cookies: &cookies,
        query,
        legacy_request: false,
    };
    let credentials = match state
        .authorizer
        .with_key_refresh(|a| a.authorize_publish(&sources, publish.topics(), unix_now()))
        .await
    {
        Ok(c) => c,
        Err(r) => return rejection(&r),
    };
    if credentials.transport() == TokenTransport::Cookie {
        // M29: a cookie rides along with any cross-site form post; only the
        // configured origins may publish with one.
        if let Err(r) = check_cookie_publish_origin(
            parts.headers.get(header::ORIGIN).map(HeaderValue::as_bytes),
            parts
                .headers
                .get(header::REFERER)
                .map(HeaderValue::as_bytes),
            &state.csrf_origins,
        ) {
            return rejection(&r);
        }
    }

    let update = publish.into_update();
    let started = Instant::now();
    match state.store.append(update).await {
        Ok(entry) => {
            state.metrics.observe_append(started.elapsed());
            state.store_failing.store(false, Ordering::Release);
            inc(&state.metrics.publishes);
            tracing::debug!(position = %entry.position, "update published");
            let mut response = plain(StatusCode::OK, entry.update.id.clone());
            // The id is the whole body (M21); no trailing newline.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            inc(&state.metrics.publish_failures);
            if let Some(id) = e.outcome_unknown_id() {
                // Checked first: the store may also have just become
                // unavailable (a failover), and "not stored" would be a
                // lie. The update may be in history; only a retry with
                // the same id settles it without a second copy.
                tracing::warn!(error = %e, "publish outcome unknown");
                unavailable(
                    &format!(
                        "the outcome is unknown: update {id} reached the store but its replicas \
                         did not confirm it in time, so a failover may lose it; retrying with \
                         the same id ({id}) is safe"
                    ),
                    Duration::from_secs(1),
                )
            } else if e.is_busy() {
                tracing::warn!("publish refused: the store is busy");
                unavailable(
                    "the store is busy: the update was not stored, retry later",
                    Duration::from_secs(1),
                )
            } else if e.is_closed() {
                unavailable(
                    "the hub is shutting down: the update was not stored",
                    Duration::from_secs(1),
                )
            } else if !state.store.is_available() {
                // A networked store (Redis) that lost its server: say so,
                // so operators look at the right place. It reconnects by
                // itself and `/healthz` follows its availability, so
                // `store_failing` is not set: it would stay set until the
                // next publish succeeds, and a load balancer that routes
                // by health would then never send one.
                tracing::error!(error = %e, "publish failed: the store's server is unreachable");
                unavailable(
                    "the store is unreachable: the update was not stored, retry later",
                    Duration::from_secs(1),
                )
            } else {
                state.store_failing.store(true, Ordering::Release);
                tracing::error!(error = %e, "publish failed: store error");
                unavailable(
                    "the store failed: the update was not stored, retry later",
                    Duration::from_secs(5),
                )
            }
        }
    }
}
