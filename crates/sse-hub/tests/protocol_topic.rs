//! Topic matching: MERCURE.md M6–M9 and L1.

use proptest::prelude::*;
use sse_hub::topic::{encode_path_segment, HubUrl, MatchType, Topic, TopicMatcher};

fn hub() -> HubUrl {
    HubUrl::parse("https://example.com/.well-known/mercure").unwrap()
}

fn m(match_type: MatchType, pattern: &str) -> TopicMatcher {
    TopicMatcher::new(match_type, pattern, &hub()).unwrap()
}

#[test]
fn m6_star_matches_every_topic_whatever_the_type() {
    for t in [
        MatchType::Exact,
        MatchType::UrlPattern,
        MatchType::UriTemplate,
    ] {
        let any = m(t, "*");
        assert!(any.is_any());
        for topic in ["*", "", "foo", "https://x/y", "not a url \u{1F600}", ":::"] {
            assert!(any.matches_str(topic), "{t:?} {topic:?}");
        }
    }
    assert!(TopicMatcher::any().matches_str("anything"));
}

#[test]
fn m7_exact_is_bytewise_case_sensitive_and_never_resolved() {
    let exact = m(MatchType::Exact, "https://example.com/foo");
    assert!(exact.matches_str("https://example.com/foo"));
    assert!(!exact.matches_str("https://EXAMPLE.com/foo"));
    assert!(!exact.matches_str("https://example.com/foo/"));
    assert!(
        !exact.matches_str("/foo"),
        "relative values are not resolved"
    );
    let relative = m(MatchType::Exact, "/foo");
    assert!(!relative.matches_str("https://example.com/foo"));
    // No Unicode normalisation: NFC "é" vs NFD "e\u{301}".
    let nfc = m(MatchType::Exact, "caf\u{e9}");
    assert!(nfc.matches_str("caf\u{e9}"));
    assert!(!nfc.matches_str("cafe\u{301}"));
    // No IRI normalisation: percent-encoding is not decoded.
    let enc = m(MatchType::Exact, "https://example.com/caf%C3%A9");
    assert!(!enc.matches_str("https://example.com/caf\u{e9}"));
}

#[test]
fn m8_url_pattern_absolute_and_relative() {
    let abs = m(MatchType::UrlPattern, "https://example.com/books/:id");
    assert!(abs.matches_str("https://example.com/books/1"));
    assert!(
        abs.matches_str("/books/1"),
        "relative topic resolves against the hub"
    );
    assert!(!abs.matches_str("https://example.com/books/1/2"));
    assert!(!abs.matches_str("https://other.example/books/1"));
    let rel = m(MatchType::UrlPattern, "/books/:id");
    assert!(rel.matches_str("https://example.com/books/1"));
    assert!(!rel.matches_str("https://other.example/books/1"));
    let subs = m(
        MatchType::UrlPattern,
        "/.well-known/mercure/subscriptions/Exact/:topic/:subscriber",
    );
    assert!(subs.matches_str("/.well-known/mercure/subscriptions/Exact/https%3A%2F%2Fx%2Fy/abc"));
}

#[test]
fn m8_only_the_host_is_case_insensitive() {
    let p = m(MatchType::UrlPattern, "https://example.com/Books/:id");
    assert!(p.matches_str("https://EXAMPLE.COM/Books/1"));
    assert!(
        !p.matches_str("https://example.com/books/1"),
        "paths stay case-sensitive"
    );
    let upper_host = m(MatchType::UrlPattern, "https://EXAMPLE.com/x");
    assert!(upper_host.matches_str("https://example.com/x"));
}

#[test]
fn m8_unparsable_topic_never_matches() {
    let p = m(MatchType::UrlPattern, "*://*/*");
    assert!(!p.matches_str("http://[::1"));
    assert!(!p.matches_str("https://exa mple.com/"));
    let wide = m(MatchType::UrlPattern, "https://*/*");
    assert!(wide.matches_str("https://a.example/b"));
}

