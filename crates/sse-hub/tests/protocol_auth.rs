//! Authorization: MERCURE.md M11, M14-H, M23–M33, M44, L3–L5, L7.
//!
//! Asymmetric test keys are fixed PEM files under `tests/data` (test-only,
//! generated with openssl); tokens are signed here with `jsonwebtoken`.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sse_hub::auth::{
    may_receive, AuthConfig, Authorizer, Credentials, JwtAlgorithm, Role, TokenSources,
    TokenTransport, VerificationKey,
};
use sse_hub::topic::{HubUrl, MatchType, Topic, TopicMatcher};
use sse_hub::{Rejection, Update};

const NOW: u64 = 1_700_000_000;
const HUB: &str = "https://example.com/.well-known/mercure";
const PUB_SECRET: &[u8] = b"publisher-secret-publisher-secret!";
const SUB_SECRET: &[u8] = b"subscriber-secret-subscriber-secret";
const TYPE_H: &str = "https://mercure.rocks/authorization-detail";

const RS_PRIV: &[u8] = include_bytes!("data/rs256-private.pem");
const RS_PUB: &[u8] = include_bytes!("data/rs256-public.pem");
const ES_PRIV: &[u8] = include_bytes!("data/es256-private.pem");
const ES_PUB: &[u8] = include_bytes!("data/es256-public.pem");
const ED_PRIV: &[u8] = include_bytes!("data/eddsa-private.pem");
const ED_PUB: &[u8] = include_bytes!("data/eddsa-public.pem");

fn hub() -> HubUrl {
    HubUrl::parse(HUB).unwrap()
}

fn config() -> AuthConfig {
    let mut c = AuthConfig::new(HUB);
    c.publisher_keys = vec![VerificationKey::hmac(JwtAlgorithm::HS256, PUB_SECRET).unwrap()];
    c.subscriber_keys = vec![VerificationKey::hmac(JwtAlgorithm::HS256, SUB_SECRET).unwrap()];
    c
}

fn authorizer() -> Authorizer {
    Authorizer::new(config(), hub())
}

fn legacy_authorizer() -> Authorizer {
    let mut c = config();
    c.legacy_tokens = true;
    c.query_token = true;
    Authorizer::new(c, hub())
}

fn sign(alg: Algorithm, key: &EncodingKey, typ: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs(secret: &[u8], claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(secret),
        Some("at+jwt"),
        claims,
    )
}

/// A well-formed H claim set with the given authorization details.
fn claims(details: Value) -> Value {
    json!({"aud": HUB, "exp": NOW + 3600, "sub": "user-1", "authorization_details": details})
}

fn detail(actions: &[&str], topics: Value) -> Value {
    json!({"type": TYPE_H, "actions": actions, "topics": topics})
}

fn all_rights() -> Value {
    claims(json!([detail(
        &["publish", "subscribe"],
        json!([{"match": "*"}])
    )]))
}

fn verify(auth: &Authorizer, role: Role, token: &str) -> Result<Credentials, Rejection> {
    auth.verify(role, token, NOW)
}

fn assert_invalid_token(result: Result<Credentials, Rejection>, why: &str) {
    let err = result.expect_err(why);
    assert_eq!(err.status(), 401, "{why}");
    assert_eq!(err.bearer_error(), Some("invalid_token"), "{why}");
    let challenge = err.www_authenticate().unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    assert!(challenge.contains("resource_metadata=\""), "{challenge}");
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

fn topics(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// ---- M24: token validation -------------------------------------------------

#[test]
fn m24_typ_at_jwt_both_spellings_any_case() {
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+JWT",
    ] {
        let t = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(PUB_SECRET),
            Some(typ),
            &all_rights(),
        );
        assert!(verify(&authorizer(), Role::Publisher, &t).is_ok(), "{typ}");
    }
}

#[test]
fn m24_other_typ_is_invalid_without_the_legacy_switch() {
    for typ in [None, Some("JWT"), Some("at+jwt2")] {
        let t = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(PUB_SECRET),
            typ,
            &all_rights(),
        );
        assert_invalid_token(
            verify(&authorizer(), Role::Publisher, &t),
            &format!("{typ:?}"),
        );
    }
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[test]
fn m24_alg_none_is_never_accepted() {
    for alg in ["none", "None", "NONE"] {
        let t = format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "typ": "at+jwt"})),
            b64(&all_rights())
        );
        assert_invalid_token(verify(&authorizer(), Role::Publisher, &t), alg);
    }
}

#[test]
fn m24_algorithm_allowlist_is_the_configured_keys() {
    let t = sign(
        Algorithm::HS512,
        &EncodingKey::from_secret(PUB_SECRET),
        Some("at+jwt"),
        &all_rights(),
    );
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &t),
        "HS512 not configured",
    );
    assert!(JwtAlgorithm::from_name("none").is_none());
    assert!(
        JwtAlgorithm::from_name("hs256").is_none(),
        "JOSE names are case-sensitive"
    );
}

