//! [`HubConfig`]: everything the HTTP layer of the hub is configured with.
//!
//! A plain struct with public fields and dev-friendly defaults, so that a
//! CLI (flags, `SSE_*` variables, a TOML file) fills it field by field:
//!
//! ```
//! use std::time::Duration;
//! use sse_hub::auth::{JwtAlgorithm, VerificationKey};
//! use sse_hub::hub::HubConfig;
//!
//! let mut config = HubConfig::new("https://example.com/.well-known/mercure");
//! config.auth.publisher_keys =
//!     vec![VerificationKey::hmac(JwtAlgorithm::HS256, b"publisher secret").unwrap()];
//! config.allow_anonymous = false;
//! config.cors_origins = vec!["https://app.example.com".to_owned()];
//! config.heartbeat = Some(Duration::from_secs(30));
//! config.limits.max_connections = 50_000;
//! assert_eq!(config.auth.audience, "https://example.com/.well-known/mercure");
//! ```
//!
//! It also reads from a TOML file and the environment, through one table
//! of settings ([`HUB_SETTINGS`](crate::config::HUB_SETTINGS)): it
//! implements `serde::Deserialize` (the flat shape of the `sse` binary's
//! `hub.toml`) and [`HubConfig::from_env`] reads the `SSE_*` variables.
//! Key material is no setting (keys come from files or environment
//! variables the program reads, never from a config file's text): add
//! them to [`auth`](HubConfig::auth) yourself.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::AuthConfig;
use crate::publish::PublishConfig;
use crate::store::{MemoryConfig, MemoryStore, Retention, SqliteConfig, SqliteStore, StoreError};
use crate::subscribe::{SubscribeConfig, SubscriptionFormat};

/// The hub URL used by [`HubConfig::default`]: loopback, the well-known path.
pub const DEFAULT_HUB_URL: &str = "http://127.0.0.1:3000/.well-known/mercure";

/// Configuration of a [`Hub`](super::Hub).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HubConfig {
    /// The hub's public absolute URL (M43): the base for relative topics and
    /// URL patterns (M8), the root of the reserved namespace (M15), the
    /// target of discovery `Link` headers. Its path is where the hub routes
    /// are served (normally `/.well-known/mercure`).
    pub hub_url: String,
    /// Keys, audience (the resource identifier tokens' `aud` must contain,
    /// M24), issuer and the token compatibility switches (legacy `mercure`
    /// claims, query tokens, cookie names).
    pub auth: AuthConfig,
    /// Whether subscribers without a token are served (public updates only,
    /// M26). Default `false`: anonymous access is allowed only when
    /// configured.
    pub allow_anonymous: bool,
    /// Origins allowed to call the hub from a browser with credentials
    /// (M12): exact serialized origins such as `https://app.example.com`.
    /// Never `*`; a request `Origin` outside this list gets no CORS
    /// headers. Also the allowlist for cookie-authenticated publishing
    /// (M29), together with the hub URL's own origin (pages the hub serves
    /// itself, such as a debug page). Default: empty.
    pub cors_origins: Vec<String>,
    /// Idle time after which a keep-alive comment is written on a stream
    /// (M12-H); `None` turns heartbeats off. Default 15 s.
    pub heartbeat: Option<Duration>,
    /// A `retry:` (ms) sent at the start of every stream (M38); `None`
    /// sends none. Default `None`.
    pub retry: Option<Duration>,
    /// The `retry:` sent to open streams when the hub shuts down, so clients
    /// come back after that delay. Default 1 s.
    pub shutdown_retry: Duration,
    /// Subscribe limits (matchers, pattern and cursor length) and the legacy
    /// `topic=` switch (L1, L7).
    pub subscribe: SubscribeConfig,
    /// Publish limits (body, topic count, field lengths) and the S/L
    /// switches (single topic, reserved namespace as 403).
    pub publish: PublishConfig,
    /// Connection and memory limits.
    pub limits: Limits,
    /// Active subscriptions (M39–M42): subscription events on connect and
    /// disconnect, and the subscriptions API. Default `false`: every
    /// connect and disconnect then costs a durable append and takes room
    /// in the retained history, which a hub without subscription-aware
    /// clients should not pay (the reference hub also makes it opt-in).
    pub subscriptions: bool,
    /// Which generation of subscription events and API bodies to produce
    /// for current-protocol clients: [`SubscriptionFormat::Json`] (H, the
    /// default) or [`SubscriptionFormat::JsonLd`] (S). Legacy (`topic=`)
    /// subscribers always get the 0.x shape (L6).
    pub subscription_format: SubscriptionFormat,
    /// Also send the S/L `Last-Event-ID` response header next to H's
    /// `Mercure-Last-Event-ID` when a client sent a cursor (M37, L2).
    /// Default `true`: a dual hub serves both generations.
    pub legacy_last_event_id_header: bool,
    /// History retention for stores built with
    /// [`memory_store`](Self::memory_store) and
    /// [`sqlite_config`](Self::sqlite_config).
    /// The hub itself never evicts; the store does.
    pub retention: Retention,
}

