//! One connection attempt: TCP, TLS, the HTTP handshake, the request, the
//! redirects, and the WHATWG checks on the response.
//!
//! Why hyper's low-level `client::conn` and not a pooled client: an event
//! source holds one long-lived request, so a pool, its idle-connection
//! bookkeeping and its background task buy nothing. Driving the connection
//! future ourselves, inside the event source's own `poll_next`, means no
//! extra task and no channel between the socket and the consumer: the bytes
//! go from hyper's read buffer to the decoder in the consumer's task.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use sse_wire::Text;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::builder::Config;
use crate::cookie::CookieJar;
use crate::error::{Error, Kind};
use crate::hook::{self, Attempt};
use crate::proxy::{self, Server};
use crate::response::Response as Head;

/// The connection future hyper needs polled for the body to make progress.
pub(crate) type ConnFuture = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// A response that opened the stream, with what keeps it going.
pub(crate) struct Opened {
    pub(crate) body: Incoming,
    /// `None` once the connection future has finished.
    pub(crate) conn: Option<ConnFuture>,
    /// Kept so an HTTP/2 connection is not shut down under the stream.
    pub(crate) _sender: Sender,
}

pub(crate) enum Sender {
    H1(#[allow(dead_code)] http1::SendRequest<Full<Bytes>>),
    H2(#[allow(dead_code)] http2::SendRequest<Full<Bytes>>),
}

/// A TCP or TLS stream, so one hyper connection type serves both.
pub(crate) enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// hyper's HTTP/1 read buffer grows up to this; it also bounds the
/// response head.
pub(crate) const H1_MAX_BUF: usize = 64 * 1024;
/// HTTP/2 flow-control windows: how much the server may send before we
/// read it. This is the HTTP/2 analogue of the read buffer bound.
pub(crate) const H2_WINDOW: u32 = 256 * 1024;
/// Largest HTTP/2 response header list we accept.
pub(crate) const H2_MAX_HEADER_LIST: u32 = 64 * 1024;

pub(crate) fn host_and_port(url: &Uri) -> Result<(&str, u16), Error> {
    let host = url
        .host()
        .ok_or_else(|| Error::new(Kind::Builder(format!("no host in {url}"))))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let https = url.scheme_str() == Some("https");
    Ok((host, url.port_u16().unwrap_or(if https { 443 } else { 80 })))
}

/// Host header value: the authority without any userinfo.
pub(crate) fn host_header(url: &Uri) -> Option<HeaderValue> {
    let authority = url.authority()?.as_str();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    HeaderValue::from_str(authority).ok()
}

/// A connected transport: TCP or TLS to the server (possibly through a
/// proxy's `CONNECT` tunnel), and whether HTTP/2 is to be spoken on it.
pub(crate) struct Dialed<'p> {
    pub(crate) io: Io,
    /// TLS negotiated `h2`, or `h2c` with prior knowledge was asked for.
    pub(crate) h2: bool,
    /// The proxy an `http://` request is to be written for (absolute
    /// form, its credentials); `None` for a direct connection or a tunnel.
    pub(crate) plain_via: Option<&'p Server>,
}

/// Opens the transport for a request to `url`: TCP to the server or to the
/// proxy `proxy` names for it, the `CONNECT` tunnel for `https://` through
/// a proxy, and TLS with `tls` (whose ALPN decides HTTP/2). Shared by the
/// event source and the [`Publisher`](crate::Publisher)'s pool.
pub(crate) async fn dial<'p>(
    tls: &Arc<rustls::ClientConfig>,
    proxy: &'p proxy::Proxy,
    url: &Uri,
    h2c: bool,
) -> Result<Dialed<'p>, Error> {
    let (host, port) = host_and_port(url)?;
    let https = url.scheme_str() == Some("https");
    let via = proxy.for_url(url);
    let mut tcp = match via {
        Some(p) => TcpStream::connect((p.host.as_str(), p.port))
            .await
            .map_err(|e| Error::with(Kind::ProxyConnect(p.to_string()), e))?,
        None => TcpStream::connect((host, port))
            .await
            .map_err(|e| Error::with(Kind::Connect(format!("{host}:{port}")), e))?,
    };
    // The request is one small write; do not let Nagle hold it back.
    let _ = tcp.set_nodelay(true);
    if let (Some(p), true) = (via, https) {
        // url.host() keeps an IPv6 address's brackets, as CONNECT wants.
        let authority = format!("{}:{port}", url.host().unwrap_or(host));
        proxy::tunnel(&mut tcp, p, &authority).await?;
    }
    let (io, h2) = if https {
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| Error::with(Kind::Tls(host.to_owned()), e))?;
        let connector = tokio_rustls::TlsConnector::from(tls.clone());
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| Error::with(Kind::Tls(host.to_owned()), e))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        (Io::Tls(Box::new(tls)), h2)
    } else {
        // A proxy forwards HTTP/1.1 requests; h2c cannot pass through it.
        (Io::Plain(tcp), h2c && via.is_none())
    };
    Ok(Dialed {
        io,
        h2,
        plain_via: via.filter(|_| !https),
    })
}