#[test]
fn m24_rsa_public_key_used_as_hmac_secret_is_refused() {
    let mut c = config();
    c.publisher_keys = vec![VerificationKey::public_pem(JwtAlgorithm::RS256, RS_PUB).unwrap()];
    let auth = Authorizer::new(c.clone(), hub());
    let forged = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(RS_PUB),
        Some("at+jwt"),
        &all_rights(),
    );
    assert_invalid_token(
        verify(&auth, Role::Publisher, &forged),
        "HS256 with the RSA public key",
    );
    // Even with an HMAC key configured next to the RSA key.
    c.publisher_keys
        .push(VerificationKey::hmac(JwtAlgorithm::HS256, PUB_SECRET).unwrap());
    let auth = Authorizer::new(c, hub());
    assert_invalid_token(
        verify(&auth, Role::Publisher, &forged),
        "HS256 with the RSA public key, mixed keys",
    );
}

#[test]
fn m24_keys_are_bound_to_their_family() {
    assert!(VerificationKey::hmac(JwtAlgorithm::RS256, b"x").is_err());
    assert!(VerificationKey::hmac(JwtAlgorithm::HS256, b"").is_err());
    assert!(VerificationKey::public_pem(JwtAlgorithm::HS256, RS_PUB).is_err());
    assert!(VerificationKey::public_pem(JwtAlgorithm::ES256, RS_PUB).is_err());
    assert!(VerificationKey::public_pem(JwtAlgorithm::RS256, ES_PUB).is_err());
    assert!(VerificationKey::public_pem(JwtAlgorithm::EdDSA, ES_PUB).is_err());
    assert!(
        VerificationKey::public_pem(JwtAlgorithm::ES384, ES_PUB).is_err(),
        "P-256 key as ES384"
    );
    assert!(VerificationKey::public_pem(JwtAlgorithm::RS256, b"garbage").is_err());
    // Debug never shows key material.
    let k = VerificationKey::hmac(JwtAlgorithm::HS256, b"top-secret-value").unwrap();
    assert!(!format!("{k:?}").contains("top-secret"));
}

#[test]
fn m24_rs256_es256_eddsa_public_keys() {
    let cases = [
        (
            JwtAlgorithm::RS256,
            Algorithm::RS256,
            RS_PUB,
            EncodingKey::from_rsa_pem(RS_PRIV).unwrap(),
        ),
        (
            JwtAlgorithm::ES256,
            Algorithm::ES256,
            ES_PUB,
            EncodingKey::from_ec_pem(ES_PRIV).unwrap(),
        ),
        (
            JwtAlgorithm::EdDSA,
            Algorithm::EdDSA,
            ED_PUB,
            EncodingKey::from_ed_pem(ED_PRIV).unwrap(),
        ),
    ];
    for (alg, jalg, public, private) in &cases {
        let mut c = config();
        c.subscriber_keys = vec![VerificationKey::public_pem(*alg, public)
            .unwrap()
            .with_kid("k1")];
        let auth = Authorizer::new(c, hub());
        let t = sign(*jalg, private, Some("at+jwt"), &all_rights());
        let creds = verify(&auth, Role::Subscriber, &t).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(creds.subject(), Some("user-1"));
        // Tampered claims: invalid.
        let mut parts: Vec<&str> = t.split('.').collect();
        let other = b64(&claims(json!([detail(
            &["publish"],
            json!([{"match": "*"}])
        )])));
        parts[1] = &other;
        assert_invalid_token(
            verify(&auth, Role::Subscriber, &parts.join(".")),
            "tampered",
        );
        // A token signed by a different algorithm's key: invalid.
        let hs_token = hs(SUB_SECRET, &all_rights());
        assert_invalid_token(
            verify(&auth, Role::Subscriber, &hs_token),
            "HS token with only a public key",
        );
    }
}

#[test]
fn m24_publisher_and_subscriber_keys_are_separate() {
    let sub_token = hs(SUB_SECRET, &all_rights());
    let pub_token = hs(PUB_SECRET, &all_rights());
    assert!(verify(&authorizer(), Role::Subscriber, &sub_token).is_ok());
    assert!(verify(&authorizer(), Role::Publisher, &pub_token).is_ok());
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &sub_token),
        "subscriber token to publish",
    );
    assert_invalid_token(
        verify(&authorizer(), Role::Subscriber, &pub_token),
        "publisher token to subscribe",
    );
}

#[test]
fn m24_exp_is_required_and_checked() {
    let mut c = all_rights();
    c.as_object_mut().unwrap().remove("exp");
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)),
        "no exp",
    );
    c["exp"] = json!(NOW);
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)),
        "exp == now",
    );
    c["exp"] = json!(NOW - 10);
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)),
        "expired",
    );
    c["exp"] = json!("tomorrow");
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)),
        "string exp",
    );
    c["exp"] = json!(NOW + 1);
    assert!(verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)).is_ok());
    c["exp"] = json!((NOW + 1) as f64 + 0.5);
    assert!(
        verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)).is_ok(),
        "fractional exp"
    );
    // Leeway.
    let mut conf = config();
    conf.leeway_secs = 30;
    let auth = Authorizer::new(conf, hub());
    c["exp"] = json!(NOW - 10);
    assert!(verify(&auth, Role::Publisher, &hs(PUB_SECRET, &c)).is_ok());
}

#[test]
fn m24_nbf_is_checked() {
    let mut c = all_rights();
    c["nbf"] = json!(NOW + 60);
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)),
        "nbf in the future",
    );
    c["nbf"] = json!(NOW);
    assert!(verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)).is_ok());
}

