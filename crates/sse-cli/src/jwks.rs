//! `sse serve --jwt-jwks-url`: the JWK Set of an identity provider, fetched
//! over HTTPS (or plain HTTP, for a provider on a private network). The
//! refresh policy (cache, background refresh, unknown `kid`, timeout) is
//! `sse_hub::auth::JwksKeys`; this file is only the fetch.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use sse_hub::auth::{FetchFuture, JwksSource, MAX_JWKS_LEN};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// A JWK Set at an `https://` (or `http://`) URL.
pub struct HttpJwks {
    uri: http::Uri,
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl fmt::Debug for HttpJwks {
    // The URL names the source in logs; its query could carry a
    // credential, so only scheme, authority and path are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let authority = self.uri.authority().map_or("", |a| a.as_str());
        write!(f, "{scheme}://{authority}{}", self.uri.path())
    }
}

impl HttpJwks {
    /// The set at `url`, trusting the bundled web roots and the PEM
    /// certificates in `cacert` (a private CA).
    pub fn new(url: &str, cacert: Option<&PathBuf>) -> anyhow::Result<HttpJwks> {
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("invalid JWKS URL {url:?}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => bail!("the JWKS URL must be https:// (or http://), got {url:?}"),
        };
        let host = uri.host().context("the JWKS URL has no host")?;
        // `[::1]` in a URL is `::1` for connect and for the TLS name.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !https {
            tracing::warn!(
                url = %url,
                "the JWKS URL is plain http: whoever sits on the network path can swap the keys"
            );
        }
        let tls = if https {
            Some(tls_connector(cacert.map(PathBuf::as_path))?)
        } else {
            None
        };
        Ok(HttpJwks {
            uri,
            host,
            port,
            tls,
        })
    }

    async fn get(&self) -> anyhow::Result<Vec<u8>> {
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let authority = self
            .uri
            .authority()
            .map_or(self.host.as_str(), |a| a.as_str());
        let request = http::Request::get(path)
            .header(http::header::HOST, authority)
            .header(
                http::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .header(
                http::header::USER_AGENT,
                concat!("sse/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::new()))
            .context("building the request")?;
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot connect to {}:{}", self.host, self.port))?;
        let (status, body) = match &self.tls {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .context("the JWKS URL's host is not a valid TLS name")?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .context("TLS handshake failed")?;
                send(TokioIo::new(stream), request, MAX_JWKS_LEN).await?
            }
            None => send(TokioIo::new(tcp), request, MAX_JWKS_LEN).await?,
        };
        if !status.is_success() {
            bail!("the server answered {status}");
        }
        Ok(body.to_vec())
    }
}

/// Sends `request` on `io` (HTTP/1.1) and reads the answer, refusing a
/// body longer than `max_body` bytes.
async fn send<S>(
    io: TokioIo<S>,
    request: http::Request<Full<Bytes>>,
    max_body: usize,
) -> anyhow::Result<(http::StatusCode, Bytes)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .context("HTTP handshake failed")?;
    tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .context("the request failed")?;
    let status = response.status();
    let body = http_body_util::Limited::new(response.into_body(), max_body)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the answer: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// A TLS connector trusting the bundled web roots and, when given, the
/// certificates of the PEM file `cacert` (a private CA).
fn tls_connector(cacert: Option<&std::path::Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = cacert {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.with_context(|| format!("invalid certificate in {}", path.display()))?)
                .with_context(|| format!("unusable certificate in {}", path.display()))?;
            found += 1;
        }
        if found == 0 {
            bail!("no PEM certificate in {}", path.display());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

impl JwksSource for HttpJwks {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move { self.get().await.map_err(|e| format!("{e:#}").into()) })
    }
}
