//! `sse publish`: one update to a Mercure hub; prints the id the hub gave it.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sse_hub::auth::{mint_hs256, TokenSpec};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The hub URL, e.g. http://127.0.0.1:3000/.well-known/mercure.
    #[arg(long, env = "SSE_HUB", value_name = "URL")]
    hub: String,
    /// The topic (repeat for alternates; the first is canonical).
    #[arg(long = "topic", required = true, value_name = "IRI")]
    topics: Vec<String>,
    /// The data; `@FILE` reads a file, `-` reads standard input.
    #[arg(long, default_value = "", value_name = "DATA")]
    data: String,
    /// Make the update private.
    #[arg(long)]
    private: bool,
    /// The update's id (default: the hub generates one).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// The SSE event type.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// The SSE retry value in milliseconds.
    #[arg(long, value_name = "MS")]
    retry: Option<u64>,
    /// A publisher token (JWT).
    #[arg(
        long,
        env = "SSE_TOKEN",
        value_name = "JWT",
        conflicts_with = "key",
        hide_env_values = true
    )]
    token: Option<String>,
    /// An HS256 secret to sign a short-lived token for these topics with.
    #[arg(
        long,
        env = "SSE_PUBLISHER_JWT_KEY",
        value_name = "SECRET",
        hide_env_values = true
    )]
    key: Option<String>,
    /// The audience for a token made with --key (default: the hub URL).
    #[arg(long, value_name = "ID")]
    audience: Option<String>,
    /// Trust this PEM certificate (for a hub with a self-signed one).
    #[arg(long, value_name = "PEM")]
    cacert: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    timeout: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let id = runtime.block_on(publish(args))?;
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

async fn publish(args: Args) -> anyhow::Result<String> {
    let uri: http::Uri = args
        .hub
        .parse()
        .with_context(|| format!("invalid --hub URL {:?}", args.hub))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => bail!("--hub must be an http:// or https:// URL"),
    };
    let host = uri.host().context("--hub has no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });

    let data = match args.data.as_str() {
        "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the data from standard input")?;
            s
        }
        d if d.starts_with('@') => {
            std::fs::read_to_string(&d[1..]).with_context(|| format!("cannot read {}", &d[1..]))?
        }
        d => d.to_owned(),
    };
    let token = match (args.token, args.key) {
        (Some(t), _) => Some(t),
        (None, Some(key)) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let audience = args.audience.unwrap_or_else(|| args.hub.clone());
            let spec = TokenSpec::publisher(audience, args.topics.clone())
                .with_ttl(Duration::from_secs(300));
            Some(mint_hs256(key.as_bytes(), &spec, now)?)
        }
        (None, None) => None,
    };

    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for t in &args.topics {
        form.append_pair("topic", t);
    }
    form.append_pair("data", &data);
    if args.private {
        form.append_pair("private", "on");
    }
    if let Some(id) = &args.id {
        form.append_pair("id", id);
    }
    if let Some(t) = &args.event_type {
        form.append_pair("type", t);
    }
    if let Some(r) = args.retry {
        form.append_pair("retry", &r.to_string());
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http::Request::post(path)
        .header(
            http::header::HOST,
            uri.authority().map_or(host.as_str(), |a| a.as_str()),
        )
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    if let Some(token) = &token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(form.finish())))
        .context("building the request")?;

    let exchange = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .with_context(|| format!("cannot connect to {host}:{port}"))?;
        if https {
            let tls = tls_connector(args.cacert.as_deref())?
                .connect(rustls::pki_types::ServerName::try_from(host.clone())?, tcp)
                .await
                .context("TLS handshake failed")?;
            send(TokioIo::new(tls), request).await
        } else {
            send(TokioIo::new(tcp), request).await
        }
    };
    let (status, body) = tokio::time::timeout(Duration::from_secs(args.timeout), exchange)
        .await
        .with_context(|| format!("no answer from the hub within {} s", args.timeout))??;
    let body = String::from_utf8_lossy(&body).trim().to_owned();
    if !status.is_success() {
        bail!("the hub answered {status}: {body}");
    }
    Ok(body)
}

async fn send<S>(
    io: TokioIo<S>,
    request: http::Request<Full<Bytes>>,
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
    // A publish answer is the id: a few bytes. Refuse to buffer a flood.
    let body = http_body_util::Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read the answer: {e}"))?
        .to_bytes();
    Ok((status, body))
}

fn tls_connector(cacert: Option<&std::path::Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = cacert {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.with_context(|| format!("invalid certificate in {}", path.display()))?)
                .with_context(|| format!("unusable certificate in {}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