#[test]
fn m24_aud_string_or_array_must_contain_the_resource() {
    let mut c = all_rights();
    c["aud"] = json!(["https://other.example", HUB]);
    assert!(verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)).is_ok());
    for bad in [
        json!("https://other.example"),
        json!(["x"]),
        json!([]),
        json!(42),
        json!([HUB, 1]),
    ] {
        c["aud"] = bad.clone();
        assert_invalid_token(
            verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)),
            &bad.to_string(),
        );
    }
    c.as_object_mut().unwrap().remove("aud");
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)),
        "no aud",
    );
}

#[test]
fn m24_iss_is_exact_when_configured() {
    let mut conf = config();
    conf.issuer = Some("https://issuer.example".into());
    let auth = Authorizer::new(conf, hub());
    let mut c = all_rights();
    assert_invalid_token(
        verify(&auth, Role::Publisher, &hs(PUB_SECRET, &c)),
        "no iss",
    );
    c["iss"] = json!("https://issuer.example/");
    assert_invalid_token(
        verify(&auth, Role::Publisher, &hs(PUB_SECRET, &c)),
        "iss with a slash",
    );
    c["iss"] = json!("https://issuer.example");
    let creds = verify(&auth, Role::Publisher, &hs(PUB_SECRET, &c)).unwrap();
    assert_eq!(creds.issuer(), Some("https://issuer.example"));
    // Unconfigured: not checked.
    c["iss"] = json!("anyone");
    assert!(verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)).is_ok());
    // Unconfigured but the metadata lists authorization servers: one of them.
    let mut conf = config();
    conf.authorization_servers = vec!["https://as1.example".into(), "https://as2.example".into()];
    let auth = Authorizer::new(conf, hub());
    assert_invalid_token(
        verify(&auth, Role::Publisher, &hs(PUB_SECRET, &c)),
        "iss not listed",
    );
    c["iss"] = json!("https://as2.example");
    assert!(verify(&auth, Role::Publisher, &hs(PUB_SECRET, &c)).is_ok());
}

#[test]
fn m24_structural_faults_are_invalid_token() {
    let good = hs(PUB_SECRET, &all_rights());
    let header = good.split('.').next().unwrap().to_owned();
    let cases = vec![
        "abc".to_owned(),
        "a.b".to_owned(),
        "a.b.c.d.e".to_owned(),
        format!("{good}.x"),
        format!("{header}.!!!.sig"),
        format!("{}.{}.", b64(&json!(["not", "object"])), b64(&all_rights())),
        format!(
            "{}.{}.sig",
            b64(&json!({"typ": "at+jwt"})),
            b64(&all_rights())
        ),
    ];
    for t in cases {
        assert_invalid_token(verify(&authorizer(), Role::Publisher, &t), &t);
    }
    // Claims that are not an object, correctly signed.
    let t = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(PUB_SECRET),
        Some("at+jwt"),
        &json!([1]),
    );
    assert_invalid_token(verify(&authorizer(), Role::Publisher, &t), "array claims");
}

#[test]
fn m24_critical_header_extensions_are_refused() {
    let header = json!({"alg": "HS256", "typ": "at+jwt", "crit": ["exp"], "exp": 1});
    let input = format!("{}.{}", b64(&header), b64(&all_rights()));
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(PUB_SECRET),
        Algorithm::HS256,
    )
    .unwrap();
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &format!("{input}.{sig}")),
        "crit",
    );
    // The same construction without crit is fine (sanity check of the helper).
    let header = json!({"alg": "HS256", "typ": "at+jwt"});
    let input = format!("{}.{}", b64(&header), b64(&all_rights()));
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(PUB_SECRET),
        Algorithm::HS256,
    )
    .unwrap();
    assert!(verify(&authorizer(), Role::Publisher, &format!("{input}.{sig}")).is_ok());
}

#[test]
fn m24_token_length_cap() {
    let mut c = all_rights();
    c["pad"] = json!("x".repeat(20_000));
    assert_invalid_token(
        verify(&authorizer(), Role::Publisher, &hs(PUB_SECRET, &c)),
        "oversized token",
    );
}

// ---- M25/M26/M27: challenges and transport ---------------------------------

#[test]
fn m25_no_token_is_401_without_error() {
    let err = authorizer()
        .authorize_publish(&TokenSources::default(), &topics(&["a"]), NOW)
        .unwrap_err();
    assert_eq!(err.status(), 401);
    assert_eq!(err.bearer_error(), None);
    assert_eq!(
        err.www_authenticate(),
        Some("Bearer resource_metadata=\"https://example.com/.well-known/oauth-protected-resource/.well-known/mercure\"")
    );
}

#[test]
fn m25_insufficient_scope_is_403() {
    let t = hs(
        PUB_SECRET,
        &claims(json!([detail(&["publish"], json!([{"match": "a"}]))])),
    );
    let h = bearer(&t);
    let sources = TokenSources {
        authorization: &[&h],
        ..TokenSources::default()
    };
    let err = authorizer()
        .authorize_publish(&sources, &topics(&["b"]), NOW)
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(err.bearer_error(), Some("insufficient_scope"));
    assert!(err
        .www_authenticate()
        .unwrap()
        .contains("error=\"insufficient_scope\""));
    assert!(authorizer()
        .authorize_publish(&sources, &topics(&["a"]), NOW)
        .is_ok());
}

