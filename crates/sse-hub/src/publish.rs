//! Publish requests (MERCURE.md M13–M22, L5): the form body of
//! `POST /.well-known/mercure`, validated into the shared [`Update`].
//!
//! Authorization is separate ([`crate::auth::Authorizer::authorize_publish`]):
//! the route parses first (so a malformed request is a 400 whoever sends it)
//! or authorizes first; both orders are safe because parsing has no effects.
//!
//! ```
//! use sse_hub::publish::{PublishConfig, PublishRequest};
//! use sse_hub::topic::HubUrl;
//!
//! let hub = HubUrl::parse("https://example.com/.well-known/mercure").unwrap();
//! let req = PublishRequest::parse(
//!     Some(b"application/x-www-form-urlencoded"),
//!     b"topic=https%3A%2F%2Fexample.com%2Fbooks%2F1&data=%7B%7D&private=on",
//!     &hub,
//!     &PublishConfig::default(),
//! )
//! .unwrap();
//! assert_eq!(req.topics(), ["https://example.com/books/1"]);
//! let update = req.into_update();
//! assert!(update.private);
//! assert!(update.id.starts_with("urn:uuid:"));
//!
//! let reserved = PublishRequest::parse(
//!     Some(b"application/x-www-form-urlencoded"),
//!     b"topic=/.well-known/mercure/subscriptions/x",
//!     &hub,
//!     &PublishConfig::default(),
//! )
//! .unwrap_err();
//! assert_eq!(reserved.status(), 400);
//! ```

use crate::topic::{check_chars, decode_unreserved, form_pairs, remove_dot_segments, HubUrl};
use crate::Rejection;
use crate::Update;

/// Limits and compatibility switches for publishing.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PublishConfig {
    /// Largest form body in bytes (M22); larger is a 413. The HTTP layer
    /// should stop reading at this size too.
    pub max_body: usize,
    /// Most `topic` fields (M14-H); more is a 413.
    pub max_topics: usize,
    /// Longest topic in bytes; longer is a 413.
    pub max_topic_len: usize,
    /// Longest `id` in bytes; longer is a 413.
    pub max_id_len: usize,
    /// Longest `type` in bytes; longer is a 413.
    pub max_type_len: usize,
    /// S: exactly one `topic` field; a second one is a 400. Off by default
    /// (H and L allow alternates).
    pub single_topic: bool,
    /// S/L: a topic in the reserved namespace is a 403 instead of H's 400.
    pub reserved_namespace_forbidden: bool,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            max_body: 1024 * 1024,
            max_topics: 32,
            max_topic_len: 2048,
            max_id_len: 1024,
            max_type_len: 256,
            single_topic: false,
            reserved_namespace_forbidden: false,
        }
    }
}

/// A validated publish request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    topics: Vec<String>,
    data: String,
    private: bool,
    id: Option<String>,
    event_type: Option<String>,
    retry: Option<u64>,
}

