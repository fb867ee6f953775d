//! [`PublisherBuilder`]: a publisher's hub, credentials, connections and
//! retry policy.

use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use http::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::connector::Connector;
use super::error::{Kind, PublishError};
use super::token::{Claims, Credentials};
use super::{HmacAlgorithm, Inner, Publisher};
use crate::proxy::Proxy;
use crate::tls::{self, Trust};

/// Configures a [`Publisher`]; [`Publisher::builder`] makes one.
///
/// Defaults: no credentials (a hub that allows anonymous publishing is
/// rare; set [`token`](Self::token) or [`hmac_key`](Self::hmac_key)), a
/// 30 s timeout per attempt, no retries, HTTP/2 offered over TLS, the
/// built-in roots, the environment's proxies, idle connections kept 90 s.
///
/// Setters never fail; a bad value is reported by [`build`](Self::build).
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PublisherBuilder {
    url: String,
    token: Option<String>,
    key: Option<(Vec<u8>, HmacAlgorithm)>,
    audience: Option<String>,
    token_topics: Vec<String>,
    token_ttl: Duration,
    timeout: Duration,
    retries: u32,
    max_retry_wait: Duration,
    pool_idle_timeout: Duration,
    pool_max_idle: usize,
    proxy: Option<Proxy>,
    tls: Option<Arc<rustls::ClientConfig>>,
    trust: Trust,
    http2: bool,
    http2_prior_knowledge: bool,
    error: Option<String>,
}

impl PublisherBuilder {
    pub(super) fn new(url: &str) -> Self {
        PublisherBuilder {
            url: url.to_owned(),
            token: None,
            key: None,
            audience: None,
            token_topics: vec!["*".to_owned()],
            token_ttl: Duration::from_secs(300),
            timeout: Duration::from_secs(30),
            retries: 0,
            max_retry_wait: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle: 8,
            proxy: None,
            tls: None,
            trust: Trust::default(),
            http2: true,
            http2_prior_knowledge: false,
            error: None,
        }
    }

    /// Sends this publisher token (a JWT from an authorization server) as
    /// `Authorization: Bearer`. Exclusive with [`hmac_key`](Self::hmac_key).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Signs short-lived publisher tokens with this HMAC secret (the hub's
    /// publisher key), HS256. Exclusive with [`token`](Self::token).
    pub fn hmac_key(self, secret: impl AsRef<[u8]>) -> Self {
        self.hmac_key_with(HmacAlgorithm::HS256, secret)
    }

    /// Signs short-lived publisher tokens with this HMAC secret and
    /// algorithm.
    pub fn hmac_key_with(mut self, algorithm: HmacAlgorithm, secret: impl AsRef<[u8]>) -> Self {
        self.key = Some((secret.as_ref().to_vec(), algorithm));
        self
    }