#[test]
fn m25_malformed_requests_are_400_invalid_request() {
    let t = hs(PUB_SECRET, &all_rights());
    let h = bearer(&t);
    let two = TokenSources {
        authorization: &[&h, &h],
        ..TokenSources::default()
    };
    let err = authorizer()
        .authorize_publish(&two, &topics(&["a"]), NOW)
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.bearer_error()),
        (400, Some("invalid_request"))
    );
}

#[test]
fn m27_h_query_tokens_are_ignored_on_current_requests() {
    let good = hs(SUB_SECRET, &all_rights());
    for auth in [authorizer(), legacy_authorizer()] {
        let q = format!("match=a&access_token={good}").into_bytes();
        let current = TokenSources {
            query: &q,
            ..TokenSources::default()
        };
        // Ignored: anonymous when allowed, the bare 401 otherwise.
        assert!(auth
            .authorize_subscribe(&current, true, NOW)
            .unwrap()
            .is_none());
        let err = auth.authorize_subscribe(&current, false, NOW).unwrap_err();
        assert_eq!((err.status().as_u16(), err.bearer_error()), (401, None));
    }
}

#[test]
fn m25_never_echoes_the_token() {
    let secret_looking = "eyJhbGciOiJIUzI1NiJ9.eyJzZWNyZXQiOjF9.c2lnbmF0dXJl";
    let h = bearer(secret_looking);
    let sources = TokenSources {
        authorization: &[&h],
        ..TokenSources::default()
    };
    let err = authorizer()
        .authorize_subscribe(&sources, true, NOW)
        .unwrap_err();
    assert!(!err.message().contains(secret_looking));
    assert!(!err.www_authenticate().unwrap().contains("eyJ"));
}

#[test]
fn m26_anonymous_subscribers_by_policy_and_never_downgraded() {
    let none = TokenSources::default();
    assert!(authorizer()
        .authorize_subscribe(&none, true, NOW)
        .unwrap()
        .is_none());
    let err = authorizer()
        .authorize_subscribe(&none, false, NOW)
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.bearer_error()), (401, None));
    let h = bearer("garbage.token.here");
    let bad = TokenSources {
        authorization: &[&h],
        ..TokenSources::default()
    };
    let err = authorizer()
        .authorize_subscribe(&bad, true, NOW)
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.bearer_error()),
        (401, Some("invalid_token"))
    );
    let cookie = b"__Secure-mercure_access_token=nonsense";
    let bad_cookie = TokenSources {
        cookies: &[cookie],
        ..TokenSources::default()
    };
    let err = authorizer()
        .authorize_subscribe(&bad_cookie, true, NOW)
        .unwrap_err();
    assert_eq!(err.bearer_error(), Some("invalid_token"));
}

#[test]
fn m27_header_then_cookie() {
    let good = hs(SUB_SECRET, &all_rights());
    let h = bearer(&good);
    let cookie = b"__Secure-mercure_access_token=invalid.token.value".to_vec();
    let both = TokenSources {
        authorization: &[&h],
        cookies: &[&cookie],
        ..TokenSources::default()
    };
    let creds = authorizer()
        .authorize_subscribe(&both, false, NOW)
        .unwrap()
        .unwrap();
    assert_eq!(creds.transport(), TokenTransport::Header);
    for name in [
        "__Secure-mercure_access_token",
        "mercureAccessToken",
        "mercureAuthorization",
    ] {
        let cookie = format!("other=1; {name}={good}").into_bytes();
        let only_cookie = TokenSources {
            cookies: &[&cookie],
            ..TokenSources::default()
        };
        let creds = authorizer()
            .authorize_subscribe(&only_cookie, false, NOW)
            .unwrap()
            .unwrap();
        assert_eq!(creds.transport(), TokenTransport::Cookie, "{name}");
    }
    // The bearer scheme is case-insensitive; other schemes are not ours.
    let lower = format!("bearer {good}").into_bytes();
    let basic = b"Basic dXNlcjpwYXNz".to_vec();
    let sources = TokenSources {
        authorization: &[&basic, &lower],
        ..TokenSources::default()
    };
    assert!(authorizer()
        .authorize_subscribe(&sources, false, NOW)
        .unwrap()
        .is_some());
    let sources = TokenSources {
        authorization: &[&basic],
        ..TokenSources::default()
    };
    assert!(authorizer()
        .authorize_subscribe(&sources, true, NOW)
        .unwrap()
        .is_none());
}

#[test]
fn m27_cookie_names_are_configurable() {
    let good = hs(SUB_SECRET, &all_rights());
    let mut c = config();
    c.cookie_names = vec!["custom".into()];
    let auth = Authorizer::new(c, hub());
    let cookie = format!("mercureAccessToken={good}").into_bytes();
    let sources = TokenSources {
        cookies: &[&cookie],
        ..TokenSources::default()
    };
    assert!(auth
        .authorize_subscribe(&sources, true, NOW)
        .unwrap()
        .is_none());
    let cookie = format!("custom={good}").into_bytes();
    let sources = TokenSources {
        cookies: &[&cookie],
        ..TokenSources::default()
    };
    assert!(auth
        .authorize_subscribe(&sources, true, NOW)
        .unwrap()
        .is_some());
}

