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

mod builder;
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

pub use builder::PublisherBuilder;
pub use error::PublishError;
pub use token::HmacAlgorithm;
pub use update::Update;

use connector::Connector;
use error::Kind;
use token::Credentials;

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
            .unwrap_or_else(|_| Err(PublishError::new(Kind::Timeout(inner.timeout))))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A publish can be spawned on a multi-threaded runtime.
    #[allow(dead_code)]
    fn the_publish_future_is_send(publisher: &Publisher, update: &Update) {
        fn send<T: Send>(_: T) {}
        send(publisher.publish(update));
    }

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
}