    /// The `aud` of signed tokens: the resource identifier the hub expects
    /// (default: the hub URL as given to [`Publisher::builder`]).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The topic selectors signed tokens grant `publish` on (default `*`,
    /// every topic): narrower, a leaked token is worth less. Replaces the
    /// default.
    pub fn token_topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.token_topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// Lifetime of signed tokens (default 5 min, at least 2 s); a token is
    /// signed again when half of it is left.
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Bounds each attempt from the connect to the end of the answer
    /// (default 30 s); over it the attempt fails with
    /// [`PublishError::is_timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries an update **that has an explicit [`Update::id`]** up to this
    /// many times after a 503 or a transport failure, with the same id
    /// (default 0: never). Updates without an id are never retried: the
    /// hub would store a second copy under a new id. Safe only against a
    /// hub that treats a repeated id as already published.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// The longest wait before a retry (default 10 s): a `Retry-After`
    /// longer than this ends the retries with the hub's 503.
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.max_retry_wait = wait;
        self
    }

    /// How long an idle pooled connection is kept (default 90 s).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// Most idle HTTP/1.1 connections kept to the hub (default 8); `0`
    /// opens a connection per publish.
    pub fn pool_max_idle(mut self, max: usize) -> Self {
        self.pool_max_idle = max;
        self
    }

    /// Sends requests through this proxy choice instead of the
    /// environment's ([`Proxy::from_env`], the default).
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Ignores the proxy environment variables.
    pub fn no_proxy(self) -> Self {
        self.proxy(Proxy::none())
    }

    /// Also trusts this root certificate (see
    /// [`Builder::add_root_certificate`](crate::Builder::add_root_certificate)).
    pub fn add_root_certificate(
        mut self,
        cert: rustls::pki_types::CertificateDer<'static>,
    ) -> Self {
        self.trust.extra_roots.push(cert);
        self
    }

    /// Also trusts every `CERTIFICATE` of this PEM document (what `curl
    /// --cacert` takes). A PEM without one makes [`build`](Self::build) fail.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Self {
        if let Err(e) = self.trust.add_pem(pem) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// Whether the built-in roots are trusted (default on).
    pub fn tls_built_in_roots(mut self, enabled: bool) -> Self {
        self.trust.no_built_in = !enabled;
        self
    }

    /// **For development only**: accepts any hub certificate, so anyone on
    /// the network path can read the token and change updates.
    pub fn danger_accept_invalid_certs(mut self, enabled: bool) -> Self {
        self.trust.insecure = enabled;
        self
    }

    /// Uses this TLS configuration (client certificates…); its ALPN is
    /// replaced as [`http2`](Self::http2) says. Not combinable with the
    /// root settings above.
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Offers HTTP/2 in the TLS handshake (default on).
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Speaks HTTP/2 without TLS to an `http://` hub (h2c with prior
    /// knowledge). Off by default.
    pub fn http2_prior_knowledge(mut self, enabled: bool) -> Self {
        self.http2_prior_knowledge = enabled;
        self
    }

    /// Builds the publisher. It connects at the first publish.
    ///
    /// # Errors
    /// [`PublishError::is_config`] when the hub URL is not an absolute
    /// `http`/`https` URL, both a token and a key were given, the token
    /// cannot be a header value, the key is empty, the token lifetime is
    /// under 2 s, a root certificate or proxy variable is unusable, or
    /// `tls_config` was combined with root settings;
    /// [`PublishError::is_mint`] when [`token_topics`](Self::token_topics)
    /// is empty.
    pub fn build(self) -> Result<Publisher, PublishError> {
        let config = |why: String| PublishError::new(Kind::Config(why));
        if let Some(e) = self.error {
            return Err(config(e));
        }
        let url: Uri = self
            .url
            .parse()
            .map_err(|_| config(format!("invalid hub URL {:?}", self.url)))?;
        if !matches!(url.scheme_str(), Some("http" | "https"))
            || url.host().is_none_or(str::is_empty)
        {
            return Err(config(format!(
                "{:?} is not an absolute http or https URL",
                self.url
            )));
        }
        let credentials = match (self.token, self.key) {
            (Some(_), Some(_)) => return Err(config("give a token or a key, not both".to_owned())),
            (Some(token), None) => {
                HeaderValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| config("the token is not a valid header value".to_owned()))?;
                Credentials::Token(token)
            }
            (None, Some((secret, algorithm))) => Credentials::key(
                &secret,
                algorithm,
                Claims {
                    audience: self.audience.unwrap_or_else(|| self.url.clone()),
                    topics: self.token_topics,
                    ttl: self.token_ttl,
                },
            )?,
            (None, None) => Credentials::None,
        };
        let tls = tls::client_config(self.tls, &self.trust, self.http2).map_err(config)?;
        let proxy = match self.proxy {
            Some(p) => p,
            None => Proxy::from_env().map_err(|e| {
                config(format!(
                    "{e} (PublisherBuilder::no_proxy or ::proxy ignores the environment)"
                ))
            })?,
        };
        let proxy_authorization = proxy
            .for_url(&url)
            .filter(|_| url.scheme_str() == Some("http"))
            .and_then(|p| p.authorization.clone());
        let h2c = self.http2_prior_knowledge && url.scheme_str() == Some("http");
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle)
            .http1_max_buf_size(crate::connect::H1_MAX_BUF)
            .http2_initial_stream_window_size(crate::connect::H2_WINDOW)
            .http2_initial_connection_window_size(crate::connect::H2_WINDOW)
            .http2_max_header_list_size(crate::connect::H2_MAX_HEADER_LIST)
            .http2_only(h2c && proxy.for_url(&url).is_none())
            .build(Connector::new(tls, proxy, h2c));
        Ok(Publisher {
            inner: Arc::new(Inner {
                url,
                client,
                credentials,
                proxy_authorization,
                timeout: self.timeout,
                retries: self.retries,
                max_retry_wait: self.max_retry_wait,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_refuses_what_it_cannot_use() {
        let err = |b: PublisherBuilder| b.no_proxy().build().unwrap_err();
        assert!(err(Publisher::builder("ftp://hub/")).is_config());
        assert!(err(Publisher::builder("/.well-known/mercure")).is_config());
        assert!(err(Publisher::builder("http://hub/").token("t").hmac_key("k")).is_config());
        assert!(err(Publisher::builder("http://hub/").token("a\nb")).is_config());
        assert!(err(Publisher::builder("http://hub/").hmac_key("")).is_config());
        assert!(err(Publisher::builder("http://hub/")
            .hmac_key("k")
            .token_topics(Vec::<String>::new()))
        .is_mint());
        assert!(
            err(Publisher::builder("https://hub/").add_root_certificates_pem(b"x")).is_config()
        );
        let publisher = Publisher::builder("http://hub.example/.well-known/mercure")
            .hmac_key("k")
            .no_proxy()
            .build()
            .unwrap();
        assert_eq!(publisher.url().path(), "/.well-known/mercure");
        assert!(!format!("{publisher:?}").contains("\"k\""));
    }
}
