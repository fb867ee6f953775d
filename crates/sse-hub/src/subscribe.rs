//! Subscribe requests (MERCURE.md M2–M5, M35–M36, L1, L2, L7) and what the
//! hub publishes about subscriptions (M39–M41, L6) and advertises (M43).
//!
//! [`SubscribeRequest::parse`] turns the raw query string (and, for the H
//! `QUERY` method, the form body) plus the `Last-Event-ID` header into typed
//! matchers and a cursor, or a [`Rejection`] (always 400 here).
//!
//! ```
//! use sse_hub::subscribe::{Cursor, SubscribeConfig, SubscribeInput, SubscribeRequest};
//! use sse_hub::topic::{HubUrl, MatchType};
//!
//! let hub = HubUrl::parse("https://example.com/.well-known/mercure").unwrap();
//! let input = SubscribeInput {
//!     query: b"match=https%3A%2F%2Fexample.com%2Ffoo&match_urlpattern=/books/:id&last_event_id=earliest",
//!     ..SubscribeInput::default()
//! };
//! let req = SubscribeRequest::parse(&input, &hub, &SubscribeConfig::default()).unwrap();
//! assert_eq!(req.matchers().len(), 2);
//! assert_eq!(req.matchers()[1].match_type(), MatchType::UrlPattern);
//! assert!(req.matchers()[1].matches_str("https://example.com/books/7"));
//! assert_eq!(req.cursor(), &Cursor::Earliest);
//!
//! let bad = SubscribeRequest::parse(
//!     &SubscribeInput { query: b"matchFoo=x", ..SubscribeInput::default() },
//!     &hub,
//!     &SubscribeConfig::default(),
//! )
//! .unwrap_err();
//! assert_eq!(bad.status(), 400);
//! ```

use serde_json::{json, Map, Value};

use crate::topic::{check_chars, encode_path_segment, form_pairs, HubUrl, MatchType, TopicMatcher};
use crate::Rejection;
use crate::Update;

/// Limits and switches for subscribe requests.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SubscribeConfig {
    /// Most matcher parameters in one request (M5); more is a 400. At least 1.
    pub max_matchers: usize,
    /// Longest matcher value in bytes (M5); longer is a 400.
    pub max_pattern_len: usize,
    /// Longest cursor (header or query) in bytes; longer is a 400.
    pub max_cursor_len: usize,
    /// Accept the legacy `topic=` URI-template selectors (L1, L7). On by
    /// default: the deployed 0.x clients use them.
    pub legacy_topic_param: bool,
}

impl Default for SubscribeConfig {
    fn default() -> Self {
        SubscribeConfig {
            max_matchers: 100,
            max_pattern_len: 2048,
            max_cursor_len: 1024,
            legacy_topic_param: true,
        }
    }
}

/// The raw parts of a subscribe request, as the HTTP layer has them.
#[derive(Clone, Copy, Debug, Default)]
pub struct SubscribeInput<'a> {
    /// The query string without `?` (raw, still percent-encoded).
    pub query: &'a [u8],
    /// The form body of a safe method such as `QUERY` (H), unioned with the
    /// query; `None` for `GET`. The caller checks its content type.
    pub body: Option<&'a [u8]>,
    /// The `Last-Event-ID` request header, if present.
    pub last_event_id: Option<&'a [u8]>,
}

/// Where a subscriber wants its stream to start (M35–M36, L2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// No cursor: live updates only.
    Live,
    /// `earliest`: the whole history the hub still has.
    Earliest,
    /// Everything after the event with this id.
    After(String),
}

impl Cursor {
    /// Whether the client sent a cursor, so the response must say where
    /// history resumed (M37).
    pub fn was_requested(&self) -> bool {
        !matches!(self, Cursor::Live)
    }
}

/// A validated subscribe request.
#[derive(Clone, Debug)]
pub struct SubscribeRequest {
    matchers: Vec<TopicMatcher>,
    cursor: Cursor,
    legacy: bool,
}

/// The defined matcher parameter names (M2, H table B).
const MATCH_PARAMS: [(&[u8], MatchType); 5] = [
    (b"match", MatchType::Exact),
    (b"matchExact", MatchType::Exact),
    (b"match_exact", MatchType::Exact),
    (b"matchURLPattern", MatchType::UrlPattern),
    (b"match_urlpattern", MatchType::UrlPattern),
];

