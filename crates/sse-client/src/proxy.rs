//! HTTP proxies: which requests go through one (the `HTTP_PROXY`,
//! `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` conventions, or an explicit
//! choice), and the `CONNECT` tunnel that carries `https://` through it.
//!
//! `http://` URLs are sent to the proxy as ordinary requests in absolute
//! form (`GET http://host/path HTTP/1.1`); `https://` URLs go through a
//! `CONNECT host:port` tunnel, inside which TLS runs end to end with the
//! server (the proxy sees neither the request nor the events).

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use http::header::HeaderValue;
use http::{StatusCode, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Kind};

/// Which proxy, if any, each request of a source goes through.
///
/// By default a source uses [`Proxy::from_env`];
/// [`Builder::proxy`](crate::Builder::proxy) replaces that, and
/// [`Builder::no_proxy`](crate::Builder::no_proxy) turns proxies off.
///
/// ```
/// use sse_client::Proxy;
/// let proxy = Proxy::all("http://user:secret@proxy.internal:3128")?
///     .no_proxy("localhost, .svc.cluster.local, 10.0.0.0/8");
/// assert!(proxy.is_used_for(&"https://api.example.com/stream".parse()?));
/// assert!(!proxy.is_used_for(&"http://hub.svc.cluster.local/events".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Proxy {
    http: Option<Server>,
    https: Option<Server>,
    no_proxy: NoProxy,
}

/// One proxy server: where it is and the credentials it wants.
#[derive(Clone)]
pub(crate) struct Server {
    /// Host as written in the URL (an IPv6 address without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `Basic` credentials from the proxy URL's user information.
    pub(crate) authorization: Option<HeaderValue>,
}

