//! JWK Sets (M24: keys from the authorization server's JWKS): loading,
//! refresh on an unknown `kid` (at most once per interval), background
//! refresh, and what a failed refresh keeps. The set comes from a real file
//! ([`JwksFile`]); time is tokio's paused clock, so intervals are stepped,
//! never slept. (`sse-cli`'s `keys` test fetches a set over HTTPS.)

use std::path::Path;

use base64::Engine as _;
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sse_hub::auth::{AuthConfig, Authorizer, JwksFile, JwksKeys, JwksRefresh, Role};
use sse_hub::topic::HubUrl;

const NOW: u64 = 1_700_000_000;
const HUB: &str = "https://example.com/.well-known/mercure";
const TYPE_H: &str = "https://mercure.rocks/authorization-detail";

/// Test keys (fixed PEM files, see tests/data/README.md) by `kid`.
struct TestKey {
    kid: &'static str,
    alg: Algorithm,
    private: EncodingKey,
}

fn key(kid: &'static str) -> TestKey {
    let (alg, private) = match kid {
        "es" => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(include_bytes!("data/es256-private.pem")).unwrap(),
        ),
        "ed" => (
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(include_bytes!("data/eddsa-private.pem")).unwrap(),
        ),
        _ => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(include_bytes!("data/rs256-private.pem")).unwrap(),
        ),
    };
    TestKey { kid, alg, private }
}

impl TestKey {
    fn jwk(&self) -> Value {
        let mut jwk = if self.alg == Algorithm::EdDSA {
            // jsonwebtoken cannot export Ed25519 keys: the JWK's `x` is the
            // last 32 bytes of the public key's SPKI DER.
            let pem = String::from_utf8(include_bytes!("data/eddsa-public.pem").to_vec()).unwrap();
            let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap();
            let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]);
            json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "x": x})
        } else {
            serde_json::to_value(Jwk::from_encoding_key(&self.private, self.alg).unwrap()).unwrap()
        };
        jwk["kid"] = json!(self.kid);
        jwk["use"] = json!("sig");
        jwk
    }

    fn token(&self) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(self.kid.to_owned());
        let claims = json!({
            "aud": HUB, "exp": NOW + 3600,
            "authorization_details": [{"type": TYPE_H, "actions": ["publish"], "topics": [{"match": "*"}]}],
        });
        jsonwebtoken::encode(&header, &claims, &self.private).unwrap()
    }
}

fn write_set(path: &Path, keys: &[&TestKey]) {
    let doc = json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
    std::fs::write(path, doc.to_string()).unwrap();
}

fn refresh() -> JwksRefresh {
    let mut r = JwksRefresh::default();
    r.interval = Duration::from_secs(600);
    r.min_interval = Duration::from_secs(60);
    r.timeout = Duration::from_secs(5);
    r
}

fn authorizer(keys: &JwksKeys) -> Authorizer {
    let mut config = AuthConfig::new(HUB);
    config.publisher_jwks = vec![keys.clone()];
    Authorizer::new(config, HubUrl::parse(HUB).unwrap())
}

async fn accepted(auth: &Authorizer, token: &str) -> bool {
    auth.with_key_refresh(|a| a.verify(Role::Publisher, token, NOW))
        .await
        .is_ok()
}

/// Lets the background refresh run after the clock was advanced; bounded.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never happened: {what}");
}

#[tokio::test(start_paused = true)]
async fn m24_jwks_rotation_is_picked_up_on_an_unknown_kid_at_most_once_per_interval() {
    let (es, ed, rs) = (key("es"), key("ed"), key("rs"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    write_set(&path, &[&es]);
    let keys = JwksKeys::load(JwksFile::new(&path), refresh())
        .await
        .unwrap();
    let auth = authorizer(&keys);
    assert!(accepted(&auth, &es.token()).await);
    // Another role's sets are not this one's.
    assert!(auth.verify(Role::Subscriber, &es.token(), NOW).is_err());

    // Rotation: the new kid is unknown, so the set is read again once and
    // the token is accepted on the same call.
    write_set(&path, &[&es, &ed]);
    assert!(auth.verify(Role::Publisher, &ed.token(), NOW).is_err());
    assert!(accepted(&auth, &ed.token()).await);

    // Within the interval another unknown kid does not cause a refresh.
    write_set(&path, &[&es, &ed, &rs]);
    assert!(!accepted(&auth, &rs.token()).await);
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(!accepted(&auth, &rs.token()).await);
    // Once it has passed, it does.
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(accepted(&auth, &rs.token()).await);
}

#[tokio::test(start_paused = true)]
async fn m24_jwks_background_refresh_drops_removed_keys_and_a_failed_one_keeps_the_keys() {
    let (es, ed) = (key("es"), key("ed"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    write_set(&path, &[&es, &ed]);
    let keys = JwksKeys::load(JwksFile::new(&path), refresh())
        .await
        .unwrap();
    let auth = authorizer(&keys);
    assert_eq!(keys.keys().len(), 2);
    // One token, used twice: the second check is answered by the
    // authorizer's verified-token cache.
    let es_token = es.token();
    assert!(accepted(&auth, &es_token).await);
    assert!(accepted(&auth, &es_token).await);
    // Let the background task start its first wait before time moves.
    tokio::task::yield_now().await;

    // The provider removed `es`: within one interval it is no longer
    // accepted, the token the cache holds included.
    write_set(&path, &[&ed]);
    tokio::time::advance(Duration::from_secs(601)).await;
    until("the background refresh", || keys.keys().len() == 1).await;
    assert!(!accepted(&auth, &es_token).await);
    assert!(!accepted(&auth, &es.token()).await);
    assert!(accepted(&auth, &ed.token()).await);

    // A broken document (or an unreachable provider) keeps what the hub has.
    std::fs::write(&path, "{\"keys\": 7}").unwrap();
    assert!(keys.refresh().await.unwrap_err().is_invalid());
    std::fs::remove_file(&path).unwrap();
    assert!(keys.refresh().await.unwrap_err().is_fetch());
    tokio::time::advance(Duration::from_secs(601)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(keys.keys().len(), 1);
    assert!(accepted(&auth, &ed.token()).await);
}

#[tokio::test]
async fn m24_a_jwks_that_cannot_be_loaded_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing = JwksKeys::load(JwksFile::new(dir.path().join("none.json")), refresh()).await;
    assert!(missing.unwrap_err().is_fetch());
    let path = dir.path().join("jwks.json");
    // Only a symmetric key: never usable from a set (M24, no HS/RS confusion).
    std::fs::write(
        &path,
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}]}).to_string(),
    )
    .unwrap();
    let err = JwksKeys::load(JwksFile::new(&path), refresh())
        .await
        .unwrap_err();
    assert!(err.is_invalid(), "{err}");
}