#[test]
fn m27_s_and_l4_query_token_behind_the_switch_header_query_cookie() {
    let good = hs(SUB_SECRET, &all_rights());
    let auth = legacy_authorizer();
    for name in ["access_token", "authorization"] {
        let q = format!("topic=a&{name}={good}").into_bytes();
        let cookie = b"mercureAuthorization=bad.bad.bad".to_vec();
        let sources = TokenSources {
            query: &q,
            cookies: &[&cookie],
            legacy_request: true,
            ..TokenSources::default()
        };
        let creds = auth
            .authorize_subscribe(&sources, false, NOW)
            .unwrap()
            .unwrap();
        assert_eq!(
            creds.transport(),
            TokenTransport::Query,
            "query beats cookie"
        );
        let h = bearer(&good);
        let bad_q = format!("{name}=bad.bad.bad").into_bytes();
        let sources = TokenSources {
            authorization: &[&h],
            query: &bad_q,
            legacy_request: true,
            ..TokenSources::default()
        };
        let creds = auth
            .authorize_subscribe(&sources, false, NOW)
            .unwrap()
            .unwrap();
        assert_eq!(
            creds.transport(),
            TokenTransport::Header,
            "header beats query"
        );
    }
    // The metadata describes the current generation only (`--legacy` does
    // not change it).
    let meta = auth.resource_metadata(false);
    assert_eq!(meta["bearer_methods_supported"], json!(["header"]));
}

// ---- M30/M31: authorization_details -----------------------------------------

fn grants_of(details: Value) -> Result<Credentials, Rejection> {
    verify(
        &authorizer(),
        Role::Subscriber,
        &hs(SUB_SECRET, &claims(details)),
    )
}

fn can_sub(c: &Credentials, topic: &str) -> bool {
    let hub = hub();
    c.can_subscribe(&Topic::new(topic, &hub))
}

#[test]
fn m30_both_type_spellings_and_matcher_spellings() {
    let c = grants_of(json!([
        {"type": "mercure", "actions": ["subscribe"], "topics": [{"match": "https://example.com/s/:id", "matchType": "URLPattern"}]},
        {"type": TYPE_H, "actions": ["subscribe"], "topics": [{"match": "/h/:id", "match_type": "urlpattern"}, {"match": "exact-h", "match_type": "exact"}]},
        {"type": "mercure", "actions": ["subscribe"], "topics": [{"match": "exact-s", "matchType": "Exact"}, {"match": "default"}]}
    ]))
    .unwrap();
    assert!(can_sub(&c, "https://example.com/s/1"));
    assert!(can_sub(&c, "/h/2"));
    assert!(can_sub(&c, "exact-h"));
    assert!(can_sub(&c, "exact-s"));
    assert!(can_sub(&c, "default"));
    assert!(!can_sub(&c, "/s/1/x"));
    assert!(!can_sub(&c, "Default"));
}

#[test]
fn m30_one_malformed_entry_invalidates_the_whole_token() {
    let ok = detail(&["subscribe"], json!([{"match": "*"}]));
    let bad_entries = vec![
        json!("mercure"),
        json!({"actions": ["subscribe"], "topics": [{"match": "a"}]}),
        json!({"type": "mercure", "topics": [{"match": "a"}]}),
        json!({"type": "mercure", "actions": [], "topics": [{"match": "a"}]}),
        json!({"type": "mercure", "actions": "subscribe", "topics": [{"match": "a"}]}),
        json!({"type": "mercure", "actions": ["Subscribe"], "topics": [{"match": "a"}]}),
        json!({"type": "mercure", "actions": ["subscribe", "delete"], "topics": [{"match": "a"}]}),
        json!({"type": TYPE_H, "actions": [1], "topics": [{"match": "a"}]}),
        json!({"type": "mercure", "actions": ["subscribe"]}),
        json!({"type": "mercure", "actions": ["subscribe"], "topics": []}),
        json!({"type": "mercure", "actions": ["subscribe"], "topics": ["a"]}),
        json!({"type": "mercure", "actions": ["subscribe"], "topics": [{"match": 1}]}),
        json!({"type": "mercure", "actions": ["subscribe"], "topics": [{"matchType": "Exact"}]}),
        json!({"type": "mercure", "actions": ["subscribe"], "topics": [{"match": "a", "matchType": "exact"}]}),
        json!({"type": TYPE_H, "actions": ["subscribe"], "topics": [{"match": "a", "match_type": "Exact"}]}),
        json!({"type": TYPE_H, "actions": ["subscribe"], "topics": [{"match": "a", "match_type": "exact", "matchType": "Exact"}]}),
        json!({"type": "mercure", "actions": ["subscribe"], "topics": [{"match": "/x/:id(", "matchType": "URLPattern"}]}),
        json!({"type": "mercure", "actions": ["subscribe"], "topics": [{"match": "a\u{0}"}]}),
        json!({"type": "mercure", "actions": ["subscribe"], "topics": [{"match": ""}]}),
        json!({"type": "mercure", "actions": ["subscribe"], "topics": [{"match": "a"}], "payload": "x"}),
    ];
    for bad in bad_entries {
        assert_invalid_token(
            grants_of(json!([ok.clone(), bad.clone()])),
            &bad.to_string(),
        );
    }
    assert_invalid_token(
        grants_of(json!({"type": "mercure"})),
        "details not an array",
    );
}

#[test]
fn m30_h_unknown_actions_are_ignored_and_other_types_skipped() {
    let c = grants_of(json!([
        {"type": TYPE_H, "actions": ["subscribe", "teleport"], "topics": [{"match": "a"}]},
        {"type": "payment_initiation", "actions": "whatever"}
    ]))
    .unwrap();
    assert!(can_sub(&c, "a"));
}

