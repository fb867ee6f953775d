//! Subscribe request parsing: MERCURE.md M2–M5, M35–M36, L1, L2, L7, and
//! the subscription helpers M39–M41, L6, M43.

use serde_json::json;
use sse_hub::subscribe::{
    discovery_link, subscription_json, subscription_topic, subscription_update, Cursor,
    SubscribeConfig, SubscribeInput, SubscribeRequest, SubscriptionFormat, SubscriptionInfo,
};
use sse_hub::topic::{HubUrl, MatchType, TopicMatcher};

fn hub() -> HubUrl {
    HubUrl::parse("https://example.com/.well-known/mercure").unwrap()
}

fn parse_with(
    query: &[u8],
    header: Option<&[u8]>,
    config: &SubscribeConfig,
) -> Result<SubscribeRequest, u16> {
    let input = SubscribeInput {
        query,
        body: None,
        last_event_id: header,
    };
    SubscribeRequest::parse(&input, &hub(), config).map_err(|e| {
        assert!(!e.message().is_empty());
        e.status().as_u16()
    })
}

fn parse(query: &[u8]) -> Result<SubscribeRequest, u16> {
    parse_with(query, None, &SubscribeConfig::default())
}

fn types(req: &SubscribeRequest) -> Vec<(MatchType, String)> {
    req.matchers()
        .iter()
        .map(|m| (m.match_type(), m.pattern().to_owned()))
        .collect()
}

#[test]
fn m2_all_matcher_spellings_mix_and_repeat() {
    let req = parse(
        b"match=a&matchExact=b&match_exact=c&matchURLPattern=/d/:x&match_urlpattern=/e/*&match=a2",
    )
    .unwrap();
    assert_eq!(
        types(&req),
        vec![
            (MatchType::Exact, "a".into()),
            (MatchType::Exact, "b".into()),
            (MatchType::Exact, "c".into()),
            (MatchType::UrlPattern, "/d/:x".into()),
            (MatchType::UrlPattern, "/e/*".into()),
            (MatchType::Exact, "a2".into()),
        ]
    );
    assert!(!req.is_legacy());
}

#[test]
fn m2_identical_pairs_are_merged() {
    let req = parse(b"match=a&match=a&matchExact=a&match_urlpattern=a").unwrap();
    assert_eq!(req.matchers().len(), 2);
}

#[test]
fn m2_matchers_route_any_match() {
    let hub = hub();
    let req = parse(b"match=x&match_urlpattern=/books/:id").unwrap();
    assert!(req.selects(&sse_hub::topic::Topic::new("x", &hub)));
    assert!(req.selects(&sse_hub::topic::Topic::new(
        "https://example.com/books/9",
        &hub
    )));
    assert!(!req.selects(&sse_hub::topic::Topic::new("y", &hub)));
}

#[test]
fn m3_unknown_match_names_are_400() {
    for q in [
        &b"matchurlpattern=x"[..],
        b"MATCH=x",
        b"matchFoo=x",
        b"Match=x",
        b"match_URLPattern=x",
        b"matchexact=x",
        b"match=a&matchTopic=b",
        b"ma%74chFoo=x",
    ] {
        assert_eq!(parse(q).unwrap_err(), 400, "{}", String::from_utf8_lossy(q));
    }
}

#[test]
fn m3_other_names_are_ignored() {
    let req = parse(b"match=a&foo=b&matc=c&xmatch=d&authorization_hint=1").unwrap();
    assert_eq!(req.matchers().len(), 1);
}

#[test]
fn m4_form_decoding_plus_is_space() {
    let req = parse(b"match=a+b%20c%2Bd").unwrap();
    assert_eq!(req.matchers()[0].pattern(), "a b c+d");
}

#[test]
fn m4_invalid_utf8_is_400() {
    assert_eq!(parse(b"match=%FF").unwrap_err(), 400);
    assert_eq!(parse(b"match=\xC3").unwrap_err(), 400);
}

#[test]
fn m4_control_characters_are_400() {
    for q in [
        &b"match=a%00b"[..],
        b"match=a%0Ab",
        b"match=a%0Db",
        b"match=a%1Fb",
        b"match=a%7Fb",
        b"match=a%C2%80b",
        b"match=a%C2%9Fb",
        b"match_urlpattern=/a%0A",
        b"topic=a%0Ab",
    ] {
        assert_eq!(parse(q).unwrap_err(), 400, "{}", String::from_utf8_lossy(q));
    }
}

