//! `sse serve`: the Mercure hub. This file only turns flags, `SSE_*`
//! variables and an optional TOML file into a `HubConfig` and the binary's
//! own [`Options`](options::Options), opens the store, and runs the server;
//! the hub itself is `sse_hub`, and every setting is one entry of a table
//! (`sse_hub::config::HUB_SETTINGS`, [`options::SERVE_SETTINGS`]) that the
//! flags, the variables and the file all read through.
//!
//! Precedence: a flag, then its environment variable, then the file, then
//! the default. Secrets (JWT keys) come only from environment variables or
//! files, never from flags, which end up in shell history and `ps`.

mod banner;
mod dev_key;
mod flags;
mod jwks_plan;
mod keys;
mod options;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use sse_hub::hub::{Hub, HubConfig};
use sse_hub::store::{Dsn, Retention};

use self::dev_key::DevKey;
use self::jwks_plan::JwksPlan;
pub(crate) use self::keys::secret;
use crate::logging::LogFormat;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    #[command(flatten)]
    flags: flags::Flags,
    /// A TOML file with any of the settings above (snake_case names; see
    /// packaging/hub.toml).
    #[arg(long, env = "SSE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
}

const DEFAULT_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    3000,
));
const DEFAULT_STORE: &str = "sqlite://./sse-data/hub.sqlite3";
/// The binary keeps fewer updates than the library's default: a first run
/// on a laptop should not grow a large file.
const DEFAULT_HISTORY: usize = 10_000;
const HUB_PATH: &str = "/.well-known/mercure";

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
    store: Dsn,
    tls: Option<(PathBuf, PathBuf)>,
    hub: HubConfig,
    /// Set when no key was configured: the development secret.
    dev_secret: Option<DevKey>,
    log_format: LogFormat,
    /// JWK Sets to load once the runtime runs.
    jwks: JwksPlan,
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

fn resolve(args: Args) -> anyhow::Result<Settings> {
    let mut hub = HubConfig::default();
    hub.retention = Retention::new(DEFAULT_HISTORY);
    let mut own = options::Options::default();
    let mut given = match &args.config {
        Some(path) => options::load_file(path, &mut hub, &mut own)?,
        None => Vec::new(),
    };
    given.extend(args.flags.apply(&mut hub, &mut own)?);

    let addr = own.addr.unwrap_or(DEFAULT_ADDR);
    let store_url = own.store.as_deref().unwrap_or(DEFAULT_STORE);
    let store = Dsn::parse(store_url).context("--store")?;
    let tls = match (own.tls_cert.take(), own.tls_key.take()) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => bail!("--tls-cert and --tls-key go together"),
    };
    let derive_url = !given.contains(&"public_url");
    let derive_audience = !given.contains(&"audience");
    if derive_url {
        // Until the listener is bound (port 0 is resolved then).
        hub.hub_url = hub_url(if tls.is_some() { "https" } else { "http" }, addr);
        if derive_audience {
            hub.auth.audience.clone_from(&hub.hub_url);
        }
    }
    let jwks = JwksPlan::new(&own);
    let dev_secret = keys::configure(&mut hub, &own, &jwks, addr, &store)?;
    Ok(Settings {
        addr,
        metrics_addr: own.metrics_addr,
        derive_url,
        derive_audience,
        store,
        tls,
        hub,
        dev_secret,
        log_format: own.log_format.unwrap_or_default(),
        jwks,
    })
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
        store: dsn,
        tls,
        hub: mut config,
        dev_secret,
        log_format: _,
        jwks,
    } = settings;
    jwks.load(&mut config.auth).await?;
    let store = dsn.open(config.retention).await?;
    let store_label = dsn.to_string();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if derive_url {
        config.hub_url = hub_url(scheme, local);
        if derive_audience {
            config.auth.audience.clone_from(&config.hub_url);
        }
    }
    let public_url = config.hub_url.clone();
    let audience = config.auth.audience.clone();
    let history = config.retention.max_entries();
    let history_bytes = config.retention.max_bytes();
    let hub = Hub::new(config, Arc::clone(&store)).context("invalid hub configuration")?;

    // The debug page, with development tokens only when the key is ours.
    let dev_tokens = match &dev_secret {
        Some(key) => Some(key.tokens(&audience, now_secs())?),
        None => None,
    };
    let page = sse_hub::debug_page::render(
        HUB_PATH,
        dev_tokens.as_ref().map(|t| t.publish.as_str()),
        dev_tokens.as_ref().map(|t| t.subscribe.as_str()),
    );
    let ops = match metrics_addr {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("cannot listen on {at} (--metrics-addr)"))?,
        ),
        None => None,
    };
    // `/metrics` here only when it has no listener of its own.
    let mut routes = hub
        .routes()
        .with_healthz("/healthz")
        .with_debug_page("/", page);
    if ops.is_none() {
        routes = routes.with_metrics("/metrics");
    }
    let router = routes.into_standalone_router();

    let base = format!("{scheme}://{}", display_addr(local));
    banner::Banner {
        base: &base,
        public_url: &public_url,
        audience: &audience,
        store: &store_label,
        history,
        history_bytes,
        metrics: match &ops {
            Some(listener) => Some(display_addr(listener.local_addr()?)),
            None => None,
        },
        dev: dev_secret.as_ref().zip(dev_tokens.as_ref()),
    }
    .print();
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