/// Connects to the server, or to the proxy for `url`; returns the proxy
/// when requests must be written for it (absolute form, its credentials).
async fn handshake<'c>(
    config: &'c Config,
    url: &Uri,
) -> Result<(Sender, ConnFuture, Option<&'c Server>), Error> {
    let Dialed { io, h2, plain_via } = dial(
        &config.tls,
        &config.proxy,
        url,
        config.http2_prior_knowledge,
    )
    .await?;
    let io = TokioIo::new(io);
    if h2 {
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .initial_stream_window_size(H2_WINDOW)
            .initial_connection_window_size(H2_WINDOW)
            .max_header_list_size(H2_MAX_HEADER_LIST)
            .handshake(io)
            .await
            .map_err(|e| Error::with(Kind::Http, e))?;
        Ok((Sender::H2(sender), Box::pin(conn), plain_via))
    } else {
        let (sender, conn) = http1::Builder::new()
            .max_buf_size(H1_MAX_BUF)
            .handshake(io)
            .await
            .map_err(|e| Error::with(Kind::Http, e))?;
        Ok((Sender::H1(sender), Box::pin(conn), plain_via))
    }
}

/// Sends one request on a new connection and waits for the response head,
/// driving the connection meanwhile.
async fn send(
    config: &Config,
    url: &Uri,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Response<Incoming>, ConnFuture, Sender), Error> {
    let (mut sender, mut conn, via) = handshake(config, url).await?;
    let h2 = matches!(sender, Sender::H2(_));
    let mut req = Request::new(Full::new(body.clone()));
    *req.method_mut() = method.clone();
    *req.headers_mut() = headers.clone();
    if h2 {
        // HTTP/2 takes :scheme and :authority from an absolute URI.
        *req.uri_mut() = url.clone();
        req.headers_mut().remove(header::HOST);
    } else {
        let path = url
            .path_and_query()
            .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
        *req.uri_mut() = match (via, host_header(url)) {
            // A proxy is sent the absolute form (RFC 9112 section 3.2.2),
            // without any user information of the URL.
            (Some(_), Some(authority)) => {
                let absolute = format!(
                    "{}://{}{}",
                    url.scheme_str().unwrap_or("http"),
                    authority.to_str().unwrap_or_default(),
                    path
                );
                absolute.parse().map_err(|e| Error::with(Kind::Http, e))?
            }
            _ => path,
        };
        if let Some(auth) = via.and_then(|p| p.authorization.as_ref()) {
            req.headers_mut()
                .insert(header::PROXY_AUTHORIZATION, auth.clone());
        }
        if let Some(host) = host_header(url) {
            req.headers_mut().entry(header::HOST).or_insert(host);
        }
    }
    let mut response = match &mut sender {
        Sender::H1(s) => ResponseFuture::H1(Box::pin(s.send_request(req))),
        Sender::H2(s) => ResponseFuture::H2(Box::pin(s.send_request(req))),
    };
    let mut conn_done = false;
    let response = std::future::poll_fn(|cx| {
        if !conn_done {
            // An error here also fails the response future, which reports it.
            conn_done = conn.as_mut().poll(cx).is_ready();
        }
        response.poll(cx)
    })
    .await
    .map_err(|e| Error::with(Kind::Http, e))?;
    Ok((response, conn, sender))
}

type BoxResponse = Pin<Box<dyn Future<Output = hyper::Result<Response<Incoming>>> + Send>>;

enum ResponseFuture {
    H1(BoxResponse),
    H2(BoxResponse),
}

impl ResponseFuture {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<hyper::Result<Response<Incoming>>> {
        match self {
            ResponseFuture::H1(f) | ResponseFuture::H2(f) => f.as_mut().poll(cx),
        }
    }
}

