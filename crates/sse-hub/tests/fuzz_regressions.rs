//! One regression test per crash the fuzz targets found (`fuzz/`,
//! `scripts/fuzz.sh`, RELIABILITY.md). Each input is kept byte for byte.

use sse_hub::subscribe::{SubscribeConfig, SubscribeInput, SubscribeRequest};
use sse_hub::topic::{HubUrl, MatchType, TopicMatcher};

fn hub() -> HubUrl {
    HubUrl::parse("https://hub.example/.well-known/mercure").unwrap()
}

/// `topic_match` crash, 2026-11-21: urlpattern 0.6.0 underflows its IPv6
/// bracket depth on a `]` in the hostname without a `[`
/// (`constructor_parser.rs:409`, "attempt to subtract with overflow" with
/// overflow checks on). The hub must not panic: under overflow checks the
/// panic is caught and the pattern refused; without them the parser wraps
/// and the pattern may compile, and matching must not panic either.
#[test]
fn url_pattern_with_an_unopened_bracket_in_the_hostname() {
    let pattern = "htt:s://exaa`le.]comple.com//ooks/:id1";
    match TopicMatcher::new(MatchType::UrlPattern, pattern, &hub()) {
        Err(e) => assert_eq!(e.match_type(), MatchType::UrlPattern),
        Ok(m) => {
            let _ = m.matches_str("https://example.com/books/1");
            let _ = m.matches_str(pattern);
        }
    }
    for p in ["https://a]b/:x", "https://]/x", "https://[::1]]/x", "]"] {
        if let Ok(m) = TopicMatcher::new(MatchType::UrlPattern, p, &hub()) {
            let _ = m.matches_str("https://a/x");
        }
    }
    // Through the subscribe parser, as a client sends it: a 400 or a
    // matcher, never a panic.
    let query = b"match_urlpattern=htt%3As%3A%2F%2Fexaa%60le.%5Dcomple.com%2F%2Fooks%2F%3Aid1";
    let input = SubscribeInput {
        query,
        body: None,
        last_event_id: None,
    };
    match SubscribeRequest::parse(&input, &hub(), &SubscribeConfig::default()) {
        Ok(req) => assert_eq!(req.matchers().len(), 1),
        Err(r) => assert_eq!(r.status(), 400),
    }
}