impl PublishRequest {
    /// Parses a publish body.
    ///
    /// `content_type` is the request's `Content-Type` header. Fields:
    /// `topic` (one or more; the first is canonical), `data`, `private`
    /// (presence only, M17), `id`, `type`, `retry`. A repeated single-valued
    /// field keeps its first value; unknown fields are ignored (M13-H).
    /// `id=`, `type=` and `retry=` with an empty value count as absent.
    ///
    /// # Errors
    ///
    /// - 415: not `application/x-www-form-urlencoded` (M13).
    /// - 413: body, topic count or a field over its cap (M14-H, M22).
    /// - 400: no topic; two topics under [`PublishConfig::single_topic`];
    ///   a topic, `id` or `type` that is not UTF-8 or breaks the character
    ///   rules; topic `*`; `data` not UTF-8; an `id` starting with `#`, or
    ///   `earliest`; `type=mercure`; `retry` not ASCII digits (M14–M20);
    ///   a reserved-namespace topic (M15-H).
    /// - 403: a reserved-namespace topic under
    ///   [`PublishConfig::reserved_namespace_forbidden`] (M15-S, L5).
    pub fn parse(
        content_type: Option<&[u8]>,
        body: &[u8],
        hub: &HubUrl,
        config: &PublishConfig,
    ) -> Result<Self, Rejection> {
        if !is_form_content_type(content_type) {
            return Err(Rejection::unsupported_media_type(
                "publish requests must be application/x-www-form-urlencoded",
            ));
        }
        if body.len() > config.max_body {
            return Err(Rejection::payload_too_large(format!(
                "request body too large: at most {} bytes",
                config.max_body
            )));
        }

        let mut topics: Vec<String> = Vec::new();
        let mut data: Option<Vec<u8>> = None;
        let mut private = false;
        let mut id: Option<Vec<u8>> = None;
        let mut event_type: Option<Vec<u8>> = None;
        let mut retry: Option<Vec<u8>> = None;
        for (name, value) in form_pairs(body) {
            match name.as_slice() {
                b"topic" => {
                    if config.single_topic && !topics.is_empty() {
                        return Err(Rejection::bad_request("exactly one topic field is allowed"));
                    }
                    if topics.len() >= config.max_topics {
                        return Err(Rejection::payload_too_large(format!(
                            "too many topics: at most {} per update",
                            config.max_topics
                        )));
                    }
                    topics.push(validate_topic(value, hub, config)?);
                }
                b"data" => {
                    data.get_or_insert(value);
                }
                b"private" => private = true,
                b"id" => {
                    id.get_or_insert(value);
                }
                b"type" => {
                    event_type.get_or_insert(value);
                }
                b"retry" => {
                    retry.get_or_insert(value);
                }
                _ => {}
            }
        }
        if topics.is_empty() {
            return Err(Rejection::bad_request("missing topic field"));
        }
        let data = match data {
            None => String::new(),
            Some(d) => String::from_utf8(d)
                .map_err(|_| Rejection::bad_request("data is not valid UTF-8"))?,
        };
        let id = match id.filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(validate_id(v, config)?),
        };
        let event_type = match event_type.filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(validate_type(v, config)?),
        };
        let retry = match retry.filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => Some(parse_retry(&v)?),
        };
        Ok(PublishRequest {
            topics,
            data,
            private,
            id,
            event_type,
            retry,
        })
    }

    /// Checks an update made by server code ([`Hub::publish_update`]) with
    /// the rules a form publish is held to: the same topic, id, type and
    /// size limits, so an in-process update can be replayed, encoded and
    /// read back by every client exactly like a published one. Only the
    /// token check is skipped. An empty `id` means "generate one".
    ///
    /// # Errors
    ///
    /// The [`parse`](Self::parse) rejections that apply to a field (400,
    /// 403 for a reserved topic under
    /// [`PublishConfig::reserved_namespace_forbidden`], 413).
    ///
    /// [`Hub::publish_update`]: crate::Hub::publish_update
    pub fn from_update(
        update: Update,
        hub: &HubUrl,
        config: &PublishConfig,
    ) -> Result<Self, Rejection> {
        if update.topics.is_empty() {
            return Err(Rejection::bad_request("missing topic"));
        }
        if config.single_topic && update.topics.len() > 1 {
            return Err(Rejection::bad_request("exactly one topic is allowed"));
        }
        if update.topics.len() > config.max_topics {
            return Err(Rejection::payload_too_large(format!(
                "too many topics: at most {} per update",
                config.max_topics
            )));
        }
        if update.data.len() > config.max_body {
            return Err(Rejection::payload_too_large(format!(
                "data too large: at most {} bytes",
                config.max_body
            )));
        }
        let topics = update
            .topics
            .into_iter()
            .map(|t| validate_topic(t.into_bytes(), hub, config))
            .collect::<Result<Vec<_>, _>>()?;
        let id = match update.id {
            id if id.is_empty() => None,
            id => Some(validate_id(id.into_bytes(), config)?),
        };
        let event_type = match update.event_type.filter(|t| !t.is_empty()) {
            None => None,
            Some(t) => Some(validate_type(t.into_bytes(), config)?),
        };
        Ok(PublishRequest {
            topics,
            data: update.data,
            private: update.private,
            id,
            event_type,
            retry: update.retry,
        })
    }

    /// The topics; the first is canonical, the rest alternates. Never empty.
    pub fn topics(&self) -> &[String] {
        &self.topics
    }

    /// The data (empty when absent).
    pub fn data(&self) -> &str {
        &self.data
    }

    /// Whether the update is private (M17).
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// The publisher's id, if it sent one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The SSE event type, if any.
    pub fn event_type(&self) -> Option<&str> {
        self.event_type.as_deref()
    }

    /// The SSE retry in milliseconds, if any.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// The shared [`Update`], with the publisher's id or a fresh
    /// `urn:uuid:` one (M18). The store may still replace a generated id;
    /// this keeps `Update::id` always meaningful.
    pub fn into_update(self) -> Update {
        Update {
            id: self.id.unwrap_or_else(generate_id),
            topics: self.topics,
            data: self.data,
            private: self.private,
            event_type: self.event_type,
            retry: self.retry,
        }
    }
}

pub use crate::update::generate_id;

/// `application/x-www-form-urlencoded`, case-insensitive, parameters
/// allowed (a `charset` other than UTF-8 is refused: the spec mandates UTF-8).
fn is_form_content_type(content_type: Option<&[u8]>) -> bool {
    let Some(ct) = content_type.and_then(|c| std::str::from_utf8(c).ok()) else {
        return false;
    };
    let mut parts = ct.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return false;
    }
    parts.all(|param| {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        !name.trim().eq_ignore_ascii_case("charset") || {
            let v = value.trim().trim_matches('"');
            v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
        }
    })
}

