//! Publishing to a Mercure hub: [`Publisher`] sends [`Update`]s and returns
//! the id the hub gave each.
//!
//! ```
//! use sse_client::{Publisher, Update};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (hub_url, _hub) = doc_hub().await?;
//! // Once per application: the pool and the signing key live in it.
//! let publisher = Publisher::builder(&hub_url)
//!     .hmac_key("the hub's publisher secret......")
//!     .build()?;
//!
//! let id = publisher
//!     .publish(&Update::new("https://example.com/books/1").data(r#"{"status":"sold out"}"#))
//!     .await?;
//! assert!(id.starts_with("urn:uuid:"));
//!
//! // An explicit id, and an error the caller can act on.
//! let err = publisher
//!     .publish(&Update::new("https://example.com/books/1").id("v2").data("x".repeat(2 << 20)))
//!     .await
//!     .unwrap_err();
//! assert!(err.is_too_large(), "{err}");
//! # Ok(()) }
//! # // A real sse-hub on loopback, so the example runs as a test.
//! # async fn doc_hub() -> std::io::Result<(String, sse_hub::Hub)> {
//! #     use std::future::IntoFuture;
//! #     use sse_hub::auth::{JwtAlgorithm, VerificationKey};
//! #     let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! #     let url = format!("http://{}/.well-known/mercure", listener.local_addr()?);
//! #     let mut config = sse_hub::HubConfig::new(url.clone());
//! #     config.auth.publisher_keys = vec![VerificationKey::hmac(JwtAlgorithm::HS256, b"the hub's publisher secret......").unwrap()];
//! #     let hub = sse_hub::Hub::new(config.clone(), config.memory_store()).unwrap();
//! #     tokio::spawn(sse_server::serve(listener, hub.router()).into_future());
//! #     Ok((url, hub))
//! # }
//! ```
//!
//! # What is sent
//! `POST` to the hub URL, `Content-Type: application/x-www-form-urlencoded`,
//! the form Mercure defines: `topic` once per topic (canonical first),
//! `data`, `private=on`, `id`, `type` and `retry` (milliseconds) when set,
//! and `Authorization: Bearer` with the token. The answer's body is the
//! update's id.
//!
//! # Credentials
//! [`PublisherBuilder::token`] sends a token as is (from an authorization
//! server). [`PublisherBuilder::hmac_key`] signs a short-lived token itself
//! with the hub's publisher secret: `typ: at+jwt`, `aud` the hub URL (or
//! [`audience`](PublisherBuilder::audience)), `exp` five minutes ahead
//! ([`token_ttl`](PublisherBuilder::token_ttl)), and a Mercure
//! `authorization_details` grant of `publish` on `*` (or
//! [`token_topics`](PublisherBuilder::token_topics)). A token is reused
//! until half its lifetime is left, then signed again.
//!
//! # Connections
//! One [`Publisher`] keeps a pool of connections to the hub (HTTP/1.1
//! keep-alive, or one multiplexed HTTP/2 connection when TLS negotiates
//! it); clones share it. TLS trusts what an [`EventSource`](crate::EventSource)
//! trusts (the built-in roots, roots added with
//! [`add_root_certificates_pem`](PublisherBuilder::add_root_certificates_pem),
//! or anything with
//! [`danger_accept_invalid_certs`](PublisherBuilder::danger_accept_invalid_certs)),
//! and requests go through the proxies the environment names
//! ([`Proxy::from_env`]) unless told otherwise. Each attempt, from the
//! connect to the end of the answer, is bounded by
//! [`timeout`](PublisherBuilder::timeout) (30 s).
//!
//! # Memory
//! At most [`MAX_ANSWER`] bytes (64 KiB) of an answer are read: an id or an
//! error message is a few bytes, and a hub (or whatever answers in its
//! place) cannot make the publisher buffer more. A success answer longer
//! than that is [`PublishError::is_invalid_answer`]; an error message is cut
//! there.
//!
//! # Retries
//! A publish is not idempotent: sent twice, an update without an id is
//! delivered twice with two ids. So nothing is retried by default, and an
//! update without an explicit [`Update::id`] is never retried. With
//! [`PublisherBuilder::retries`], an update that has an id is sent again
//! after a 503 or a transport failure (connect, broken connection,
//! timeout), with the same id, waiting the hub's `Retry-After` or a
//! doubling delay: a hub that treats a repeated id as already published
//! then stores it once. 401, 403, 413 and 400 are never retried. (A request
//! that meets a pooled connection the hub closed before any byte was sent
//! is always sent again on a new one: it never reached the hub.)