/// Cursor query parameters, in precedence order: H, S, then the name 0.x
/// used before 0.14 (L2).
const CURSOR_PARAMS: [&[u8]; 3] = [b"last_event_id", b"lastEventID", b"Last-Event-ID"];

impl SubscribeRequest {
    /// Parses and validates a subscribe request.
    ///
    /// The request is legacy (L7) when it has `topic=` parameters and no
    /// `match*` parameter; its topics are then URI templates (L1). Identical
    /// (type, pattern) pairs are merged, keeping the first.
    ///
    /// # Errors
    ///
    /// 400 for: an unknown name in the `match` namespace (M3); a matcher or
    /// cursor value that is not UTF-8 or breaks the character rules (M4); a
    /// URL pattern that does not compile (M4-H, M9); too many matchers or a
    /// pattern too long (M5); no matcher at all (M5).
    pub fn parse(
        input: &SubscribeInput<'_>,
        hub: &HubUrl,
        config: &SubscribeConfig,
    ) -> Result<Self, Rejection> {
        let mut matchers: Vec<TopicMatcher> = Vec::new();
        let mut legacy_topics: Vec<Vec<u8>> = Vec::new();
        let mut query_cursor: [Option<Vec<u8>>; 3] = [None, None, None];
        let mut seen_matchers = 0usize;

        let pairs = form_pairs(input.query).chain(input.body.into_iter().flat_map(form_pairs));
        for (name, value) in pairs {
            if let Some(pos) = CURSOR_PARAMS.iter().position(|p| *p == name.as_slice()) {
                if let Some(slot) = query_cursor.get_mut(pos) {
                    slot.get_or_insert(value);
                }
                continue;
            }
            if name == b"topic" {
                if config.legacy_topic_param && legacy_topics.len() <= config.max_matchers {
                    legacy_topics.push(value);
                }
                continue;
            }
            let in_match_namespace = name.len() >= 5 && name[..5].eq_ignore_ascii_case(b"match");
            if !in_match_namespace {
                continue; // M3: other names are ignored.
            }
            let Some(&(_, match_type)) = MATCH_PARAMS.iter().find(|(n, _)| *n == name.as_slice())
            else {
                return Err(Rejection::bad_request(format!(
                    "unknown matcher parameter {:?}: use match, match_exact, match_urlpattern, matchExact or matchURLPattern",
                    String::from_utf8_lossy(&name).chars().take(64).collect::<String>()
                )));
            };
            seen_matchers += 1;
            if seen_matchers > config.max_matchers {
                return Err(too_many_matchers(config));
            }
            let matcher = compile_matcher(match_type, &value, hub, config)?;
            if !matchers.contains(&matcher) {
                matchers.push(matcher);
            }
        }

        // L7: `topic=` only counts when no `match*` parameter is present.
        let legacy = seen_matchers == 0 && !legacy_topics.is_empty();
        if legacy {
            if legacy_topics.len() > config.max_matchers {
                return Err(too_many_matchers(config));
            }
            for value in &legacy_topics {
                let matcher = compile_matcher(MatchType::UriTemplate, value, hub, config)?;
                if !matchers.contains(&matcher) {
                    matchers.push(matcher);
                }
            }
        }
        if matchers.is_empty() {
            return Err(Rejection::bad_request(
                "no topic matcher: add at least one match, match_urlpattern (or legacy topic) parameter",
            ));
        }

        // M35/L2: the header wins over any query parameter.
        let header = input.last_event_id.filter(|v| !v.is_empty());
        let raw_cursor = match header {
            Some(h) => Some(h.to_vec()),
            None => query_cursor.into_iter().flatten().find(|v| !v.is_empty()),
        };
        let cursor = match raw_cursor {
            None => Cursor::Live,
            Some(raw) => parse_cursor(raw, config)?,
        };
        Ok(SubscribeRequest {
            matchers,
            cursor,
            legacy,
        })
    }

    /// The matchers, one subscription each, in request order, deduplicated.
    pub fn matchers(&self) -> &[TopicMatcher] {
        &self.matchers
    }

    /// Where the stream starts.
    pub fn cursor(&self) -> &Cursor {
        &self.cursor
    }

    /// Whether this is a legacy (0.x) request (L7): its response uses the
    /// `Last-Event-ID` header and legacy subscription events.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// Whether `topic` is selected by any matcher. Routing only: private
    /// updates also need a grant ([`crate::auth::may_receive`]).
    pub fn selects(&self, topic: &crate::topic::Topic<'_>) -> bool {
        self.matchers.iter().any(|m| m.matches(topic))
    }
}