impl fmt::Debug for Server {
    // Never print the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("credentials", &self.authorization.is_some())
            .finish()
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Proxy {
    /// No proxy: every request goes straight to its server.
    pub fn none() -> Self {
        Proxy::default()
    }

    /// Every request (`http://` and `https://`) through the proxy at `url`
    /// (`http://[user:password@]host[:port]`, port 80 by default; a bare
    /// `host:port` means `http://host:port`). User and password are
    /// percent-decoded and sent as `Proxy-Authorization: Basic`.
    ///
    /// # Errors
    /// [`Error::is_builder`] when `url` is not such a URL (`https://` and
    /// `socks5://` proxies are not supported).
    pub fn all(url: &str) -> Result<Self, Error> {
        let server = Server::parse(url).map_err(|e| Error::new(Kind::Builder(e)))?;
        Ok(Proxy {
            http: Some(server.clone()),
            https: Some(server),
            no_proxy: NoProxy::default(),
        })
    }

    /// Only `http://` URLs through the proxy at `url` (see [`all`](Proxy::all)).
    ///
    /// # Errors
    /// As [`all`](Proxy::all).
    pub fn http(url: &str) -> Result<Self, Error> {
        let mut proxy = Proxy::all(url)?;
        proxy.https = None;
        Ok(proxy)
    }

    /// Only `https://` URLs through the proxy at `url` (see [`all`](Proxy::all)).
    ///
    /// # Errors
    /// As [`all`](Proxy::all).
    pub fn https(url: &str) -> Result<Self, Error> {
        let mut proxy = Proxy::all(url)?;
        proxy.http = None;
        Ok(proxy)
    }

    /// Exempts these hosts, written as `NO_PROXY` is: comma-separated
    /// entries, each `*` (everything), a domain (`example.com` and
    /// `.example.com` both cover the domain and its subdomains), an IP
    /// address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). A `:port` after
    /// an entry is ignored. Replaces any earlier list.
    pub fn no_proxy(mut self, list: &str) -> Self {
        self.no_proxy = NoProxy::parse(list);
        self
    }

    /// The proxies the process environment names, as curl reads them:
    /// `http_proxy` for `http://` URLs, `https_proxy` for `https://`,
    /// `all_proxy` for either when the specific one is unset, and
    /// `no_proxy` for the exemptions; each lower-case name first, then its
    /// upper-case form. An empty value counts as unset. `HTTP_PROXY` in
    /// capitals is ignored when `REQUEST_METHOD` is set: in a CGI program a
    /// client controls that variable through its `Proxy:` header
    /// ("httpoxy").
    ///
    /// # Errors
    /// [`Error::is_builder`], naming the variable, when a proxy variable is
    /// not a usable proxy URL.
    pub fn from_env() -> Result<Self, Error> {
        Proxy::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Proxy::from_env), reading variables through `lookup`
    /// (for tests, or a configuration that is not the process environment).
    ///
    /// # Errors
    /// As [`from_env`](Proxy::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |names: &[&'static str]| {
            names.iter().find_map(|&name| {
                lookup(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name, v))
            })
        };
        let cgi = lookup("REQUEST_METHOD").is_some();
        let server = |found: Option<(&'static str, String)>| -> Result<Option<Server>, Error> {
            found
                .map(|(name, value)| {
                    Server::parse(value.trim())
                        .map_err(|e| Error::new(Kind::Builder(format!("{name}: {e}"))))
                })
                .transpose()
        };
        let all = get(&["all_proxy", "ALL_PROXY"]);
        let http = if cgi {
            get(&["http_proxy"])
        } else {
            get(&["http_proxy", "HTTP_PROXY"])
        };
        let https = get(&["https_proxy", "HTTPS_PROXY"]);
        Ok(Proxy {
            http: server(http.or_else(|| all.clone()))?,
            https: server(https.or(all))?,
            no_proxy: get(&["no_proxy", "NO_PROXY"])
                .map(|(_, v)| NoProxy::parse(&v))
                .unwrap_or_default(),
        })
    }

    /// Whether a request to `url` goes through a proxy.
    pub fn is_used_for(&self, url: &Uri) -> bool {
        self.for_url(url).is_some()
    }

    /// The proxy for a request to `url`, if any.
    pub(crate) fn for_url(&self, url: &Uri) -> Option<&Server> {
        let server = match url.scheme_str() {
            Some("https") => self.https.as_ref(),
            Some("http") => self.http.as_ref(),
            _ => None,
        }?;
        let host = url.host()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!self.no_proxy.matches(host)).then_some(server)
    }
}

impl Server {
    fn parse(url: &str) -> Result<Server, String> {
        let shown = redact(url);
        let with_scheme;
        let url = if url.contains("://") {
            url
        } else {
            with_scheme = format!("http://{url}");
            &with_scheme
        };
        let uri: Uri = url
            .parse()
            .map_err(|_| format!("{shown:?} is not a proxy URL"))?;
        match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => {}
            Some(s) => {
                return Err(format!(
                    "{shown:?}: {s}:// proxies are not supported, only http://"
                ))
            }
            None => return Err(format!("{shown:?} is not a proxy URL")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{shown:?} has no host"))?;
        let host = uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("{shown:?} has no host"));
        }
        let authorization = match authority.as_str().rsplit_once('@') {
            Some((userinfo, _)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let credentials = [
                    percent_decode(user),
                    b":".to_vec(),
                    percent_decode(password),
                ]
                .concat();
                let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
                let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                    .map_err(|_| format!("{shown:?}: unusable credentials"))?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Server {
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(80),
            authorization,
        })
    }
}