mod connector;
mod error;
mod token;
mod update;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

pub use error::PublishError;
pub use token::HmacAlgorithm;
pub use update::Update;

use crate::proxy::Proxy;
use crate::tls::{self, Trust};
use connector::Connector;
use error::Kind;
use token::{Claims, Credentials};

/// The most bytes of a hub's answer the publisher reads (64 KiB).
pub const MAX_ANSWER: usize = 64 * 1024;

/// The first retry waits this long when the hub gave no `Retry-After`;
/// each later one twice the one before, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Sends updates to one hub; cheap to clone (clones share the connection
/// pool and the token). [`Publisher::builder`] makes one; see the
/// [module documentation](crate::publish) for what it sends.
#[derive(Clone, Debug)]
pub struct Publisher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: Uri,
    client: Client<Connector, Full<Bytes>>,
    credentials: Credentials,
    /// `Proxy-Authorization` for an `http://` hub behind a proxy that
    /// wants credentials (a tunnel carries its own on `CONNECT`).
    proxy_authorization: Option<HeaderValue>,
    timeout: Duration,
    retries: u32,
    max_retry_wait: Duration,
}

impl Publisher {
    /// A builder for a publisher to the hub at `hub_url` (the full URL,
    /// usually ending in `/.well-known/mercure`).
    pub fn builder(hub_url: &str) -> PublisherBuilder {
        PublisherBuilder::new(hub_url)
    }

    /// The hub URL updates are posted to.
    pub fn url(&self) -> &Uri {
        &self.inner.url
    }

