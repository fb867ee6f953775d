//! `sse serve`: the Mercure hub. This file only turns flags, `SSE_*`
//! variables and an optional TOML file into a `HubConfig`, opens the store,
//! and runs the server; the hub itself is `sse_hub`.
//!
//! Precedence: a flag, then its environment variable, then the file, then
//! the default. Secrets (JWT keys) come only from environment variables or
//! files, never from flags, which end up in shell history and `ps`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde::Deserialize;
use sse_hub::auth::{
    mint_hs256, JwksFile, JwksKeys, JwksRefresh, JwtAlgorithm, TokenSpec, VerificationKey,
};
use sse_hub::hub::{Hub, HubConfig};
use sse_hub::store::{RedisConfig, RedisStore, Retention, Store};
use sse_hub::subscribe::SubscriptionFormat;

use crate::logging::LogFormat;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "SSE_ADDR", value_name = "IP:PORT")]
    addr: Option<SocketAddr>,
    /// Serve `/metrics` (and `/healthz`) on this separate address, for
    /// the monitoring network only; the main port then keeps `/healthz`
    /// but not `/metrics`.
    #[arg(long, env = "SSE_METRICS_ADDR", value_name = "IP:PORT")]
    metrics_addr: Option<SocketAddr>,
    /// Where history is kept: `sqlite://PATH` (default
    /// `sqlite://./sse-data/hub.sqlite3`), `memory://`, or
    /// `redis://HOST:PORT[/DB][?prefix=NAME]` (shared by many nodes;
    /// `rediss://` for TLS, `redis+sentinel://H:P,H:P/MASTER` for Sentinel;
    /// see docs/deploy.md).
    #[arg(long, env = "SSE_STORE", value_name = "URL")]
    store: Option<String>,
    /// The hub's public URL, as clients reach it (default: derived from
    /// --addr). Also the default token audience.
    #[arg(long, env = "SSE_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// The audience (`aud`) tokens must carry (default: the public URL).
    #[arg(long, env = "SSE_AUDIENCE", value_name = "ID")]
    audience: Option<String>,
    /// Algorithm of the configured keys: HS256 (keys are secrets) or
    /// RS256, ES256, EdDSA (keys are PEM public keys). The default of
    /// --publisher-jwt-alg and --subscriber-jwt-alg (default HS256).
    #[arg(long, env = "SSE_JWT_ALG", value_name = "ALG")]
    jwt_alg: Option<String>,
    /// Algorithm of the publisher key (Mercure's MERCURE_PUBLISHER_JWT_ALG;
    /// default: --jwt-alg).
    #[arg(long, env = "SSE_PUBLISHER_JWT_ALG", value_name = "ALG")]
    publisher_jwt_alg: Option<String>,
    /// Algorithm of the subscriber key (Mercure's
    /// MERCURE_SUBSCRIBER_JWT_ALG; default: --jwt-alg).
    #[arg(long, env = "SSE_SUBSCRIBER_JWT_ALG", value_name = "ALG")]
    subscriber_jwt_alg: Option<String>,
    /// An identity provider's JWK Set URL (its `jwks_uri`): its keys may
    /// sign publisher and subscriber tokens, besides any configured key.
    /// Fetched at start (the hub does not start without it), refreshed in
    /// the background and when a token names an unknown `kid`.
    #[arg(long, env = "SSE_JWT_JWKS_URL", value_name = "URL")]
    jwt_jwks_url: Option<String>,
    /// A JWK Set URL for publisher tokens only (instead of --jwt-jwks-url;
    /// Mercure's publisher_jwks_url).
    #[arg(long, env = "SSE_PUBLISHER_JWKS_URL", value_name = "URL")]
    publisher_jwks_url: Option<String>,
    /// A JWK Set URL for subscriber tokens only (instead of
    /// --jwt-jwks-url; Mercure's subscriber_jwks_url).
    #[arg(long, env = "SSE_SUBSCRIBER_JWKS_URL", value_name = "URL")]
    subscriber_jwks_url: Option<String>,
    /// A JWK Set file whose keys may sign publisher and subscriber tokens;
    /// read again on the same schedule as a URL (rotate by replacing it).
    #[arg(long, env = "SSE_JWT_JWKS_FILE", value_name = "PATH")]
    jwt_jwks_file: Option<PathBuf>,
    /// A JWK Set file for publisher tokens only (instead of --jwt-jwks-file).
    #[arg(long, env = "SSE_PUBLISHER_JWKS_FILE", value_name = "PATH")]
    publisher_jwks_file: Option<PathBuf>,
    /// A JWK Set file for subscriber tokens only (instead of
    /// --jwt-jwks-file).
    #[arg(long, env = "SSE_SUBSCRIBER_JWKS_FILE", value_name = "PATH")]
    subscriber_jwks_file: Option<PathBuf>,
    /// Also trust the CA certificates of this PEM file for JWKS URLs (a
    /// provider with a private CA).
    #[arg(long, env = "SSE_JWT_JWKS_CACERT", value_name = "PEM")]
    jwt_jwks_cacert: Option<PathBuf>,
    /// Longest a JWK Set fetch may take (default 10).
    #[arg(long, env = "SSE_JWT_JWKS_TIMEOUT", value_name = "SECS", value_parser = seconds)]
    jwt_jwks_timeout: Option<f64>,
    /// How often JWK Sets are fetched again, so keys the provider removed
    /// stop working (default 600).
    #[arg(long, env = "SSE_JWT_JWKS_REFRESH", value_name = "SECS", value_parser = seconds)]
    jwt_jwks_refresh: Option<f64>,
    /// Least time between two fetches caused by tokens with an unknown
    /// `kid` (default 60): made-up kids cannot make the hub flood the
    /// provider.
    #[arg(long, env = "SSE_JWT_JWKS_MIN_REFRESH", value_name = "SECS", value_parser = seconds)]
    jwt_jwks_min_refresh: Option<f64>,
    /// Read the publisher key from this file (instead of
    /// SSE_PUBLISHER_JWT_KEY).
    #[arg(long, env = "SSE_PUBLISHER_JWT_KEY_FILE", value_name = "PATH")]
    publisher_jwt_key_file: Option<PathBuf>,
    /// Read the subscriber key from this file (instead of
    /// SSE_SUBSCRIBER_JWT_KEY).
    #[arg(long, env = "SSE_SUBSCRIBER_JWT_KEY_FILE", value_name = "PATH")]
    subscriber_jwt_key_file: Option<PathBuf>,
    /// When set, tokens must carry exactly this `iss`.
    #[arg(long, env = "SSE_JWT_ISSUER", value_name = "ISS")]
    jwt_issuer: Option<String>,
    /// Serve subscribers that present no token (public updates only).
    #[arg(long, env = "SSE_ALLOW_ANONYMOUS", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = crate::boolean::parse)]
    allow_anonymous: Option<bool>,
    /// A browser origin allowed to use the hub with credentials (repeat the
    /// flag; in SSE_CORS_ORIGINS, comma-separated). Never `*`.
    #[arg(
        long = "cors-origin",
        env = "SSE_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    cors_origins: Vec<String>,
    /// Updates kept in history (default 10000).
    #[arg(long, env = "SSE_HISTORY_SIZE", value_name = "N")]
    history_size: Option<usize>,
    /// Longest an update stays in history, in seconds (default: no limit
    /// beyond the size).
    #[arg(long, env = "SSE_HISTORY_AGE", value_name = "SECS")]
    history_age: Option<u64>,
    /// Idle seconds before a keep-alive comment is sent (0: none; default
    /// 15; fractions allowed, as for every SECS below).
    #[arg(long, env = "SSE_HEARTBEAT", value_name = "SECS", value_parser = seconds)]
    heartbeat: Option<f64>,
    /// Most subscriber connections (default 10000).
    #[arg(long, env = "SSE_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,
    /// Seconds a subscriber may take nothing we write (it stopped reading,
    /// or its network went silent) before it is disconnected (default 30).
    #[arg(long, env = "SSE_WRITE_TIMEOUT", value_name = "SECS", value_parser = seconds)]
    write_timeout: Option<f64>,
    /// Reconnection delay sent as `retry:` at the start of every stream
    /// (default: none, clients use their own).
    #[arg(long, env = "SSE_RETRY", value_name = "SECS", value_parser = seconds)]
    retry: Option<f64>,
    /// Reconnection delay sent to open streams at shutdown (default 1).
    #[arg(long, env = "SSE_SHUTDOWN_RETRY", value_name = "SECS", value_parser = seconds)]
    shutdown_retry: Option<f64>,
    /// Longest life of a subscriber stream, whatever its token says
    /// (default: until the token expires).
    #[arg(long, env = "SSE_MAX_CONNECTION_LIFETIME", value_name = "SECS", value_parser = seconds)]
    max_connection_lifetime: Option<f64>,
    /// Most open streams per token subject (`iss` + `sub`); one more is
    /// answered 429 (default: no cap).
    #[arg(long, env = "SSE_MAX_CONNECTIONS_PER_SUBJECT", value_name = "N")]
    max_connections_per_subject: Option<usize>,
    /// Updates one subscriber may have waiting before it is disconnected
    /// (it resumes with Last-Event-ID; default 256).
    #[arg(long, env = "SSE_QUEUE_FRAMES", value_name = "N")]
    queue_frames: Option<usize>,
    /// Bytes one subscriber may have waiting (default 1048576).
    #[arg(long, env = "SSE_QUEUE_BYTES", value_name = "BYTES")]
    queue_bytes: Option<usize>,
    /// Largest publish body; larger is a 413 (default 1048576).
    #[arg(long, env = "SSE_MAX_BODY", value_name = "BYTES")]
    max_body: Option<usize>,
    /// Most `topic` fields in one publish; more is a 413 (default 32).
    #[arg(long, env = "SSE_MAX_TOPICS", value_name = "N")]
    max_topics: Option<usize>,
    /// Longest topic in a publish; longer is a 413 (default 2048).
    #[arg(long, env = "SSE_MAX_TOPIC_LEN", value_name = "BYTES")]
    max_topic_len: Option<usize>,
    /// Longest update `id`; longer is a 413 (default 1024).
    #[arg(long, env = "SSE_MAX_ID_LEN", value_name = "BYTES")]
    max_id_len: Option<usize>,
    /// Longest update `type`; longer is a 413 (default 256).
    #[arg(long, env = "SSE_MAX_TYPE_LEN", value_name = "BYTES")]
    max_type_len: Option<usize>,
    /// Most matchers in one subscribe request; more is a 400 (default 100).
    #[arg(long, env = "SSE_MAX_MATCHERS", value_name = "N")]
    max_matchers: Option<usize>,
    /// Longest matcher in a subscribe request; longer is a 400 (default 2048).
    #[arg(long, env = "SSE_MAX_PATTERN_LEN", value_name = "BYTES")]
    max_pattern_len: Option<usize>,
    /// Shape of subscription events and API bodies for current clients:
    /// `json` (the newest text, default) or `jsonld` (the previous one).
    #[arg(long, env = "SSE_SUBSCRIPTION_FORMAT", value_name = "FORMAT")]
    subscription_format: Option<String>,
    /// Active subscriptions: subscription events and the subscriptions API.
    #[arg(long, env = "SSE_SUBSCRIPTIONS", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = crate::boolean::parse)]
    subscriptions: Option<bool>,
    /// Also accept the deployed 0.x generation: tokens with a `mercure`
    /// claim (no `typ: at+jwt`), and token query parameters on 0.x
    /// (`topic=`) subscriptions. Current requests and the metadata are
    /// unchanged.
    #[arg(long, env = "SSE_LEGACY", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = crate::boolean::parse)]
    legacy: Option<bool>,
    /// PEM certificate chain: serve HTTPS with HTTP/2 and HTTP/1.1 (ALPN).
    #[arg(long, env = "SSE_TLS_CERT", value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "SSE_TLS_KEY", value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Log lines on stderr: `text` (for people; colour only on a
    /// terminal) or `json` (one object per line: time, level, target,
    /// message, fields). Levels come from SSE_LOG, else RUST_LOG (default
    /// `info`; e.g. SSE_LOG=info,sse_hub=debug).
    #[arg(long, env = "SSE_LOG_FORMAT", value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// A TOML file with any of the settings above (snake_case names).
    #[arg(long, env = "SSE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
}

