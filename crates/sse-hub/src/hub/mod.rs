//! [`Hub`]: the protocol core. A hub built from a [`HubConfig`] and a
//! [`Store`] runs the fan-out, and its methods hold the whole protocol, so
//! that an HTTP layer (ours in `http/`, or an application's own) only
//! translates requests and answers:
//!
//! | method | what |
//! |---|---|
//! | [`Hub::subscribe`] → [`Subscription::into_response`] | subscribe: an event stream (M1–M11, M32, M35–M37) |
//! | [`Hub::publish`] | publish a form from a publisher with a token (M13–M23, M29) |
//! | [`Hub::publish_update`] | publish from the application's own code: no token, the same store and order |
//! | [`Hub::active_subscriptions`] | the subscriptions API (M42), when [`HubConfig::subscriptions`] |
//! | [`Hub::is_healthy`], [`Hub::metrics`] | health and counters |
//! | [`Hub::shutdown`] | the end: streams told to come back, the store closed |
//!
//! Every failure is a [`Rejection`](crate::Rejection) carrying its HTTP
//! status.
//!
//! The routes ([`Hub::routes`], a [`HubRoutes`]; the hub path is the path
//! of [`HubConfig::hub_url`], normally `/.well-known/mercure`):
//!
//! | route | what |
//! |---|---|
//! | `GET` (and H's `QUERY`) hub path | subscribe |
//! | `POST` hub path | publish |
//! | `GET` hub path `/subscriptions[/{type}/{match}[/{subscriber}]]` | active subscriptions, when [`HubConfig::subscriptions`] |
//! | `GET /.well-known/oauth-protected-resource` + hub path | RFC 9728 metadata (M44) |
//! | [`HubRoutes::with_healthz`] | `ok`, or 503 `degraded` when the store's live feed ended, appends fail, or the store cannot reach its server ([`Store::is_available`]) |
//! | [`HubRoutes::with_metrics`] | Prometheus text ([`Metrics`]: ours, Mercure's names, `process_*`) |
//! | [`HubRoutes::with_debug_page`] | the debug page |
//!
//! [`Hub::router`] is all of it for a hub served alone (`/healthz`,
//! `/metrics`, a 404 fallback); [`Hub::ops_router`] serves `/metrics` and
//! `/healthz` alone, for a listener on an internal address.
//!
//! Every response of the hub's routes carries the discovery `Link` (M43);
//! CORS answers only the configured origins (M12).
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

mod caller;
mod config;
mod lifecycle;
pub(crate) mod metrics;
mod publishing;
mod subscribing;
mod subscriptions;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use axum::Router;

pub use caller::Caller;
pub use config::{HubConfig, Limits, DEFAULT_HUB_URL};
pub use metrics::Metrics;
pub use subscribing::Subscription;
pub use subscriptions::ActiveSubscriptions;

use crate::auth::Authorizer;
use crate::fanout::{Fanout, Registry, SubjectCounts};
use crate::http::cors;
pub use crate::http::HubRoutes;
use crate::store::Store;
use crate::subscribe::discovery_link;
use crate::topic::HubUrl;

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
    pub(crate) last_id: Arc<Mutex<crate::fanout::LastDispatched>>,
    pub(crate) next_key: AtomicU64,
    pub(crate) subjects: Arc<SubjectCounts>,
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
        let last_id = Arc::new(Mutex::new(crate::fanout::LastDispatched::default()));
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
            cache: crate::fanout::MatchCache::default(),
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
        tokio::spawn(lifecycle::reaper(Arc::downgrade(&state), sweep));
        Ok(Hub { state })
    }

    /// The hub's protocol routes, to mount in an application's own
    /// router: see [`HubRoutes`] for what they are and how to add
    /// `/healthz`, `/metrics` and the debug page. They have no fallback,
    /// so [`Router::merge`] into an app with its own fallback and its own
    /// `/healthz` works.
    pub fn routes(&self) -> HubRoutes {
        HubRoutes::new(self.clone())
    }

    /// Everything a stand-alone hub serves (see the module docs): the
    /// protocol routes, `/healthz`, `/metrics`, and a plain-text 404 for
    /// anything else; ready for [`sse_server::serve`] or `axum::serve`.
    /// Can be called more than once; every router shares this hub.
    pub fn router(&self) -> Router {
        self.routes()
            .with_healthz("/healthz")
            .with_metrics("/metrics")
            .into_standalone_router()
    }

    /// [`router`](Self::router) without `/metrics`: for a hub whose metrics
    /// are served to the monitoring network only, by
    /// [`ops_router`](Self::ops_router) on another listener. `/healthz`
    /// stays, for load balancers probing the public port.
    pub fn public_router(&self) -> Router {
        self.routes()
            .with_healthz("/healthz")
            .into_standalone_router()
    }

    /// `/metrics` and `/healthz` alone (no CORS, no hub routes), for an
    /// internal listener.
    pub fn ops_router(&self) -> Router {
        crate::http::ops_router(self)
    }

    /// Whether the hub is healthy: its fan-out runs, appends succeed, and
    /// the store can reach its server ([`Store::is_available`]). What
    /// `/healthz` answers (`ok`, or 503 `degraded`); open streams stay up
    /// while it is not.
    pub fn is_healthy(&self) -> bool {
        let state = &self.state;
        state.fanout_alive.load(Ordering::Acquire)
            && !state.store_failing.load(Ordering::Acquire)
            && state.store.is_available()
    }

    pub(crate) fn from_state(state: Arc<HubState>) -> Hub {
        Hub { state }
    }

    pub(crate) fn state(&self) -> &Arc<HubState> {
        &self.state
    }

    /// The configuration the hub was built with.
    pub fn config(&self) -> &HubConfig {
        &self.state.config
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
                lifecycle::finish(&self.state, subscriber);
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
