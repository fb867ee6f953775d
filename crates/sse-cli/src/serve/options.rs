//! The binary's own settings (where it listens, the store, TLS, logs,
//! where keys and JWK Sets come from), as a table of the same kind as the
//! hub's [`HUB_SETTINGS`]: adding one is an entry in [`SERVE_SETTINGS`] and
//! the [`Options`] field it sets; its flag, its `SSE_*` variable and its
//! `hub.toml` key come from that entry.
//!
//! Keys themselves are no setting: `SSE_PUBLISHER_JWT_KEY` and
//! `SSE_SUBSCRIBER_JWT_KEY` are read by [`super::keys`], and the file
//! settings here only say where a key file is.

// `|c, v| Ok(c.field = v.to_count()?)`: each entry sets its field and
// returns in one expression, which keeps the table one short entry per
// setting.
#![allow(clippy::unit_arg)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sse_hub::auth::{JwksRefresh, JwtAlgorithm};
use sse_hub::config::{deserialize_into, Setting, Target, Value, HUB_SETTINGS};
use sse_hub::HubConfig;

use crate::logging::LogFormat;

/// What the binary decides beside the hub's [`HubConfig`].
#[derive(Debug, Default)]
pub(super) struct Options {
    pub addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    pub store: Option<String>,
    pub jwt_alg: Option<JwtAlgorithm>,
    pub publisher_jwt_alg: Option<JwtAlgorithm>,
    pub subscriber_jwt_alg: Option<JwtAlgorithm>,
    pub jwt_jwks_url: Option<String>,
    pub publisher_jwks_url: Option<String>,
    pub subscriber_jwks_url: Option<String>,
    pub jwt_jwks_file: Option<PathBuf>,
    pub publisher_jwks_file: Option<PathBuf>,
    pub subscriber_jwks_file: Option<PathBuf>,
    pub jwt_jwks_cacert: Option<PathBuf>,
    pub jwks_refresh: JwksRefresh,
    pub publisher_jwt_key_file: Option<PathBuf>,
    pub subscriber_jwt_key_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
}

type S = Setting<Options>;

fn addr(v: Value) -> Result<SocketAddr, String> {
    v.parse_text("an address such as 127.0.0.1:3000 or [::1]:3000")
}

fn path(v: Value) -> Result<PathBuf, String> {
    v.into_text().map(PathBuf::from)
}

fn alg(v: Value) -> Result<JwtAlgorithm, String> {
    let name = v.into_text()?;
    JwtAlgorithm::from_name(name.trim()).ok_or_else(|| {
        "expected HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 \
         or EdDSA"
            .to_owned()
    })
}

