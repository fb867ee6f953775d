//! The hub protocol cases (MERCURE.md, requirement by requirement, both
//! generations, every error status), each a function generic over the
//! [`MercureHarness`] it runs against. [`mercure_cases!`](crate::mercure_cases)
//! makes each one a test of the same name; a case is named after the
//! requirement it checks (M… for the current generation, S/H for its two
//! spellings, L… for the legacy one), so its doc line repeats the name.
//!
//! A case starts its hub with [`MercureHarness::memory`], edits only
//! settings `sse serve` has a flag for (the binary harness fails the case
//! otherwise), and stops the hub at its end. Cases that need the hub in
//! process (its metrics object, a store the test opens itself, settings
//! with no flag) are not here: they live in `sse-hub`'s `hub_protocol`
//! test against [`InProcessHub`](crate::mercure::InProcessHub).

use std::time::Duration;

use serde_json::{json, Value};

use crate::mercure::client::{
    bounded, claims, enc, exact, now, pattern, sign, sign_legacy, Ev, Sse,
};
use crate::mercure::{MercureHarness, HUB_PATH, PUB_SECRET, SUB_SECRET, TYPE_H};

const BOOK1: &str = "https://example.com/books/1";
const BOOK2: &str = "https://example.com/books/2";
const AUTHOR1: &str = "https://example.com/authors/1";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

// ---------------------------------------------------------------- subscribe

/// M1: Get is an event stream with every field.
pub async fn m1_get_is_an_event_stream_with_every_field<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let mut sub = hub.subscribe(&format!("match={}", enc(BOOK1)), &[]).await;
    assert_eq!(sub.status, 200);
    assert!(sub
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let id = hub
        .publish_ok(&format!(
            "topic={}&data=hello&id=urn%3Ax%3A1&type=book&retry=2500",
            enc(BOOK1)
        ))
        .await;
    assert_eq!(id, "urn:x:1");
    let ev = sub.next_update().await;
    assert_eq!(ev.id.as_deref(), Some("urn:x:1"));
    assert_eq!(ev.event.as_deref(), Some("book"));
    assert_eq!(ev.retry, Some(2500));
    assert_eq!(ev.data.as_deref(), Some("hello"));
    hub.stop().await;
}

/// M1 (H): Query method unions query and body.
pub async fn m1_h_query_method_unions_query_and_body<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let body = format!("match={}", enc(BOOK2));
    let mut sub = Sse::open_with(
        "QUERY",
        hub.addr(),
        &format!("{HUB_PATH}?match={}", enc(BOOK1)),
        &[("content-type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
        None,
    )
    .await
    .unwrap_or_else(|r| panic!("QUERY refused: {} {}", r.status, r.text()));
    hub.publish_ok(&format!("topic={}&data=one", enc(BOOK1)))
        .await;
    hub.publish_ok(&format!("topic={}&data=two", enc(BOOK2)))
        .await;
    assert_eq!(sub.next_update().await.data.as_deref(), Some("one"));
    assert_eq!(sub.next_update().await.data.as_deref(), Some("two"));
    hub.stop().await;
}

/// M2: Matchers mix and an update arrives once.
pub async fn m2_matchers_mix_and_an_update_arrives_once<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    // S and H spellings, exact and URL pattern, all selecting BOOK1.
    let query = format!(
        "match={b}&matchExact={b}&match_urlpattern={p}&matchURLPattern={p}&match={a}",
        b = enc(BOOK1),
        p = enc("https://example.com/books/:id"),
        a = enc(AUTHOR1),
    );
    let mut sub = hub.subscribe(&query, &[]).await;
    hub.publish_ok(&format!("topic={}&data=b1", enc(BOOK1)))
        .await;
    hub.publish_ok(&format!(
        "topic={}&data=other",
        enc("https://example.com/other")
    ))
    .await;
    hub.publish_ok(&format!("topic={}&data=b2", enc(BOOK2)))
        .await;
    hub.publish_ok(&format!("topic={}&data=a1", enc(AUTHOR1)))
        .await;
    let got: Vec<String> = [
        sub.next_update().await,
        sub.next_update().await,
        sub.next_update().await,
    ]
    .into_iter()
    .map(|e| e.data.unwrap())
    .collect();
    assert_eq!(got, ["b1", "b2", "a1"]);
    hub.stop().await;
}

/// M3: Unknown names in the match namespace are 400.
pub async fn m3_unknown_names_in_the_match_namespace_are_400<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    for name in ["matchurlpattern", "MATCH", "matchFoo", "Match_exact"] {
        let r = hub
            .try_subscribe(&format!("{name}={}", enc(BOOK1)), &[])
            .await
            .err()
            .unwrap_or_else(|| panic!("{name} accepted"));
        assert_eq!(r.status, 400, "{name}");
    }
    // Other names are ignored.
    let sub = hub
        .try_subscribe(&format!("match={}&foo=1", enc(BOOK1)), &[])
        .await;
    assert!(sub.is_ok());
    hub.stop().await;
}

/// M4: Values are form decoded and checked.
pub async fn m4_values_are_form_decoded_and_checked<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    for bad in [
        "a%01b",
        "a%7Fb",
        "a%C2%85b",
        "a%E2%80%8Bb",
        "a%E2%80%AEb",
        "%FF",
        "a%0Ab",
    ] {
        let r = hub.try_subscribe(&format!("match={bad}"), &[]).await.err();
        assert_eq!(r.map(|r| r.status), Some(400), "{bad}");
    }
    // H: a malformed URL pattern is a value invalid for its type.
    let r = hub.try_subscribe("match_urlpattern=%28", &[]).await.err();
    assert_eq!(r.map(|r| r.status), Some(400));
    // `+` is a space: `a+b` matches the topic `a b`.
    let mut sub = hub.subscribe("match=a+b", &[]).await;
    hub.publish_ok("topic=a%20b&data=spaced").await;
    assert_eq!(sub.next_update().await.data.as_deref(), Some("spaced"));
    hub.stop().await;
}

/// M5: Caps and no matcher are 400.
pub async fn m5_caps_and_no_matcher_are_400<H: MercureHarness>() {
    let hub = H::memory(|c| {
        c.subscribe.max_matchers = 3;
        c.subscribe.max_pattern_len = 64;
    })
    .await;
    let many = (0..4)
        .map(|i| format!("match=t{i}"))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        hub.try_subscribe(&many, &[]).await.err().unwrap().status,
        400
    );
    let long = format!("match={}", "x".repeat(65));
    assert_eq!(
        hub.try_subscribe(&long, &[]).await.err().unwrap().status,
        400
    );
    assert_eq!(hub.try_subscribe("", &[]).await.err().unwrap().status, 400);
    assert_eq!(
        hub.try_subscribe("foo=bar", &[])
            .await
            .err()
            .unwrap()
            .status,
        400
    );
    hub.stop().await;
}

/// M6: Star matches every topic whatever the type.
pub async fn m6_star_matches_every_topic_whatever_the_type<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let mut exact = hub.subscribe("match=*", &[]).await;
    let mut pattern = hub.subscribe("match_urlpattern=*", &[]).await;
    hub.publish_ok(&format!("topic={}&data=x", enc(BOOK1)))
        .await;
    hub.publish_ok("topic=not%20a%20url&data=y").await;
    for sub in [&mut exact, &mut pattern] {
        assert_eq!(sub.next_update().await.data.as_deref(), Some("x"));
        assert_eq!(sub.next_update().await.data.as_deref(), Some("y"));
    }
    hub.stop().await;
}

