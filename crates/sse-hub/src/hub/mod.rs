//! The hub's HTTP layer: an axum [`Router`] that speaks Mercure on top of a
//! [`Store`], built by [`Hub`] from a [`HubConfig`].
//!
//! Routes (the hub path is the path of [`HubConfig::hub_url`], normally
//! `/.well-known/mercure`):
//!
//! | route | what |
//! |---|---|
//! | `GET` (and H's `QUERY`) hub path | subscribe: an event stream (M1–M11, M32, M35–M37) |
//! | `POST` hub path | publish (M13–M23, M29) |
//! | `GET` hub path `/subscriptions[/{type}/{match}[/{subscriber}]]` | active subscriptions (M42), when [`HubConfig::subscriptions`] |
//! | `GET /.well-known/oauth-protected-resource` + hub path | RFC 9728 metadata (M44) |
//! | `GET /healthz` | `ok`, or 503 `degraded` when the store's live feed ended, appends fail, or the store cannot reach its server ([`Store::is_available`]) |
//! | `GET /metrics` | Prometheus text ([`Metrics`]: ours, Mercure's names, `process_*`); left out by [`Hub::public_router`] |
//!
//! [`Hub::ops_router`] serves `/metrics` and `/healthz` alone, for a
//! listener on an internal address.
//!
//! Every response carries the discovery `Link` (M43); CORS answers only the
//! configured origins (M12).
//!
//! Serve the router with [`sse_server::serve`] (streams then cost under
//! 1 KB each) or `axum::serve`:
//!
//! ```
//! use sse_hub::hub::{Hub, HubConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = HubConfig::new("http://127.0.0.1:3000/.well-known/mercure");
//! let store = config.memory_store();
//! let hub = Hub::new(config, store)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = tokio::spawn(sse_server::serve(listener, hub.router()).into_future());
//! // ... later, on SIGTERM:
//! hub.shutdown().await;
//! server.abort();
//! # Ok(())
//! # }
//! # use std::future::IntoFuture;
//! ```

mod config;
mod cors;
mod fanout;
mod metrics;
mod publish_handler;
mod subscribe_handler;
mod subscriptions_api;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;

pub use config::{HubConfig, Limits, DEFAULT_HUB_URL};
pub use metrics::Metrics;

use crate::auth::{resource_metadata_url, Authorizer, Rejection};
use crate::store::Store;
use crate::subscribe::discovery_link;
use crate::topic::HubUrl;
use crate::Update;
use fanout::{Fanout, Registry};

/// A hub configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// [`HubConfig::hub_url`] is not an absolute URL with a host.
    #[error("invalid hub URL: it must be an absolute URL with a host, such as https://example.com/.well-known/mercure")]
    InvalidHubUrl,
    /// A CORS origin is `*` or not a serialized origin.
    #[error(
        "invalid CORS origin {0:?}: use explicit origins such as https://app.example.com (never *)"
    )]
    InvalidCorsOrigin(String),
}

/// A running hub: the shared state behind its router, and the fan-out task
/// that feeds subscribers from the store's live feed.
///
/// The fan-out runs until [`shutdown`](Hub::shutdown) or until the store
/// closes; dropping the `Hub` does not stop it (routers made by
/// [`router`](Hub::router) keep serving). Cloning gives another handle to
/// the same hub.
#[derive(Debug, Clone)]
pub struct Hub {
    state: Arc<HubState>,
}