/// The URL with any password replaced, for error messages.
fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..].find('/').map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => match url[start..start + at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..start + colon], &url[start + at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                // Two hex digits are below 256.
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The hosts that bypass the proxy.
#[derive(Clone, Debug, Default)]
struct NoProxy {
    everything: bool,
    /// Lower-case, without a leading dot.
    domains: Vec<String>,
    /// Addresses and blocks: (network, prefix length).
    networks: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    fn parse(list: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                out.everything = true;
                continue;
            }
            if let Some((addr, prefix)) = entry.split_once('/') {
                let addr = addr.trim_start_matches('[').trim_end_matches(']');
                if let (Ok(ip), Ok(prefix)) = (addr.parse::<IpAddr>(), prefix.parse::<u8>()) {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    if prefix <= max {
                        out.networks.push((ip, prefix));
                    }
                }
                continue;
            }
            let bare = entry.trim_start_matches('[');
            if let Some(v6) = bare.split(']').next().filter(|_| entry.starts_with('[')) {
                if let Ok(ip) = v6.parse::<IpAddr>() {
                    out.networks.push((ip, 128));
                }
                continue;
            }
            if let Ok(ip) = entry.parse::<IpAddr>() {
                let prefix = if ip.is_ipv4() { 32 } else { 128 };
                out.networks.push((ip, prefix));
                continue;
            }
            // A host with a port: the port is ignored.
            let host = match entry.rsplit_once(':') {
                Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
                _ => entry,
            };
            if let Ok(ip) = host.parse::<IpAddr>() {
                let prefix = if ip.is_ipv4() { 32 } else { 128 };
                out.networks.push((ip, prefix));
                continue;
            }
            let domain = host.trim_start_matches("*.").trim_start_matches('.');
            if !domain.is_empty() {
                out.domains.push(domain.to_ascii_lowercase());
            }
        }
        out
    }

    /// `host` without brackets.
    fn matches(&self, host: &str) -> bool {
        if self.everything {
            return true;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self
                .networks
                .iter()
                .any(|&(net, prefix)| in_network(ip, net, prefix));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().any(|d| {
            host == *d
                || (host.len() > d.len()
                    && host.ends_with(d.as_str())
                    && host.as_bytes()[host.len() - d.len() - 1] == b'.')
        })
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    let (ip, net, bits) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        _ => return false,
    };
    let prefix = u32::from(prefix);
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    (ip >> shift) == (net >> shift)
}

