//! What a token grants: `authorization_details` (M30–M31, M33) and the
//! legacy `mercure` claim (L3).

use serde_json::{Map, Value};

use super::jwt::Fault;
use crate::topic::{check_chars, HubUrl, MatchType, Topic, TopicMatcher};

/// The S spelling of the Mercure authorization-detail type.
const TYPE_S: &str = "mercure";
/// The H spelling.
const TYPE_H: &str = "https://mercure.rocks/authorization-detail";

/// Caps on what one token may carry (M30: over a cap the token is invalid).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct GrantLimits {
    /// Most `authorization_details` entries (all types).
    pub max_details: usize,
    /// Most topic matchers in one entry (and in each legacy list).
    pub max_topics_per_detail: usize,
    /// Longest matcher string in bytes.
    pub max_match_len: usize,
}

impl Default for GrantLimits {
    fn default() -> Self {
        GrantLimits {
            max_details: 32,
            max_topics_per_detail: 256,
            max_match_len: 2048,
        }
    }
}

/// One grant: actions on the topics any of its matchers selects.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    publish: bool,
    subscribe: bool,
    topics: Vec<TopicMatcher>,
    payload: Option<Value>,
}

/// All grants of one token, in token order (order matters for M33).
#[derive(Clone, Debug, Default)]
pub(crate) struct Grants {
    grants: Vec<Grant>,
    /// The legacy claim's `payload`, which 0.x attaches to every subscription.
    legacy_payload: Option<Value>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Publish,
    Subscribe,
}

impl Grants {
    /// M31: whether some grant lists `action` with a matcher selecting `topic`.
    pub(crate) fn allows(&self, action: Action, topic: &Topic<'_>) -> bool {
        self.grants
            .iter()
            .any(|g| g.has(action) && g.topics.iter().any(|m| m.matches(topic)))
    }

    /// M33: the payload of the first `subscribe` grant whose matchers select
    /// the subscription's matcher string, treated as a topic.
    pub(crate) fn payload_for(&self, subscription: &Topic<'_>) -> Option<&Value> {
        self.grants
            .iter()
            .find(|g| g.subscribe && g.topics.iter().any(|m| m.matches(subscription)))
            .and_then(|g| g.payload.as_ref())
            .or(self.legacy_payload.as_ref())
    }
}

impl Grant {
    fn has(&self, action: Action) -> bool {
        match action {
            Action::Publish => self.publish,
            Action::Subscribe => self.subscribe,
        }
    }
}

/// Parses `authorization_details` (RFC 9396 as profiled by M30). Entries of
/// other types are ignored; a malformed Mercure entry, or a malformed array,
/// invalidates the whole token.
pub(crate) fn from_authorization_details(
    claims: &Map<String, Value>,
    hub: &HubUrl,
    limits: &GrantLimits,
) -> Result<Grants, Fault> {
    let Some(details) = claims.get("authorization_details") else {
        return Ok(Grants::default()); // No Mercure entry = no rights.
    };
    let Value::Array(details) = details else {
        return Err("authorization_details is not an array");
    };
    if details.len() > limits.max_details {
        return Err("authorization_details has too many entries");
    }
    let mut grants = Vec::new();
    for detail in details {
        // RFC 9396 §2: every entry is an object with a string `type`.
        let Value::Object(detail) = detail else {
            return Err("an authorization_details entry is not an object");
        };
        let h = match detail.get("type") {
            Some(Value::String(t)) if t == TYPE_H => true,
            Some(Value::String(t)) if t == TYPE_S => false,
            Some(Value::String(_)) => continue, // another resource's detail
            _ => return Err("an authorization_details entry has no type"),
        };
        grants.push(parse_detail(detail, h, hub, limits)?);
    }
    Ok(Grants {
        grants,
        legacy_payload: None,
    })
}