#[test]
fn m4_h_format_characters_are_400() {
    for q in [
        &b"match=a%E2%80%8Bb"[..],
        b"match=a%E2%80%AEb",
        b"match=%EF%BB%BFa",
    ] {
        assert_eq!(parse(q).unwrap_err(), 400, "{}", String::from_utf8_lossy(q));
    }
    // Ordinary non-ASCII is fine.
    assert!(parse(b"match=caf%C3%A9").is_ok());
}

#[test]
fn m4_h_malformed_pattern_is_400() {
    assert_eq!(
        parse(b"match_urlpattern=https%3A%2F%2Fx%2F%3Aid(").unwrap_err(),
        400
    );
    assert_eq!(parse(b"matchURLPattern=/a/:x((?=a)a)").unwrap_err(), 400);
}

#[test]
fn m4_empty_matcher_is_400() {
    assert_eq!(parse(b"match=").unwrap_err(), 400);
}

#[test]
fn m5_caps_are_400() {
    let mut config = SubscribeConfig::default();
    config.max_matchers = 2;
    config.max_pattern_len = 8;
    assert!(parse_with(b"match=a&match=b", None, &config).is_ok());
    assert_eq!(
        parse_with(b"match=a&match=b&match=c", None, &config).unwrap_err(),
        400
    );
    assert_eq!(
        parse_with(b"match=a&match=a&match=a", None, &config).unwrap_err(),
        400
    );
    assert_eq!(
        parse_with(b"topic=a&topic=b&topic=c", None, &config).unwrap_err(),
        400
    );
    assert!(parse_with(b"match=12345678", None, &config).is_ok());
    assert_eq!(
        parse_with(b"match=123456789", None, &config).unwrap_err(),
        400
    );
}

#[test]
fn m5_no_matcher_is_400() {
    assert_eq!(parse(b"").unwrap_err(), 400);
    assert_eq!(parse(b"lastEventID=x&foo=bar").unwrap_err(), 400);
}

#[test]
fn m6_star_subscribes_to_everything() {
    let req = parse(b"match=*").unwrap();
    assert!(req.matchers()[0].is_any());
    assert!(req.matchers()[0].matches_str("anything"));
}

#[test]
fn m35_cursor_from_header_or_any_query_spelling() {
    for q in [
        &b"match=a&lastEventID=x1"[..],
        b"match=a&last_event_id=x1",
        b"match=a&Last-Event-ID=x1",
    ] {
        assert_eq!(parse(q).unwrap().cursor(), &Cursor::After("x1".into()));
    }
    let req = parse_with(b"match=a", Some(b"h1"), &SubscribeConfig::default()).unwrap();
    assert_eq!(req.cursor(), &Cursor::After("h1".into()));
    assert!(req.cursor().was_requested());
    assert_eq!(parse(b"match=a").unwrap().cursor(), &Cursor::Live);
    assert!(!Cursor::Live.was_requested());
}

#[test]
fn m35_header_wins_over_query() {
    let req = parse_with(
        b"match=a&lastEventID=q&last_event_id=q2",
        Some(b"h"),
        &SubscribeConfig::default(),
    )
    .unwrap();
    assert_eq!(req.cursor(), &Cursor::After("h".into()));
    // Empty header: treated as absent, the query applies.
    let req = parse_with(
        b"match=a&lastEventID=q",
        Some(b""),
        &SubscribeConfig::default(),
    )
    .unwrap();
    assert_eq!(req.cursor(), &Cursor::After("q".into()));
    // H spelling first among query parameters.
    let req = parse(b"match=a&lastEventID=s&last_event_id=h").unwrap();
    assert_eq!(req.cursor(), &Cursor::After("h".into()));
}

#[test]
fn m35_malformed_cursor_is_400() {
    assert_eq!(parse(b"match=a&lastEventID=%FF").unwrap_err(), 400);
    assert_eq!(parse(b"match=a&lastEventID=a%0Ab").unwrap_err(), 400);
    assert_eq!(
        parse_with(b"match=a", Some(b"a\x01"), &SubscribeConfig::default()).unwrap_err(),
        400
    );
    let long = format!("match=a&lastEventID={}", "x".repeat(2000));
    assert_eq!(parse(long.as_bytes()).unwrap_err(), 400);
}

#[test]
fn m36_earliest() {
    assert_eq!(
        parse(b"match=a&lastEventID=earliest").unwrap().cursor(),
        &Cursor::Earliest
    );
    let req = parse_with(b"match=a", Some(b"earliest"), &SubscribeConfig::default()).unwrap();
    assert_eq!(req.cursor(), &Cursor::Earliest);
}

