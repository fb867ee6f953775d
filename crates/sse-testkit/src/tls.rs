//! Test certificates and a rustls client that trusts them.
//!
//! [`SelfSigned`] is one certificate for `localhost` and `127.0.0.1`,
//! written to a temporary directory as `cert.pem` and `key.pem` (what
//! `sse serve --tls-cert/--tls-key` and `sse_server::load_pem_config`
//! read). [`PrivateCa`] is a certificate authority and a server
//! certificate it issued, as an internal service would have (what
//! `--cacert` trusts). Both build server and client configurations with
//! the ring provider, the workspace's TLS stack.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// The names every test certificate is for.
pub const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The ring crypto provider.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration trusting only `roots`, offering `alpn`.
///
/// # Panics
///
/// When a root is not a valid certificate.
pub fn client_config(
    roots: &[CertificateDer<'static>],
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("a valid root certificate");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider's protocol versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Connects to `addr` over TCP and completes a TLS handshake for
/// `server_name` with `config`.
///
/// # Panics
///
/// When the connection or the handshake fails.
pub async fn connect(
    config: Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    server_name: &str,
) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let name = ServerName::try_from(server_name.to_owned()).expect("a valid server name");
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake with {addr}: {e}"))
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Arc<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider's protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a certificate and its key");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A self-signed certificate for [`NAMES`], and its PEM files.
pub struct SelfSigned {
    dir: tempfile::TempDir,
    /// The certificate (also its own root).
    pub cert_der: CertificateDer<'static>,
    /// The certificate, PEM.
    pub cert_pem: String,
    key_der: Vec<u8>,
}

impl SelfSigned {
    /// Generates the certificate and writes `cert.pem` and `key.pem`.
    ///
    /// # Panics
    ///
    /// When generating or writing fails.
    pub fn new() -> SelfSigned {
        let names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
        let generated = rcgen::generate_simple_self_signed(names).expect("a test certificate");
        let dir = tempfile::Builder::new()
            .prefix("sse-test-tls-")
            .tempdir()
            .expect("a temp dir");
        let cert_pem = generated.cert.pem();
        std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("write cert.pem");
        std::fs::write(
            dir.path().join("key.pem"),
            generated.key_pair.serialize_pem(),
        )
        .expect("write key.pem");
        SelfSigned {
            dir,
            cert_der: generated.cert.der().clone(),
            cert_pem,
            key_der: generated.key_pair.serialize_der(),
        }
    }

    /// The directory holding `cert.pem` and `key.pem`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `cert.pem`.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// `key.pem` (PKCS#8).
    pub fn key_path(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }

    /// A server configuration with this certificate, offering `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(self.key_der.clone().into());
        server_config(vec![self.cert_der.clone()], key, alpn)
    }

    /// A client configuration trusting this certificate only.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        client_config(std::slice::from_ref(&self.cert_der), alpn)
    }

    /// A TLS connection to `addr` for `localhost`, trusting this
    /// certificate and offering `alpn`.
    ///
    /// # Panics
    ///
    /// When the connection or the handshake fails.
    pub async fn connect(&self, addr: SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        connect(self.client_config(alpn), addr, "localhost").await
    }
}

impl Default for SelfSigned {
    fn default() -> Self {
        Self::new()
    }
}

/// A private certificate authority and a server certificate it issued for
/// [`NAMES`].
pub struct PrivateCa {
    /// The CA certificate, PEM (what `--cacert` takes).
    pub ca_pem: String,
    /// The CA certificate.
    pub ca_der: CertificateDer<'static>,
    /// The server certificate, PEM.
    pub cert_pem: String,
    /// The server certificate's key, PKCS#8 PEM.
    pub key_pem: String,
    /// The server certificate.
    pub cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl PrivateCa {
    /// Generates the authority and the server certificate.
    ///
    /// # Panics
    ///
    /// When generating fails.
    pub fn new() -> PrivateCa {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "sse test CA");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let names: Vec<String> = NAMES.iter().map(|n| (*n).to_owned()).collect();
        let leaf = rcgen::CertificateParams::new(names).expect("leaf params");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf_cert = leaf
            .signed_by(&leaf_key, &ca_cert, &ca_key)
            .expect("leaf certificate");
        PrivateCa {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().clone(),
            cert_pem: leaf_cert.pem(),
            key_pem: leaf_key.serialize_pem(),
            cert_der: leaf_cert.der().clone(),
            key_der: leaf_key.serialize_der(),
        }
    }

    /// A server configuration with the issued certificate, offering
    /// `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(self.key_der.clone().into());
        server_config(vec![self.cert_der.clone()], key, alpn)
    }

    /// A client configuration trusting this authority only.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        client_config(std::slice::from_ref(&self.ca_der), alpn)
    }
}

impl Default for PrivateCa {
    fn default() -> Self {
        Self::new()
    }
}