/// The largest `CONNECT` response head accepted from a proxy.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// Opens a `CONNECT` tunnel to `authority` (`host:port`) through a proxy
/// already connected on `tcp`. On success the stream carries bytes to and
/// from the server.
pub(crate) async fn tunnel(
    tcp: &mut TcpStream,
    proxy: &Server,
    authority: &str,
) -> Result<(), Error> {
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = &proxy.authorization {
        request.push_str("Proxy-Authorization: ");
        // Built from base64 text, so it is ASCII.
        request.push_str(auth.to_str().unwrap_or_default());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let io_error =
        |e: std::io::Error| Error::with(Kind::Proxy(format!("{proxy}: CONNECT failed")), e);
    tcp.write_all(request.as_bytes()).await.map_err(io_error)?;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tcp.read(&mut chunk).await.map_err(io_error)?;
        if n == 0 {
            return Err(Error::new(Kind::Proxy(format!(
                "{proxy} closed the connection during CONNECT"
            ))));
        }
        head.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(len)) => {
                let code = response.code.unwrap_or_default();
                let status = StatusCode::from_u16(code).map_err(|_| {
                    Error::new(Kind::Proxy(format!("{proxy} answered status {code}")))
                })?;
                if !status.is_success() {
                    return Err(Error::new(Kind::ProxyStatus(status)));
                }
                // The server speaks only after the TLS client hello, so
                // anything after the head did not come from it.
                if len != head.len() {
                    return Err(Error::new(Kind::Proxy(format!(
                        "{proxy} sent data after its CONNECT response"
                    ))));
                }
                return Ok(());
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_CONNECT_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(Error::new(Kind::Proxy(format!(
                    "{proxy}'s CONNECT response head exceeds {MAX_CONNECT_HEAD} bytes"
                ))))
            }
            Err(e) => {
                return Err(Error::with(
                    Kind::Proxy(format!("{proxy} answered CONNECT with something not HTTP")),
                    e,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn proxy_urls() {
        let s = Server::parse("http://alice:s%3Acret@proxy.example:3128/").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("proxy.example", 3128));
        // base64("alice:s:cret")
        assert_eq!(
            s.authorization.unwrap().to_str().unwrap(),
            "Basic YWxpY2U6czpjcmV0"
        );
        let s = Server::parse("proxy.example:8080").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.authorization.is_none()),
            ("proxy.example", 8080, true)
        );
        let s = Server::parse("http://[::1]").unwrap();
        assert_eq!((s.host.as_str(), s.port), ("::1", 80));
        assert_eq!(s.to_string(), "[::1]:80");
        for bad in ["socks5://h:1080", "https://h", "http://", "http://a b"] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
        let e = Server::parse("socks5://bob:hunter2@h:1080").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(!format!("{:?}", Server::parse("http://u:hunter2@h").unwrap()).contains("hunter2"));
    }

    #[test]
    fn environment_variables() {
        let p = Proxy::from_lookup(env(&[
            ("HTTP_PROXY", "http://upper:1"),
            ("http_proxy", "http://lower:2"),
            ("HTTPS_PROXY", "http://secure:3"),
            ("NO_PROXY", "internal.example"),
        ]))
        .unwrap();
        assert_eq!(p.for_url(&uri("http://a.example/")).unwrap().host, "lower");
        assert_eq!(
            p.for_url(&uri("https://a.example/")).unwrap().host,
            "secure"
        );
        assert!(p.for_url(&uri("https://x.internal.example/")).is_none());
        assert!(p.for_url(&uri("https://internal.example/")).is_none());
        assert!(p.for_url(&uri("https://notinternal.example/")).is_some());

        // ALL_PROXY fills in; an empty value counts as unset.
        let p = Proxy::from_lookup(env(&[("ALL_PROXY", "h:9"), ("https_proxy", " ")])).unwrap();
        assert_eq!(p.for_url(&uri("http://a/")).unwrap().port, 9);
        assert_eq!(p.for_url(&uri("https://a/")).unwrap().port, 9);

        // httpoxy: capital HTTP_PROXY is ignored in a CGI program.
        let p =
            Proxy::from_lookup(env(&[("HTTP_PROXY", "h:1"), ("REQUEST_METHOD", "GET")])).unwrap();
        assert!(!p.is_used_for(&uri("http://a/")));

        let e = Proxy::from_lookup(env(&[("HTTPS_PROXY", "socks5://h")])).unwrap_err();
        assert!(
            e.is_builder() && e.to_string().contains("HTTPS_PROXY"),
            "{e}"
        );
        assert!(!Proxy::from_lookup(env(&[]))
            .unwrap()
            .is_used_for(&uri("http://a/")));
    }

    #[test]
    fn no_proxy_entries() {
        let n = NoProxy::parse(" localhost, .svc.local,*.corp ,10.0.0.0/8, 192.168.1.7, ::1, [fd00::1], fd12::/16, host.example:8080");
        for yes in [
            "localhost",
            "LOCALHOST",
            "a.svc.local",
            "svc.local",
            "x.corp",
            "10.200.3.4",
            "192.168.1.7",
            "::1",
            "fd00::1",
            "fd12::5",
            "host.example",
        ] {
            assert!(n.matches(yes), "{yes}");
        }
        for no in [
            "notlocalhost",
            "svc.local.evil",
            "11.0.0.1",
            "192.168.1.8",
            "::2",
            "fd13::1",
            "example",
        ] {
            assert!(!n.matches(no), "{no}");
        }
        assert!(NoProxy::parse("*").matches("anything"));
        assert!(NoProxy::parse("0.0.0.0/0").matches("1.2.3.4"));
        assert!(!NoProxy::parse("").matches("a"));
    }

    #[test]
    fn redacted_passwords() {
        assert_eq!(redact("http://u:p@h:1/x"), "http://u:***@h:1/x");
        assert_eq!(redact("u:p@h"), "u:***@h");
        assert_eq!(redact("http://h:1"), "http://h:1");
    }
}