fn parse_detail(
    detail: &Map<String, Value>,
    h: bool,
    hub: &HubUrl,
    limits: &GrantLimits,
) -> Result<Grant, Fault> {
    let Some(Value::Array(actions)) = detail.get("actions") else {
        return Err("a Mercure authorization detail has no actions array");
    };
    if actions.is_empty() {
        return Err("a Mercure authorization detail has empty actions");
    }
    let (mut publish, mut subscribe) = (false, false);
    for action in actions {
        match action.as_str() {
            Some("publish") => publish = true,
            Some("subscribe") => subscribe = true,
            // H ignores unknown action strings; S allows only the two.
            Some(_) if h => {}
            _ => return Err("a Mercure authorization detail has an invalid action"),
        }
    }
    let Some(Value::Array(topics)) = detail.get("topics") else {
        return Err("a Mercure authorization detail has no topics array");
    };
    if topics.is_empty() {
        return Err("a Mercure authorization detail has empty topics");
    }
    if topics.len() > limits.max_topics_per_detail {
        return Err("a Mercure authorization detail has too many topics");
    }
    let mut matchers = Vec::with_capacity(topics.len());
    for topic in topics {
        let Value::Object(topic) = topic else {
            return Err("a Mercure topic matcher is not an object");
        };
        let Some(Value::String(pattern)) = topic.get("match") else {
            return Err("a Mercure topic matcher has no match string");
        };
        // Both spellings are accepted, each with its own case-sensitive values.
        let match_type = match (topic.get("matchType"), topic.get("match_type")) {
            (None, None) => MatchType::Exact,
            (Some(t), None) => match t.as_str() {
                Some("Exact") => MatchType::Exact,
                Some("URLPattern") => MatchType::UrlPattern,
                _ => return Err("a Mercure topic matcher has an invalid matchType"),
            },
            (None, Some(t)) => match t.as_str() {
                Some("exact") => MatchType::Exact,
                Some("urlpattern") => MatchType::UrlPattern,
                _ => return Err("a Mercure topic matcher has an invalid match_type"),
            },
            (Some(_), Some(_)) => {
                return Err("a Mercure topic matcher has both matchType and match_type")
            }
        };
        matchers.push(compile(match_type, pattern, hub, limits)?);
    }
    let payload = match detail.get("payload") {
        None => None,
        Some(p @ Value::Object(_)) => Some(p.clone()),
        Some(_) => return Err("a Mercure authorization detail payload is not an object"),
    };
    Ok(Grant {
        publish,
        subscribe,
        topics: matchers,
        payload,
    })
}

fn compile(
    match_type: MatchType,
    pattern: &str,
    hub: &HubUrl,
    limits: &GrantLimits,
) -> Result<TopicMatcher, Fault> {
    if pattern.is_empty() || pattern.len() > limits.max_match_len {
        return Err("a topic matcher in the token is empty or too long");
    }
    check_chars(pattern).map_err(|_| "a topic matcher in the token has forbidden characters")?;
    TopicMatcher::new(match_type, pattern, hub).map_err(|_| "a URL pattern in the token is invalid")
}

/// Parses the legacy `mercure` claim (or `https://mercure.rocks/`):
/// `{publish: [selectors], subscribe: [selectors], payload}` (L3). Selectors
/// are 0.x topic selectors (`*`, exact, URI template). A missing claim or
/// list grants nothing; a claim of the wrong shape invalidates the token.
pub(crate) fn from_legacy_claim(
    claims: &Map<String, Value>,
    hub: &HubUrl,
    limits: &GrantLimits,
) -> Result<Grants, Fault> {
    let claim = claims
        .get("mercure")
        .or_else(|| claims.get("https://mercure.rocks/"));
    let claim = match claim {
        None | Some(Value::Null) => return Ok(Grants::default()),
        Some(Value::Object(c)) => c,
        Some(_) => return Err("the mercure claim is not an object"),
    };
    let payload = claim.get("payload").filter(|p| !p.is_null()).cloned();
    let mut grants = Vec::new();
    for (key, publish) in [("publish", true), ("subscribe", false)] {
        let selectors = match claim.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(s)) => s,
            Some(_) => return Err("a mercure claim list is not an array"),
        };
        if selectors.len() > limits.max_topics_per_detail {
            return Err("a mercure claim list has too many selectors");
        }
        let mut topics = Vec::with_capacity(selectors.len());
        for s in selectors {
            let Value::String(s) = s else {
                return Err("a mercure claim selector is not a string");
            };
            topics.push(compile(MatchType::UriTemplate, s, hub, limits)?);
        }
        grants.push(Grant {
            publish,
            subscribe: !publish,
            topics,
            payload: None,
        });
    }
    Ok(Grants {
        grants,
        legacy_payload: payload,
    })
}