/// M7, M8: Exact is bytewise and patterns resolve relative topics.
pub async fn m7_m8_exact_is_bytewise_and_patterns_resolve_relative_topics<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let mut exact = hub
        .subscribe(
            &format!("match={}", enc("https://example.com/Books/1")),
            &[],
        )
        .await;
    let mut relative = hub
        .subscribe(&format!("match_urlpattern={}", enc("/books/:id")), &[])
        .await;
    hub.publish_ok(&format!("topic={}&data=lower", enc(BOOK1)))
        .await;
    hub.publish_ok(&format!(
        "topic={}&data=upper",
        enc("https://example.com/Books/1")
    ))
    .await;
    // A relative topic resolves against the hub URL, as does the pattern.
    hub.publish_ok(&format!("topic={}&data=rel", enc("/books/7")))
        .await;
    assert_eq!(exact.next_update().await.data.as_deref(), Some("upper"));
    assert_eq!(relative.next_update().await.data.as_deref(), Some("rel"));
    hub.stop().await;
}

/// M10: One event per update with data lines split.
pub async fn m10_one_event_per_update_with_data_lines_split<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let mut sub = hub.subscribe("match=t", &[]).await;
    let id = hub
        .publish_ok("topic=t&data=a%0Ab%0D%0Ac%0Dd%0A%0Aid%3A+evil")
        .await;
    let ev = sub.next_update().await;
    assert_eq!(
        ev.id.as_deref(),
        Some(id.as_str()),
        "id: always, the generated one"
    );
    assert!(id.starts_with("urn:uuid:"), "{id}");
    assert_eq!(
        ev.raw,
        format!("id: {id}\ndata: a\ndata: b\ndata: c\ndata: d\ndata:\ndata: id: evil\n\n")
    );
    // Empty data is still an event (one empty data line).
    hub.publish_ok("topic=t").await;
    assert_eq!(sub.next_update().await.data.as_deref(), Some(""));
    hub.stop().await;
}

/// M11: Private updates reach only authorized subscribers.
pub async fn m11_private_updates_reach_only_authorized_subscribers<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let granted = hub.sub_token(vec![exact(BOOK1)]);
    let other = hub.sub_token(vec![exact(BOOK2)]);
    let patterned = hub.sub_token(vec![pattern("https://example.com/books/:id")]);
    let q = format!("match={}", enc(BOOK1));
    let mut anon = hub.subscribe(&q, &[]).await;
    let mut ok = hub
        .subscribe(&q, &[("authorization", &bearer(&granted))])
        .await;
    let mut wrong = hub
        .subscribe(&q, &[("authorization", &bearer(&other))])
        .await;
    let mut pat = hub
        .subscribe(&q, &[("authorization", &bearer(&patterned))])
        .await;
    hub.publish_ok(&format!("topic={}&data=secret&private=on", enc(BOOK1)))
        .await;
    hub.publish_ok(&format!("topic={}&data=public", enc(BOOK1)))
        .await;
    assert_eq!(ok.next_update().await.data.as_deref(), Some("secret"));
    assert_eq!(pat.next_update().await.data.as_deref(), Some("secret"));
    // The others see only the public update that followed.
    assert_eq!(anon.next_update().await.data.as_deref(), Some("public"));
    assert_eq!(wrong.next_update().await.data.as_deref(), Some("public"));
    // Matchers never grant: a `*` subscriber without a grant sees no private.
    let mut star = hub
        .subscribe("match=*", &[("authorization", &bearer(&other))])
        .await;
    hub.publish_ok(&format!("topic={}&data=s2&private", enc(BOOK1)))
        .await;
    hub.publish_ok(&format!("topic={}&data=p2", enc(BOOK2)))
        .await;
    assert_eq!(star.next_update().await.data.as_deref(), Some("p2"));
    hub.stop().await;
}

/// M12: Cors allows only configured origins with credentials.
pub async fn m12_cors_allows_only_configured_origins_with_credentials<H: MercureHarness>() {
    let hub = H::memory(|c| c.cors_origins = vec!["https://app.example.com".to_owned()]).await;
    let sub = hub
        .subscribe("match=t", &[("origin", "https://app.example.com")])
        .await;
    assert_eq!(
        sub.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(sub.header("access-control-allow-credentials"), Some("true"));
    let other = hub
        .subscribe("match=t", &[("origin", "https://evil.example")])
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    // Preflight.
    let r = hub
        .request(
            "OPTIONS",
            HUB_PATH,
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "authorization"),
            ],
            b"",
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert!(r
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    let r = hub
        .request(
            "OPTIONS",
            HUB_PATH,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            b"",
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    hub.stop().await;
}

/// M12: Heartbeat comments keep the stream alive.
pub async fn m12_heartbeat_comments_keep_the_stream_alive<H: MercureHarness>() {
    let hub = H::memory(|c| c.heartbeat = Some(Duration::from_millis(100))).await;
    let mut sub = hub.subscribe("match=t", &[]).await;
    // Wait for a comment on the wire (no event is published).
    bounded("a keep-alive comment", async {
        loop {
            if sub.raw_text_contains(":\n\n").await {
                break;
            }
        }
    })
    .await;
    hub.stop().await;
}

// ------------------------------------------------------------------ publish

/// M13: Other content types are 415 and unknown fields ignored.
pub async fn m13_other_content_types_are_415_and_unknown_fields_ignored<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let token = hub.pub_token();
    let r = hub
        .request(
            "POST",
            HUB_PATH,
            &[
                ("content-type", "application/json"),
                ("authorization", &bearer(&token)),
            ],
            b"{\"topic\":\"t\"}",
        )
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(hub.publish("topic=t&data=x&unknown=1").await.status, 200);
    hub.stop().await;
}

/// M14: Topic rules.
pub async fn m14_topic_rules<H: MercureHarness>() {
    let hub = H::memory(|c| c.publish.max_topics = 3).await;
    assert_eq!(hub.publish("data=x").await.status, 400, "no topic");
    assert_eq!(hub.publish("topic=a%01b").await.status, 400, "control char");
    assert_eq!(
        hub.publish("topic=t1&topic=t2&topic=t3&topic=t4")
            .await
            .status,
        413
    );
    // H: alternates route too.
    let mut sub = hub.subscribe("match=alt", &[]).await;
    hub.publish_ok("topic=canonical&topic=alt&data=via-alternate")
        .await;
    assert_eq!(
        sub.next_update().await.data.as_deref(),
        Some("via-alternate")
    );
    hub.stop().await;
}

/// M15: Reserved namespace.
pub async fn m15_reserved_namespace<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    for topic in [
        "/.well-known/mercure",
        "/.well-known/mercure/subscriptions/x",
        "https://other.example/.well-known/mercure/x",
        "/.well-known/%6Dercure/x",
        "/a/../.well-known/mercure/x",
        "*",
    ] {
        assert_eq!(
            hub.publish(&format!("topic={}", enc(topic))).await.status,
            400,
            "{topic}"
        );
    }
    assert_eq!(
        hub.publish(&format!(
            "topic={}",
            enc("https://x.example/foo/.well-known/mercure")
        ))
        .await
        .status,
        200
    );
    hub.stop().await;
}

/// M16: Data must be utf8.
pub async fn m16_data_must_be_utf8<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    assert_eq!(hub.publish("topic=t&data=%FF%FE").await.status, 400);
    assert_eq!(hub.publish("topic=t").await.status, 200, "data is optional");
    hub.stop().await;
}

/// M17: Presence of private makes it private.
pub async fn m17_presence_of_private_makes_it_private<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let mut anon = hub.subscribe("match=t", &[]).await;
    for form in [
        "topic=t&private=false",
        "topic=t&private=",
        "topic=t&private",
    ] {
        hub.publish_ok(form).await;
    }
    hub.publish_ok("topic=t&data=public").await;
    assert_eq!(anon.next_update().await.data.as_deref(), Some("public"));
    hub.stop().await;
}

