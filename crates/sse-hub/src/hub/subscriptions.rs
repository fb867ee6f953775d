//! The active subscriptions API (M42, L6):
//! `GET {hub}/subscriptions[/{matchType}/{match}[/{subscriber}]]`, and the
//! legacy `GET {hub}/subscriptions[/{topic}[/{subscriber}]]`.
//!
//! The request path (without the query) is authorized as a `subscribe`
//! topic with the subscriber keys: no token → 401, no grant → 403. Bodies
//! are H's plain JSON (cursor in the `Link` header) or S's JSON-LD (root
//! `lastEventID`), per [`HubConfig::subscription_format`]; legacy paths get
//! the 0.x shape.
//!
//! [`HubConfig::subscription_format`]: super::HubConfig::subscription_format

use serde_json::Value;

use super::{unix_now, Caller, Hub, HubState};
use crate::fanout::Subscriber;
use crate::subscribe::{
    subscription_json, subscriptions_collection_json, SubscriptionFormat, SubscriptionInfo,
};
use crate::topic::{MatchType, Topic, TopicMatcher};
use crate::Rejection;

/// An answer of the subscriptions API: the JSON body and how to label it.
#[derive(Clone, Debug)]
pub struct ActiveSubscriptions {
    body: Value,
    json_ld: bool,
    last_event_id: String,
}

impl ActiveSubscriptions {
    /// The body: a collection, or one subscription (M42, L6).
    pub fn body(&self) -> &Value {
        &self.body
    }

    /// `application/json` (H) or `application/ld+json` (S, and legacy paths).
    pub fn content_type(&self) -> &'static str {
        if self.json_ld {
            "application/ld+json"
        } else {
            "application/json"
        }
    }

    /// The id of the newest update dispatched, or `earliest`: H sends it in
    /// the discovery `Link` header (M42-H).
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }
}

/// What the path selects.
enum Selection {
    All,
    Matcher {
        match_type: Option<MatchType>,
        pattern: String,
    },
    One {
        match_type: Option<MatchType>,
        pattern: String,
        subscriber: String,
    },
}