#[test]
fn h_m1_query_method_body_is_unioned() {
    let input = SubscribeInput {
        query: b"match=a",
        body: Some(b"match_urlpattern=/b/*&last_event_id=e"),
        last_event_id: None,
    };
    let req = SubscribeRequest::parse(&input, &hub(), &SubscribeConfig::default()).unwrap();
    assert_eq!(req.matchers().len(), 2);
    assert_eq!(req.cursor(), &Cursor::After("e".into()));
    let bad = SubscribeInput {
        query: b"match=a",
        body: Some(b"matchFoo=b"),
        last_event_id: None,
    };
    assert_eq!(
        SubscribeRequest::parse(&bad, &hub(), &SubscribeConfig::default())
            .unwrap_err()
            .status(),
        400
    );
}

#[test]
fn l1_topic_parameters_are_uri_templates() {
    let req = parse(
        b"topic=https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D&topic=https%3A%2F%2Fexample.com%2Ffoo",
    )
    .unwrap();
    assert!(req.is_legacy());
    assert_eq!(req.matchers()[0].match_type(), MatchType::UriTemplate);
    assert!(req.matchers()[0].matches_str("https://example.com/books/1"));
    assert!(req.matchers()[0].matches_str("https://example.com/books/{id}"));
    assert!(req.matchers()[1].matches_str("https://example.com/foo"));
}

#[test]
fn l1_no_topic_is_400() {
    assert_eq!(parse(b"lastEventID=1").unwrap_err(), 400);
}

#[test]
fn l1_legacy_switch_off_ignores_topic() {
    let mut config = SubscribeConfig::default();
    config.legacy_topic_param = false;
    assert_eq!(parse_with(b"topic=a", None, &config).unwrap_err(), 400);
}

#[test]
fn l2_legacy_cursor_query_name() {
    let req = parse(b"topic=a&Last-Event-ID=abc").unwrap();
    assert_eq!(req.cursor(), &Cursor::After("abc".into()));
    let req = parse_with(
        b"topic=a&lastEventID=q",
        Some(b"h"),
        &SubscribeConfig::default(),
    )
    .unwrap();
    assert_eq!(req.cursor(), &Cursor::After("h".into()));
}

#[test]
fn l7_topic_with_match_is_not_legacy() {
    let req = parse(b"topic=a&match=b").unwrap();
    assert!(!req.is_legacy());
    assert_eq!(types(&req), vec![(MatchType::Exact, "b".into())]);
}

fn info<'a>(
    matcher: &'a TopicMatcher,
    payload: Option<&'a serde_json::Value>,
) -> SubscriptionInfo<'a> {
    SubscriptionInfo {
        matcher,
        subscriber: "urn:uuid:42/x",
        active: true,
        payload,
    }
}

#[test]
fn m39_subscription_topic_encodes_each_part_once() {
    let hub = hub();
    let matcher =
        TopicMatcher::new(MatchType::UrlPattern, "https://example.com/books/:id", &hub).unwrap();
    let topic = subscription_topic(&hub, &info(&matcher, None), SubscriptionFormat::JsonLd);
    assert_eq!(
        topic,
        "/.well-known/mercure/subscriptions/URLPattern/https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid/urn%3Auuid%3A42%2Fx"
    );
    let pct = TopicMatcher::new(MatchType::Exact, "a%2Fb", &hub).unwrap();
    let topic = subscription_topic(&hub, &info(&pct, None), SubscriptionFormat::Json);
    assert!(
        // H (the json format): lowercase type segment.
        topic.starts_with("/.well-known/mercure/subscriptions/exact/a%252Fb/"),
        "{topic}"
    );
    // A subscriber listening with a URL pattern receives it (M8 relative topic).
    let watcher = TopicMatcher::new(
        MatchType::UrlPattern,
        "/.well-known/mercure/subscriptions/:type/:match/:subscriber",
        &hub,
    )
    .unwrap();
    assert!(watcher.matches_str(&topic));
}