/// Everything the handlers share.
pub(crate) struct HubState {
    pub(crate) config: HubConfig,
    pub(crate) hub: HubUrl,
    pub(crate) authorizer: Authorizer,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) metrics: Arc<Metrics>,
    /// The discovery `Link` value (M43), precomputed.
    pub(crate) link: HeaderValue,
    /// Flipped to `true` once by [`Hub::shutdown`]; every stream task and
    /// the fan-out watch it.
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) fanout_alive: Arc<AtomicBool>,
    /// Set by a failed append (backend error), cleared by a good one.
    pub(crate) store_failing: AtomicBool,
    pub(crate) last_id: Arc<Mutex<Option<Arc<Update>>>>,
    pub(crate) next_key: AtomicU64,
    pub(crate) subjects: Arc<fanout::SubjectCounts>,
    /// Canonical CORS origins (scheme://host[:port], lowercase).
    pub(crate) cors_origins: Vec<String>,
    /// Origins that may publish with a cookie (M29): the CORS origins and
    /// the hub's own.
    pub(crate) csrf_origins: Vec<String>,
}

impl std::fmt::Debug for HubState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubState")
            .field("hub", &self.hub)
            .field("subscribers", &self.metrics.subscribers())
            .finish_non_exhaustive()
    }
}

impl HubState {
    pub(crate) fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// Seconds since the Unix epoch (token time checks).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch (expiry timers).
pub(crate) fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Hub {
    /// Builds the hub and starts its fan-out task on the current tokio
    /// runtime.
    ///
    /// # Errors
    ///
    /// An invalid [`HubConfig::hub_url`] or CORS origin.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the fan-out task is spawned here).
    pub fn new(config: HubConfig, store: Arc<dyn Store>) -> Result<Hub, HubError> {
        let hub = HubUrl::parse(&config.hub_url).map_err(|_| HubError::InvalidHubUrl)?;
        let cors_origins = config
            .cors_origins
            .iter()
            .map(|o| {
                cors::canonical_origin(o).ok_or_else(|| HubError::InvalidCorsOrigin(o.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut csrf_origins = cors_origins.clone();
        if let Some(own) = cors::canonical_origin(&hub_origin(&hub)) {
            if !csrf_origins.contains(&own) {
                csrf_origins.push(own);
            }
        }
        let link = HeaderValue::from_str(&discovery_link(&hub, None, None))
            .map_err(|_| HubError::InvalidHubUrl)?;
        let authorizer = Authorizer::new(config.auth.clone(), hub.clone());
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let registry = Arc::new(Registry::default());
        let metrics = Arc::new(Metrics::default());
        let fanout_alive = Arc::new(AtomicBool::new(true));
        let last_id = Arc::new(Mutex::new(None));
        // Registered here, synchronously, so that every update committed
        // after `new` returns reaches the fan-out.
        let live = store.live();
        let fanout = Fanout {
            store: Arc::clone(&store),
            registry: Arc::clone(&registry),
            metrics: Arc::clone(&metrics),
            hub: hub.clone(),
            page: config.limits.replay_page.max(1),
            last_id: Arc::clone(&last_id),
            alive: Arc::clone(&fanout_alive),
            cache: fanout::MatchCache::default(),
        };
        tokio::spawn(fanout.run(live, stop_rx));
        let sweep = config.limits.sweep_interval.max(Duration::from_millis(10));
        let state = Arc::new(HubState {
            authorizer,
            hub,
            store,
            registry,
            metrics,
            link,
            stop,
            fanout_alive,
            store_failing: AtomicBool::new(false),
            last_id,
            next_key: AtomicU64::new(1),
            subjects: Arc::default(),
            cors_origins,
            csrf_origins,
            config,
        });
        tokio::spawn(subscribe_handler::reaper(Arc::downgrade(&state), sweep));
        Ok(Hub { state })
    }

    /// The hub's routes (see the module docs), ready for
    /// [`sse_server::serve`] or `axum::serve`. Can be called more than once;
    /// every router shares this hub.
    pub fn router(&self) -> Router {
        self.routes(true)
    }

    /// [`router`](Self::router) without `/metrics`: for a hub whose metrics
    /// are served to the monitoring network only, by
    /// [`ops_router`](Self::ops_router) on another listener. `/healthz`
    /// stays, for load balancers probing the public port.
    pub fn public_router(&self) -> Router {
        self.routes(false)
    }

    /// `/metrics` and `/healthz` alone (no CORS, no hub routes), for an
    /// internal listener.
    pub fn ops_router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics_endpoint))
            .fallback(not_found)
            .with_state(Arc::clone(&self.state))
    }

    fn routes(&self, with_metrics: bool) -> Router {
        let state = Arc::clone(&self.state);
        let hub_path = normalized_path(state.hub.path());
        let metadata_path = resource_metadata_path(&state.hub);
        let mut router = Router::new()
            .route(&hub_path, any(hub_endpoint))
            .route(&metadata_path, get(metadata))
            .route("/healthz", get(healthz));
        if with_metrics {
            router = router.route("/metrics", get(metrics_endpoint));
        }
        if state.config.subscriptions {
            let base = format!("{}/subscriptions", hub_path.trim_end_matches('/'));
            router = router
                .route(&base, get(subscriptions_api::handle))
                .route(&format!("{base}/{{*rest}}"), get(subscriptions_api::handle));
        }
        router
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                Arc::clone(&state),
                cors::layer,
            ))
            .with_state(state)
    }