/// The TOML file's shape: the flags' names in snake_case.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    store: Option<String>,
    public_url: Option<String>,
    audience: Option<String>,
    jwt_alg: Option<String>,
    publisher_jwt_alg: Option<String>,
    subscriber_jwt_alg: Option<String>,
    jwt_jwks_url: Option<String>,
    publisher_jwks_url: Option<String>,
    subscriber_jwks_url: Option<String>,
    jwt_jwks_file: Option<PathBuf>,
    publisher_jwks_file: Option<PathBuf>,
    subscriber_jwks_file: Option<PathBuf>,
    jwt_jwks_cacert: Option<PathBuf>,
    jwt_jwks_timeout: Option<f64>,
    jwt_jwks_refresh: Option<f64>,
    jwt_jwks_min_refresh: Option<f64>,
    publisher_jwt_key_file: Option<PathBuf>,
    subscriber_jwt_key_file: Option<PathBuf>,
    jwt_issuer: Option<String>,
    #[serde(default, deserialize_with = "crate::boolean::deserialize_opt")]
    allow_anonymous: Option<bool>,
    #[serde(default)]
    cors_origins: Vec<String>,
    history_size: Option<usize>,
    history_age: Option<u64>,
    heartbeat: Option<f64>,
    max_connections: Option<usize>,
    write_timeout: Option<f64>,
    retry: Option<f64>,
    shutdown_retry: Option<f64>,
    max_connection_lifetime: Option<f64>,
    max_connections_per_subject: Option<usize>,
    queue_frames: Option<usize>,
    queue_bytes: Option<usize>,
    max_body: Option<usize>,
    max_topics: Option<usize>,
    max_topic_len: Option<usize>,
    max_id_len: Option<usize>,
    max_type_len: Option<usize>,
    max_matchers: Option<usize>,
    max_pattern_len: Option<usize>,
    subscription_format: Option<String>,
    #[serde(default, deserialize_with = "crate::boolean::deserialize_opt")]
    subscriptions: Option<bool>,
    #[serde(default, deserialize_with = "crate::boolean::deserialize_opt")]
    legacy: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    log_format: Option<LogFormat>,
}

