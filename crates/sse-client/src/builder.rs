//! Configuration of an event source.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};
use sse_wire::Limits;

use crate::error::{Error, Kind};
use crate::source::EventSource;
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
}

/// Configures an [`EventSource`]; [`EventSource::builder`] makes one.
///
/// Defaults are a browser's: `GET`, no extra headers, cookies off, 20
/// redirects, reconnect per [`ReconnectPolicy::default`]; plus a 30 s
/// connect timeout, no idle timeout, [`Limits::default`], HTTP/2 offered
/// over TLS, and Mozilla's root certificates (feature `webpki-roots`, on by
/// default) plus the system's (feature `native-roots`).
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

    /// Uses this TLS configuration (for private roots or client
    /// certificates). Its ALPN protocols are replaced according to
    /// [`http2`](Builder::http2).
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
    /// `https` URL, or a header was invalid.
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
        let tls = tls_config(self.tls, self.http2);
        let config = Config {
            url,
            method: self.method,
            headers: self.headers,
            body: self.body,
            last_event_id: self.last_event_id,
            limits: self.limits,
            policy: self.policy,
            connect_timeout: self.connect_timeout,
            idle_timeout: self.idle_timeout,
            max_redirects: self.max_redirects,
            credentials: self.credentials,
            tls,
            http2_prior_knowledge: self.http2_prior_knowledge,
        };
        Ok(EventSource::from_config(Arc::new(config)))
    }
}

fn alpn(http2: bool) -> Vec<Vec<u8>> {
    if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    }
}

/// The TLS configuration, with ALPN set. The default one is built once per
/// process: the root store is tens of kilobytes, too much per source.
fn tls_config(given: Option<Arc<rustls::ClientConfig>>, http2: bool) -> Arc<rustls::ClientConfig> {
    if let Some(given) = given {
        let mut config = (*given).clone();
        config.alpn_protocols = alpn(http2);
        return Arc::new(config);
    }
    static DEFAULT: [OnceLock<Arc<rustls::ClientConfig>>; 2] = [OnceLock::new(), OnceLock::new()];
    DEFAULT[usize::from(http2)]
        .get_or_init(|| {
            #[allow(unused_mut)] // nothing to add without a roots feature
            let mut roots = rustls::RootCertStore::empty();
            #[cfg(feature = "webpki-roots")]
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            #[cfg(feature = "native-roots")]
            {
                // Unreadable or unparsable system certificates are skipped,
                // as browsers do; the others still count.
                let native = rustls_native_certs::load_native_certs();
                for e in &native.errors {
                    tracing::debug!(error = %e, "skipping a native root certificate source");
                }
                let (added, ignored) = roots.add_parsable_certificates(native.certs);
                tracing::debug!(added, ignored, "native root certificates loaded");
            }
            let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            // A fixed property of the ring provider, not of any input.
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = alpn(http2);
            Arc::new(config)
        })
        .clone()
}