/// M18: Id rules.
pub async fn m18_id_rules<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    for bad in [
        "%23frag",
        "a%0Ab",
        "a%0Db",
        "a%00b",
        "earliest",
        "a%E2%80%8Bb",
    ] {
        assert_eq!(
            hub.publish(&format!("topic=t&id={bad}")).await.status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        hub.publish_ok("topic=t&id=urn%3Amine%3A1").await,
        "urn:mine:1"
    );
    let generated = hub.publish_ok("topic=t").await;
    assert!(generated.starts_with("urn:uuid:"), "{generated}");
    hub.stop().await;
}

/// M19: Type rules.
pub async fn m19_type_rules<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    for bad in ["a%0Db", "a%0Ab", "a%01", "mercure"] {
        assert_eq!(
            hub.publish(&format!("topic=t&type={bad}")).await.status,
            400,
            "{bad}"
        );
    }
    hub.stop().await;
}

/// M20: Retry is digits only.
pub async fn m20_retry_is_digits_only<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    for bad in ["1a", "-1", "%2B5", "1.5", "+5"] {
        assert_eq!(
            hub.publish(&format!("topic=t&retry={bad}")).await.status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        hub.publish("topic=t&retry=").await.status,
        200,
        "empty is absent"
    );
    hub.stop().await;
}

/// M21: Success is 200 text plain with the id.
pub async fn m21_success_is_200_text_plain_with_the_id<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let r = hub.publish("topic=t&id=urn%3Aid%3A42").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.text(), "urn:id:42");
    hub.stop().await;
}

/// M22: Caps give 413.
pub async fn m22_caps_give_413<H: MercureHarness>() {
    let hub = H::memory(|c| {
        c.publish.max_body = 1000;
        c.publish.max_topic_len = 50;
        c.publish.max_id_len = 20;
    })
    .await;
    let big = format!("topic=t&data={}", "x".repeat(2000));
    assert_eq!(hub.publish(&big).await.status, 413);
    assert_eq!(
        hub.publish(&format!("topic={}", "t".repeat(51)))
            .await
            .status,
        413
    );
    assert_eq!(
        hub.publish(&format!("topic=t&id={}", "i".repeat(21)))
            .await
            .status,
        413
    );
    hub.stop().await;
}

/// M23: Publish needs a token granting every topic.
pub async fn m23_publish_needs_a_token_granting_every_topic<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let r = hub
        .request(
            "POST",
            HUB_PATH,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"topic=t",
        )
        .await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(!challenge.contains("error="), "{challenge}");
    assert!(challenge.contains("resource_metadata=\""), "{challenge}");

    let books_only = hub.token(
        PUB_SECRET,
        &["publish"],
        vec![pattern("https://example.com/books/:id")],
        3600,
    );
    let r = hub
        .publish_with(&format!("topic={}", enc(AUTHOR1)), &books_only)
        .await;
    assert_eq!(r.status, 403);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"insufficient_scope\""));
    // L5/M14-H: every topic must be granted.
    let r = hub
        .publish_with(
            &format!("topic={}&topic={}", enc(BOOK1), enc(AUTHOR1)),
            &books_only,
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        hub.publish_with(&format!("topic={}", enc(BOOK1)), &books_only)
            .await
            .status,
        200
    );

    // A subscriber key does not sign publisher tokens.
    let wrong_key = hub.token(SUB_SECRET, &["publish"], vec![exact("*")], 3600);
    let r = hub.publish_with("topic=t", &wrong_key).await;
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    // A subscribe-only grant does not publish.
    let subscribe_only = hub.token(PUB_SECRET, &["subscribe"], vec![exact("*")], 3600);
    assert_eq!(
        hub.publish_with("topic=t", &subscribe_only).await.status,
        403
    );
    hub.stop().await;
}

// ------------------------------------------------------------ authorization

/// M24: Token validation faults are invalid token.
pub async fn m24_token_validation_faults_are_invalid_token<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let expired = hub.token(SUB_SECRET, &["subscribe"], vec![exact("*")], -60);
    let other_aud = sign(
        SUB_SECRET,
        &claims(
            "https://other.example/.well-known/mercure",
            &["subscribe"],
            vec![exact("*")],
            3600,
        ),
    );
    let mut no_typ = claims(hub.url(), &["subscribe"], vec![exact("*")], 3600);
    no_typ["mercure"] = json!({"subscribe": ["*"]});
    let legacy = sign_legacy(SUB_SECRET, &no_typ);
    for token in [expired, other_aud, legacy, "not.a.jwt".to_owned()] {
        let r = hub
            .try_subscribe("match=t", &[("authorization", &bearer(&token))])
            .await
            .err()
            .expect("refused");
        assert_eq!(r.status, 401);
        assert!(r
            .header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\""));
    }
    hub.stop().await;
}

/// M25, M26: Anonymous policy and challenges.
pub async fn m25_m26_anonymous_policy_and_challenges<H: MercureHarness>() {
    let hub = H::memory(|c| c.allow_anonymous = false).await;
    let r = hub
        .try_subscribe("match=t", &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "{challenge}"
    );
    let ok = hub.sub_token(vec![exact("*")]);
    assert!(hub
        .try_subscribe("match=t", &[("authorization", &bearer(&ok))])
        .await
        .is_ok());
    // Two bearer headers: malformed, 400 invalid_request.
    let r = hub
        .try_subscribe(
            "match=t",
            &[
                ("authorization", &bearer(&ok)),
                ("authorization", &bearer(&ok)),
            ],
        )
        .await
        .err()
        .expect("refused");
    assert_eq!(r.status, 400);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("invalid_request"));
    hub.stop().await;

    // Anonymous allowed, but an invalid token is never downgraded.
    let hub = H::memory(|c| c.allow_anonymous = true).await;
    assert!(hub.try_subscribe("match=t", &[]).await.is_ok());
    let r = hub
        .try_subscribe("match=t", &[("authorization", "Bearer garbage")])
        .await
        .err()
        .expect("refused");
    assert_eq!(r.status, 401);
    let r = hub
        .try_subscribe(
            "match=t",
            &[("cookie", "__Secure-mercure_access_token=garbage")],
        )
        .await
        .err()
        .expect("refused");
    assert_eq!(r.status, 401);
    hub.stop().await;
}

/// M27: Token transport header then cookie and no query.
pub async fn m27_token_transport_header_then_cookie_and_no_query<H: MercureHarness>() {
    let hub = H::memory(|c| c.allow_anonymous = false).await;
    let token = hub.sub_token(vec![exact(BOOK1)]);
    let q = format!("match={}", enc(BOOK1));
    for cookie in [
        "__Secure-mercure_access_token",
        "mercureAccessToken",
        "mercureAuthorization",
    ] {
        let c = format!("other=1; {cookie}={token}");
        let mut sub = hub.subscribe(&q, &[("cookie", &c)]).await;
        hub.publish_ok(&format!("topic={}&data={cookie}&private", enc(BOOK1)))
            .await;
        assert_eq!(sub.next_update().await.data.as_deref(), Some(cookie));
    }
    // The header wins over a bad cookie.
    let sub = hub
        .try_subscribe(
            &q,
            &[
                ("authorization", &bearer(&token)),
                ("cookie", "__Secure-mercure_access_token=bad"),
            ],
        )
        .await;
    assert!(sub.is_ok());
    hub.stop().await;
}

/// Subscribes, then checks that a private update on `topic` arrives: the
/// token (however it travelled) was the one used.
async fn assert_reads_private<H: MercureHarness>(
    hub: &H,
    query: &str,
    headers: &[(&str, &str)],
    topic: &str,
) {
    let mut sub = hub
        .try_subscribe(query, headers)
        .await
        .unwrap_or_else(|r| panic!("{query:?} refused: {} {}", r.status, r.text()));
    hub.publish_ok(&format!("topic={}&data=secret&private", enc(topic)))
        .await;
    assert_eq!(sub.next_update().await.data.as_deref(), Some("secret"));
}