const DEFAULT_ADDR: &str = "127.0.0.1:3000";
const DEFAULT_STORE: &str = "sqlite://./sse-data/hub.sqlite3";
const HUB_PATH: &str = "/.well-known/mercure";
/// Lifetime of the development tokens printed on a first run.
const DEV_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Everything `serve` decided, resolved from all sources.
struct Settings {
    addr: SocketAddr,
    /// The internal listener for `/metrics`, when asked for.
    metrics_addr: Option<SocketAddr>,
    /// The public URL was not given: derive it from the bound address
    /// (which differs from `addr` when its port is 0).
    derive_url: bool,
    /// The audience was not given: it follows the public URL.
    derive_audience: bool,
    store: StoreChoice,
    tls: Option<(PathBuf, PathBuf)>,
    hub: HubConfig,
    /// Set when no key was configured: the development secret.
    dev_secret: Option<DevKey>,
    log_format: LogFormat,
    /// JWK Sets to load once the runtime runs.
    jwks: JwksPlan,
}

/// Where a JWK Set comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum JwksSpec {
    Url(String),
    File(PathBuf),
}

/// The JWK Sets of each role and how they are refreshed.
#[derive(Debug, Default)]
struct JwksPlan {
    publisher: Vec<JwksSpec>,
    subscriber: Vec<JwksSpec>,
    refresh: JwksRefresh,
    cacert: Option<PathBuf>,
}

impl JwksPlan {
    fn is_empty(&self) -> bool {
        self.publisher.is_empty() && self.subscriber.is_empty()
    }