#[test]
fn m41_h_plain_json_and_s_json_ld() {
    let hub = hub();
    let matcher = TopicMatcher::new(MatchType::Exact, "https://example.com/foo", &hub).unwrap();
    let payload = json!({"user": "u1"});
    let h = subscription_json(
        &hub,
        &info(&matcher, Some(&payload)),
        SubscriptionFormat::Json,
    );
    assert_eq!(h["type"], "subscription");
    assert_eq!(h["match_type"], "exact");
    assert_eq!(h["match"], "https://example.com/foo");
    assert_eq!(h["subscriber"], "urn:uuid:42/x");
    assert_eq!(h["active"], true);
    assert_eq!(h["payload"], payload);
    assert!(h.get("@context").is_none());
    let s = subscription_json(&hub, &info(&matcher, None), SubscriptionFormat::JsonLd);
    assert_eq!(s["@context"], "https://mercure.rocks/");
    assert_eq!(s["type"], "Subscription");
    assert_eq!(s["matchType"], "Exact");
    assert_eq!(
        s["id"],
        subscription_topic(&hub, &info(&matcher, None), SubscriptionFormat::JsonLd)
    );
    assert!(s.get("payload").is_none());

    let update = subscription_update(&hub, &info(&matcher, None), SubscriptionFormat::Json);
    assert!(update.private);
    assert_eq!(update.event_type.as_deref(), Some("mercure"));
    assert!(update.id.starts_with("urn:uuid:"));
    let s_update = subscription_update(&hub, &info(&matcher, None), SubscriptionFormat::JsonLd);
    assert_eq!(s_update.event_type, None);
}

#[test]
fn l6_legacy_subscription_events() {
    let hub = hub();
    let matcher = TopicMatcher::new(
        MatchType::UriTemplate,
        "https://example.com/books/{id}",
        &hub,
    )
    .unwrap();
    let i = info(&matcher, None);
    let topic = subscription_topic(&hub, &i, SubscriptionFormat::Legacy);
    assert_eq!(
        topic,
        "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2Fbooks%2F%7Bid%7D/urn%3Auuid%3A42%2Fx"
    );
    let body = subscription_json(&hub, &i, SubscriptionFormat::Legacy);
    assert_eq!(body["topic"], "https://example.com/books/{id}");
    assert_eq!(body["type"], "Subscription");
}

#[test]
fn m43_discovery_link() {
    let hub = hub();
    assert_eq!(
        discovery_link(&hub, None, None),
        "<https://example.com/.well-known/mercure>; rel=\"mercure\""
    );
    assert_eq!(
        discovery_link(&hub, Some("urn:uuid:1"), Some("application/ld+json")),
        "<https://example.com/.well-known/mercure>; rel=\"mercure\"; last-event-id=\"urn:uuid:1\"; content-type=\"application/ld+json\""
    );
    assert!(!discovery_link(&hub, Some("a\r\nb"), None).contains('\n'));
}

#[test]
fn m40_subscriber_ids_are_random_urns() {
    let a = sse_hub::subscribe::new_subscriber_id();
    let b = sse_hub::subscribe::new_subscriber_id();
    assert!(a.starts_with("urn:uuid:"));
    assert_ne!(a, b);
}

#[test]
fn m42_collection_bodies() {
    use sse_hub::subscribe::subscriptions_collection_json as collection;
    let hub = hub();
    let matcher = TopicMatcher::new(MatchType::Exact, "a", &hub).unwrap();
    let item = subscription_json(&hub, &info(&matcher, None), SubscriptionFormat::JsonLd);
    let s = collection(
        "/.well-known/mercure/subscriptions",
        vec![item.clone()],
        "urn:uuid:9",
        SubscriptionFormat::JsonLd,
    );
    assert_eq!(s["@context"], "https://mercure.rocks/");
    assert_eq!(s["type"], "Subscriptions");
    assert_eq!(s["id"], "/.well-known/mercure/subscriptions");
    assert_eq!(s["lastEventID"], "urn:uuid:9");
    assert_eq!(s["subscriptions"][0], item);
    let h = collection(
        "/.well-known/mercure/subscriptions",
        vec![],
        "earliest",
        SubscriptionFormat::Json,
    );
    assert_eq!(h["subscriptions"], json!([]));
    assert!(h.get("@context").is_none() && h.get("lastEventID").is_none());
}

#[test]
fn m37_response_header_names() {
    assert_eq!(
        sse_hub::subscribe::LAST_EVENT_ID_HEADER,
        "Mercure-Last-Event-ID"
    );
    assert_eq!(
        sse_hub::subscribe::LEGACY_LAST_EVENT_ID_HEADER,
        "Last-Event-ID"
    );
}

proptest::proptest! {
    #[test]
    fn prop_subscribe_parse_never_panics(
        query in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        header in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)),
    ) {
        let _ = parse_with(&query, header.as_deref(), &SubscribeConfig::default());
    }

    #[test]
    fn prop_m4_matcher_values_round_trip(value in "[ -~\u{e9}\u{6f22}\u{1F600}\u{3b1}-\u{3c9}]{1,30}") {
        let encoded: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
        let query = format!("match={encoded}");
        let req = parse(query.as_bytes()).unwrap();
        proptest::prop_assert_eq!(req.matchers()[0].pattern(), value.as_str());
    }
}
