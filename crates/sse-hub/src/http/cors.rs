//! The layer around every hub route: credentialed CORS for an explicit
//! origin allowlist (M12-H) and the discovery `Link` header (M43).
//!
//! Hand-written rather than `tower-http`'s `CorsLayer` because the rules are
//! few and strict: the allowed origin is echoed only when it is in the
//! configured list (never `*`, never an arbitrary request `Origin`),
//! `Access-Control-Allow-Credentials: true` goes with it (cookies and
//! `EventSource({withCredentials: true})`), and `Vary: Origin` keeps caches
//! from serving one origin's answer to another.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::hub::HubState;

/// Request headers a browser may send cross-origin.
const ALLOW_HEADERS: &str = "authorization, content-type, last-event-id, cache-control";
/// Response headers a browser script may read.
const EXPOSE_HEADERS: &str =
    "link, mercure-last-event-id, last-event-id, www-authenticate, retry-after";
const ALLOW_METHODS: &str = "GET, POST, QUERY, OPTIONS";
/// How long a browser may cache a preflight answer (seconds).
const MAX_AGE: &str = "600";

/// `scheme://host[:port]` in lowercase with the default port removed, or
/// `None` for what is not a tuple origin (`*`, `null`, a path…).
pub(crate) fn canonical_origin(origin: &str) -> Option<String> {
    let url = url::Url::parse(origin.trim()).ok()?;
    let serialized = url.origin().ascii_serialization();
    // A configured origin must be only an origin: no path beyond `/`, no query.
    if !url.origin().is_tuple()
        || !(url.path() == "/" || url.path().is_empty())
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return None;
    }
    Some(serialized)
}

/// The request's `Origin`, when it is one of the allowed origins.
fn allowed_origin(state: &HubState, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?;
    let canonical = canonical_origin(origin)?;
    state
        .cors_origins
        .iter()
        .find(|o| **o == canonical)
        .and_then(|o| HeaderValue::from_str(o).ok())
}

/// The middleware: answers preflights, then adds CORS and `Link` headers.
pub(crate) async fn layer(
    State(state): State<Arc<HubState>>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = allowed_origin(&state, request.headers());
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut r = Response::new(axum::body::Body::empty());
        *r.status_mut() = StatusCode::NO_CONTENT;
        if allowed.is_some() {
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE),
            );
        }
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    if let Some(origin) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        if !preflight {
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
    }
    if !state.cors_origins.is_empty() {
        h.append(header::VARY, HeaderValue::from_static("origin"));
    }
    // M43: hub responses advertise the hub. The subscriptions API adds its
    // own (with `last-event-id`) and keeps it.
    if !h.contains_key(header::LINK) {
        h.insert(header::LINK, state.link.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_canonical() {
        assert_eq!(
            canonical_origin("HTTPS://App.Example.com:443").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            canonical_origin("http://127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(canonical_origin("*"), None);
        assert_eq!(canonical_origin("null"), None);
        assert_eq!(canonical_origin("https://a.example/path"), None);
    }
}