/// The binary's settings, in `--help` order.
pub(super) static SERVE_SETTINGS: &[S] = &[
    S::new(
        "addr",
        "SSE_ADDR",
        "IP:PORT",
        "Address to listen on (default 127.0.0.1:3000).",
        |o, v| Ok(o.addr = Some(addr(v)?)),
    ),
    S::new(
        "metrics_addr",
        "SSE_METRICS_ADDR",
        "IP:PORT",
        "Serve `/metrics` (and `/healthz`) on this separate address, for the monitoring \
         network only; the main port then keeps `/healthz` but not `/metrics`.",
        |o, v| Ok(o.metrics_addr = Some(addr(v)?)),
    ),
    S::new(
        "store",
        "SSE_STORE",
        "URL",
        "Where history is kept: `sqlite://PATH` (default `sqlite://./sse-data/hub.sqlite3`), \
         `memory://`, or `redis://HOST:PORT[/DB][?prefix=NAME]` (shared by many nodes; \
         `rediss://` for TLS, `redis+sentinel://H:P,H:P/MASTER` for Sentinel; see \
         docs/deploy.md).",
        |o, v| Ok(o.store = Some(v.into_text()?)),
    ),
    S::new(
        "jwt_alg",
        "SSE_JWT_ALG",
        "ALG",
        "Algorithm of the configured keys: HS256 (keys are secrets) or RS256, ES256, EdDSA \
         (keys are PEM public keys). The default of --publisher-jwt-alg and \
         --subscriber-jwt-alg (default HS256).",
        |o, v| Ok(o.jwt_alg = Some(alg(v)?)),
    ),
    S::new(
        "publisher_jwt_alg",
        "SSE_PUBLISHER_JWT_ALG",
        "ALG",
        "Algorithm of the publisher key (Mercure's MERCURE_PUBLISHER_JWT_ALG; default: \
         --jwt-alg).",
        |o, v| Ok(o.publisher_jwt_alg = Some(alg(v)?)),
    ),
    S::new(
        "subscriber_jwt_alg",
        "SSE_SUBSCRIBER_JWT_ALG",
        "ALG",
        "Algorithm of the subscriber key (Mercure's MERCURE_SUBSCRIBER_JWT_ALG; default: \
         --jwt-alg).",
        |o, v| Ok(o.subscriber_jwt_alg = Some(alg(v)?)),
    ),
    S::new(
        "publisher_jwt_key_file",
        "SSE_PUBLISHER_JWT_KEY_FILE",
        "PATH",
        "Read the publisher key from this file (instead of SSE_PUBLISHER_JWT_KEY).",
        |o, v| Ok(o.publisher_jwt_key_file = Some(path(v)?)),
    ),
    S::new(
        "subscriber_jwt_key_file",
        "SSE_SUBSCRIBER_JWT_KEY_FILE",
        "PATH",
        "Read the subscriber key from this file (instead of SSE_SUBSCRIBER_JWT_KEY).",
        |o, v| Ok(o.subscriber_jwt_key_file = Some(path(v)?)),
    ),
    S::new(
        "jwt_jwks_url",
        "SSE_JWT_JWKS_URL",
        "URL",
        "An identity provider's JWK Set URL (its `jwks_uri`): its keys may sign publisher and \
         subscriber tokens, besides any configured key. Fetched at start (the hub does not \
         start without it), refreshed in the background and when a token names an unknown \
         `kid`.",
        |o, v| Ok(o.jwt_jwks_url = Some(v.into_text()?)),
    ),
    S::new(
        "publisher_jwks_url",
        "SSE_PUBLISHER_JWKS_URL",
        "URL",
        "A JWK Set URL for publisher tokens only (instead of --jwt-jwks-url; Mercure's \
         publisher_jwks_url).",
        |o, v| Ok(o.publisher_jwks_url = Some(v.into_text()?)),
    ),
    S::new(
        "subscriber_jwks_url",
        "SSE_SUBSCRIBER_JWKS_URL",
        "URL",
        "A JWK Set URL for subscriber tokens only (instead of --jwt-jwks-url; Mercure's \
         subscriber_jwks_url).",
        |o, v| Ok(o.subscriber_jwks_url = Some(v.into_text()?)),
    ),
    S::new(
        "jwt_jwks_file",
        "SSE_JWT_JWKS_FILE",
        "PATH",
        "A JWK Set file whose keys may sign publisher and subscriber tokens; read again on the \
         same schedule as a URL (rotate by replacing it).",
        |o, v| Ok(o.jwt_jwks_file = Some(path(v)?)),
    ),
    S::new(
        "publisher_jwks_file",
        "SSE_PUBLISHER_JWKS_FILE",
        "PATH",
        "A JWK Set file for publisher tokens only (instead of --jwt-jwks-file).",
        |o, v| Ok(o.publisher_jwks_file = Some(path(v)?)),
    ),
    S::new(
        "subscriber_jwks_file",
        "SSE_SUBSCRIBER_JWKS_FILE",
        "PATH",
        "A JWK Set file for subscriber tokens only (instead of --jwt-jwks-file).",
        |o, v| Ok(o.subscriber_jwks_file = Some(path(v)?)),
    ),
    S::new(
        "jwt_jwks_cacert",
        "SSE_JWT_JWKS_CACERT",
        "PEM",
        "Also trust the CA certificates of this PEM file for JWKS URLs (a provider with a \
         private CA).",
        |o, v| Ok(o.jwt_jwks_cacert = Some(path(v)?)),
    ),
    S::new(
        "jwt_jwks_timeout",
        "SSE_JWT_JWKS_TIMEOUT",
        "SECS",
        "Longest a JWK Set fetch may take (default 10).",
        |o, v| Ok(o.jwks_refresh.timeout = v.to_positive_seconds()?),
    ),
    S::new(
        "jwt_jwks_refresh",
        "SSE_JWT_JWKS_REFRESH",
        "SECS",
        "How often JWK Sets are fetched again, so keys the provider removed stop working \
         (default 600).",
        |o, v| Ok(o.jwks_refresh.interval = v.to_positive_seconds()?),
    ),
    S::new(
        "jwt_jwks_min_refresh",
        "SSE_JWT_JWKS_MIN_REFRESH",
        "SECS",
        "Least time between two fetches caused by tokens with an unknown `kid` (default 60): \
         made-up kids cannot make the hub flood the provider.",
        |o, v| Ok(o.jwks_refresh.min_interval = v.to_seconds()?),
    ),
    S::new(
        "tls_cert",
        "SSE_TLS_CERT",
        "PATH",
        "PEM certificate chain: serve HTTPS with HTTP/2 and HTTP/1.1 (ALPN); needs --tls-key.",
        |o, v| Ok(o.tls_cert = Some(path(v)?)),
    ),
    S::new(
        "tls_key",
        "SSE_TLS_KEY",
        "PATH",
        "PEM private key for --tls-cert.",
        |o, v| Ok(o.tls_key = Some(path(v)?)),
    ),
    S::new(
        "log_format",
        "SSE_LOG_FORMAT",
        "FORMAT",
        "Log lines on stderr: `text` (for people; colour only on a terminal) or `json` (one \
         object per line: time, level, target, message, fields). Levels come from SSE_LOG, \
         else RUST_LOG (default `info`; e.g. SSE_LOG=info,sse_hub=debug).",
        |o, v| {
            o.log_format = Some(match v.into_text()?.trim() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err("expected text or json".to_owned()),
            });
            Ok(())
        },
    ),
];

/// Reads the TOML file into `hub` and `options` (unknown keys and values
/// that do not fit are refused, with the file's line); returns the names
/// it set.
pub(super) fn load_file(
    path: &Path,
    hub: &mut HubConfig,
    options: &mut Options,
) -> anyhow::Result<Vec<&'static str>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let mut hub = Target::new(HUB_SETTINGS, hub);
    let mut own = Target::new(SERVE_SETTINGS, options);
    toml::de::Deserializer::parse(&text)
        .and_then(|file| deserialize_into(file, &mut [&mut hub, &mut own]))
        .with_context(|| format!("invalid config file {}", path.display()))?;
    Ok(hub.given().iter().chain(own.given()).copied().collect())
}
