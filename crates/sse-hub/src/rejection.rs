//! [`Rejection`]: why the hub refuses a request, as an HTTP answer.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::auth::Role;

/// A refused request: the HTTP status, an RFC 6750 `WWW-Authenticate`
/// challenge where one applies, and a human-readable body.
///
/// Every protocol function of the hub ([`Hub::publish`], [`Hub::subscribe`],
/// [`Hub::publish_update`], and the parsing, token and grant checks they are
/// made of) fails with this type, so an HTTP layer turns any failure into a
/// response the same way: [`status`](Self::status),
/// [`www_authenticate`](Self::www_authenticate) and
/// [`retry_after`](Self::retry_after) as headers when present, and
/// [`message`](Self::message) as a `text/plain` body. The message never
/// contains a token or a payload.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use sse_hub::{Hub, HubConfig, Update};
///
/// let config = HubConfig::new("https://example.com/.well-known/mercure");
/// let store = config.memory_store();
/// let hub = Hub::new(config, store).unwrap();
/// // `*` is not a topic one can publish to.
/// let refused = hub.publish_update(Update::new(["*"], "x")).await.unwrap_err();
/// assert!(refused.is_bad_request());
/// assert_eq!(refused.status(), 400);
/// # }
/// ```
///
/// [`Hub::publish`]: crate::Hub::publish
/// [`Hub::subscribe`]: crate::Hub::subscribe
/// [`Hub::publish_update`]: crate::Hub::publish_update
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    kind: Kind,
    message: Cow<'static, str>,
    challenge: Option<Box<str>>,
    /// Set on an `invalid_token` for a token whose `kid` no key of this
    /// role has, when the role has JWK Sets that a refresh may complete.
    unknown_kid: Option<Role>,
    /// When the client may try again (429, 503).
    retry_after: Option<Duration>,
    /// A 503 for a publish that may have been stored (see
    /// [`is_outcome_unknown`](Self::is_outcome_unknown)).
    outcome_unknown: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    BadRequest,
    Unauthorized,
    Forbidden,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotFound,
    TooManyRequests,
    Unavailable,
    Internal,
}

/// The RFC 6750 §3.1 error code of a challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BearerError {
    /// No code: the request carried no token (RFC 6750 §3.1, last paragraph).
    None,
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
}

impl BearerError {
    fn code(self) -> Option<&'static str> {
        match self {
            BearerError::None => None,
            BearerError::InvalidRequest => Some("invalid_request"),
            BearerError::InvalidToken => Some("invalid_token"),
            BearerError::InsufficientScope => Some("insufficient_scope"),
        }
    }
}