fn too_many_matchers(config: &SubscribeConfig) -> Rejection {
    Rejection::bad_request(format!(
        "too many topic matchers: at most {} per request",
        config.max_matchers
    ))
}

fn compile_matcher(
    match_type: MatchType,
    value: &[u8],
    hub: &HubUrl,
    config: &SubscribeConfig,
) -> Result<TopicMatcher, Rejection> {
    if value.len() > config.max_pattern_len {
        return Err(Rejection::bad_request(format!(
            "topic matcher too long: at most {} bytes",
            config.max_pattern_len
        )));
    }
    let value = std::str::from_utf8(value)
        .map_err(|_| Rejection::bad_request("topic matcher is not valid UTF-8"))?;
    if value.is_empty() {
        return Err(Rejection::bad_request("topic matcher is empty"));
    }
    check_chars(value)
        .map_err(|f| Rejection::bad_request(format!("topic matcher {}", f.describe())))?;
    TopicMatcher::new(match_type, value, hub).map_err(|e| Rejection::bad_request(e.to_string()))
}

fn parse_cursor(raw: Vec<u8>, config: &SubscribeConfig) -> Result<Cursor, Rejection> {
    if raw.len() > config.max_cursor_len {
        return Err(Rejection::bad_request(format!(
            "last event id too long: at most {} bytes",
            config.max_cursor_len
        )));
    }
    let id = String::from_utf8(raw)
        .map_err(|_| Rejection::bad_request("last event id is not valid UTF-8"))?;
    // No stored id can contain these (M18), so such a cursor is malformed.
    check_chars(&id)
        .map_err(|f| Rejection::bad_request(format!("last event id {}", f.describe())))?;
    Ok(if id == "earliest" {
        Cursor::Earliest
    } else {
        Cursor::After(id)
    })
}

/// Which generation of subscription events and API bodies to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscriptionFormat {
    /// H: plain JSON, snake_case names, lowercase match types, SSE `event: mercure`.
    Json,
    /// S: JSON-LD with `@context`, `type: "Subscription"`, `matchType`.
    JsonLd,
    /// L6 (0.x): JSON-LD with a `topic` field, topic path without the type.
    Legacy,
}

/// One subscription as the hub reports it (M39–M41).
#[derive(Clone, Copy, Debug)]
pub struct SubscriptionInfo<'a> {
    /// The subscription's matcher.
    pub matcher: &'a TopicMatcher,
    /// The hub-assigned subscriber id (M40: never from the client).
    pub subscriber: &'a str,
    /// `true` on subscribe, `false` on unsubscribe.
    pub active: bool,
    /// The payload selected from the subscriber's token (M33), if any.
    pub payload: Option<&'a Value>,
}

/// The subscription's topic (M39, L6), relative to the hub's origin:
/// `{hub path}/subscriptions/{matchType}/{match}/{subscriber}`, with
/// `{match}` and `{subscriber}` each percent-encoded once as a whole. The
/// type segment is H's lowercase `exact`/`urlpattern` in the
/// [`Json`](SubscriptionFormat::Json) format and S's `Exact`/`URLPattern` in
/// [`JsonLd`](SubscriptionFormat::JsonLd); legacy subscriptions have none.
pub fn subscription_topic(
    hub: &HubUrl,
    info: &SubscriptionInfo<'_>,
    format: SubscriptionFormat,
) -> String {
    let base = hub.path().trim_end_matches('/');
    let pattern = encode_path_segment(info.matcher.pattern());
    let subscriber = encode_path_segment(info.subscriber);
    let match_type = info.matcher.match_type();
    match format {
        SubscriptionFormat::Legacy => format!("{base}/subscriptions/{pattern}/{subscriber}"),
        SubscriptionFormat::Json => format!(
            "{base}/subscriptions/{}/{pattern}/{subscriber}",
            match_type.as_lower_str()
        ),
        SubscriptionFormat::JsonLd => format!(
            "{base}/subscriptions/{}/{pattern}/{subscriber}",
            match_type.as_str()
        ),
    }
}