    /// Loads every distinct set once (a URL both roles use is fetched and
    /// refreshed once) and hands the keys to the roles.
    async fn load(&self, auth: &mut sse_hub::auth::AuthConfig) -> anyhow::Result<()> {
        let mut loaded: Vec<(JwksSpec, JwksKeys)> = Vec::new();
        for (specs, role) in [(&self.publisher, true), (&self.subscriber, false)] {
            for spec in specs {
                let keys = match loaded.iter().find(|(s, _)| s == spec) {
                    Some((_, keys)) => keys.clone(),
                    None => {
                        let keys = match spec {
                            JwksSpec::Url(url) => JwksKeys::load(
                                crate::jwks::HttpJwks::new(url, self.cacert.as_ref())?,
                                self.refresh,
                            )
                            .await
                            .context("cannot load the JWK Set")?,
                            JwksSpec::File(path) => {
                                JwksKeys::load(JwksFile::new(path), self.refresh)
                                    .await
                                    .context("cannot load the JWK Set")?
                            }
                        };
                        tracing::info!(source = ?spec, keys = keys.keys().len(), "JWK Set loaded");
                        loaded.push((spec.clone(), keys.clone()));
                        keys
                    }
                };
                if role {
                    auth.publisher_jwks.push(keys);
                } else {
                    auth.subscriber_jwks.push(keys);
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
enum StoreChoice {
    Sqlite(PathBuf),
    Memory,
    /// Shared by every node pointed at the same Redis and key prefix.
    Redis(Box<RedisConfig>),
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = resolve(args)?;
    crate::logging::init(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

/// Reads and checks the TOML file (unknown keys and wrong types refused).
fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

fn resolve(args: Args) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => load_file(path)?,
        None => FileConfig::default(),
    };
    let addr = match args.addr.or(file.addr) {
        Some(a) => a,
        None => DEFAULT_ADDR.parse().context("default address")?,
    };
    let store_url = args
        .store
        .or(file.store)
        .unwrap_or_else(|| DEFAULT_STORE.to_owned());
    let store = parse_store(&store_url)?;
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let given_url = args.public_url.or(file.public_url);
    let derive_url = given_url.is_none();
    let public_url = given_url.unwrap_or_else(|| hub_url(scheme, addr));

    let mut hub = HubConfig::new(public_url.clone());
    let given_audience = args.audience.or(file.audience);
    let derive_audience = given_audience.is_none();
    hub.auth.audience = given_audience.unwrap_or(public_url);
    hub.auth.issuer = args.jwt_issuer.or(file.jwt_issuer);
    let legacy = args.legacy.or(file.legacy).unwrap_or(false);
    hub.auth.legacy_tokens = legacy;
    hub.auth.query_token = legacy;
    hub.allow_anonymous = args
        .allow_anonymous
        .or(file.allow_anonymous)
        .unwrap_or(false);
    hub.cors_origins = if args.cors_origins.is_empty() {
        file.cors_origins
    } else {
        args.cors_origins
    };
    if hub.cors_origins.iter().any(|o| o.trim() == "*") {
        bail!("--cors-origin '*' is refused: credentialed CORS needs explicit origins");
    }
    let mut retention = Retention::new(args.history_size.or(file.history_size).unwrap_or(10_000));
    if let Some(age) = args.history_age.or(file.history_age) {
        retention = retention.with_max_age(Duration::from_secs(age));
    }
    hub.retention = retention;
    hub.heartbeat = match args.heartbeat.or(file.heartbeat) {
        Some(0.0) => None,
        Some(s) => Some(duration("heartbeat", s)?),
        None => hub.heartbeat,
    };
    if let Some(n) = args.max_connections.or(file.max_connections) {
        hub.limits.max_connections = n;
    }
    if let Some(s) = args.write_timeout.or(file.write_timeout) {
        hub.limits.write_timeout = positive_duration("write_timeout", s)?;
    }
    if let Some(s) = args.retry.or(file.retry) {
        hub.retry = Some(duration("retry", s)?);
    }
    if let Some(s) = args.shutdown_retry.or(file.shutdown_retry) {
        hub.shutdown_retry = duration("shutdown_retry", s)?;
    }
    if let Some(s) = args
        .max_connection_lifetime
        .or(file.max_connection_lifetime)
    {
        hub.limits.max_connection_lifetime = Some(positive_duration("max_connection_lifetime", s)?);
    }
    if let Some(n) = args
        .max_connections_per_subject
        .or(file.max_connections_per_subject)
    {
        hub.limits.max_connections_per_subject =
            Some(at_least_one("max_connections_per_subject", n)?);
    }
    let counts = [
        (
            "queue_frames",
            args.queue_frames.or(file.queue_frames),
            &mut hub.limits.queue_frames,
        ),
        (
            "queue_bytes",
            args.queue_bytes.or(file.queue_bytes),
            &mut hub.limits.queue_bytes,
        ),
        (
            "max_body",
            args.max_body.or(file.max_body),
            &mut hub.publish.max_body,
        ),
        (
            "max_topics",
            args.max_topics.or(file.max_topics),
            &mut hub.publish.max_topics,
        ),
        (
            "max_topic_len",
            args.max_topic_len.or(file.max_topic_len),
            &mut hub.publish.max_topic_len,
        ),
        (
            "max_id_len",
            args.max_id_len.or(file.max_id_len),
            &mut hub.publish.max_id_len,
        ),
        (
            "max_type_len",
            args.max_type_len.or(file.max_type_len),
            &mut hub.publish.max_type_len,
        ),
        (
            "max_matchers",
            args.max_matchers.or(file.max_matchers),
            &mut hub.subscribe.max_matchers,
        ),
        (
            "max_pattern_len",
            args.max_pattern_len.or(file.max_pattern_len),
            &mut hub.subscribe.max_pattern_len,
        ),
    ];
    for (name, given, slot) in counts {
        if let Some(n) = given {
            *slot = at_least_one(name, n)?;
        }
    }
    if let Some(f) = args.subscription_format.or(file.subscription_format) {
        hub.subscription_format = match f.as_str() {
            "json" => SubscriptionFormat::Json,
            "jsonld" => SubscriptionFormat::JsonLd,
            other => bail!("unknown subscription_format {other:?}: json or jsonld"),
        };
    }
    hub.subscriptions = args.subscriptions.or(file.subscriptions).unwrap_or(false);

    let default_alg = args.jwt_alg.or(file.jwt_alg);
    let alg_for = |flag: &str, given: Option<String>| -> anyhow::Result<JwtAlgorithm> {
        let name = given
            .or_else(|| default_alg.clone())
            .unwrap_or_else(|| "HS256".to_owned());
        JwtAlgorithm::from_name(&name).with_context(|| {
            format!("unknown {flag} {name:?} (HS256, HS384, HS512, RS256, PS256, ES256, ES384, EdDSA, …)")
        })
    };
    let publisher_alg = alg_for(
        "--publisher-jwt-alg",
        args.publisher_jwt_alg.or(file.publisher_jwt_alg),
    )?;
    let subscriber_alg = alg_for(
        "--subscriber-jwt-alg",
        args.subscriber_jwt_alg.or(file.subscriber_jwt_alg),
    )?;
    let publisher = secret(
        "SSE_PUBLISHER_JWT_KEY",
        args.publisher_jwt_key_file.or(file.publisher_jwt_key_file),
    )?;
    let subscriber = secret(
        "SSE_SUBSCRIBER_JWT_KEY",
        args.subscriber_jwt_key_file
            .or(file.subscriber_jwt_key_file),
    )?;

    // JWK Sets: a role's own URL/file replaces the shared one.
    let shared_url = args.jwt_jwks_url.or(file.jwt_jwks_url);
    let shared_file = args.jwt_jwks_file.or(file.jwt_jwks_file);
    let role_sets = |url: Option<String>, path: Option<PathBuf>| -> Vec<JwksSpec> {
        let url = url.or_else(|| shared_url.clone()).map(JwksSpec::Url);
        let path = path.or_else(|| shared_file.clone()).map(JwksSpec::File);
        url.into_iter().chain(path).collect()
    };
    let mut refresh = JwksRefresh::default();
    if let Some(s) = args.jwt_jwks_timeout.or(file.jwt_jwks_timeout) {
        refresh.timeout = positive_duration("jwt_jwks_timeout", s)?;
    }
    if let Some(s) = args.jwt_jwks_refresh.or(file.jwt_jwks_refresh) {
        refresh.interval = positive_duration("jwt_jwks_refresh", s)?;
    }
    if let Some(s) = args.jwt_jwks_min_refresh.or(file.jwt_jwks_min_refresh) {
        refresh.min_interval = duration("jwt_jwks_min_refresh", s)?;
    }
    let jwks = JwksPlan {
        publisher: role_sets(
            args.publisher_jwks_url.or(file.publisher_jwks_url),
            args.publisher_jwks_file.or(file.publisher_jwks_file),
        ),
        subscriber: role_sets(
            args.subscriber_jwks_url.or(file.subscriber_jwks_url),
            args.subscriber_jwks_file.or(file.subscriber_jwks_file),
        ),
        refresh,
        cacert: args.jwt_jwks_cacert.or(file.jwt_jwks_cacert),
    };

    let mut dev_secret = None;
    match (publisher, subscriber) {
        (None, None) if jwks.is_empty() => {
            if !addr.ip().is_loopback() {
                bail!(
                    "refusing to listen on {addr} without keys: set SSE_PUBLISHER_JWT_KEY and \
                     SSE_SUBSCRIBER_JWT_KEY (or the --…-key-file flags, or --jwt-jwks-url), or \
                     listen on 127.0.0.1"
                );
            }
            let secret = dev_key(&store)?;
            let key = VerificationKey::hmac(JwtAlgorithm::HS256, secret.secret.as_bytes())
                .context("development key")?;
            hub.auth.publisher_keys = vec![key.clone()];
            hub.auth.subscriber_keys = vec![key];
            dev_secret = Some(secret);
        }
        (publisher, subscriber) => {
            let make = |what: &str,
                        alg: JwtAlgorithm,
                        material: Option<Vec<u8>>|
             -> anyhow::Result<Vec<VerificationKey>> {
                let Some(m) = material else {
                    return Ok(Vec::new());
                };
                let key = if alg.as_str().starts_with("HS") {
                    VerificationKey::hmac(alg, &m)
                } else {
                    VerificationKey::public_pem(alg, &m)
                };
                Ok(vec![key.with_context(|| {
                    format!("invalid {what} key for {alg}")
                })?])
            };
            hub.auth.publisher_keys = make("publisher", publisher_alg, publisher)?;
            hub.auth.subscriber_keys = make("subscriber", subscriber_alg, subscriber)?;
            for (role, keys, sets) in [
                ("publisher", &hub.auth.publisher_keys, &jwks.publisher),
                ("subscriber", &hub.auth.subscriber_keys, &jwks.subscriber),
            ] {
                if keys.is_empty() && sets.is_empty() {
                    tracing::warn!(
                        "no {role} key is configured: every {role} token will be refused"
                    );
                }
            }
        }
    }
    Ok(Settings {
        addr,
        metrics_addr: args.metrics_addr.or(file.metrics_addr),
        derive_url,
        derive_audience,
        store,
        tls,
        hub,
        dev_secret,
        log_format: args.log_format.or(file.log_format).unwrap_or_default(),
        jwks,
    })
}

/// A duration flag's value: non-negative seconds, fractions allowed.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() && v <= MAX_SECONDS => Ok(v),
        _ => Err(format!("expected seconds from 0 to {MAX_SECONDS}")),
    }
}

/// The longest duration setting accepted: a year, far beyond any sensible
/// timeout, and safely inside `Duration`'s range.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// Turns seconds from a flag or the file into a `Duration`, refusing what
/// `seconds` would refuse (the file is not checked by clap).
fn duration(name: &str, secs: f64) -> anyhow::Result<Duration> {
    seconds(&secs.to_string()).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(Duration::from_secs_f64(secs))
}

fn positive_duration(name: &str, secs: f64) -> anyhow::Result<Duration> {
    let d = duration(name, secs)?;
    if d.is_zero() {
        bail!("{name} must be more than 0 seconds");
    }
    Ok(d)
}

fn at_least_one(name: &str, n: usize) -> anyhow::Result<usize> {
    if n == 0 {
        bail!("{name} must be at least 1");
    }
    Ok(n)
}

fn hub_url(scheme: &str, addr: SocketAddr) -> String {
    format!("{scheme}://{}{HUB_PATH}", display_addr(addr))
}

/// `[::1]:3000` or `127.0.0.1:3000`; an unspecified address is shown as
/// loopback, which is where a browser on this machine reaches it.
fn display_addr(addr: SocketAddr) -> String {
    let mut shown = addr;
    if addr.ip().is_unspecified() {
        shown.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    shown.to_string()
}

fn parse_store(url: &str) -> anyhow::Result<StoreChoice> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            bail!("--store sqlite:// needs a file path, e.g. sqlite://./sse-data/hub.sqlite3");
        }
        return Ok(StoreChoice::Sqlite(PathBuf::from(path)));
    }
    if url == "memory://" || url == "memory:" {
        return Ok(StoreChoice::Memory);
    }
    const REDIS_SCHEMES: [&str; 4] = [
        "redis://",
        "rediss://",
        "redis+sentinel://",
        "rediss+sentinel://",
    ];
    if let Some(scheme) = REDIS_SCHEMES.iter().find(|s| url.starts_with(**s)) {
        // Validated now, so a typo fails at start-up, not at first use.
        // The URL is not echoed: it may carry a password.
        let config = RedisConfig::from_url(url).map_err(|e| {
            anyhow::anyhow!(
                "--store {scheme}…: {e}; use redis://HOST:PORT[/DB][?prefix=NAME] (see \
                 docs/deploy.md for rediss://, redis+sentinel:// and their parameters){}",
                std::error::Error::source(&e).map_or(String::new(), |s| format!(" ({s})"))
            )
        })?;
        return Ok(StoreChoice::Redis(Box::new(config)));
    }
    bail!(
        "unknown --store {url:?}: use sqlite://PATH, redis://HOST:PORT[/DB] (or rediss://, \
         redis+sentinel://) or memory://"
    )
}

/// A key from `var`, or from `file`; `None` when neither is set.
pub(crate) fn secret(var: &str, file: Option<PathBuf>) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(path) = file {
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read the key file {}", path.display()))?;
        // A trailing newline from `echo secret > file` is not part of the key.
        let trimmed = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        return Ok(Some(trimmed.to_vec()));
    }
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Ok(Some(v.into_encoded_bytes())),
        _ => Ok(None),
    }
}

