//! Configuration of an event source.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};
use sse_wire::Limits;

use crate::error::{BoxError, Error, Kind};
use crate::hook::{Attempt, Hook};
use crate::proxy::Proxy;
use crate::source::EventSource;
use crate::tls::{self, Trust};
use crate::ReconnectPolicy;

/// Everything an event source needs to connect, shared by its attempts.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) url: Uri,
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) last_event_id: String,
    pub(crate) limits: Limits,
    pub(crate) policy: ReconnectPolicy,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_redirects: usize,
    pub(crate) credentials: bool,
    /// With ALPN set as `http2` asks.
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) http2_prior_knowledge: bool,
    pub(crate) hook: Option<Hook>,
    pub(crate) proxy: Proxy,
    pub(crate) comments: bool,
}

/// Configures an [`EventSource`]; [`EventSource::builder`] makes one.
///
/// Defaults are a browser's: `GET`, no extra headers, cookies off, 20
/// redirects, reconnect per [`ReconnectPolicy::default`]; plus a 30 s
/// connect timeout, no idle timeout, [`Limits::default`], HTTP/2 offered
/// over TLS, Mozilla's root certificates (feature `webpki-roots`, on by
/// default) plus the system's (feature `native-roots`), the proxies the
/// environment names ([`Proxy::from_env`]), comments not reported, and no
/// reconnect for a method that is not idempotent
/// ([`ReconnectPolicy::reconnect_non_idempotent`]).
///
/// Setters never fail; a bad value (an invalid header) is reported by
/// [`build`](Builder::build).
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    url: String,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    last_event_id: String,
    limits: Limits,
    policy: ReconnectPolicy,
    connect_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_redirects: usize,
    credentials: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
    http2: bool,
    http2_prior_knowledge: bool,
    hook: Option<Hook>,
    /// `None`: from the environment at `build`.
    proxy: Option<Proxy>,
    trust: Trust,
    comments: bool,
    error: Option<String>,
}

impl Builder {
    pub(crate) fn new(url: &str) -> Self {
        Builder {
            url: url.to_owned(),
            method: Method::GET,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            last_event_id: String::new(),
            limits: Limits::default(),
            policy: ReconnectPolicy::default(),
            connect_timeout: Some(Duration::from_secs(30)),
            idle_timeout: None,
            max_redirects: 20,
            credentials: false,
            tls: None,
            http2: true,
            http2_prior_knowledge: false,
            hook: None,
            proxy: None,
            trust: Trust::default(),
            comments: false,
            error: None,
        }
    }