fn validate_topic(
    value: Vec<u8>,
    hub: &HubUrl,
    config: &PublishConfig,
) -> Result<String, Rejection> {
    if value.len() > config.max_topic_len {
        return Err(Rejection::payload_too_large(format!(
            "topic too long: at most {} bytes",
            config.max_topic_len
        )));
    }
    let topic =
        String::from_utf8(value).map_err(|_| Rejection::bad_request("topic is not valid UTF-8"))?;
    if topic.is_empty() {
        return Err(Rejection::bad_request("topic is empty"));
    }
    check_chars(&topic).map_err(|f| Rejection::bad_request(format!("topic {}", f.describe())))?;
    if topic == "*" {
        return Err(Rejection::bad_request(
            "topic \"*\" is reserved: it matches every topic",
        ));
    }
    if is_reserved_topic(&topic, hub) {
        let message = "topic is in the hub's reserved namespace (/.well-known/mercure)";
        return Err(if config.reserved_namespace_forbidden {
            Rejection::forbidden(message)
        } else {
            Rejection::bad_request(message)
        });
    }
    Ok(topic)
}

/// M15: whether `topic`, resolved against the hub URL, has a path at or under
/// the hub's path or `/.well-known/mercure`, whatever the scheme or host.
/// Dot-segments are removed after decoding unreserved escapes, so
/// `/.well-known/%6Dercure` and `/x/../.well-known/mercure` are caught, but
/// `https://x/foo/.well-known/mercure` is not (no substring test). A topic
/// that does not parse as a URL reference cannot address the namespace.
pub fn is_reserved_topic(topic: &str, hub: &HubUrl) -> bool {
    let Some(url) = hub.resolve(topic) else {
        return false;
    };
    let path = remove_dot_segments(&decode_unreserved(url.path()));
    let under = |prefix: &str| {
        let prefix = prefix.trim_end_matches('/');
        !prefix.is_empty()
            && (path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/')))
    };
    under("/.well-known/mercure") || under(hub.path())
}

fn validate_id(value: Vec<u8>, config: &PublishConfig) -> Result<String, Rejection> {
    if value.len() > config.max_id_len {
        return Err(Rejection::payload_too_large(format!(
            "id too long: at most {} bytes",
            config.max_id_len
        )));
    }
    let id =
        String::from_utf8(value).map_err(|_| Rejection::bad_request("id is not valid UTF-8"))?;
    check_chars(&id).map_err(|f| Rejection::bad_request(format!("id {}", f.describe())))?;
    if id.starts_with('#') {
        return Err(Rejection::bad_request(
            "id must not start with '#': such ids are the hub's",
        ));
    }
    if id == "earliest" {
        return Err(Rejection::bad_request(
            "id \"earliest\" is reserved for reconnection",
        ));
    }
    Ok(id)
}

fn validate_type(value: Vec<u8>, config: &PublishConfig) -> Result<String, Rejection> {
    if value.len() > config.max_type_len {
        return Err(Rejection::payload_too_large(format!(
            "type too long: at most {} bytes",
            config.max_type_len
        )));
    }
    let event_type =
        String::from_utf8(value).map_err(|_| Rejection::bad_request("type is not valid UTF-8"))?;
    check_chars(&event_type)
        .map_err(|f| Rejection::bad_request(format!("type {}", f.describe())))?;
    if event_type == "mercure" {
        return Err(Rejection::bad_request(
            "type \"mercure\" is reserved for the hub's own events",
        ));
    }
    Ok(event_type)
}

fn parse_retry(value: &[u8]) -> Result<u64, Rejection> {
    if !value.iter().all(u8::is_ascii_digit) {
        return Err(Rejection::bad_request("retry must be ASCII digits only"));
    }
    // All digits, so the only possible failure is overflow.
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| Rejection::bad_request("retry is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(is_form_content_type(Some(
            b"application/x-www-form-urlencoded"
        )));
        assert!(is_form_content_type(Some(
            b"Application/X-WWW-Form-Urlencoded; charset=UTF-8"
        )));
        assert!(!is_form_content_type(Some(
            b"application/x-www-form-urlencoded; charset=latin1"
        )));
        assert!(!is_form_content_type(Some(b"multipart/form-data")));
        assert!(!is_form_content_type(None));
        assert!(!is_form_content_type(Some(b"\xff")));
    }

    #[test]
    fn reserved_paths() {
        let hub = HubUrl::parse("https://example.com/.well-known/mercure").unwrap();
        for t in [
            "/.well-known/mercure",
            "/.well-known/mercure/subscriptions/x",
            "https://other.example/.well-known/mercure/x",
            "/.well-known/%6Dercure/x",
            "/a/../.well-known/mercure",
            "/%2E%2E/.well-known/mercure",
            "../.well-known/mercure/",
            "foo:/.well-known/mercure",
        ] {
            assert!(is_reserved_topic(t, &hub), "{t}");
        }
        for t in [
            "https://x/foo/.well-known/mercure",
            "/.well-known/mercurex",
            "/.well-known/mercure%2Fx",
            "urn:uuid:1",
            "books",
        ] {
            assert!(!is_reserved_topic(t, &hub), "{t}");
        }
        let custom = HubUrl::parse("https://example.com/hub").unwrap();
        assert!(is_reserved_topic("/hub/subscriptions", &custom));
        assert!(!is_reserved_topic("/hubx", &custom));
        let root = HubUrl::parse("https://example.com/").unwrap();
        assert!(!is_reserved_topic("/books", &root));
    }
}
