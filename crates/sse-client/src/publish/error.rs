//! [`PublishError`]: why a publish failed, opaque with predicates (like the
//! crate's [`Error`](crate::Error)), so new causes can be added without
//! breaking anyone's `match`.

use std::fmt;
use std::time::Duration;

use crate::error::BoxError;

/// Why [`Publisher::publish`](crate::Publisher::publish) failed, or why a
/// [`PublisherBuilder`](crate::PublisherBuilder) was refused.
///
/// Ask with the `is_*` predicates. For an answer of the hub,
/// [`status`](PublishError::status) is its status and
/// [`message`](PublishError::message) the text of its body (trimmed, at most
/// [`MAX_ANSWER`](crate::publish::MAX_ANSWER) bytes read). The `Display`
/// text never contains the token, the key or the update's data.
pub struct PublishError {
    kind: Kind,
    cause: Option<BoxError>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    #[error("invalid publisher configuration: {0}")]
    Config(String),
    #[error("invalid update: {0}")]
    Update(&'static str),
    #[error("cannot mint the publisher token: {0}")]
    Mint(&'static str),
    #[error("the hub refused the token (401): {0}")]
    Unauthorized(String),
    #[error("the token may not publish to these topics (403): {0}")]
    Forbidden(String),
    #[error("the hub refused the update as too large (413): {0}")]
    TooLarge(String),
    #[error("the hub is unavailable (503): {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("the hub answered {status}: {message}")]
    Status {
        status: http::StatusCode,
        message: String,
    },
    /// Connect, TLS, proxy or HTTP failure (the crate's `Error` or
    /// hyper-util's is the source).
    #[error("cannot reach the hub")]
    Transport,
    /// The connection broke while the answer was read (hyper's error is
    /// the source).
    #[error("the connection broke during the hub's answer")]
    Broken,
    #[error("no answer from the hub within {0:?}")]
    Timeout(Duration),
    #[error("the hub's answer is not a publish answer: {0}")]
    Answer(&'static str),
}

impl PublishError {
    pub(crate) fn new(kind: Kind) -> Self {
        PublishError { kind, cause: None }
    }

    pub(crate) fn with(kind: Kind, source: impl Into<BoxError>) -> Self {
        PublishError {
            kind,
            cause: Some(source.into()),
        }
    }

    /// An error for a hub's answer with a status that is not a success.
    pub(crate) fn from_status(
        status: http::StatusCode,
        message: String,
        retry_after: Option<Duration>,
    ) -> Self {
        PublishError::new(match status.as_u16() {
            401 => Kind::Unauthorized(message),
            403 => Kind::Forbidden(message),
            413 => Kind::TooLarge(message),
            503 => Kind::Unavailable {
                message,
                retry_after,
            },
            _ => Kind::Status { status, message },
        })
    }

    /// The builder was given something unusable: a hub URL that is not an
    /// absolute `http`/`https` URL, an empty key, an invalid root
    /// certificate or proxy variable.
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_))
    }

    /// The update cannot be sent as it is (it has no topic). Nothing was
    /// sent. Updates the hub refuses are [`is_bad_request`](Self::is_bad_request).
    pub fn is_invalid_update(&self) -> bool {
        matches!(self.kind, Kind::Update(_))
    }

    /// The key could not sign a token (for example its topic list is
    /// empty). Nothing was sent.
    pub fn is_mint(&self) -> bool {
        matches!(self.kind, Kind::Mint(_))
    }