fn match_type_segment(segment: &str) -> Option<MatchType> {
    match segment {
        "Exact" | "exact" => Some(MatchType::Exact),
        "URLPattern" | "urlpattern" => Some(MatchType::UrlPattern),
        _ => None,
    }
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Parses the path after `…/subscriptions`; `None` for a path this API
/// does not have (404).
fn parse_selection(rest: &str) -> Option<(Selection, bool)> {
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return Some((Selection::All, false));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let typed = segments.len() >= 2 && match_type_segment(segments[0]).is_some();
    if typed {
        let match_type = match_type_segment(segments[0]);
        let pattern = percent_decode(segments[1])?;
        match segments.len() {
            2 => Some((
                Selection::Matcher {
                    match_type,
                    pattern,
                },
                false,
            )),
            3 => Some((
                Selection::One {
                    match_type,
                    pattern,
                    subscriber: percent_decode(segments[2])?,
                },
                false,
            )),
            _ => None,
        }
    } else {
        // L6: `/subscriptions/{topic}[/{subscriber}]`.
        let pattern = percent_decode(segments[0])?;
        match segments.len() {
            1 => Some((
                Selection::Matcher {
                    match_type: None,
                    pattern,
                },
                true,
            )),
            2 => Some((
                Selection::One {
                    match_type: None,
                    pattern,
                    subscriber: percent_decode(segments[1])?,
                },
                true,
            )),
            _ => None,
        }
    }
}

fn matcher_selected(matcher: &TopicMatcher, match_type: Option<MatchType>, pattern: &str) -> bool {
    matcher.pattern() == pattern && match_type.is_none_or(|t| matcher.match_type() == t)
}

impl Hub {
    /// The active subscriptions API (M42, L6) for a request to `path` (the
    /// request path without the query, under `{hub}/subscriptions`). The
    /// path is authorized as a `subscribe` topic with the subscriber keys.
    ///
    /// # Errors
    ///
    /// 401 without a token or with an invalid one, 403 without the grant,
    /// 404 for a path this API does not have or a subscription not active.
    pub async fn active_subscriptions(
        &self,
        path: &str,
        caller: &Caller<'_>,
    ) -> Result<ActiveSubscriptions, Rejection> {
        let state = &*self.state;
        let base = format!("{}/subscriptions", state.hub.path().trim_end_matches('/'));
        let Some((selection, legacy_path)) = path.strip_prefix(&base).and_then(parse_selection)
        else {
            return Err(Rejection::not_found("no such subscription resource"));
        };
        let sources = caller.token_sources(legacy_path);
        let credentials = state
            .authorizer
            .with_key_refresh(|a| a.authorize_subscribe(&sources, false, unix_now()))
            .await?
            .ok_or_else(|| state.authorizer.token_required())?;
        if !credentials.can_subscribe(&Topic::new(path, &state.hub)) {
            return Err(state.authorizer.insufficient_scope());
        }

        let format = if legacy_path {
            SubscriptionFormat::Legacy
        } else {
            state.config.subscription_format
        };
        // A private update's id only for a caller that may read it: the
        // id is a cursor, and telling it to anyone else would say that the
        // update exists (see `subscribing.rs`).
        let last_event_id = state
            .last_id
            .lock()
            .ok()
            .and_then(|l| {
                l.id_for(|u| {
                    let topics: Vec<Topic<'_>> =
                        u.topics.iter().map(|t| Topic::new(t, &state.hub)).collect();
                    credentials.can_read_private(&topics)
                })
                .map(str::to_owned)
            })
            .unwrap_or_else(|| "earliest".to_owned());
        let subscribers = state.registry.snapshot();
        let items = |filter: &dyn Fn(&Subscriber, &TopicMatcher) -> bool| -> Vec<Value> {
            let mut out = Vec::new();
            // A stream that ended but was not swept yet is not active.
            for sub in subscribers.iter().filter(|s| !s.is_closed()) {
                for matcher in &sub.matchers {
                    if filter(sub, matcher) {
                        out.push(info_json(state, sub, matcher, format));
                    }
                }
            }
            out
        };
        let body = match &selection {
            Selection::All => {
                subscriptions_collection_json(path, items(&|_, _| true), &last_event_id, format)
            }
            Selection::Matcher {
                match_type,
                pattern,
            } => subscriptions_collection_json(
                path,
                items(&|_, m| matcher_selected(m, *match_type, pattern)),
                &last_event_id,
                format,
            ),
            Selection::One {
                match_type,
                pattern,
                subscriber,
            } => {
                let found = items(&|s, m| {
                    *s.subscriber_id == **subscriber && matcher_selected(m, *match_type, pattern)
                });
                let Some(mut one) = found.into_iter().next() else {
                    return Err(Rejection::not_found("no such active subscription"));
                };
                if format != SubscriptionFormat::Json {
                    if let Value::Object(map) = &mut one {
                        map.insert("lastEventID".into(), Value::from(last_event_id.clone()));
                    }
                }
                one
            }
        };
        Ok(ActiveSubscriptions {
            body,
            json_ld: format != SubscriptionFormat::Json,
            last_event_id,
        })
    }
}

fn info_json(
    state: &HubState,
    subscriber: &Subscriber,
    matcher: &TopicMatcher,
    format: SubscriptionFormat,
) -> Value {
    let info = SubscriptionInfo {
        matcher,
        subscriber: &subscriber.subscriber_id,
        active: true,
        payload: subscriber
            .credentials
            .as_ref()
            .and_then(|c| c.payload_for(matcher)),
    };
    subscription_json(&state.hub, &info, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(matches!(parse_selection(""), Some((Selection::All, false))));
        assert!(matches!(
            parse_selection("/"),
            Some((Selection::All, false))
        ));
        match parse_selection("/Exact/https%3A%2F%2Fa%2Fb/urn%3Auuid%3Ax") {
            Some((
                Selection::One {
                    match_type,
                    pattern,
                    subscriber,
                },
                false,
            )) => {
                assert_eq!(match_type, Some(MatchType::Exact));
                assert_eq!(pattern, "https://a/b");
                assert_eq!(subscriber, "urn:uuid:x");
            }
            _ => panic!("not parsed"),
        }
        assert!(matches!(
            parse_selection("/https%3A%2F%2Fa"),
            Some((
                Selection::Matcher {
                    match_type: None,
                    ..
                },
                true
            ))
        ));
        assert!(parse_selection("/a/b/c/d").is_none());
        assert_eq!(percent_decode("%zz%41"), Some("%zzA".to_owned()));
        assert_eq!(percent_decode("%ff"), None);
    }
}