/// Whether a `Content-Type` value is `text/event-stream`, parameters
/// allowed, case-insensitive (the MIME type's essence is compared).
pub(crate) fn is_event_stream(value: &[u8]) -> bool {
    let essence = value.split(|&b| b == b';').next().unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(sse_wire::CONTENT_TYPE.as_bytes())
}

/// Resolves a `Location` value against the URL it came from (RFC 3986,
/// for the forms servers send: absolute, scheme-relative, absolute-path and
/// relative-path references). The fragment is dropped.
pub(crate) fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    let location = location.trim();
    let location = location.split('#').next().unwrap_or_default();
    if location.is_empty() {
        return Some(base.clone());
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    let target = if let Some(scheme) = scheme_of(location) {
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return None; // another scheme
        }
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!(
            "{scheme}://{authority}{}",
            remove_dot_segments(&format!("{dir}{location}"))
        )
    };
    let uri: Uri = target.parse().ok()?;
    matches!(uri.scheme_str(), Some("http" | "https")).then_some(())?;
    uri.authority()?;
    Some(uri)
}

/// The scheme of an absolute reference (RFC 3986: a letter, then letters,
/// digits, `+`, `-` or `.`, then `:`).
fn scheme_of(reference: &str) -> Option<&str> {
    let scheme = &reference[..reference.find(':')?];
    let mut bytes = scheme.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    (first_ok && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))).then_some(scheme)
}

fn remove_dot_segments(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut p = out.join("/");
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    if let Some(q) = query {
        p.push('?');
        p.push_str(q);
    }
    p
}

fn same_origin(a: &Uri, b: &Uri) -> bool {
    a.scheme() == b.scheme() && a.host() == b.host() && a.port_u16() == b.port_u16()
}

/// Header names that describe a request body, dropped when a redirect turns
/// the request into a GET (fetch's "request-body-header name").
const BODY_HEADERS: [header::HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
];

/// One connection attempt, from the hook and the TCP connect to an open
/// event stream.
pub(crate) async fn open(
    config: Arc<Config>,
    jar: Option<Arc<Mutex<CookieJar>>>,
    last_event_id: Text,
    number: u64,
) -> Result<(Head, Opened), Error> {
    let attempt = open_inner(&config, jar.as_deref(), last_event_id, number);
    match config.connect_timeout {
        Some(limit) => tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or_else(|_| Err(Error::new(Kind::ConnectTimeout(limit)))),
        None => attempt.await,
    }
}