    /// 401: the hub refused the token (missing, malformed, badly signed,
    /// expired, for another audience).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.kind, Kind::Unauthorized(_))
    }

    /// 403: the token is valid but does not grant `publish` on every topic
    /// of the update (or the topic is in the hub's reserved namespace).
    pub fn is_forbidden(&self) -> bool {
        matches!(self.kind, Kind::Forbidden(_))
    }

    /// 413: the body, a field or the number of topics is over the hub's
    /// limit.
    pub fn is_too_large(&self) -> bool {
        matches!(self.kind, Kind::TooLarge(_))
    }

    /// 503: the hub is shutting down, or its store is busy, failing or
    /// unreachable. [`retry_after`](Self::retry_after) says when to come
    /// back if the hub said; [`is_outcome_unknown`](Self::is_outcome_unknown)
    /// whether the update may have been stored anyway.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.kind, Kind::Unavailable { .. })
    }

    /// 400: the hub refused the update's fields (a topic, `id`, `type` or
    /// `retry` breaking its rules); [`message`](Self::message) says which.
    pub fn is_bad_request(&self) -> bool {
        self.status() == Some(400)
    }

    /// The hub answered with a status that is not a success (401, 403, 413
    /// and 503 included).
    pub fn is_status(&self) -> bool {
        self.status().is_some()
    }

    /// The HTTP status of the hub's answer, when the error is one.
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            Kind::Unauthorized(_) => Some(401),
            Kind::Forbidden(_) => Some(403),
            Kind::TooLarge(_) => Some(413),
            Kind::Unavailable { .. } => Some(503),
            Kind::Status { status, .. } => Some(status.as_u16()),
            _ => None,
        }
    }

    /// The text of the hub's answer (trimmed; lossy UTF-8), when the error
    /// is a status.
    pub fn message(&self) -> Option<&str> {
        match &self.kind {
            Kind::Unauthorized(m)
            | Kind::Forbidden(m)
            | Kind::TooLarge(m)
            | Kind::Unavailable { message: m, .. }
            | Kind::Status { message: m, .. } => Some(m),
            _ => None,
        }
    }

    /// For a 503, the hub's `Retry-After` (seconds or an HTTP date), if it
    /// sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            Kind::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A 503 whose text says the outcome is unknown ("outcome unknown" or
    /// "the outcome is unknown", any case): the update reached the store but
    /// was not confirmed, so it may be delivered. Publishing it again with
    /// the same `id` settles it on a hub that treats a repeated id as
    /// already published.
    pub fn is_outcome_unknown(&self) -> bool {
        match &self.kind {
            Kind::Unavailable { message, .. } => {
                let m = message.to_ascii_lowercase();
                m.contains("outcome unknown") || m.contains("outcome is unknown")
            }
            _ => false,
        }
    }

    /// The hub could not be reached or the exchange broke: DNS, connect,
    /// proxy, TLS, an HTTP protocol error, a connection closed before the
    /// answer, or the timeout. Whether the update was stored is unknown
    /// when the request had been sent.
    pub fn is_transport(&self) -> bool {
        matches!(self.kind, Kind::Transport | Kind::Broken | Kind::Timeout(_))
    }

    /// The TCP connection to the hub (or its proxy) could not be made.
    pub fn is_connect(&self) -> bool {
        self.client_error().is_some_and(crate::Error::is_connect)
    }

    /// The TLS handshake with the hub failed (for example an untrusted
    /// certificate).
    pub fn is_tls(&self) -> bool {
        self.client_error().is_some_and(crate::Error::is_tls)
    }

    /// The proxy failed (see [`Error::is_proxy`](crate::Error::is_proxy)).
    pub fn is_proxy(&self) -> bool {
        self.client_error().is_some_and(crate::Error::is_proxy)
    }

    /// No complete answer within the
    /// [`timeout`](crate::PublisherBuilder::timeout).
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout(_))
    }

    /// The hub answered success with a body that is not an id (over
    /// [`MAX_ANSWER`](crate::publish::MAX_ANSWER) bytes, or not UTF-8).
    /// The update was probably stored.
    pub fn is_invalid_answer(&self) -> bool {
        matches!(self.kind, Kind::Answer(_))
    }

    /// Whether publishing the same update again may help: a 503, or a
    /// transport failure or timeout (the request may not have arrived).
    /// Only safe for an update with an explicit id (see
    /// [`PublisherBuilder::retries`](crate::PublisherBuilder::retries)).
    pub(crate) fn is_retryable(&self) -> bool {
        self.is_unavailable() || self.is_transport()
    }

    /// The crate's connection error somewhere in the source chain.
    fn client_error(&self) -> Option<&crate::Error> {
        let mut next: Option<&(dyn std::error::Error + 'static)> =
            self.cause.as_deref().map(|e| e as _);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<crate::Error>() {
                return Some(found);
            }
            next = e.source();
        }
        None
    }
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // Past hyper-util's wrapper ("client error (Connect)") to the
        // crate's own connection error when there is one: it names the
        // host, and its own source the cause.
        if let Some(e) = self.client_error() {
            return Some(e);
        }
        self.cause.as_deref().map(|e| e as _)
    }
}

impl fmt::Debug for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("PublishError");
        d.field("kind", &self.kind);
        if let Some(s) = &self.cause {
            d.field("source", s);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_their_predicates() {
        let e = |s: u16| PublishError::from_status(s.try_into().unwrap(), "why".into(), None);
        assert!(e(401).is_unauthorized() && e(401).status() == Some(401));
        assert!(e(403).is_forbidden() && !e(403).is_unauthorized());
        assert!(e(413).is_too_large());
        assert!(e(503).is_unavailable() && e(503).is_retryable());
        assert!(e(400).is_bad_request() && e(400).is_status() && !e(400).is_retryable());
        assert!(e(502).is_status() && !e(502).is_unavailable());
        assert_eq!(e(403).message(), Some("why"));
        assert!(!e(403).is_transport());
    }

    #[test]
    fn outcome_unknown_is_read_from_the_message() {
        let unavailable = |m: &str| {
            PublishError::from_status(
                http::StatusCode::SERVICE_UNAVAILABLE,
                m.into(),
                Some(Duration::from_secs(1)),
            )
        };
        assert!(unavailable("outcome unknown: retry with the same id").is_outcome_unknown());
        assert!(unavailable("The outcome is unknown: update x reached").is_outcome_unknown());
        assert!(!unavailable("the store is busy: the update was not stored").is_outcome_unknown());
        assert_eq!(unavailable("x").retry_after(), Some(Duration::from_secs(1)));
        let other = PublishError::from_status(
            http::StatusCode::BAD_GATEWAY,
            "outcome unknown".into(),
            None,
        );
        assert!(!other.is_outcome_unknown(), "only a 503 says so");
    }
}