    /// Publishes `update` and returns the id the hub stored it under (its
    /// explicit id, or one the hub generated).
    ///
    /// # Errors
    /// A [`PublishError`]: [`is_invalid_update`](PublishError::is_invalid_update)
    /// (no topic; nothing sent), [`is_unauthorized`](PublishError::is_unauthorized)
    /// (401), [`is_forbidden`](PublishError::is_forbidden) (403),
    /// [`is_too_large`](PublishError::is_too_large) (413),
    /// [`is_unavailable`](PublishError::is_unavailable) (503, after any
    /// retries), [`is_status`](PublishError::is_status) (any other status),
    /// [`is_transport`](PublishError::is_transport) (connect, TLS, proxy,
    /// broken connection, timeout) and
    /// [`is_invalid_answer`](PublishError::is_invalid_answer).
    pub async fn publish(&self, update: &Update) -> Result<String, PublishError> {
        if update.topic_list().is_empty() {
            return Err(PublishError::new(Kind::Update("an update needs a topic")));
        }
        let body = Bytes::from(update.to_form());
        // Only an update with its own id can be sent twice harmlessly.
        let retries = if update.explicit_id().is_some() {
            self.inner.retries
        } else {
            0
        };
        let mut attempt = 0;
        loop {
            let failed = match self.attempt(body.clone()).await {
                Ok(id) => return Ok(id),
                Err(e) => e,
            };
            if attempt >= retries || !failed.is_retryable() {
                return Err(failed);
            }
            let delay = retry_delay(attempt, failed.retry_after());
            if delay > self.inner.max_retry_wait {
                return Err(failed);
            }
            tracing::debug!(error = %failed, ?delay, attempt, "publish failed; retrying with the same id");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One request and its answer, bounded by the timeout.
    async fn attempt(&self, body: Bytes) -> Result<String, PublishError> {
        let inner = &*self.inner;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = inner.url.clone();
        let headers = request.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("sse-client/", env!("CARGO_PKG_VERSION"))),
        );
        if let Some(token) = inner.credentials.bearer() {
            // A given token was checked at build; a minted one is base64url.
            let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                PublishError::new(Kind::Config(
                    "the token is not a valid header value".to_owned(),
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        if let Some(auth) = &inner.proxy_authorization {
            headers.insert(header::PROXY_AUTHORIZATION, auth.clone());
        }
        let exchange = async {
            let response = inner.client.request(request).await.map_err(transport)?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let (answer, complete) = match read_bounded(response.into_body()).await {
                Ok(read) => read,
                // Without the whole body a success's id is unknown.
                Err((_, e)) if status.is_success() => {
                    return Err(PublishError::with(Kind::Broken, e))
                }
                Err((partial, _)) => (partial, true),
            };
            Ok::<_, PublishError>((status, retry_after, answer, complete))
        };
        let (status, retry_after, answer, complete) = tokio::time::timeout(inner.timeout, exchange)
            .await
            .unwrap_or(Err(PublishError::new(Kind::Timeout(inner.timeout))))?;
        answer_to_result(status, retry_after, &answer, complete)
    }
}

/// The publish's outcome from the hub's answer: the id on a success, the
/// typed error otherwise. `complete` is false when the body was cut at
/// [`MAX_ANSWER`].
fn answer_to_result(
    status: StatusCode,
    retry_after: Option<Duration>,
    answer: &[u8],
    complete: bool,
) -> Result<String, PublishError> {
    if status.is_success() {
        if !complete {
            return Err(PublishError::new(Kind::Answer(
                "longer than 64 KiB, not an id",
            )));
        }
        let id = std::str::from_utf8(answer)
            .map_err(|_| PublishError::new(Kind::Answer("the id is not UTF-8")))?;
        // The id is the whole body; some hubs end it with a line break.
        let id = id.trim_end_matches(['\r', '\n']);
        if id.is_empty() {
            return Err(PublishError::new(Kind::Answer("no id in the answer")));
        }
        return Ok(id.to_owned());
    }
    let message = String::from_utf8_lossy(answer).trim().to_owned();
    Err(PublishError::from_status(status, message, retry_after))
}

/// Reads at most [`MAX_ANSWER`] bytes of `body`; the flag says whether the
/// body ended within them (the rest is not read: the connection is then
/// dropped rather than reused).
///
/// # Errors
/// The connection broke before the body ended, with what had arrived:
/// for a refusal that text is still worth reporting (a proxy answering
/// 407 may reset the connection right after its answer).
async fn read_bounded(
    mut body: hyper::body::Incoming,
) -> Result<(Bytes, bool), (Bytes, hyper::Error)> {
    let mut answer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => return Err((answer.freeze(), e)),
        };
        if let Ok(data) = frame.into_data() {
            let room = MAX_ANSWER - answer.len();
            if data.len() > room {
                answer.extend_from_slice(&data[..room]);
                return Ok((answer.freeze(), false));
            }
            answer.extend_from_slice(&data);
        }
    }
    Ok((answer.freeze(), true))
}

/// A failure of the pooled client, kept as the source (the crate's
/// connection error, when it is one, is found inside it).
fn transport(e: hyper_util::client::legacy::Error) -> PublishError {
    PublishError::with(Kind::Transport, e)
}

/// `Retry-After`: delta-seconds, or an HTTP date (the time left until it,
/// zero when past).
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// How long to wait before retry number `attempt` (0 for the first): the
/// hub's `Retry-After` when it gave one, else a delay doubling from
/// [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`].
fn retry_delay(attempt: u32, retry_after: Option<Duration>) -> Duration {
    retry_after.unwrap_or_else(|| {
        FIRST_BACKOFF
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(MAX_BACKOFF)
    })
}

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
    fn new(url: &str) -> Self {
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
    fn retry_waits_the_hubs_retry_after_or_doubles_up_to_a_cap() {
        assert_eq!(retry_delay(0, None), Duration::from_millis(100));
        assert_eq!(retry_delay(1, None), Duration::from_millis(200));
        assert_eq!(retry_delay(5, None), Duration::from_millis(3200));
        assert_eq!(retry_delay(6, None), MAX_BACKOFF);
        assert_eq!(retry_delay(u32::MAX, None), MAX_BACKOFF);
        assert_eq!(
            retry_delay(3, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later =
            httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let left = parse_retry_after(&later).unwrap();
        assert!(left > Duration::from_secs(100) && left <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("99999999999999999999999"), None);
    }

    #[test]
    fn answers_become_ids_or_typed_errors() {
        let ok = |body: &[u8], complete| answer_to_result(StatusCode::OK, None, body, complete);
        assert_eq!(ok(b"urn:uuid:1", true).unwrap(), "urn:uuid:1");
        assert_eq!(ok(b"id 1\r\n", true).unwrap(), "id 1");
        assert!(ok(b"", true).unwrap_err().is_invalid_answer());
        assert!(ok(b"\xff", true).unwrap_err().is_invalid_answer());
        assert!(ok(b"x", false).unwrap_err().is_invalid_answer());
        let e = answer_to_result(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(Duration::from_secs(1)),
            b"  the store is busy \xff\n",
            false,
        )
        .unwrap_err();
        assert!(e.is_unavailable());
        assert_eq!(e.message(), Some("the store is busy \u{fffd}"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    }

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