/// M27 (H): Access token is ignored on current requests.
pub async fn m27_h_access_token_is_ignored_on_current_requests<H: MercureHarness>() {
    // `--legacy` ("also accept 0.x") must not change current requests.
    for legacy in [false, true] {
        let hub = H::memory(|c| {
            c.allow_anonymous = false;
            c.auth.legacy_tokens = legacy;
            c.auth.query_token = legacy;
        })
        .await;
        let token = hub.sub_token(vec![exact(BOOK1)]);
        let q = format!("match={}", enc(BOOK1));
        // Only in the query: as if there were no token (401, no error code).
        let r = hub
            .try_subscribe(&format!("{q}&access_token={token}"), &[])
            .await
            .err()
            .unwrap_or_else(|| panic!("legacy={legacy}: a query token was used"));
        assert_eq!(r.status, 401, "legacy={legacy}: {}", r.text());
        let challenge = r.header("www-authenticate").unwrap();
        assert!(!challenge.contains("error="), "{challenge}");
        // Beside a header or a cookie, a bad query token changes nothing:
        // header, then cookie.
        let garbage = format!("{q}&access_token=garbage");
        assert_reads_private(&hub, &garbage, &[("authorization", &bearer(&token))], BOOK1).await;
        let cookie = format!("__Secure-mercure_access_token={token}");
        assert_reads_private(&hub, &garbage, &[("cookie", &cookie)], BOOK1).await;
        // A publish never reads the query either.
        let r = hub
            .request(
                "POST",
                &format!("{HUB_PATH}?access_token={}", hub.pub_token()),
                &[("content-type", "application/x-www-form-urlencoded")],
                b"topic=t",
            )
            .await;
        assert_eq!(r.status, 401, "legacy={legacy}: {}", r.text());
        hub.stop().await;
    }
}

/// L4: Query tokens only on legacy requests behind the switch.
pub async fn l4_query_tokens_only_on_legacy_requests_behind_the_switch<H: MercureHarness>() {
    let hub = H::memory(|c| {
        c.allow_anonymous = true;
        c.auth.legacy_tokens = true;
        c.auth.query_token = true;
    })
    .await;
    let token = sign_legacy(SUB_SECRET, &json!({"mercure": {"subscribe": [BOOK1]}}));
    for name in ["authorization", "access_token"] {
        let q = format!("topic={}&{name}={token}", enc(BOOK1));
        assert_reads_private(&hub, &q, &[], BOOK1).await;
    }
    hub.stop().await;
    // Without the switch, a 0.x request's query token is not silently
    // dropped (that would serve it anonymously, without its private
    // updates): 401, and the answer names the switch.
    let hub = H::memory(|c| c.allow_anonymous = true).await;
    let r = hub
        .try_subscribe(&format!("topic={}&authorization={token}", enc(BOOK1)), &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(r.status, 401);
    assert!(r.text().contains("--legacy"), "{}", r.text());
    hub.stop().await;
}

/// M25: One challenge and body for every invalid token cause.
pub async fn m25_one_challenge_and_body_for_every_invalid_token_cause<H: MercureHarness>() {
    let hub = H::memory(|c| c.allow_anonymous = false).await;
    let good = || claims(hub.url(), &["subscribe"], vec![exact("*")], 3600);
    let mut no_exp = good();
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut not_yet = good();
    not_yet["nbf"] = json!(now() + 3600);
    let mut no_details = good();
    no_details["authorization_details"] = json!([{"type": TYPE_H, "actions": []}]);
    let other_aud = claims(
        "https://other.example/.well-known/mercure",
        &["subscribe"],
        vec![exact("*")],
        3600,
    );
    let causes = [
        (
            "expired",
            hub.token(SUB_SECRET, &["subscribe"], vec![exact("*")], -60),
        ),
        ("no exp", sign(SUB_SECRET, &no_exp)),
        ("not yet valid", sign(SUB_SECRET, &not_yet)),
        ("malformed details", sign(SUB_SECRET, &no_details)),
        ("other audience", sign(SUB_SECRET, &other_aud)),
        ("wrong key", sign(PUB_SECRET, &good())),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    let mut answers = Vec::new();
    for (cause, token) in &causes {
        let r = hub
            .try_subscribe("match=t", &[("authorization", &bearer(token))])
            .await
            .err()
            .unwrap_or_else(|| panic!("{cause}: accepted"));
        assert_eq!(r.status, 401, "{cause}");
        let challenge = r.header("www-authenticate").unwrap().to_owned();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{cause}: {challenge}"
        );
        answers.push((cause, challenge, r.text()));
    }
    let (_, challenge, body) = &answers[0];
    for (cause, c, b) in &answers {
        assert_eq!((c, b), (challenge, body), "{cause} is answered differently");
    }
    hub.stop().await;
}

/// M24 (H): A token of another typ is 401 even with legacy on.
pub async fn m24_h_a_token_of_another_typ_is_401_even_with_legacy_on<H: MercureHarness>() {
    let hub = H::memory(|c| {
        c.allow_anonymous = false;
        c.auth.legacy_tokens = true;
        c.auth.query_token = true;
    })
    .await;
    // A current-generation claim set under `typ: JWT`: not at+jwt, and not
    // a 0.x token either (no `mercure` claim).
    let publisher = sign_legacy(
        PUB_SECRET,
        &claims(hub.url(), &["publish"], vec![exact("*")], 3600),
    );
    let r = hub.publish_with("topic=t&data=x", &publisher).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    let subscriber = sign_legacy(
        SUB_SECRET,
        &claims(hub.url(), &["subscribe"], vec![exact("*")], 3600),
    );
    let r = hub
        .try_subscribe("match=t", &[("authorization", &bearer(&subscriber))])
        .await
        .err()
        .expect("refused");
    assert_eq!(r.status, 401);
    hub.stop().await;
}

/// L7: A 0x token without the switch is 401 naming legacy.
pub async fn l7_a_0x_token_without_the_switch_is_401_naming_legacy<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let legacy = sign_legacy(PUB_SECRET, &json!({"mercure": {"publish": ["*"]}}));
    let r = hub.publish_with("topic=t&data=x", &legacy).await;
    assert_eq!(r.status, 401);
    assert!(
        r.text().contains("0.x") && r.text().contains("--legacy"),
        "{}",
        r.text()
    );
    // The challenge is the one every invalid token gets (M25).
    let garbage = hub.publish_with("topic=t&data=x", "not-a-jwt").await;
    assert_eq!(
        r.header("www-authenticate"),
        garbage.header("www-authenticate")
    );
    assert!(!garbage.text().contains("--legacy"), "{}", garbage.text());
    hub.stop().await;
}

/// M29: Cookie publishing checks the origin.
pub async fn m29_cookie_publishing_checks_the_origin<H: MercureHarness>() {
    let hub = H::memory(|c| c.cors_origins = vec!["https://app.example.com".to_owned()]).await;
    let token = hub.pub_token();
    let cookie = format!("__Secure-mercure_access_token={token}");
    let post = |origin: Option<&'static str>| {
        let cookie = cookie.clone();
        let hub = &hub;
        async move {
            let mut headers = vec![
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", cookie.as_str()),
            ];
            if let Some(o) = origin {
                headers.push(("origin", o));
            }
            hub.request("POST", HUB_PATH, &headers, b"topic=t")
                .await
                .status
        }
    };
    assert_eq!(post(None).await, 403);
    assert_eq!(post(Some("https://evil.example")).await, 403);
    assert_eq!(post(Some("https://app.example.com")).await, 200);
    // The hub's own origin (a page it serves) may publish with a cookie too.
    let own: &'static str = Box::leak(format!("http://{}", hub.addr()).into_boxed_str());
    assert_eq!(post(Some(own)).await, 200);
    // Header tokens are not subject to the check.
    assert_eq!(hub.publish("topic=t").await.status, 200);
    hub.stop().await;
}