/// Connection and memory limits. Every queue between a publisher and a
/// socket is bounded by one of these.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Most open subscriber streams; one more is answered 503 with a
    /// `Retry-After`. Default 10,000.
    pub max_connections: usize,
    /// Most open streams per token subject (the `iss` and `sub` claims),
    /// H's per-client cap; one more is answered 429. Tokens without `sub`
    /// and anonymous subscribers are not counted (the hub does not see
    /// client addresses). Default `None`: no per-subject cap.
    pub max_connections_per_subject: Option<usize>,
    /// Bound of one subscriber's queue in frames (one update is one
    /// frame). A subscriber whose queue is full is disconnected and
    /// resumes with `Last-Event-ID`. Also the bound of the live updates
    /// buffered while its history is replayed. Default 256.
    pub queue_frames: usize,
    /// Bound of one subscriber's queue in bytes (frames are shared between
    /// subscribers, so this is mostly shared memory). Default 1 MiB.
    pub queue_bytes: usize,
    /// History entries read from the store per replay page. Default 256.
    pub replay_page: usize,
    /// How long a subscriber's stream may wait on a client that takes
    /// nothing (it stopped reading, or its network went silent) before the
    /// subscriber is disconnected and its memory freed; the client resumes
    /// with `Last-Event-ID` if it comes back. Also how long a replay waits
    /// for room in the queue. Live delivery never waits: a full queue there
    /// disconnects at once. Default 30 s.
    pub write_timeout: Duration,
    /// How often the registry is swept for subscribers whose client left or
    /// whose token expired (their stream is then closed and their slot
    /// freed). Fan-out stops delivering to an expired subscriber at once,
    /// whatever this is. Default 1 s.
    pub sweep_interval: Duration,
    /// Longest life of a subscriber stream, whatever its token says (M32:
    /// SHOULD). `None`: only the token's `exp` ends it. Default `None`.
    pub max_connection_lifetime: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 10_000,
            max_connections_per_subject: None,
            queue_frames: 256,
            queue_bytes: 1 << 20,
            replay_page: 256,
            write_timeout: Duration::from_secs(30),
            sweep_interval: Duration::from_secs(1),
            max_connection_lifetime: None,
        }
    }
}

impl Default for HubConfig {
    /// [`HubConfig::new`] with [`DEFAULT_HUB_URL`].
    fn default() -> Self {
        HubConfig::new(DEFAULT_HUB_URL)
    }
}

impl HubConfig {
    /// Defaults for a hub served at `hub_url`, whose URL is also the token
    /// audience (the resource identifier). No keys: every token is invalid
    /// until keys are added; anonymous subscribers are refused.
    pub fn new(hub_url: impl Into<String>) -> Self {
        let hub_url = hub_url.into();
        HubConfig {
            auth: AuthConfig::new(hub_url.clone()),
            hub_url,
            allow_anonymous: false,
            cors_origins: Vec::new(),
            heartbeat: Some(sse_server::DEFAULT_KEEP_ALIVE),
            retry: None,
            shutdown_retry: Duration::from_secs(1),
            subscribe: SubscribeConfig::default(),
            publish: PublishConfig::default(),
            limits: Limits::default(),
            subscriptions: false,
            subscription_format: SubscriptionFormat::Json,
            legacy_last_event_id_header: true,
            retention: Retention::default(),
        }
    }

    /// An in-memory store with this configuration's [`retention`](Self::retention).
    pub fn memory_store(&self) -> Arc<MemoryStore> {
        Arc::new(MemoryStore::new(MemoryConfig {
            retention: self.retention,
            ..MemoryConfig::default()
        }))
    }

    /// SQLite settings for a database at `path` with this configuration's
    /// [`retention`](Self::retention); open it with [`SqliteStore::open`].
    pub fn sqlite_config(&self, path: impl Into<std::path::PathBuf>) -> SqliteConfig {
        SqliteConfig {
            retention: self.retention,
            ..SqliteConfig::new(path)
        }
    }

    /// Opens the SQLite store at `path` (see [`sqlite_config`](Self::sqlite_config)).
    ///
    /// # Errors
    ///
    /// Those of [`SqliteStore::open`].
    pub fn sqlite_store(
        &self,
        path: impl Into<std::path::PathBuf>,
    ) -> Result<Arc<SqliteStore>, StoreError> {
        SqliteStore::open(self.sqlite_config(path)).map(Arc::new)
    }
}