    /// The hub's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// The hub URL.
    pub fn hub_url(&self) -> &HubUrl {
        &self.state.hub
    }

    /// Stops the hub: new subscribe and publish requests get 503, every open
    /// stream is sent `retry:` ([`HubConfig::shutdown_retry`]) and ended
    /// after what was queued, the fan-out stops, and the store is closed
    /// (queued appends finish first). Idempotent.
    pub async fn shutdown(&self) {
        if !self.state.stop.send_replace(true) {
            let retry = sse_wire::Event::new()
                .retry(self.state.config.shutdown_retry)
                .to_bytes();
            for subscriber in self.state.registry.drain_all() {
                subscriber.push_control(retry.clone());
                subscribe_handler::finish(&self.state, subscriber);
            }
        }
        if let Err(e) = self.state.store.close().await {
            tracing::error!(error = %e, "closing the store failed");
        }
    }
}

/// `scheme://host[:port]` of the hub URL.
fn hub_origin(hub: &HubUrl) -> String {
    url::Url::parse(hub.as_str())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
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
    let method = request.method().clone();
    if method == Method::GET || method.as_str() == "QUERY" {
        subscribe_handler::handle(state, request).await
    } else if method == Method::POST {
        publish_handler::handle(state, request).await
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
    // A networked store (Redis) that cannot reach its server is degraded at
    // once, before any publish fails; open streams stay up meanwhile.
    let degraded = !state.fanout_alive.load(Ordering::Acquire)
        || state.store_failing.load(Ordering::Acquire)
        || !state.store.is_available();
    if degraded {
        plain(StatusCode::SERVICE_UNAVAILABLE, "degraded\n")
    } else {
        plain(StatusCode::OK, "ok\n")
    }
}

async fn metrics_endpoint(State(state): State<Arc<HubState>>) -> Response {
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
pub(crate) fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A 503 with a `Retry-After`, for overload and shutdown.
pub(crate) fn unavailable(message: &str, retry_after: Duration) -> Response {
    let mut r = plain(StatusCode::SERVICE_UNAVAILABLE, format!("{message}\n"));
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after.as_secs().max(1)),
    );
    r
}

/// A [`Rejection`] as a response: its status, its `WWW-Authenticate`
/// challenge when it has one (M25), and its message as the body.
pub(crate) fn rejection(r: &Rejection) -> Response {
    let mut response = plain(r.status(), format!("{}\n", r.message()));
    if let Some(challenge) = r.www_authenticate() {
        if let Ok(v) = HeaderValue::from_str(challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    response
}

/// Every header value of `name`, as bytes (for [`crate::auth::TokenSources`]).
pub(crate) fn header_values(
    headers: &axum::http::HeaderMap,
    name: header::HeaderName,
) -> Vec<&[u8]> {
    headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect()
}