/// M32: The stream closes when the token expires.
pub async fn m32_the_stream_closes_when_the_token_expires<H: MercureHarness>() {
    let hub = H::memory(|c| c.allow_anonymous = false).await;
    let token = hub.token(SUB_SECRET, &["subscribe"], vec![exact("*")], 2);
    let mut sub = hub
        .subscribe("match=t", &[("authorization", &bearer(&token))])
        .await;
    // The stream ends by itself (bounded wait); nothing else ends it here.
    sub.until_end().await;
    hub.stop().await;
}

/// M33: Payload appears in subscriptions.
pub async fn m33_payload_appears_in_subscriptions<H: MercureHarness>() {
    let hub = H::memory(|c| c.subscriptions = true).await;
    let claims = json!({
        "aud": hub.url(), "exp": now() + 3600,
        "authorization_details": [
            {"type": TYPE_H, "actions": ["subscribe"], "topics": [{"match": "*"}], "payload": {"user": "ann"}}
        ],
    });
    let token = sign(SUB_SECRET, &claims);
    let _sub = hub
        .subscribe("match=t", &[("authorization", &bearer(&token))])
        .await;
    let r = hub
        .get(
            &format!("{HUB_PATH}/subscriptions"),
            &[("authorization", &bearer(&token))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    assert_eq!(body["subscriptions"][0]["payload"], json!({"user": "ann"}));
    hub.stop().await;
}

// ------------------------------------------------------------- reconnection

/// M34, M35: Replay after the cursor with header winning.
pub async fn m34_m35_replay_after_the_cursor_with_header_winning<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let a = hub.publish_ok("topic=t&data=a").await;
    let b = hub.publish_ok("topic=t&data=b").await;
    hub.publish_ok("topic=t&data=c").await;
    hub.publish_ok("topic=other&data=x").await;
    // Header (b) wins over the query parameter (a).
    let mut sub = hub
        .subscribe(
            &format!("match=t&last_event_id={}", enc(&a)),
            &[("last-event-id", &b)],
        )
        .await;
    assert_eq!(sub.header("mercure-last-event-id"), Some(b.as_str()));
    assert_eq!(sub.next_update().await.data.as_deref(), Some("c"));
    hub.publish_ok("topic=t&data=d").await;
    assert_eq!(sub.next_update().await.data.as_deref(), Some("d"));
    // The query parameter alone (H and S spellings).
    for name in ["last_event_id", "lastEventID"] {
        let mut sub = hub
            .subscribe(&format!("match=t&{name}={}", enc(&a)), &[])
            .await;
        assert_eq!(sub.next_update().await.data.as_deref(), Some("b"), "{name}");
    }
    hub.stop().await;
}

/// M35: Replayed private updates are rechecked.
pub async fn m35_replayed_private_updates_are_rechecked<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    hub.publish_ok(&format!("topic={}&data=secret&private", enc(BOOK1)))
        .await;
    hub.publish_ok(&format!("topic={}&data=public", enc(BOOK1)))
        .await;
    let q = format!("match={}&last_event_id=earliest", enc(BOOK1));
    let mut anon = hub.subscribe(&q, &[]).await;
    assert_eq!(anon.next_update().await.data.as_deref(), Some("public"));
    let token = hub.sub_token(vec![exact(BOOK1)]);
    let mut granted = hub
        .subscribe(&q, &[("authorization", &bearer(&token))])
        .await;
    assert_eq!(granted.next_update().await.data.as_deref(), Some("secret"));
    assert_eq!(granted.next_update().await.data.as_deref(), Some("public"));
    hub.stop().await;
}

/// M36: Earliest replays all retained history.
pub async fn m36_earliest_replays_all_retained_history<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    for i in 0..5 {
        hub.publish_ok(&format!("topic=t&data={i}")).await;
    }
    let mut sub = hub.subscribe("match=t&last_event_id=earliest", &[]).await;
    assert_eq!(sub.header("mercure-last-event-id"), Some("earliest"));
    for i in 0..5 {
        assert_eq!(sub.next_update().await.data, Some(i.to_string()));
    }
    hub.stop().await;
}

/// M37: The response says where history resumed.
pub async fn m37_the_response_says_where_history_resumed<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let a = hub.publish_ok("topic=t&data=a").await;
    let sub = hub
        .subscribe(&format!("match=t&last_event_id={}", enc(&a)), &[])
        .await;
    assert_eq!(sub.header("mercure-last-event-id"), Some(a.as_str()));
    assert_eq!(
        sub.header("last-event-id"),
        Some(a.as_str()),
        "S/L header too"
    );
    let sub = hub
        .subscribe("match=t&last_event_id=urn%3Aunknown", &[])
        .await;
    assert_eq!(sub.header("mercure-last-event-id"), Some("earliest"));
    let sub = hub.subscribe("match=t", &[]).await;
    assert_eq!(
        sub.header("mercure-last-event-id"),
        None,
        "no cursor, no header"
    );
    hub.stop().await;
    // Evicted ids also say `earliest`.
    let hub = H::memory(|c| c.retention = sse_hub::store::Retention::new(2)).await;
    let first = hub.publish_ok("topic=t&data=1").await;
    hub.publish_ok("topic=t&data=2").await;
    hub.publish_ok("topic=t&data=3").await;
    let mut sub = hub.subscribe("match=t", &[("last-event-id", &first)]).await;
    assert_eq!(sub.header("mercure-last-event-id"), Some("earliest"));
    hub.publish_ok("topic=t&data=4").await;
    assert_eq!(
        sub.next_update().await.data.as_deref(),
        Some("4"),
        "live after an unknown cursor"
    );
    hub.stop().await;
}

/// M38: Retry can be sent at stream start.
pub async fn m38_retry_can_be_sent_at_stream_start<H: MercureHarness>() {
    let hub = H::memory(|c| c.retry = Some(Duration::from_millis(1500))).await;
    let mut sub = hub.subscribe("match=t", &[]).await;
    let ev = sub.next().await.unwrap();
    assert_eq!(ev.retry, Some(1500));
    hub.stop().await;
}

// ---------------------------------------------------- active subscriptions

fn subscription_watcher_token<H: MercureHarness>(hub: &H) -> String {
    hub.sub_token(vec![exact("*")])
}

/// The next subscription event about a subscription to `pattern` (events
/// about other subscriptions are skipped).
async fn subscription_event(watcher: &mut Sse, pattern: &str) -> (Ev, Value) {
    loop {
        let ev = watcher.next_update().await;
        let body: Value = serde_json::from_str(ev.data.as_deref().unwrap()).unwrap();
        let about = body.get("match").or_else(|| body.get("topic"));
        if about.and_then(Value::as_str) == Some(pattern) {
            return (ev, body);
        }
    }
}