/// The JSON body describing one subscription (M41, L6): the data of a
/// subscription event and of the API's single-subscription response.
pub fn subscription_json(
    hub: &HubUrl,
    info: &SubscriptionInfo<'_>,
    format: SubscriptionFormat,
) -> Value {
    let id = subscription_topic(hub, info, format);
    let mut body = Map::new();
    match format {
        SubscriptionFormat::Json => {
            body.insert("id".into(), json!(id));
            body.insert("type".into(), json!("subscription"));
            body.insert(
                "match_type".into(),
                json!(info.matcher.match_type().as_lower_str()),
            );
            body.insert("match".into(), json!(info.matcher.pattern()));
        }
        SubscriptionFormat::JsonLd => {
            body.insert("@context".into(), json!("https://mercure.rocks/"));
            body.insert("id".into(), json!(id));
            body.insert("type".into(), json!("Subscription"));
            body.insert(
                "matchType".into(),
                json!(info.matcher.match_type().as_str()),
            );
            body.insert("match".into(), json!(info.matcher.pattern()));
        }
        SubscriptionFormat::Legacy => {
            body.insert("@context".into(), json!("https://mercure.rocks/"));
            body.insert("id".into(), json!(id));
            body.insert("type".into(), json!("Subscription"));
            body.insert("topic".into(), json!(info.matcher.pattern()));
        }
    }
    body.insert("subscriber".into(), json!(info.subscriber));
    body.insert("active".into(), json!(info.active));
    if let Some(payload) = info.payload {
        body.insert("payload".into(), payload.clone());
    }
    Value::Object(body)
}

/// The private update announcing a subscription change (M39–M41), ready for
/// the store. H events carry `event: mercure`. The id is generated.
pub fn subscription_update(
    hub: &HubUrl,
    info: &SubscriptionInfo<'_>,
    format: SubscriptionFormat,
) -> Update {
    Update {
        id: crate::generate_id(),
        topics: vec![subscription_topic(hub, info, format)],
        data: subscription_json(hub, info, format).to_string(),
        private: true,
        event_type: (format == SubscriptionFormat::Json).then(|| "mercure".to_owned()),
        retry: None,
    }
}

/// The H response header naming where history resumed (M37-H).
pub const LAST_EVENT_ID_HEADER: &str = "Mercure-Last-Event-ID";
/// The S and L response header naming where history resumed (M37, L2); a
/// hub serving both generations can send both headers.
pub const LEGACY_LAST_EVENT_ID_HEADER: &str = "Last-Event-ID";

/// A fresh subscriber id for one connection: `urn:uuid:` and a random UUID.
/// M40-H recommends a random value per connection; it is never taken from
/// the client, and being random it is unique among active subscriptions.
pub fn new_subscriber_id() -> String {
    crate::generate_id()
}

/// A subscriptions-API collection body (M42, L6): `id` is the request path,
/// `subscriptions` the items built with [`subscription_json`]. S and legacy
/// bodies are JSON-LD with the root `lastEventID`; H bodies are plain JSON
/// and the hub sends the cursor in the `Link` header instead.
pub fn subscriptions_collection_json(
    path: &str,
    subscriptions: Vec<Value>,
    last_event_id: &str,
    format: SubscriptionFormat,
) -> Value {
    match format {
        SubscriptionFormat::Json => json!({
            "id": path,
            "type": "subscriptions",
            "subscriptions": subscriptions,
        }),
        SubscriptionFormat::JsonLd | SubscriptionFormat::Legacy => json!({
            "@context": "https://mercure.rocks/",
            "id": path,
            "type": "Subscriptions",
            "subscriptions": subscriptions,
            "lastEventID": last_event_id,
        }),
    }
}

/// The discovery `Link` header value (M43):
/// `<hub>; rel="mercure"`, with the optional `last-event-id` and
/// `content-type` attributes as quoted strings.
pub fn discovery_link(
    hub: &HubUrl,
    last_event_id: Option<&str>,
    content_type: Option<&str>,
) -> String {
    let mut link = format!("<{}>; rel=\"mercure\"", hub.as_str());
    for (name, value) in [
        ("last-event-id", last_event_id),
        ("content-type", content_type),
    ] {
        if let Some(value) = value {
            link.push_str(&format!("; {name}=\"{}\"", quote_attr(value)));
        }
    }
    link
}

/// Quoted-string escaping for a header; characters a header cannot carry
/// (controls, non-ASCII) are percent-encoded so the value stays one token.
fn quote_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> HubUrl {
        HubUrl::parse("https://example.com/.well-known/mercure").unwrap()
    }

    #[test]
    fn link_header() {
        assert_eq!(
            discovery_link(&hub(), Some("urn:uuid:1\""), None),
            "<https://example.com/.well-known/mercure>; rel=\"mercure\"; last-event-id=\"urn:uuid:1\\\"\""
        );
    }
}