#[test]
fn m30_no_mercure_entry_means_no_rights() {
    let c = grants_of(json!([{"type": "other"}])).unwrap();
    assert!(!can_sub(&c, "a"));
    let mut no_details = claims(json!([]));
    no_details
        .as_object_mut()
        .unwrap()
        .remove("authorization_details");
    let t = hs(PUB_SECRET, &no_details);
    let h = bearer(&t);
    let sources = TokenSources {
        authorization: &[&h],
        ..TokenSources::default()
    };
    let err = authorizer()
        .authorize_publish(&sources, &topics(&["a"]), NOW)
        .unwrap_err();
    assert_eq!(err.status(), 403);
}

#[test]
fn m30_caps_invalidate_the_token() {
    let many: Vec<Value> = (0..33)
        .map(|_| detail(&["subscribe"], json!([{"match": "a"}])))
        .collect();
    assert_invalid_token(grants_of(Value::Array(many)), "too many details");
    let topics: Vec<Value> = (0..257)
        .map(|i| json!({"match": format!("t{i}")}))
        .collect();
    assert_invalid_token(
        grants_of(json!([detail(&["subscribe"], Value::Array(topics))])),
        "too many topics",
    );
}

#[test]
fn m31_grants_use_the_matcher_rules() {
    let c = grants_of(json!([detail(
        &["subscribe"],
        json!([{"match": "*", "match_type": "exact"}])
    )]))
    .unwrap();
    assert!(can_sub(&c, "anything at all"), "* before the type (M6)");
    let c = grants_of(json!([detail(&["publish"], json!([{"match": "*"}]))])).unwrap();
    assert!(!can_sub(&c, "a"), "publish does not grant subscribe");
}

// ---- M14-H / L5 / M11: publish all, read any --------------------------------

#[test]
fn m14_h_publishing_needs_every_topic_granted() {
    let t = hs(
        PUB_SECRET,
        &claims(json!([detail(
            &["publish"],
            json!([{"match": "/books/:id", "match_type": "urlpattern"}])
        )])),
    );
    let h = bearer(&t);
    let sources = TokenSources {
        authorization: &[&h],
        ..TokenSources::default()
    };
    let auth = authorizer();
    assert!(auth
        .authorize_publish(
            &sources,
            &topics(&["/books/1", "https://example.com/books/2"]),
            NOW
        )
        .is_ok());
    let err = auth
        .authorize_publish(&sources, &topics(&["/books/1", "/authors/1"]), NOW)
        .unwrap_err();
    assert_eq!(err.status(), 403);
}

#[test]
fn m11_private_updates_need_a_subscribe_grant_on_any_topic() {
    let hub = hub();
    let c = grants_of(json!([detail(&["subscribe"], json!([{"match": "alt"}]))])).unwrap();
    let update = |private: bool, topics: &[&str]| Update {
        id: "1".into(),
        topics: topics.iter().map(|s| (*s).to_owned()).collect(),
        data: String::new(),
        private,
        event_type: None,
        retry: None,
    };
    assert!(may_receive(
        Some(&c),
        &update(true, &["canonical", "alt"]),
        &hub
    ));
    assert!(!may_receive(Some(&c), &update(true, &["canonical"]), &hub));
    assert!(may_receive(None, &update(false, &["canonical"]), &hub));
    assert!(!may_receive(None, &update(true, &["alt"]), &hub));
}

// ---- M32 / M33 ---------------------------------------------------------------

#[test]
fn m32_expiry_is_exposed() {
    let c = grants_of(json!([])).unwrap();
    assert_eq!(c.expires_at(), Some(NOW + 3600));
}

#[test]
fn m33_payload_from_the_first_matching_subscribe_entry() {
    let c = grants_of(json!([
        {"type": TYPE_H, "actions": ["publish"], "topics": [{"match": "*"}], "payload": {"n": 0}},
        {"type": TYPE_H, "actions": ["subscribe"], "topics": [{"match": "/books/:id", "match_type": "urlpattern"}], "payload": {"n": 1}},
        {"type": TYPE_H, "actions": ["subscribe"], "topics": [{"match": "*"}], "payload": {"n": 2}}
    ]))
    .unwrap();
    let hub = hub();
    let books = TopicMatcher::new(MatchType::UrlPattern, "/books/7", &hub).unwrap();
    assert_eq!(c.payload_for(&books), Some(&json!({"n": 1})));
    let other = TopicMatcher::new(MatchType::Exact, "other", &hub).unwrap();
    assert_eq!(
        c.payload_for(&other),
        Some(&json!({"n": 2})),
        "* acts as the default"
    );
    let c = grants_of(json!([detail(&["subscribe"], json!([{"match": "a"}]))])).unwrap();
    assert_eq!(c.payload_for(&other), None);
}

// ---- L3 / L4 / L7: legacy tokens ----------------------------------------------

fn legacy(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(PUB_SECRET),
        Some("JWT"),
        claims,
    )
}