impl Rejection {
    pub(crate) fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::BadRequest, message)
    }

    pub(crate) fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Forbidden, message)
    }

    pub(crate) fn payload_too_large(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::PayloadTooLarge, message)
    }

    pub(crate) fn unsupported_media_type(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::UnsupportedMediaType, message)
    }

    /// 429: too many streams for one token subject; retry after `retry_after`.
    pub(crate) fn too_many_requests(
        message: impl Into<Cow<'static, str>>,
        retry_after: Duration,
    ) -> Self {
        Self::new(Kind::TooManyRequests, message).retrying_after(retry_after)
    }

    /// 503: overload, shutdown, or a store that cannot take the request
    /// now; retry after `retry_after`.
    pub(crate) fn unavailable(
        message: impl Into<Cow<'static, str>>,
        retry_after: Duration,
    ) -> Self {
        Self::new(Kind::Unavailable, message).retrying_after(retry_after)
    }

    /// 503 for a publish the store may have taken (see
    /// [`is_outcome_unknown`](Self::is_outcome_unknown)).
    pub(crate) fn outcome_unknown(
        message: impl Into<Cow<'static, str>>,
        retry_after: Duration,
    ) -> Self {
        let mut r = Self::unavailable(message, retry_after);
        r.outcome_unknown = true;
        r
    }

    /// 404: a resource of the hub's that does not exist.
    pub(crate) fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::NotFound, message)
    }

    /// 500: the hub could not do what it should have been able to.
    pub(crate) fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::Internal, message)
    }

    fn retrying_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    fn new(kind: Kind, message: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            kind,
            message: message.into(),
            challenge: None,
            unknown_kid: None,
            retry_after: None,
            outcome_unknown: false,
        }
    }

    /// An RFC 6750 rejection: the status follows from the error code (no
    /// code and `invalid_token` → 401, `insufficient_scope` → 403,
    /// `invalid_request` → 400) and the challenge carries the code, the
    /// description and, when known, the RFC 9728 `resource_metadata` URL.
    pub(crate) fn bearer(
        error: BearerError,
        description: &'static str,
        resource_metadata: Option<&str>,
    ) -> Self {
        let kind = match error {
            BearerError::None | BearerError::InvalidToken => Kind::Unauthorized,
            BearerError::InsufficientScope => Kind::Forbidden,
            BearerError::InvalidRequest => Kind::BadRequest,
        };
        let mut challenge = String::from("Bearer");
        let mut params: Vec<String> = Vec::with_capacity(3);
        if let Some(code) = error.code() {
            params.push(format!("error=\"{code}\""));
            // Descriptions are our own static texts; quote them anyway so a
            // future edit cannot break the header syntax.
            params.push(format!("error_description=\"{}\"", quote(description)));
        }
        if let Some(url) = resource_metadata {
            params.push(format!("resource_metadata=\"{}\"", quote(url)));
        }
        if !params.is_empty() {
            challenge.push(' ');
            challenge.push_str(&params.join(", "));
        }
        Rejection {
            challenge: Some(challenge.into_boxed_str()),
            ..Self::new(kind, description)
        }
    }

    /// The same rejection with another body text (the challenge is kept).
    pub(crate) fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// Marks a rejection caused by an unknown `kid` among `role`'s keys.
    pub(crate) fn for_unknown_kid(mut self, role: Role) -> Self {
        self.unknown_kid = Some(role);
        self
    }

    /// The role whose JWK Sets may know the token's `kid` after a refresh.
    pub(crate) fn unknown_kid(&self) -> Option<Role> {
        self.unknown_kid
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// How long the client should wait before trying again (the
    /// `Retry-After` header, in whole seconds, at least 1), for 429 and 503.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The `WWW-Authenticate` header value, for token faults and missing
    /// tokens (M25). Always a valid header value (visible ASCII and spaces)
    /// when the configured metadata URL is.
    pub fn www_authenticate(&self) -> Option<&str> {
        self.challenge.as_deref()
    }

    /// The human-readable explanation, suitable as a `text/plain` body.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 400 Bad Request (malformed request, M3–M5, M14–M20; or RFC 6750
    /// `invalid_request`).
    pub fn is_bad_request(&self) -> bool {
        self.kind == Kind::BadRequest
    }

    /// 401 Unauthorized: no token where one is required, or an invalid token.
    pub fn is_unauthorized(&self) -> bool {
        self.kind == Kind::Unauthorized
    }

    /// 403 Forbidden: a valid token without the needed grant, or (S/L
    /// compatibility) a topic in the reserved namespace.
    pub fn is_forbidden(&self) -> bool {
        self.kind == Kind::Forbidden
    }

    /// 413 Payload Too Large: a body, field or topic-count cap (M14, M22).
    pub fn is_payload_too_large(&self) -> bool {
        self.kind == Kind::PayloadTooLarge
    }

    /// 415 Unsupported Media Type: a publish body that is not a form (M13).
    pub fn is_unsupported_media_type(&self) -> bool {
        self.kind == Kind::UnsupportedMediaType
    }

    /// 404 Not Found: a subscriptions-API path that does not exist, or a
    /// subscription that is not active (M42).
    pub fn is_not_found(&self) -> bool {
        self.kind == Kind::NotFound
    }

    /// 429 Too Many Requests: the token's subject already holds the most
    /// streams allowed ([`Limits::max_connections_per_subject`]).
    ///
    /// [`Limits::max_connections_per_subject`]: crate::hub::Limits::max_connections_per_subject
    pub fn is_too_many_requests(&self) -> bool {
        self.kind == Kind::TooManyRequests
    }

    /// 503 Service Unavailable: the hub is shutting down or at its
    /// connection limit, or the store cannot take the request now. Nothing
    /// was done, unless [`is_outcome_unknown`](Self::is_outcome_unknown).
    pub fn is_unavailable(&self) -> bool {
        self.kind == Kind::Unavailable
    }

    /// A 503 for a publish whose outcome the hub cannot know: the store
    /// may have taken the update. Publishing again with the same `id` is
    /// safe.
    pub fn is_outcome_unknown(&self) -> bool {
        self.outcome_unknown
    }

    /// 500 Internal Server Error.
    pub fn is_internal(&self) -> bool {
        self.kind == Kind::Internal
    }

    /// The RFC 6750 error code in the challenge (`invalid_token`,
    /// `insufficient_scope`, `invalid_request`), if any.
    pub fn bearer_error(&self) -> Option<&'static str> {
        let challenge = self.challenge.as_deref()?;
        ["invalid_token", "insufficient_scope", "invalid_request"]
            .into_iter()
            .find(|code| challenge.contains(&format!("error=\"{code}\"")))
    }
}

/// Escapes a quoted-string (RFC 9110 §5.6.4) and drops what a header cannot
/// carry.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {}
        }
    }
    out
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rejection {}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Rejection>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let r = Rejection::bearer(
            BearerError::None,
            "a token is required",
            Some("https://h/m"),
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.www_authenticate(),
            Some("Bearer resource_metadata=\"https://h/m\"")
        );
        assert_eq!(r.bearer_error(), None);
        let r = Rejection::bearer(BearerError::InvalidToken, "bad \"x\"", None);
        assert_eq!(
            r.www_authenticate(),
            Some("Bearer error=\"invalid_token\", error_description=\"bad \\\"x\\\"\"")
        );
        assert_eq!(r.bearer_error(), Some("invalid_token"));
        let r = Rejection::bearer(BearerError::InsufficientScope, "no", None);
        assert!(r.is_forbidden());
        let r = Rejection::bearer(BearerError::InvalidRequest, "no", None);
        assert!(r.is_bad_request());
        assert_eq!(
            Rejection::bearer(BearerError::None, "x", None).www_authenticate(),
            Some("Bearer")
        );
    }
}
