//! [`serve_tls`]: HTTPS with HTTP/2 and HTTP/1.1 chosen by ALPN.
//!
//! Over TLS every connection goes through hyper (the light path of
//! [`serve`](crate::serve) writes plain TCP sockets). HTTP/2 is what makes
//! TLS worth it for event streams: a browser holds many `EventSource`s to
//! one origin over a single connection instead of hitting HTTP/1.1's six
//! connections per origin.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::Serve;

/// A certificate or key that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsConfigError(String);

/// A server configuration from PEM files: the certificate chain and its
/// private key (PKCS#8, PKCS#1 or SEC1), offering HTTP/2 then HTTP/1.1 by
/// ALPN.
///
/// # Errors
/// When a file cannot be read, holds no certificate or key, or the key
/// does not fit the certificate.
pub fn load_pem_config(
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| TlsConfigError(format!("cannot read {}: {e}", p.display())))
    };
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError(format!("invalid certificate in {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(TlsConfigError(format!(
            "no certificate in {}",
            cert.display()
        )));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsConfigError(format!("no private key in {}", key.display()))
        }
        e => TlsConfigError(format!("invalid private key in {}: {e}", key.display())),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| TlsConfigError(format!("the key does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` over TLS on `listener`, HTTP/2 or HTTP/1.1 as ALPN
/// decides; otherwise like [`serve`](crate::serve) (the same [`Serve`] to
/// await, with the same graceful shutdown): every request carries a
/// [`Shutdown`](crate::Shutdown) and the peer's `ConnectInfo<SocketAddr>`,
/// and open event streams end with a final `retry:`.
pub fn serve_tls(
    listener: TcpListener,
    router: Router,
    config: Arc<rustls::ServerConfig>,
) -> Serve<std::future::Pending<()>> {
    Serve {
        listener,
        router,
        signal: std::future::pending(),
        tls: Some(TlsAcceptor::from(config)),
    }
}