async fn open_inner(
    config: &Config,
    jar: Option<&Mutex<CookieJar>>,
    last_event_id: Text,
    number: u64,
) -> Result<(Head, Opened), Error> {
    let mut url = config.url.clone();
    let mut method = config.method.clone();
    let mut body = config.body.clone();
    let mut headers = config.headers.clone();
    if let Some(hook) = &config.hook {
        let attempt = Attempt {
            number,
            url: url.clone(),
            last_event_id: last_event_id.clone(),
        };
        let set = hook
            .call(&attempt)
            .await
            .map_err(|e| Error::with(Kind::Hook, e))?;
        hook::apply(&mut headers, set);
    }
    if !headers.contains_key(header::ACCEPT) {
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static(sse_wire::CONTENT_TYPE),
        );
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    // The spec: only a non-empty last event ID is sent. An ID with bytes a
    // header cannot carry (control characters) cannot be sent at all.
    headers.remove("last-event-id");
    if !last_event_id.is_empty() {
        match HeaderValue::from_bytes(last_event_id.as_bytes()) {
            Ok(v) => {
                headers.insert("last-event-id", v);
            }
            Err(_) => tracing::debug!("last event id not representable as a header; not sent"),
        }
    }
    let user_cookie = headers.remove(header::COOKIE);
    let mut redirects = 0;
    loop {
        if let Some(jar) = jar {
            let from_jar = jar
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .header(&url, SystemTime::now());
            let value = match (&user_cookie, from_jar) {
                (Some(u), Some(j)) => {
                    HeaderValue::from_bytes(&[u.as_bytes(), b"; ", j.as_bytes()].concat()).ok()
                }
                (Some(u), None) => Some(u.clone()),
                (None, Some(j)) => HeaderValue::from_str(&j).ok(),
                (None, None) => None,
            };
            match value {
                Some(v) => headers.insert(header::COOKIE, v),
                None => headers.remove(header::COOKIE),
            };
        } else if let Some(u) = &user_cookie {
            headers.insert(header::COOKIE, u.clone());
        }
        let (response, conn, sender) = send(config, &url, &method, &headers, &body).await?;
        if let Some(jar) = jar {
            let mut jar = jar.lock().unwrap_or_else(PoisonError::into_inner);
            let now = SystemTime::now();
            for v in response.headers().get_all(header::SET_COOKIE) {
                jar.store(&url, v.as_bytes(), now);
            }
        }
        let status = response.status();
        if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            // Without a Location, fetch hands the 3xx back as the response,
            // which then fails the status check below.
            if let Some(location) = response.headers().get(header::LOCATION) {
                redirects += 1;
                if redirects > config.max_redirects {
                    return Err(Error::new(Kind::TooManyRedirects(config.max_redirects)));
                }
                let location = String::from_utf8_lossy(location.as_bytes());
                let next = resolve(&url, &location).ok_or_else(|| {
                    Error::new(Kind::Redirect(location.chars().take(200).collect()))
                })?;
                // fetch: 303 turns anything but HEAD into GET; 301 and 302
                // turn POST into GET. 307 and 308 keep method and body.
                let to_get = (status == StatusCode::SEE_OTHER && method != Method::HEAD)
                    || (matches!(status.as_u16(), 301 | 302) && method == Method::POST);
                if to_get {
                    method = Method::GET;
                    body = Bytes::new();
                    for h in &BODY_HEADERS {
                        headers.remove(h);
                    }
                    headers.remove(header::CONTENT_LENGTH);
                }
                if !same_origin(&url, &next) {
                    // fetch drops Authorization on a cross-origin redirect.
                    headers.remove(header::AUTHORIZATION);
                }
                headers.remove(header::HOST);
                tracing::debug!(status = status.as_u16(), "following redirect");
                url = next;
                continue;
            }
        }
        if status == StatusCode::NO_CONTENT {
            return Err(Error::new(Kind::NoContent));
        }
        if status != StatusCode::OK {
            return Err(Error::new(Kind::Status(status)));
        }
        let content_type = response
            .headers()
            .get_all(header::CONTENT_TYPE)
            .iter()
            .next_back();
        match content_type {
            Some(v) if is_event_stream(v.as_bytes()) => {}
            other => {
                let shown = other.map_or_else(
                    || "missing".to_owned(),
                    |v| {
                        format!(
                            "{:?}",
                            String::from_utf8_lossy(&v.as_bytes()[..v.len().min(100)])
                        )
                    },
                );
                return Err(Error::new(Kind::ContentType(shown)));
            }
        }
        let (parts, body) = response.into_parts();
        let head = Head {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            url,
        };
        let opened = Opened {
            body,
            conn: Some(conn),
            _sender: sender,
        };
        return Ok((head, opened));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_rules() {
        for ok in [
            &b"text/event-stream"[..],
            b"text/event-stream; charset=utf-8",
            b"Text/Event-Stream",
            b" text/event-stream ;x=y",
            b"TEXT/EVENT-STREAM;charset=UTF-8",
        ] {
            assert!(is_event_stream(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b""[..],
            b"text/plain",
            b"text/event-streams",
            b"text/event-stream-x",
            b"application/json",
            b"text/event stream",
        ] {
            assert!(!is_event_stream(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn location_resolution() {
        let base: Uri = "http://a.example:8080/x/y/z?q=1".parse().unwrap();
        let r = |s: &str| resolve(&base, s).map(|u| u.to_string());
        assert_eq!(
            r("https://b.example/p").as_deref(),
            Some("https://b.example/p")
        );
        assert_eq!(r("//c.example/p").as_deref(), Some("http://c.example/p"));
        assert_eq!(
            r("/abs?k=v#frag").as_deref(),
            Some("http://a.example:8080/abs?k=v")
        );
        assert_eq!(r("rel").as_deref(), Some("http://a.example:8080/x/y/rel"));
        assert_eq!(r("../up").as_deref(), Some("http://a.example:8080/x/up"));
        assert_eq!(
            r("./same").as_deref(),
            Some("http://a.example:8080/x/y/same")
        );
        assert_eq!(
            r("../../../../top").as_deref(),
            Some("http://a.example:8080/top")
        );
        assert_eq!(
            r("?only=query").as_deref(),
            Some("http://a.example:8080/x/y/z?only=query")
        );
        assert_eq!(r("ftp://x/y"), None);
        assert_eq!(r("javascript:alert(1)"), None);
        assert_eq!(r("./a:b").as_deref(), Some("http://a.example:8080/x/y/a:b"));
        assert_eq!(
            r("HTTPS://b.example/").as_deref(),
            Some("https://b.example/")
        );
        assert_eq!(r("http://"), None);
    }
}