#[test]
fn l3_legacy_mercure_claim_behind_the_switch() {
    let c = json!({"mercure": {"publish": ["https://example.com/books/{id}"], "subscribe": ["*"]}});
    let t = legacy(&c);
    assert_invalid_token(verify(&authorizer(), Role::Publisher, &t), "switch off");
    let creds = verify(&legacy_authorizer(), Role::Publisher, &t).unwrap();
    assert!(creds.is_legacy());
    assert_eq!(creds.expires_at(), None, "no exp required");
    assert!(creds.can_publish(&topics(&[
        "https://example.com/books/1",
        "https://example.com/books/{id}"
    ])));
    assert!(!creds.can_publish(&topics(&[
        "https://example.com/books/1",
        "https://example.com/authors/1"
    ])));
    assert!(can_sub(&creds, "whatever"));
    // The namespaced claim name works too.
    let t = legacy(&json!({"https://mercure.rocks/": {"publish": ["a"]}}));
    assert!(verify(&legacy_authorizer(), Role::Publisher, &t)
        .unwrap()
        .can_publish(&topics(&["a"])));
    // No typ at all is fine for legacy tokens.
    let t = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(PUB_SECRET),
        None,
        &c,
    );
    assert!(verify(&legacy_authorizer(), Role::Publisher, &t).is_ok());
}

#[test]
fn l3_legacy_exp_aud_and_shape() {
    let auth = legacy_authorizer();
    let expired = legacy(&json!({"exp": NOW - 1, "mercure": {"publish": ["*"]}}));
    assert_invalid_token(verify(&auth, Role::Publisher, &expired), "legacy expired");
    let later = legacy(&json!({"exp": NOW + 5, "mercure": {"publish": ["*"]}}));
    assert_eq!(
        verify(&auth, Role::Publisher, &later).unwrap().expires_at(),
        Some(NOW + 5)
    );
    let wrong_aud = legacy(&json!({"aud": "https://other", "mercure": {"publish": ["*"]}}));
    assert_invalid_token(
        verify(&auth, Role::Publisher, &wrong_aud),
        "legacy aud mismatch",
    );
    for bad in [
        json!({"mercure": "x"}),
        json!({"mercure": {"publish": "*"}}),
        json!({"mercure": {"subscribe": [1]}}),
    ] {
        assert_invalid_token(
            verify(&auth, Role::Publisher, &legacy(&bad)),
            &bad.to_string(),
        );
    }
}

#[test]
fn l3_no_publish_list_means_no_publishing_and_l7_answers_403() {
    let auth = legacy_authorizer();
    let t = legacy(&json!({"mercure": {"subscribe": ["*"]}}));
    let h = bearer(&t);
    let sources = TokenSources {
        authorization: &[&h],
        ..TokenSources::default()
    };
    let err = auth
        .authorize_publish(&sources, &topics(&["a"]), NOW)
        .unwrap_err();
    assert_eq!(err.status(), 403, "0.x said 401; S's 403 wins (L7)");
}

#[test]
fn l3_legacy_payload_applies_to_subscriptions() {
    let auth = legacy_authorizer();
    let t = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SUB_SECRET),
        None,
        &json!({"mercure": {"subscribe": ["/books/{id}"], "payload": {"u": 1}}}),
    );
    let creds = verify(&auth, Role::Subscriber, &t).unwrap();
    let hub = hub();
    let m = TopicMatcher::new(MatchType::UriTemplate, "/books/{id}", &hub).unwrap();
    assert_eq!(creds.payload_for(&m), Some(&json!({"u": 1})));
    assert!(can_sub(&creds, "/books/1"));
}

#[test]
fn l4_authorization_query_and_legacy_cookie() {
    let auth = legacy_authorizer();
    let t = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SUB_SECRET),
        None,
        &json!({"mercure": {"subscribe": ["*"]}}),
    );
    let q = format!("topic=x&authorization={t}").into_bytes();
    let sources = TokenSources {
        query: &q,
        legacy_request: true,
        ..TokenSources::default()
    };
    assert!(auth
        .authorize_subscribe(&sources, false, NOW)
        .unwrap()
        .is_some());
    let cookie = format!("mercureAuthorization={t}").into_bytes();
    let sources = TokenSources {
        cookies: &[&cookie],
        ..TokenSources::default()
    };
    assert!(auth
        .authorize_subscribe(&sources, false, NOW)
        .unwrap()
        .is_some());
}

// ---- M44: metadata -------------------------------------------------------------

#[test]
fn m44_protected_resource_metadata() {
    let mut c = config();
    c.authorization_servers = vec!["https://as.example".into()];
    let auth = Authorizer::new(c, hub());
    let meta = auth.resource_metadata(true);
    assert_eq!(meta["resource"], HUB);
    assert_eq!(meta["authorization_servers"], json!(["https://as.example"]));
    assert_eq!(meta["bearer_methods_supported"], json!(["header"]));
    assert_eq!(meta["mercure_cookie"], "__Secure-mercure_access_token");
    assert_eq!(meta["mercure_subscriptions"], true);
    assert!(meta["authorization_details_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(TYPE_H)));
    assert!(meta.get("jwks_uri").is_none());
    assert_eq!(
        auth.metadata_url(),
        "https://example.com/.well-known/oauth-protected-resource/.well-known/mercure"
    );
}

// ---- M24: keys from JWKs -------------------------------------------------------

fn public_jwk(private: &EncodingKey, alg: Algorithm, kid: &str) -> Value {
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(private, alg).unwrap();
    let mut v = serde_json::to_value(jwk).unwrap();
    v["kid"] = json!(kid);
    v
}

/// `jsonwebtoken` cannot export Ed25519 JWKs: build it from the SPKI PEM,
/// whose last 32 bytes are the raw public key (RFC 8410).
fn ed25519_jwk(kid: &str) -> Value {
    let pem = std::str::from_utf8(ED_PUB).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let raw = &der[der.len() - 32..];
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid})
}