#[test]
fn m8_shared_topic_resolution() {
    let hub = hub();
    let topic = Topic::new("/books/3", &hub);
    let a = m(MatchType::UrlPattern, "/books/:id");
    let b = m(MatchType::UrlPattern, "https://example.com/books/*");
    let c = m(MatchType::Exact, "/books/3");
    assert!(a.matches(&topic) && b.matches(&topic) && c.matches(&topic));
    assert_eq!(topic.as_str(), "/books/3");
}

#[test]
fn m8_malformed_patterns_are_refused() {
    for bad in [
        "https://example.com/:id(",
        "https://example.com/(((",
        "https://example.com/:",
    ] {
        assert!(
            TopicMatcher::new(MatchType::UrlPattern, bad, &hub()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn m9_custom_regex_groups_use_a_linear_engine() {
    // Catastrophic for a backtracking engine; linear for `regex`.
    let p = m(MatchType::UrlPattern, "/a/:x((?:a+)+b)");
    let evil = format!("/a/{}c", "a".repeat(5000));
    assert!(!p.matches_str(&evil));
    assert!(p.matches_str("/a/aaab"));
    let q = m(MatchType::UrlPattern, "/n/:x(\\d+)");
    assert!(q.matches_str("/n/123"));
    assert!(!q.matches_str("/n/12a"));
}

#[test]
fn m8_capturing_groups_inside_regex_groups_are_refused() {
    // The URL Pattern standard forbids them; the parser refuses.
    assert!(TopicMatcher::new(MatchType::UrlPattern, "/a/:x((a+)+b)", &hub()).is_err());
}

#[test]
fn m9_backtracking_only_syntax_is_refused() {
    // Look-around and backreferences cannot run in linear time: refused.
    for bad in ["/a/:x((?=a)a)", "/a/:x((?:a)\\1)", "/a/:x((?<!b)a)"] {
        assert!(
            TopicMatcher::new(MatchType::UrlPattern, bad, &hub()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn m9_oversized_programs_are_refused() {
    // Counted repetition explodes the compiled program: over the budget.
    let big = "/a/:x((?:(?:a{100}){100}){10})";
    assert!(TopicMatcher::new(MatchType::UrlPattern, big, &hub()).is_err());
    let deep = format!("/a/:x({}a{})", "(?:".repeat(64), ")".repeat(64));
    assert!(TopicMatcher::new(MatchType::UrlPattern, &deep, &hub()).is_err());
}

#[test]
fn m9_pathological_inputs_complete() {
    let p = m(MatchType::UrlPattern, "/*/:a/*/:b/*/:c/*");
    let long = format!("/{}", "x/".repeat(10_000));
    let _ = p.matches_str(&long);
    let t = m(MatchType::UriTemplate, "/{a}{b}{c}{d}{e}{f}/x");
    assert!(!t.matches_str(&format!("/{}", "a".repeat(20_000))));
}

#[test]
fn l1_uri_template_matching() {
    let t = m(MatchType::UriTemplate, "https://example.com/books/{id}");
    assert!(t.matches_str("https://example.com/books/1"));
    assert!(
        t.matches_str("https://example.com/books/{id}"),
        "a template matches itself"
    );
    assert!(!t.matches_str("https://example.com/books/1/reviews"));
    assert!(!t.matches_str("https://example.com/authors/1"));
    let reserved = m(MatchType::UriTemplate, "https://example.com/{+path}");
    assert!(reserved.matches_str("https://example.com/a/b/c"));
    let plain = m(MatchType::UriTemplate, "https://example.com/foo");
    assert!(plain.matches_str("https://example.com/foo"));
    assert!(!plain.matches_str("https://example.com/foo2"));
    // Regex metacharacters in the literal part are literal.
    let dots = m(MatchType::UriTemplate, "a.b/{x}");
    assert!(!dots.matches_str("aXb/1"));
}

#[test]
fn m39_path_segment_encoding() {
    assert_eq!(
        encode_path_segment("https://x/a%b c"),
        "https%3A%2F%2Fx%2Fa%25b%20c"
    );
    assert_eq!(encode_path_segment("A-z_0.9~"), "A-z_0.9~");
    assert_eq!(encode_path_segment("é"), "%C3%A9");
}

#[test]
fn matcher_accessors_and_names() {
    let p = m(MatchType::UrlPattern, "/x");
    assert_eq!(p.pattern(), "/x");
    assert_eq!(p.match_type().as_str(), "URLPattern");
    assert_eq!(p.match_type().as_lower_str(), "urlpattern");
    assert_eq!(p, p.clone());
    assert!(HubUrl::parse("/relative").is_err());
    assert!(HubUrl::parse("mailto:x@y").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn prop_m6_star_matches_everything(topic in any::<String>()) {
        prop_assert!(m(MatchType::UrlPattern, "*").matches_str(&topic));
        prop_assert!(m(MatchType::Exact, "*").matches_str(&topic));
        prop_assert!(m(MatchType::UriTemplate, "*").matches_str(&topic));
    }

    #[test]
    fn prop_m8_url_pattern_never_panics(pattern in "[a-z:/*(){}?+.\\\\\\[\\]#&=%0-9-]{0,40}", topic in any::<String>()) {
        if let Ok(p) = TopicMatcher::new(MatchType::UrlPattern, &pattern, &hub()) {
            let _ = p.matches_str(&topic);
            let _ = p.matches_str(&pattern);
        }
    }

    #[test]
    fn prop_m8_arbitrary_pattern_text_never_panics(pattern in any::<String>(), topic in "[ -~]{0,60}") {
        if let Ok(p) = TopicMatcher::new(MatchType::UrlPattern, &pattern, &hub()) {
            let _ = p.matches_str(&topic);
        }
        let t = TopicMatcher::new(MatchType::UriTemplate, &pattern, &hub()).unwrap();
        prop_assert!(t.matches_str(&pattern), "a template matches its own text");
        let _ = t.matches_str(&topic);
    }

    #[test]
    fn prop_m7_exact_is_equality(a in any::<String>(), b in any::<String>()) {
        prop_assume!(a != "*");
        prop_assert_eq!(m(MatchType::Exact, &a).matches_str(&b), a == b);
        prop_assert!(m(MatchType::Exact, &a).matches_str(&a));
    }

    #[test]
    fn prop_m8_literal_path_pattern_matches_itself(segs in proptest::collection::vec("[a-z0-9]{1,8}", 1..5)) {
        let path = format!("/{}", segs.join("/"));
        let p = m(MatchType::UrlPattern, &path);
        prop_assert!(p.matches_str(&path));
        let abs = format!("https://example.com{path}");
        prop_assert!(p.matches_str(&abs));
        let suffixed = format!("{path}/x");
        prop_assert!(!p.matches_str(&suffixed));
    }
}

/// Regression: `urlpattern` 0.6 underflows a bracket counter on a stray `]`
/// in the host (a panic in debug builds). The matcher contains it: the call
/// returns, whatever the outcome.
#[test]
fn m8_stray_ipv6_bracket_does_not_panic() {
    for pattern in ["https://]/", "https://a]b/x", "https://[::1]]/"] {
        if let Ok(p) = TopicMatcher::new(MatchType::UrlPattern, pattern, &hub()) {
            let _ = p.matches_str("https://a/x");
        }
    }
}

#[test]
// Hash and Eq read only the immutable type and pattern text; the interior
// mutability clippy sees is the regex's scratch-space pool.
#[allow(clippy::mutable_key_type)]
fn matchers_key_a_cache() {
    let mut set = std::collections::HashSet::new();
    set.insert(m(MatchType::UrlPattern, "/a/:x"));
    set.insert(m(MatchType::UrlPattern, "/a/:x"));
    set.insert(m(MatchType::Exact, "/a/:x"));
    assert_eq!(set.len(), 2);
}