/// M39, M40, M41: Subscription events on connect and disconnect.
pub async fn m39_m40_m41_subscription_events_on_connect_and_disconnect<H: MercureHarness>() {
    let hub = H::memory(|c| c.subscriptions = true).await;
    let watcher_token = subscription_watcher_token(&hub);
    let mut watcher = hub
        .subscribe(
            &format!(
                "match_urlpattern={}",
                enc("/.well-known/mercure/subscriptions/*")
            ),
            &[("authorization", &bearer(&watcher_token))],
        )
        .await;
    // The watcher's own subscription event is published after it went live.
    let own = watcher.next_update().await;
    assert_eq!(own.event.as_deref(), Some("mercure"));

    let mut anon_watcher = hub.subscribe("match=*", &[]).await; // M11: never sees them
    let watched = hub
        .subscribe(&format!("match={}&subscriber=forged", enc(BOOK1)), &[])
        .await;
    let (ev, body) = subscription_event(&mut watcher, BOOK1).await;
    assert_eq!(
        ev.event.as_deref(),
        Some("mercure"),
        "H: event type mercure"
    );
    assert_eq!(body["type"], "subscription");
    assert_eq!(body["match"], BOOK1);
    assert_eq!(body["match_type"], "exact");
    assert_eq!(body["active"], true);
    let subscriber = body["subscriber"].as_str().unwrap().to_owned();
    assert!(
        subscriber.starts_with("urn:uuid:"),
        "M40: hub-made, {subscriber}"
    );
    assert_eq!(
        body["id"],
        format!(
            "/.well-known/mercure/subscriptions/exact/{}/{}",
            enc(BOOK1),
            enc(&subscriber)
        ),
        "H: lowercase type segment"
    );
    drop(watched);
    let (_, body) = subscription_event(&mut watcher, BOOK1).await;
    assert_eq!(body["active"], false);
    assert_eq!(body["subscriber"], subscriber.as_str());
    // The anonymous `*` subscriber saw none of these private updates.
    hub.publish_ok("topic=t&data=after").await;
    assert_eq!(
        anon_watcher.next_update().await.data.as_deref(),
        Some("after")
    );
    hub.stop().await;
}

/// M41 (S): Json ld subscription events behind the switch.
pub async fn m41_s_json_ld_subscription_events_behind_the_switch<H: MercureHarness>() {
    let hub = H::memory(|c| {
        c.subscriptions = true;
        c.subscription_format = sse_hub::subscribe::SubscriptionFormat::JsonLd;
    })
    .await;
    let token = subscription_watcher_token(&hub);
    let mut watcher = hub
        .subscribe(
            "match_urlpattern=%2F.well-known%2Fmercure%2Fsubscriptions%2F*",
            &[("authorization", &bearer(&token))],
        )
        .await;
    let own = watcher.next_update().await;
    let body: Value = serde_json::from_str(own.data.as_deref().unwrap()).unwrap();
    assert_eq!(body["@context"], "https://mercure.rocks/");
    assert_eq!(body["type"], "Subscription");
    assert_eq!(body["matchType"], "URLPattern");
    assert!(
        body["id"]
            .as_str()
            .unwrap()
            .starts_with("/.well-known/mercure/subscriptions/URLPattern/"),
        "S: the previous type segment, {}",
        body["id"]
    );
    assert_eq!(own.event, None);
    hub.stop().await;
}