#[test]
fn m24_keys_from_a_jwks_document() {
    let es = EncodingKey::from_ec_pem(ES_PRIV).unwrap();
    let ed = EncodingKey::from_ed_pem(ED_PRIV).unwrap();
    let rs = EncodingKey::from_rsa_pem(RS_PRIV).unwrap();
    let mut es_jwk = public_jwk(&es, Algorithm::ES256, "es");
    es_jwk.as_object_mut().unwrap().remove("alg"); // inferred from the curve
    let mut enc = public_jwk(&rs, Algorithm::RS256, "enc");
    enc["use"] = json!("enc");
    let jwks = json!({"keys": [
        es_jwk,
        ed25519_jwk("ed"),
        public_jwk(&rs, Algorithm::PS256, "ps"),
        enc,
        {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"},
        {"kty": "RSA", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        {"kty": "XYZ"}
    ]});
    let keys = VerificationKey::from_jwks(&jwks.to_string()).unwrap();
    let algs: Vec<JwtAlgorithm> = keys.iter().map(VerificationKey::algorithm).collect();
    assert_eq!(
        algs,
        vec![
            JwtAlgorithm::ES256,
            JwtAlgorithm::EdDSA,
            JwtAlgorithm::PS256
        ]
    );
    let mut c = config();
    c.subscriber_keys = keys;
    let auth = Authorizer::new(c, hub());
    for (alg, key, kid) in [
        (Algorithm::ES256, &es, "es"),
        (Algorithm::EdDSA, &ed, "ed"),
        (Algorithm::PS256, &rs, "ps"),
    ] {
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.into());
        let t = jsonwebtoken::encode(&header, &all_rights(), key).unwrap();
        assert!(verify(&auth, Role::Subscriber, &t).is_ok(), "{kid}");
    }
    // An RS256 token verified against the PS256-bound key: refused.
    let t = sign(Algorithm::RS256, &rs, Some("at+jwt"), &all_rights());
    assert_invalid_token(verify(&auth, Role::Subscriber, &t), "RS256 vs a PS256 key");
    assert!(VerificationKey::from_jwks("{\"nokeys\": []}").is_err());
    assert!(VerificationKey::from_jwk("{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}").is_err());
    assert!(VerificationKey::from_jwk("not json").is_err());
}

// ---- M29: CSRF for cookie publishing -------------------------------------------

#[test]
fn m29_cookie_publishing_checks_origin_or_referer() {
    use sse_hub::auth::check_cookie_publish_origin as check;
    let allowed = vec!["https://app.example".to_owned()];
    assert!(check(Some(b"https://app.example"), None, &allowed).is_ok());
    assert!(check(Some(b"https://APP.example:443"), None, &allowed).is_ok());
    assert!(check(None, Some(b"https://app.example/page?x=1"), &allowed).is_ok());
    for (origin, referer) in [
        (None, None),
        (Some(&b"https://evil.example"[..]), None),
        (Some(b"null"), Some(&b"https://app.example/"[..])),
        (Some(b"http://app.example"), None),
        (None, Some(b"garbage")),
    ] {
        let err = check(origin, referer, &allowed).unwrap_err();
        assert_eq!(err.status(), 403);
    }
}

proptest::proptest! {
    #[test]
    fn prop_m25_arbitrary_tokens_are_invalid_never_a_panic(token in "[A-Za-z0-9._~+/=-]{1,200}") {
        let err = verify(&authorizer(), Role::Subscriber, &token).unwrap_err();
        proptest::prop_assert_eq!(err.bearer_error(), Some("invalid_token"));
    }

    #[test]
    fn prop_m24_arbitrary_signed_claims_never_panic(claims in proptest::arbitrary::any::<std::collections::HashMap<String, String>>()) {
        let value = serde_json::to_value(&claims).unwrap();
        let _ = verify(&authorizer(), Role::Subscriber, &hs(SUB_SECRET, &value));
    }
}

#[test]
fn m24_header_key_references_are_hints_or_ignored() {
    // `kid` is a hint: an unknown kid still verifies against a configured key.
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("no-such-key".into());
    let t = jsonwebtoken::encode(
        &header,
        &all_rights(),
        &EncodingKey::from_secret(SUB_SECRET),
    )
    .unwrap();
    assert!(verify(&authorizer(), Role::Subscriber, &t).is_ok());
    // A token carrying its own key (`jku`, `jwk`) is never trusted for it.
    let attacker = b"attacker-chosen-secret";
    let hdr = json!({"alg": "HS256", "typ": "at+jwt", "jku": "https://evil.example/jwks",
                     "jwk": {"kty": "oct", "k": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(attacker)}});
    let input = format!("{}.{}", b64(&hdr), b64(&all_rights()));
    let sig = jsonwebtoken::crypto::sign(
        input.as_bytes(),
        &EncodingKey::from_secret(attacker),
        Algorithm::HS256,
    )
    .unwrap();
    assert_invalid_token(
        verify(&authorizer(), Role::Subscriber, &format!("{input}.{sig}")),
        "embedded key",
    );
}
