//! The hub in process: its router served by `sse_server::serve` on
//! `127.0.0.1:0`.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;

use sse_hub::hub::{Hub, HubConfig};
use sse_hub::store::Store;
use tokio::task::JoinHandle;

use super::{baseline, MercureHarness, HUB_PATH};

/// A hub served in this process on a loopback port. Its [`Hub`] is at
/// hand, for cases that read its metrics or shut it down themselves.
pub struct InProcessHub {
    /// The socket address it serves on.
    pub addr: SocketAddr,
    /// The hub.
    pub hub: Hub,
    /// The hub URL, also the token audience.
    pub url: String,
    server: JoinHandle<std::io::Result<()>>,
}

impl InProcessHub {
    /// Binds a port, lets `configure` adjust the configuration (from
    /// [`baseline`] for this port's URL), and serves the hub on `store`.
    ///
    /// # Panics
    ///
    /// When no port can be bound or the configuration is refused.
    pub async fn start(store: Arc<dyn Store>, configure: impl FnOnce(&mut HubConfig)) -> Self {
        Self::start_with(configure, |_| store).await
    }

    async fn start_with(
        configure: impl FnOnce(&mut HubConfig),
        store: impl FnOnce(&HubConfig) -> Arc<dyn Store>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("the bound address");
        let url = format!("http://{addr}{HUB_PATH}");
        let mut config = baseline(&url);
        configure(&mut config);
        let store = store(&config);
        let hub = Hub::new(config, store).expect("a valid hub configuration");
        let server = tokio::spawn(sse_server::serve(listener, hub.router()).into_future());
        InProcessHub {
            addr,
            hub,
            url,
            server,
        }
    }
}

impl MercureHarness for InProcessHub {
    /// A hub on a fresh memory store with the configured retention (as
    /// `sse serve --store memory://` builds it).
    async fn memory(configure: impl FnOnce(&mut HubConfig)) -> Self {
        Self::start_with(configure, |c| c.memory_store() as Arc<dyn Store>).await
    }

    /// Shuts the hub down (store closed) and stops the server.
    async fn stop(self) {
        self.hub.shutdown().await;
        self.server.abort();
        let _ = self.server.await;
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn url(&self) -> &str {
        &self.url
    }
}