/// M42: Subscriptions api.
pub async fn m42_subscriptions_api<H: MercureHarness>() {
    let hub = H::memory(|c| c.subscriptions = true).await;
    let _s1 = hub.subscribe(&format!("match={}", enc(BOOK1)), &[]).await;
    let _s2 = hub
        .subscribe(&format!("match_urlpattern={}", enc("/books/:id")), &[])
        .await;
    let base = format!("{HUB_PATH}/subscriptions");
    assert_eq!(hub.get(&base, &[]).await.status, 401);
    let narrow = hub.sub_token(vec![exact(BOOK1)]);
    let r = hub.get(&base, &[("authorization", &bearer(&narrow))]).await;
    assert_eq!(r.status, 403);
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));

    let token = hub.sub_token(vec![
        exact("/.well-known/mercure/subscriptions"),
        pattern("/.well-known/mercure/subscriptions/*"),
    ]);
    let auth = bearer(&token);
    let r = hub.get(&base, &[("authorization", &auth)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        r.header("link").unwrap().contains("last-event-id="),
        "H: cursor in Link"
    );
    let all = r.json();
    assert_eq!(all["type"], "subscriptions");
    let items = all["subscriptions"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let subscriber = items[0]["subscriber"].as_str().unwrap().to_owned();

    // H paths: lowercase type segments; the item's id is its own path.
    let one_path = format!("{base}/exact/{}/{}", enc(BOOK1), enc(&subscriber));
    let r = hub.get(&one_path, &[("authorization", &auth)]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["match"], BOOK1);
    assert_eq!(r.json()["id"], one_path.as_str());
    let by_match = hub
        .get(
            &format!("{base}/exact/{}", enc(BOOK1)),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(
        by_match.json()["subscriptions"].as_array().unwrap().len(),
        1
    );
    let missing = hub
        .get(
            &format!("{base}/Exact/{}/urn%3Auuid%3Anope", enc(BOOK1)),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(missing.status, 404);
    hub.stop().await;
}

/// M42 (S): Json ld collection has last event id.
pub async fn m42_s_json_ld_collection_has_last_event_id<H: MercureHarness>() {
    let hub = H::memory(|c| {
        c.subscriptions = true;
        c.subscription_format = sse_hub::subscribe::SubscriptionFormat::JsonLd;
    })
    .await;
    let id = hub.publish_ok("topic=t").await;
    let token = hub.sub_token(vec![exact("*")]);
    // Wait until the fan-out saw the update: a subscriber replaying from
    // `earliest` receives it only after it was committed; the API reports
    // the fan-out's newest id, so poll the API with a bound.
    let r = bounded("the API to report the newest id", async {
        loop {
            let r = hub
                .get(
                    &format!("{HUB_PATH}/subscriptions"),
                    &[("authorization", &bearer(&token))],
                )
                .await;
            if r.json()["lastEventID"] == id.as_str() {
                break r;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(r.header("content-type"), Some("application/ld+json"));
    assert_eq!(r.json()["type"], "Subscriptions");
    hub.stop().await;
}

// ------------------------------------------------- discovery and metadata

/// M43: Discovery link on hub responses.
pub async fn m43_discovery_link_on_hub_responses<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let expected = format!("<{}>; rel=\"mercure\"", hub.url());
    let r = hub.publish("topic=t").await;
    assert_eq!(r.header("link"), Some(expected.as_str()));
    let sub = hub.subscribe("match=t", &[]).await;
    assert_eq!(sub.header("link"), Some(expected.as_str()));
    let r = hub.try_subscribe("matchFoo=1", &[]).await.err().unwrap();
    assert_eq!(r.header("link"), Some(expected.as_str()));
    hub.stop().await;
}

/// M44: Protected resource metadata.
pub async fn m44_protected_resource_metadata<H: MercureHarness>() {
    let hub = H::memory(|c| c.subscriptions = true).await;
    let r = hub
        .get(
            "/.well-known/oauth-protected-resource/.well-known/mercure",
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json();
    assert_eq!(doc["resource"], hub.url());
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert_eq!(doc["mercure_cookie"], "__Secure-mercure_access_token");
    assert_eq!(doc["mercure_subscriptions"], true);
    // `--legacy` adds the 0.x generation; the metadata describes the
    // current one and stays the same.
    let legacy = H::memory(|c| {
        c.subscriptions = true;
        c.auth.legacy_tokens = true;
        c.auth.query_token = true;
    })
    .await;
    let mut legacy_doc = legacy
        .get(
            "/.well-known/oauth-protected-resource/.well-known/mercure",
            &[],
        )
        .await
        .json();
    legacy_doc["resource"] = doc["resource"].clone();
    assert_eq!(legacy_doc, doc);
    legacy.stop().await;
    // Challenges point at it.
    let r = hub
        .request(
            "POST",
            HUB_PATH,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"topic=t",
        )
        .await;
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(&format!(
            "resource_metadata=\"http://{}/.well-known/oauth-protected-resource/.well-known/mercure\"",
            hub.addr()
        )),
        "{challenge}"
    );
    hub.stop().await;
}

/// M46: Streams are neither cached nor buffered.
pub async fn m46_streams_are_neither_cached_nor_buffered<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let sub = hub.subscribe("match=t", &[]).await;
    assert_eq!(
        sub.header("cache-control"),
        Some("private, no-cache, no-store")
    );
    assert_eq!(sub.header("x-accel-buffering"), Some("no"));
    hub.stop().await;
}

// ------------------------------------------------------------------- legacy

/// L1: Topic selectors are uri templates.
pub async fn l1_topic_selectors_are_uri_templates<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let mut sub = hub
        .subscribe(
            &format!("topic={}", enc("https://example.com/books/{id}")),
            &[],
        )
        .await;
    let mut star = hub.subscribe("topic=*", &[]).await;
    hub.publish_ok(&format!("topic={}&data=author", enc(AUTHOR1)))
        .await;
    hub.publish_ok(&format!("topic={}&data=book", enc(BOOK1)))
        .await;
    assert_eq!(sub.next_update().await.data.as_deref(), Some("book"));
    assert_eq!(star.next_update().await.data.as_deref(), Some("author"));
    // `topic=` is ignored when a `match` parameter is present (L7).
    let mut mixed = hub
        .subscribe(&format!("match={}&topic=*", enc(BOOK2)), &[])
        .await;
    hub.publish_ok(&format!("topic={}&data=b1", enc(BOOK1)))
        .await;
    hub.publish_ok(&format!("topic={}&data=b2", enc(BOOK2)))
        .await;
    assert_eq!(mixed.next_update().await.data.as_deref(), Some("b2"));
    hub.stop().await;
}

/// L2: Legacy cursor spellings and response header.
pub async fn l2_legacy_cursor_spellings_and_response_header<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let a = hub.publish_ok("topic=t&data=a").await;
    hub.publish_ok("topic=t&data=b").await;
    for name in ["lastEventID", "Last-Event-ID"] {
        let mut sub = hub
            .subscribe(&format!("topic=t&{name}={}", enc(&a)), &[])
            .await;
        assert_eq!(sub.header("last-event-id"), Some(a.as_str()), "{name}");
        assert_eq!(sub.next_update().await.data.as_deref(), Some("b"), "{name}");
    }
    hub.stop().await;
}

/// L3, L7: Legacy tokens behind the switch.
pub async fn l3_l7_legacy_tokens_behind_the_switch<H: MercureHarness>() {
    let hub = H::memory(|c| {
        c.allow_anonymous = false;
        c.auth.legacy_tokens = true;
        c.auth.query_token = true;
    })
    .await;
    let token = sign_legacy(SUB_SECRET, &json!({"mercure": {"subscribe": [BOOK1]}}));
    let publisher = sign_legacy(PUB_SECRET, &json!({"mercure": {"publish": ["*"]}}));
    let mut sub = hub
        .subscribe(
            &format!("topic={}", enc(BOOK1)),
            &[("authorization", &bearer(&token))],
        )
        .await;
    let r = hub
        .publish_with(
            &format!("topic={}&data=legacy&private", enc(BOOK1)),
            &publisher,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sub.next_update().await.data.as_deref(), Some("legacy"));
    hub.stop().await;
}

/// L5: Alternate topics route and need every grant.
pub async fn l5_alternate_topics_route_and_need_every_grant<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let token = hub.sub_token(vec![exact(AUTHOR1)]);
    // Private read: any topic granted.
    let mut sub = hub
        .subscribe(
            &format!("topic={}", enc(BOOK1)),
            &[("authorization", &bearer(&token))],
        )
        .await;
    hub.publish_ok(&format!(
        "topic={}&topic={}&data=both&private",
        enc(BOOK1),
        enc(AUTHOR1)
    ))
    .await;
    assert_eq!(sub.next_update().await.data.as_deref(), Some("both"));
    hub.stop().await;
}

/// L6: Legacy subscription events.
pub async fn l6_legacy_subscription_events<H: MercureHarness>() {
    let hub = H::memory(|c| c.subscriptions = true).await;
    let token = subscription_watcher_token(&hub);
    let mut watcher = hub
        .subscribe(
            "match_urlpattern=%2F.well-known%2Fmercure%2Fsubscriptions%2F*",
            &[("authorization", &bearer(&token))],
        )
        .await;
    let _own = watcher.next_update().await;
    let _legacy = hub.subscribe("topic=foo", &[]).await;
    let (_, body) = subscription_event(&mut watcher, "foo").await;
    assert_eq!(body["topic"], "foo");
    assert_eq!(body["@context"], "https://mercure.rocks/");
    assert!(body["id"]
        .as_str()
        .unwrap()
        .starts_with("/.well-known/mercure/subscriptions/foo/"));
    hub.stop().await;
}

// ---------------------------------------------------------------- operations

/// Healthz and metrics.
pub async fn healthz_and_metrics<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let r = hub.get("/healthz", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    let mut sub = hub.subscribe("match=t", &[]).await;
    hub.publish_ok("topic=t&data=x").await;
    sub.next_update().await;
    // A delivery written straight to the socket is counted just after the
    // write, so the client may see the update a moment before the counter
    // moves: read the metrics until it has (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let (r, text) = loop {
        let r = hub.get("/metrics", &[]).await;
        let text = r.text();
        if text.contains("sse_hub_deliveries_total 1\n") || std::time::Instant::now() > deadline {
            break (r, text);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    for line in [
        "sse_hub_subscribers 1\n",
        "sse_hub_publishes_total 1\n",
        "sse_hub_deliveries_total 1\n",
        "sse_hub_drops_total 0\n",
        "sse_hub_store_append_seconds_count 1\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    hub.stop().await;
}

/// Max connections answers 503 with a clear body.
pub async fn max_connections_answers_503_with_a_clear_body<H: MercureHarness>() {
    let hub = H::memory(|c| c.limits.max_connections = 2).await;
    let s1 = hub.subscribe("match=t", &[]).await;
    let _s2 = hub.subscribe("match=t", &[]).await;
    let r = hub
        .try_subscribe("match=t", &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(r.status, 503);
    assert!(r.text().contains("too many subscribers"), "{}", r.text());
    assert!(r.header("retry-after").is_some());
    // A slot frees when a subscriber leaves.
    drop(s1);
    let _s3 = bounded("a slot to free", async {
        loop {
            if let Ok(s) = hub.try_subscribe("match=t", &[]).await {
                break s;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    hub.stop().await;
}

// -------------------------------------------------------------- durability

// ------------------------------------------------------------------ fan-out

/// More subscribers than one delivery batch, on a runtime with two
/// threads, and updates published back to back: the fan-out writes to idle
/// subscribers' sockets itself (in parallel batches) while it keeps up and
/// only queues once updates wait, and either way every subscriber gets
/// every update once, in order.
pub async fn fanout_700_subscribers_get_every_update_once_in_order<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let topic = enc("https://example.com/feed");
    let mut subs = Vec::new();
    for _ in 0..700 {
        subs.push(hub.subscribe(&format!("match={topic}"), &[]).await);
    }
    // A few one at a time (direct writes), then back to back: a publish
    // takes well under the ~3 ms a 700-subscriber fan-out does, so updates
    // wait in the feed (queued pushes).
    for n in 0..5 {
        hub.publish_ok(&format!("topic={topic}&data={n}")).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for n in 5..40 {
        hub.publish_ok(&format!("topic={topic}&data={n}")).await;
    }
    let expected: Vec<String> = (0..40).map(|n| n.to_string()).collect();
    for (k, sub) in subs.iter_mut().enumerate() {
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(sub.next_update().await.data.unwrap());
        }
        assert_eq!(got, expected, "subscriber {k}");
    }
    hub.stop().await;
}

/// Fanout pattern cache sees patterns added later.
pub async fn fanout_pattern_cache_sees_patterns_added_later<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let mut first = hub
        .subscribe(
            &format!("match_urlpattern={}", enc("https://example.com/books/:id")),
            &[],
        )
        .await;
    hub.publish_ok(&format!("topic={}&data=one", enc(BOOK1)))
        .await;
    assert_eq!(first.next_update().await.data.as_deref(), Some("one"));
    // A new distinct pattern selecting the same (now cached) topic.
    let mut second = hub
        .subscribe(
            &format!("match_urlpattern={}", enc("https://example.com/*")),
            &[],
        )
        .await;
    // And a new subscriber on the first pattern, after its only other
    // subscriber left and came back.
    drop(first);
    let mut third = hub
        .subscribe(
            &format!("match_urlpattern={}", enc("https://example.com/books/:id")),
            &[],
        )
        .await;
    hub.publish_ok(&format!("topic={}&data=two", enc(BOOK1)))
        .await;
    assert_eq!(second.next_update().await.data.as_deref(), Some("two"));
    assert_eq!(third.next_update().await.data.as_deref(), Some("two"));
    hub.stop().await;
}

/// Other methods and query content types are refused.
pub async fn other_methods_and_query_content_types_are_refused<H: MercureHarness>() {
    let hub = H::memory(|_| {}).await;
    let r = hub.request("PUT", HUB_PATH, &[], b"x").await;
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().contains("POST"));
    let r = Sse::open_with(
        "QUERY",
        hub.addr(),
        HUB_PATH,
        &[("content-type", "application/json")],
        b"{}",
        None,
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(r.status, 415);
    hub.stop().await;
}

/// M5 (H): Connections per token subject are capped with 429.
pub async fn m5_h_connections_per_token_subject_are_capped_with_429<H: MercureHarness>() {
    let hub = H::memory(|c| c.limits.max_connections_per_subject = Some(1)).await;
    let token = hub.sub_token(vec![exact("*")]);
    let first = hub
        .subscribe("match=t", &[("authorization", &bearer(&token))])
        .await;
    let r = hub
        .try_subscribe("match=t", &[("authorization", &bearer(&token))])
        .await
        .err()
        .expect("refused");
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    // Anonymous subscribers are not counted per subject.
    assert!(hub.try_subscribe("match=t", &[]).await.is_ok());
    drop(first);
    bounded("the subject's slot to free", async {
        loop {
            match hub
                .try_subscribe("match=t", &[("authorization", &bearer(&token))])
                .await
            {
                Ok(_) => break,
                Err(r) => assert_eq!(r.status, 429),
            }
        }
    })
    .await;
    hub.stop().await;
}

/// Every case of [`cases`](crate::mercure::cases) as a test of the same
/// name, for the harness type given. Expand it at the root of an
/// integration test; the crate needs `tokio` (features `macros`, `rt`,
/// `rt-multi-thread`) as a dev-dependency.
///
/// ```ignore
/// sse_testkit::mercure_cases!(sse_testkit::mercure::BinaryHub);
/// ```
///
/// A case runs on tokio's current-thread runtime, except those listed
/// under `multi_thread`, which run on two worker threads (the fan-out's
/// parallel delivery). A new case is a function in `cases.rs` and a name
/// here (a unit test of the kit checks that the two agree).
#[macro_export]
macro_rules! mercure_cases {
    ($harness:ty) => {
        $crate::__mercure_case_list!(@expand $harness;);
    };
    (@expand $harness:ty; current_thread: [$($case:ident,)*] multi_thread: [$($multi:ident,)*]) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::mercure::cases::$case::<$harness>().await;
            }
        )*
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $multi() {
                $crate::mercure::cases::$multi::<$harness>().await;
            }
        )*
    };
    (@names; current_thread: [$($case:ident,)*] multi_thread: [$($multi:ident,)*]) => {
        [$(stringify!($case),)* $(stringify!($multi),)*]
    };
}

/// The one list of the cases, handed to [`mercure_cases!`] after the
/// tokens given.
#[doc(hidden)]
#[macro_export]
macro_rules! __mercure_case_list {
    ($($before:tt)*) => {
        $crate::mercure_cases! {
            $($before)*
            current_thread: [
            m1_get_is_an_event_stream_with_every_field,
            m1_h_query_method_unions_query_and_body,
            m2_matchers_mix_and_an_update_arrives_once,
            m3_unknown_names_in_the_match_namespace_are_400,
            m4_values_are_form_decoded_and_checked,
            m5_caps_and_no_matcher_are_400,
            m6_star_matches_every_topic_whatever_the_type,
            m7_m8_exact_is_bytewise_and_patterns_resolve_relative_topics,
            m10_one_event_per_update_with_data_lines_split,
            m11_private_updates_reach_only_authorized_subscribers,
            m12_cors_allows_only_configured_origins_with_credentials,
            m12_heartbeat_comments_keep_the_stream_alive,
            m13_other_content_types_are_415_and_unknown_fields_ignored,
            m14_topic_rules,
            m15_reserved_namespace,
            m16_data_must_be_utf8,
            m17_presence_of_private_makes_it_private,
            m18_id_rules,
            m19_type_rules,
            m20_retry_is_digits_only,
            m21_success_is_200_text_plain_with_the_id,
            m22_caps_give_413,
            m23_publish_needs_a_token_granting_every_topic,
            m24_token_validation_faults_are_invalid_token,
            m25_m26_anonymous_policy_and_challenges,
            m27_token_transport_header_then_cookie_and_no_query,
            m27_h_access_token_is_ignored_on_current_requests,
            l4_query_tokens_only_on_legacy_requests_behind_the_switch,
            m25_one_challenge_and_body_for_every_invalid_token_cause,
            m24_h_a_token_of_another_typ_is_401_even_with_legacy_on,
            l7_a_0x_token_without_the_switch_is_401_naming_legacy,
            m29_cookie_publishing_checks_the_origin,
            m32_the_stream_closes_when_the_token_expires,
            m33_payload_appears_in_subscriptions,
            m34_m35_replay_after_the_cursor_with_header_winning,
            m35_replayed_private_updates_are_rechecked,
            m36_earliest_replays_all_retained_history,
            m37_the_response_says_where_history_resumed,
            m38_retry_can_be_sent_at_stream_start,
            m39_m40_m41_subscription_events_on_connect_and_disconnect,
            m41_s_json_ld_subscription_events_behind_the_switch,
            m42_subscriptions_api,
            m42_s_json_ld_collection_has_last_event_id,
            m43_discovery_link_on_hub_responses,
            m44_protected_resource_metadata,
            m46_streams_are_neither_cached_nor_buffered,
            l1_topic_selectors_are_uri_templates,
            l2_legacy_cursor_spellings_and_response_header,
            l3_l7_legacy_tokens_behind_the_switch,
            l5_alternate_topics_route_and_need_every_grant,
            l6_legacy_subscription_events,
            healthz_and_metrics,
            max_connections_answers_503_with_a_clear_body,
            fanout_pattern_cache_sees_patterns_added_later,
            other_methods_and_query_content_types_are_refused,
            m5_h_connections_per_token_subject_are_capped_with_429,
            ]
            multi_thread: [
            fanout_700_subscribers_get_every_update_once_in_order,
            ]
        }
    };
}

#[cfg(test)]
mod tests {
    /// The macro names every case function, and nothing else.
    #[test]
    fn the_macro_lists_every_case() {
        let source = include_str!("cases.rs");
        let mut defined: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn "))
            .map(|l| &l[..l.find('<').expect("a generic case")])
            .collect();
        let mut listed = crate::__mercure_case_list!(@names;).to_vec();
        defined.sort_unstable();
        listed.sort_unstable();
        assert_eq!(defined, listed);
    }
}