/// The key a hub with no configured keys signs its development tokens with.
struct DevKey {
    secret: String,
    /// Where it is kept (`None` for the memory store: a new one per run).
    path: Option<PathBuf>,
    /// It was read from `path`, not generated by this run.
    reused: bool,
}

/// The development secret: kept beside the SQLite file, so the tokens a
/// first run prints still work after a restart; random per run for the
/// memory store.
fn dev_key(store: &StoreChoice) -> anyhow::Result<DevKey> {
    let fresh = || -> anyhow::Result<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    };
    let StoreChoice::Sqlite(db) = store else {
        return Ok(DevKey {
            secret: fresh()?,
            path: None,
            reused: false,
        });
    };
    let path = db.parent().unwrap_or(Path::new(".")).join("dev-key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= 32 {
            return Ok(DevKey {
                secret: existing,
                path: Some(path),
                reused: true,
            });
        }
    }
    let key = fresh()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_private(&path, key.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(DevKey {
        secret: key,
        path: Some(path),
        reused: false,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let Settings {
        addr,
        metrics_addr,
        derive_url,
        derive_audience,
        store,
        tls,
        hub: mut config,
        dev_secret,
        log_format: _,
        jwks,
    } = settings;
    jwks.load(&mut config.auth).await?;
    let (store, store_label): (Arc<dyn Store>, String) = match &store {
        StoreChoice::Sqlite(path) => (
            config
                .sqlite_store(path)
                .with_context(|| format!("cannot open the store {}", path.display()))?,
            format!("sqlite {}", path.display()),
        ),
        StoreChoice::Memory => (
            config.memory_store(),
            "memory (history is lost on exit)".to_owned(),
        ),
        StoreChoice::Redis(redis) => {
            let wait = match redis.replicas {
                0 => String::new(),
                n => format!(", publishes acknowledged once {n} replica(s) have them"),
            };
            let label = format!(
                "redis {} (keys {}:*{wait})",
                redis.redacted_url(),
                redis.prefix
            );
            let redis = RedisConfig {
                retention: config.retention,
                ..(**redis).clone()
            };
            let store = RedisStore::open(redis)
                .await
                .with_context(|| format!("cannot open the store {label}"))?;
            (Arc::new(store), label)
        }
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    if derive_url {
        config.hub_url = hub_url(if tls.is_some() { "https" } else { "http" }, local);
        if derive_audience {
            config.auth.audience = config.hub_url.clone();
        }
    }
    let public_url = config.hub_url.clone();
    let audience = config.auth.audience.clone();
    let history = config.retention.max_entries();
    let hub = Hub::new(config, Arc::clone(&store)).context("invalid hub configuration")?;

    // The debug page, with development tokens only when the key is ours.
    let dev_tokens = match &dev_secret {
        Some(DevKey { secret, .. }) => {
            let now = now_secs();
            let publish = mint_hs256(
                secret.as_bytes(),
                &TokenSpec::publisher(&audience, ["*"]).with_ttl(DEV_TOKEN_TTL),
                now,
            )?;
            let subscribe = mint_hs256(
                secret.as_bytes(),
                &TokenSpec::subscriber(&audience, ["*"]).with_ttl(DEV_TOKEN_TTL),
                now,
            )?;
            Some((publish, subscribe))
        }
        None => None,
    };
    let page = Arc::new(sse_hub::debug_page::render(
        HUB_PATH,
        dev_tokens.as_ref().map(|t| t.0.as_str()),
        dev_tokens.as_ref().map(|t| t.1.as_str()),
    ));
    let ops = match metrics_addr {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} (--metrics-addr)"))?;
            Some(listener)
        }
        None => None,
    };
    let routes = if ops.is_some() {
        hub.public_router()
    } else {
        hub.router()
    };
    let router = routes.route(
        "/",
        axum::routing::get(move || {
            let page = Arc::clone(&page);
            async move { axum::response::Html(page.as_str().to_owned()) }
        }),
    );

    let scheme = if tls.is_some() { "https" } else { "http" };
    let base = format!("{scheme}://{}", display_addr(local));
    println!("sse hub listening on {base}");
    println!("  debug page: {base}/");
    println!("  hub:        {public_url}");
    println!("  store:      {store_label}, last {history} updates kept");
    if let Some(listener) = &ops {
        let at = display_addr(listener.local_addr()?);
        println!("  metrics:    http://{at}/metrics (and /healthz)");
    }
    if let (Some((publish, subscribe)), Some(key)) = (&dev_tokens, &dev_secret) {
        println!();
        println!("{}", dev_key_note(key));
        println!("  publisher token: {publish}");
        println!("  subscriber token: {subscribe}");
        let topic = "https://example.com/demo";
        let stream = format!("{base}{HUB_PATH}?topic={topic}");
        println!("  subscribe (in another terminal; either line):");
        println!("    curl -N -H 'Authorization: Bearer {subscribe}' '{stream}'");
        println!("    sse listen -H 'Authorization: Bearer {subscribe}' '{stream}'");
        println!("  publish:");
        println!(
            "    curl -d 'topic={topic}' -d 'data={{\"hello\":\"world\"}}' \\\n      -H 'Authorization: Bearer {publish}' {base}{HUB_PATH}"
        );
        let key_file = key
            .path
            .as_ref()
            .map_or("KEY".to_owned(), |p| p.display().to_string());
        println!("  more tokens: sse token --publish TOPIC --subscribe TOPIC --audience {audience} --key-file {key_file}");
    }
    use std::io::Write;
    std::io::stdout().flush().ok();
    // The banner is for a person; this line is for the log collector.
    tracing::info!(addr = %local, hub = %public_url, store = %store_label, "listening");

    // On SIGINT/SIGTERM: the hub ends open streams with a `retry:` (so
    // clients come back), then the server stops accepting and drains.
    let stopping = {
        let hub = hub.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: telling clients to come back");
            hub.shutdown().await;
        }
    };
    if let Some(listener) = ops {
        // Ends with the runtime: scrapes need no draining.
        let router = hub.ops_router();
        tokio::spawn(async move {
            if let Err(e) = sse_server::serve(listener, router).await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    let server = match tls {
        None => sse_server::serve(listener, router),
        Some((cert, key)) => {
            sse_server::serve_tls(listener, router, sse_server::load_pem_config(&cert, &key)?)
        }
    };
    server
        .with_graceful_shutdown(stopping)
        .await
        .context("server error")?;
    store.close().await.context("closing the store")?;
    tracing::info!("stopped");
    Ok(())
}

/// The banner's first line about the development key: whether this run
/// made it or found it, and where it is.
fn dev_key_note(key: &DevKey) -> String {
    match (&key.path, key.reused) {
        (Some(path), true) => format!(
            "No keys were configured, so the development key in {} was reused (tokens below work on this machine only).",
            path.display()
        ),
        (Some(path), false) => format!(
            "No keys were configured, so a development key was generated and kept in {} (tokens below work on this machine only).",
            path.display()
        ),
        (None, _) => "No keys were configured, so a development key was generated for this run (tokens below work on this machine only).".to_owned(),
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        assert!(matches!(
            parse_store("memory://").unwrap(),
            StoreChoice::Memory
        ));
        assert!(
            matches!(parse_store("sqlite://./x.db").unwrap(), StoreChoice::Sqlite(p) if p == Path::new("./x.db"))
        );
        assert!(parse_store("sqlite://")
            .unwrap_err()
            .to_string()
            .contains("needs a file path"));
        assert!(matches!(
            parse_store("redis://127.0.0.1:6380/2?prefix=hub").unwrap(),
            StoreChoice::Redis(c) if c.url == "redis://127.0.0.1:6380/2" && c.prefix == "hub"
        ));
        assert!(parse_store("redis://127.0.0.1?db=2")
            .unwrap_err()
            .to_string()
            .contains("prefix=NAME"));
        assert!(matches!(
            parse_store("redis+sentinel://s1:26379,s2:26379/primary?prefix=hub").unwrap(),
            StoreChoice::Redis(c) if c.replicas == 1 && c.prefix == "hub"
        ));
        assert!(matches!(
            parse_store("rediss://r:6380/0?ca=/etc/ca.pem").unwrap(),
            StoreChoice::Redis(c) if c.tls.ca_file.is_some()
        ));
        assert!(parse_store("postgres://x")
            .unwrap_err()
            .to_string()
            .contains("unknown --store"));
    }

    #[test]
    fn file_settings_apply_when_no_flag_is_given() {
        let dir = std::env::temp_dir().join(format!("sse-serve-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hub.toml");
        std::fs::write(
            &file,
            "store = \"memory://\"\nhistory_size = 42\nheartbeat = 0\nwrite_timeout = 5\nretry = 0.25\nmax_matchers = 3\ncors_origins = [\"https://app.example\"]\nallow_anonymous = true\n",
        )
        .unwrap();
        let args = Args {
            config: Some(file.clone()),
            history_size: Some(7),
            ..Args::default()
        };
        let s = resolve(args).unwrap();
        assert_eq!(
            s.hub.retention.max_entries(),
            7,
            "the flag wins over the file"
        );
        assert_eq!(s.hub.heartbeat, None);
        assert_eq!(s.hub.limits.write_timeout, Duration::from_secs(5));
        assert_eq!(s.hub.retry, Some(Duration::from_millis(250)));
        assert_eq!(s.hub.subscribe.max_matchers, 3);
        assert!(s.hub.allow_anonymous);
        assert_eq!(s.hub.cors_origins, ["https://app.example"]);
        std::fs::write(&file, "stroe = \"memory://\"\n").unwrap();
        let err = resolve(Args {
            config: Some(file),
            ..Args::default()
        })
        .err()
        .unwrap();
        assert!(
            format!("{err:#}").contains("unknown field `stroe`"),
            "{err:#}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// packaging/hub.toml loads as shipped, and with every `#key` line
    /// uncommented it sets every key the loader knows (a new setting
    /// without a line in the sample fails here) to a value it accepts.
    #[test]
    fn the_sample_hub_toml_has_every_key_and_loads() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/hub.toml");
        let text = std::fs::read_to_string(&sample).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let memory = || Some("memory://".to_owned());
        let shipped = dir.path().join("shipped.toml");
        std::fs::write(&shipped, &text).unwrap();
        resolve(Args {
            config: Some(shipped),
            store: memory(),
            ..Args::default()
        })
        .unwrap();

        let mut all = String::new();
        for line in text.lines() {
            let setting = line
                .strip_prefix('#')
                .filter(|rest| rest.starts_with(|c: char| c.is_ascii_lowercase()));
            all.push_str(setting.unwrap_or(line));
            all.push('\n');
        }
        for role in ["publisher", "subscriber"] {
            let key = dir.path().join(format!("{role}.key"));
            std::fs::write(&key, format!("{role} secret of at least 32 bytes...\n")).unwrap();
            all = all.replace(&format!("/etc/sse/{role}.key"), key.to_str().unwrap());
        }
        let every = dir.path().join("every.toml");
        std::fs::write(&every, &all).unwrap();
        let file = load_file(&every).unwrap();
        let shown = format!("{file:?}");
        assert!(
            !shown.contains("None"),
            "a key is missing from packaging/hub.toml: {shown}"
        );
        assert!(!file.cors_origins.is_empty());
        let settings = resolve(Args {
            config: Some(every),
            store: memory(),
            ..Args::default()
        })
        .unwrap();
        assert_eq!(settings.hub.auth.publisher_keys.len(), 1);
        assert_eq!(settings.log_format, LogFormat::Json);
        assert!(settings.metrics_addr.is_some());
    }

    #[test]
    fn jwks_settings_from_the_file_go_to_each_role() {
        let dir = std::env::temp_dir().join(format!("sse-serve-jwks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hub.toml");
        std::fs::write(
            &file,
            "store = \"memory://\"\njwt_jwks_url = \"https://idp.example/jwks\"\n\
             subscriber_jwks_file = \"/etc/sse/sub.jwks.json\"\njwt_jwks_min_refresh = 5\n\
             jwt_jwks_refresh = 120\njwt_jwks_timeout = 2.5\njwt_jwks_cacert = \"/etc/sse/ca.pem\"\n",
        )
        .unwrap();
        let s = resolve(Args {
            config: Some(file),
            ..Args::default()
        })
        .unwrap();
        let url = JwksSpec::Url("https://idp.example/jwks".into());
        let sub_file = JwksSpec::File("/etc/sse/sub.jwks.json".into());
        assert_eq!(s.jwks.publisher, std::slice::from_ref(&url));
        assert_eq!(s.jwks.subscriber, [url, sub_file]);
        assert_eq!(s.jwks.refresh.min_interval, Duration::from_secs(5));
        assert_eq!(s.jwks.refresh.interval, Duration::from_secs(120));
        assert_eq!(s.jwks.refresh.timeout, Duration::from_millis(2500));
        assert_eq!(s.jwks.cacert.as_deref(), Some(Path::new("/etc/sse/ca.pem")));
        assert!(
            s.dev_secret.is_none(),
            "a key set is a key: no development key"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn star_origin_is_refused() {
        let args = Args {
            store: Some("memory://".into()),
            cors_origins: vec!["*".into()],
            ..Args::default()
        };
        assert!(resolve(args)
            .err()
            .unwrap()
            .to_string()
            .contains("explicit origins"));
    }
}
