//! The HTTP layer: axum routes that translate requests into calls of the
//! protocol core ([`Hub::publish`], [`Hub::subscribe`],
//! [`Hub::active_subscriptions`]) and its answers and [`Rejection`]s into
//! responses. Nothing here decides anything the protocol defines.

pub(crate) mod cors;
mod publish;
mod subscribe;
mod subscriptions_api;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

use crate::auth::resource_metadata_url;
use crate::hub::{Hub, HubState};
use crate::topic::HubUrl;
use crate::Rejection;

/// The hub's routes, to mount in an application's router or to serve
/// alone; made by [`Hub::routes`].
///
/// Always: the hub URL's path (subscribe with `GET` or H's `QUERY`, publish
/// with `POST`), the RFC 9728 metadata (M44), and the subscriptions API
/// when [`HubConfig::subscriptions`] is on, all behind the hub's CORS
/// allowlist and discovery `Link` (M12, M43). Optional, each at the path
/// you choose: a health check, the Prometheus metrics, the debug page. No
/// fallback: an application keeps its own.
///
/// ```
/// use axum::routing::get;
/// use axum::Router;
/// use sse_hub::{Hub, HubConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = HubConfig::new("http://127.0.0.1:3000/.well-known/mercure");
/// let store = config.memory_store();
/// let hub = Hub::new(config, store)?;
/// // An application with its own /healthz, its own fallback and its own state.
/// let app: Router = Router::new()
///     .route("/healthz", get(|| async { "app ok" }))
///     .route("/", get(|| async { "home" }))
///     .merge(hub.routes().with_healthz("/hub/healthz").into_router())
///     .fallback(|| async { "not here" })
///     .with_state(42_u32);
/// # drop(app);
/// # Ok(())
/// # }
/// ```
///
/// [`HubConfig::subscriptions`]: crate::HubConfig::subscriptions
#[derive(Debug, Clone)]
pub struct HubRoutes {
    hub: Hub,
    healthz: Option<String>,
    metrics: Option<String>,
    /// The page's path and bytes (shared: each request clones a handle,
    /// not the page).
    debug_page: Option<(String, bytes::Bytes)>,
}

impl HubRoutes {
    pub(crate) fn new(hub: Hub) -> Self {
        HubRoutes {
            hub,
            healthz: None,
            metrics: None,
            debug_page: None,
        }
    }

    /// Also serves the health check at `path`: `ok`, or 503 `degraded`
    /// ([`Hub::is_healthy`]).
    #[must_use]
    pub fn with_healthz(mut self, path: &str) -> Self {
        self.healthz = Some(path.to_owned());
        self
    }

    /// Also serves the Prometheus metrics at `path` ([`Hub::metrics`]).
    #[must_use]
    pub fn with_metrics(mut self, path: &str) -> Self {
        self.metrics = Some(path.to_owned());
        self
    }

    /// Also serves `html` (made with [`crate::debug_page::render`]) at
    /// `path`.
    #[must_use]
    pub fn with_debug_page(mut self, path: &str, html: impl Into<String>) -> Self {
        self.debug_page = Some((path.to_owned(), bytes::Bytes::from(html.into())));
        self
    }

    /// The routes, for any application state `S` (they carry the hub's own).
    ///
    /// # Panics
    ///
    /// As [`Router::route`], when two of the chosen paths are the same or
    /// one is not a valid route path (the health, metrics or debug page
    /// path you gave, against the hub's own).
    pub fn into_router<S>(self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        self.build(false)
    }

    /// The routes with a plain-text 404 fallback, for a hub served alone
    /// (what [`Hub::router`] is made with).
    pub fn into_standalone_router(self) -> Router {
        self.build(true)
    }

    fn build<S>(self, fallback: bool) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let state = Arc::clone(self.hub.state());
        let hub_path = normalized_path(state.hub.path());
        let mut router = Router::new()
            .route(&hub_path, any(hub_endpoint))
            .route(&resource_metadata_path(&state.hub), get(metadata));
        if state.config.subscriptions {
            let base = format!("{}/subscriptions", hub_path.trim_end_matches('/'));
            router = router
                .route(&base, get(subscriptions_api::handle))
                .route(&format!("{base}/{{*rest}}"), get(subscriptions_api::handle));
        }
        if let Some(path) = &self.healthz {
            router = router.route(path, get(healthz));
        }
        if let Some(path) = &self.metrics {
            router = router.route(path, get(metrics));
        }
        if let Some((path, html)) = self.debug_page {
            router = router.route(
                &path,
                get(move || {
                    let html = html.clone();
                    async move { Html(html) }
                }),
            );
        }
        if fallback {
            router = router.fallback(not_found);
        }
        router
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                cors::layer,
            ))
            .with_state(state)
    }
}

/// `/metrics` and `/healthz` alone, for an internal listener.
pub(crate) fn ops_router(hub: &Hub) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(Arc::clone(hub.state()))
}

/// `/` and the empty path mean the same route; a trailing slash is kept.
fn normalized_path(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

/// The path of the RFC 9728 metadata URL (M44).
fn resource_metadata_path(hub: &HubUrl) -> String {
    let url = resource_metadata_url(hub);
    match url.find("/.well-known/oauth-protected-resource") {
        Some(i) => url[i..].to_owned(),
        None => "/.well-known/oauth-protected-resource".to_owned(),
    }
}

/// The hub URL's one route: subscribe (`GET`, and H's `QUERY`) or publish
/// (`POST`). One handler rather than a method router because `QUERY` is not
/// one of axum's method filters.
async fn hub_endpoint(State(state): State<Arc<HubState>>, request: Request) -> Response {
    let hub = Hub::from_state(state);
    let method = request.method();
    if method == Method::GET || method.as_str() == "QUERY" {
        subscribe::handle(&hub, request).await
    } else if method == Method::POST {
        publish::handle(&hub, request).await
    } else {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET to subscribe or POST to publish\n",
        );
        r.headers_mut().insert(
            header::ALLOW,
            HeaderValue::from_static("GET, POST, QUERY, OPTIONS"),
        );
        r
    }
}

async fn metadata(State(state): State<Arc<HubState>>) -> Response {
    let doc = state
        .authorizer
        .resource_metadata(state.config.subscriptions);
    let mut r = Response::new(Body::from(doc.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

async fn healthz(State(state): State<Arc<HubState>>) -> Response {
    if Hub::from_state(state).is_healthy() {
        plain(StatusCode::OK, "ok\n")
    } else {
        plain(StatusCode::SERVICE_UNAVAILABLE, "degraded\n")
    }
}

async fn metrics(State(state): State<Arc<HubState>>) -> Response {
    let mut r = Response::new(Body::from(state.metrics.render()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found\n")
}

/// A `text/plain; charset=utf-8` response.
fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A [`Rejection`] as a response: its status, its `WWW-Authenticate`
/// challenge (M25) and `Retry-After` when it has them, and its message as
/// the body.
fn rejection(r: &Rejection) -> Response {
    let mut response = plain(r.status(), format!("{}\n", r.message()));
    let h = response.headers_mut();
    if let Some(v) = r
        .www_authenticate()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert(header::WWW_AUTHENTICATE, v);
    }
    if let Some(after) = r.retry_after() {
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from(after.as_secs().max(1)),
        );
    }
    response
}

/// The answer to a request whose body is not read to its end: the
/// connection cannot carry another request.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