    /// Adds a request header (sent on every attempt). Setting `Accept` or
    /// `Cache-Control` replaces the default; `Last-Event-ID` is managed by
    /// the source (see [`last_event_id`](Builder::last_event_id)) and a value
    /// given here is ignored.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => {
                self.error
                    .get_or_insert_with(|| format!("invalid header {name:?}"));
            }
        }
        self
    }

    /// Adds these request headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in headers {
            if let Some(name) = name {
                self.headers.append(name, value);
            }
        }
        self
    }

    /// Sets the request method (for POST-based SSE APIs).
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Sets the request body, sent on every attempt.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Starts as if resuming: the first request sends this as
    /// `Last-Event-ID` (when non-empty), and messages without `id:` report it.
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = id.into();
        self
    }

    /// Sets the line and event size limits. A stream that breaks one is
    /// dropped and reconnected (with backoff), never buffered further.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the reconnect policy.
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Bounds each attempt from the TCP connect to the response head
    /// (redirects included). `None` waits for ever.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Treats an open connection that receives no bytes at all (not even a
    /// keep-alive comment) for this long as dead, and reconnects.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets how many redirects one attempt follows (default 20, as fetch).
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// The browser's `withCredentials`: keep the cookies the server sets
    /// (on any response, redirects included) and send them on every
    /// following request of this source. Off by default.
    pub fn with_credentials(mut self, enabled: bool) -> Self {
        self.credentials = enabled;
        self
    }

    /// Calls `hook` before every connection attempt (the first and each
    /// reconnect) and sets the headers it returns, each replacing any value
    /// of the same name from [`header`](Builder::header): the place to
    /// fetch a fresh bearer token.
    ///
    /// The attempt waits for the hook; its time counts against the
    /// [`connect_timeout`](Builder::connect_timeout). When it fails, the
    /// attempt fails with [`Error::is_hook`] and the source reconnects with
    /// backoff like after a network error. Redirects within one attempt
    /// reuse its headers (`Authorization` is dropped on a cross-origin
    /// redirect, as fetch does). `Last-Event-ID` stays the source's own.
    ///
    /// ```
    /// use sse_client::{http::HeaderMap, EventSource};
    /// async fn fresh_token(attempt: u64) -> std::io::Result<String> {
    ///     Ok(format!("token-{attempt}")) // ask the token service here
    /// }
    ///
    /// let source = EventSource::builder("https://api.example.com/stream")
    ///     .before_connect(|attempt| {
    ///         let n = attempt.number();
    ///         async move {
    ///             let token = fresh_token(n).await?;
    ///             let mut headers = HeaderMap::new();
    ///             headers.insert("authorization", format!("Bearer {token}").parse()?);
    ///             Ok::<_, Box<dyn std::error::Error + Send + Sync>>(headers)
    ///         }
    ///     })
    ///     .build()?;
    /// # Ok::<(), sse_client::Error>(())
    /// ```
    pub fn before_connect<F, Fut, E>(mut self, hook: F) -> Self
    where
        F: Fn(&Attempt) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<HeaderMap, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.hook = Some(Hook::new(hook));
        self
    }

    /// Sends requests through this proxy choice instead of the one the
    /// environment names ([`Proxy::from_env`], the default).
    ///
    /// Through a proxy, `http://` URLs speak HTTP/1.1 to it (so
    /// [`http2_prior_knowledge`](Builder::http2_prior_knowledge) does not
    /// apply); `https://` URLs tunnel with `CONNECT` and keep TLS and
    /// HTTP/2 end to end.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Ignores the proxy environment variables: every request goes straight
    /// to its server. The same as `proxy(Proxy::none())`.
    pub fn no_proxy(self) -> Self {
        self.proxy(Proxy::none())
    }

    /// Also trusts this root certificate (a private or internal CA), in
    /// addition to the built-in roots unless
    /// [`tls_built_in_roots`](Builder::tls_built_in_roots) is off.
    pub fn add_root_certificate(
        mut self,
        cert: rustls::pki_types::CertificateDer<'static>,
    ) -> Self {
        self.trust.extra_roots.push(cert);
        self
    }

    /// Also trusts every `CERTIFICATE` in this PEM document (what `curl
    /// --cacert` takes); other PEM blocks are skipped.
    ///
    /// A PEM that is malformed or holds no certificate makes
    /// [`build`](Builder::build) fail with [`Error::is_builder`].
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Self {
        if let Err(e) = self.trust.add_pem(pem) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Whether the built-in roots are trusted (default on); off, only the
    /// added ones are.
    pub fn tls_built_in_roots(mut self, enabled: bool) -> Self {
        self.trust.no_built_in = !enabled;
        self
    }

    /// **For development only**: accepts any server certificate, expired,
    /// self-signed or for another name, so anyone on the network path can
    /// read and change the stream. Off by default.
    pub fn danger_accept_invalid_certs(mut self, enabled: bool) -> Self {
        self.trust.insecure = enabled;
        self
    }

    /// Reports comment lines (`: ...`, often keep-alives) as
    /// [`Event::Comment`](crate::Event::Comment), so the application can
    /// see a quiet stream is alive. Off by default, as in browsers.
    pub fn comments(mut self, enabled: bool) -> Self {
        self.comments = enabled;
        self
    }

    /// Uses this TLS configuration (for client certificates or anything
    /// else rustls offers). Its ALPN protocols are replaced according to
    /// [`http2`](Builder::http2). It cannot be combined with the root
    /// certificate settings above, which build a configuration of their own.
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Offers HTTP/2 in the TLS handshake (default on); the server chooses.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Speaks HTTP/2 without TLS to `http://` URLs (h2c with prior
    /// knowledge). Off by default.
    pub fn http2_prior_knowledge(mut self, enabled: bool) -> Self {
        self.http2_prior_knowledge = enabled;
        self
    }

    /// Builds the source. It connects when its stream is first polled.
    ///
    /// # Errors
    /// [`Error::is_builder`] when the URL is not an absolute `http` or
    /// `https` URL, a header or root certificate was invalid, a proxy
    /// variable of the environment is not a usable proxy URL, or both
    /// [`tls_config`](Builder::tls_config) and root settings were given.
    pub fn build(self) -> Result<EventSource, Error> {
        if let Some(e) = self.error {
            return Err(Error::new(Kind::Builder(e)));
        }
        let url: Uri = self
            .url
            .parse()
            .map_err(|e| Error::with(Kind::Builder(format!("invalid URL {:?}", self.url)), e))?;
        if !matches!(url.scheme_str(), Some("http" | "https"))
            || url.host().is_none_or(str::is_empty)
        {
            return Err(Error::new(Kind::Builder(format!(
                "{:?} is not an absolute http or https URL",
                self.url
            ))));
        }
        let tls = tls::client_config(self.tls, &self.trust, self.http2)
            .map_err(|e| Error::new(Kind::Builder(e)))?;
        let proxy = match self.proxy {
            Some(p) => p,
            None => Proxy::from_env().map_err(|e| match e.kind() {
                Kind::Builder(why) => Error::new(Kind::Builder(format!(
                    "{why} (Builder::no_proxy or Builder::proxy ignores the environment)"
                ))),
                _ => e,
            })?,
        };
        let policy = self.policy.for_method(&self.method);
        let config = Config {
            url,
            method: self.method,
            headers: self.headers,
            body: self.body,
            last_event_id: self.last_event_id,
            limits: self.limits,
            policy,
            connect_timeout: self.connect_timeout,
            idle_timeout: self.idle_timeout,
            max_redirects: self.max_redirects,
            credentials: self.credentials,
            tls,
            http2_prior_knowledge: self.http2_prior_knowledge,
            hook: self.hook,
            proxy,
            comments: self.comments,
        };
        Ok(EventSource::from_config(Arc::new(config)))
    }
}
