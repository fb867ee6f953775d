//! The publisher's credentials: a token given as is, or a key that signs a
//! short-lived one.
//!
//! A minted token is what `sse-hub` accepts from a publisher (the shape of
//! its `mint_hs256`): an RFC 9068 access token (`typ: at+jwt`) with `aud`
//! (the hub's resource identifier), `iat`, `exp`, and the grant as
//! `authorization_details`:
//! `[{"type": "https://mercure.rocks/authorization-detail", "actions":
//! ["publish"], "topics": [{"match": T}, ...]}]`.
//!
//! Why ring and not a JWT crate: signing one HMAC token needs a MAC and
//! base64url, both already in the dependency tree (rustls uses ring), and a
//! JWT crate would add a second crypto stack to every client.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;

use super::error::{Kind, PublishError};

/// The HMAC algorithm a key signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HmacAlgorithm {
    /// HMAC with SHA-256 (what `sse serve --publisher-jwt-key` checks by
    /// default).
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
}

impl HmacAlgorithm {
    fn name(self) -> &'static str {
        match self {
            HmacAlgorithm::HS256 => "HS256",
            HmacAlgorithm::HS384 => "HS384",
            HmacAlgorithm::HS512 => "HS512",
        }
    }

    fn ring(self) -> ring::hmac::Algorithm {
        match self {
            HmacAlgorithm::HS256 => ring::hmac::HMAC_SHA256,
            HmacAlgorithm::HS384 => ring::hmac::HMAC_SHA384,
            HmacAlgorithm::HS512 => ring::hmac::HMAC_SHA512,
        }
    }
}

/// What a key-minted token says.
#[derive(Debug, Clone)]
pub(crate) struct Claims {
    pub(crate) audience: String,
    pub(crate) topics: Vec<String>,
    pub(crate) ttl: Duration,
}

/// How the publisher proves it may publish.
pub(crate) enum Credentials {
    None,
    Token(String),
    /// Boxed: a ring key is several hundred bytes.
    Key(Box<Signer>),
}

/// A key and what the tokens it signs say.
pub(crate) struct Signer {
    key: ring::hmac::Key,
    algorithm: HmacAlgorithm,
    claims: Claims,
    /// The last token and its `exp`: reused while at least half its
    /// lifetime remains, so a burst of publishes signs once. A std mutex:
    /// nothing awaits under it.
    cached: Mutex<Option<(String, u64)>>,
}

impl std::fmt::Debug for Credentials {
    // Never print a token or key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Token(_) => f.write_str("Token(..)"),
            Credentials::Key(signer) => f
                .debug_struct("Key")
                .field("algorithm", &signer.algorithm)
                .field("audience", &signer.claims.audience)
                .field("topics", &signer.claims.topics)
                .field("ttl", &signer.claims.ttl)
                .finish_non_exhaustive(),
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Credentials {
    pub(crate) fn key(
        secret: &[u8],
        algorithm: HmacAlgorithm,
        claims: Claims,
    ) -> Result<Self, PublishError> {
        if secret.is_empty() {
            return Err(PublishError::new(Kind::Config(
                "the signing key is empty".to_owned(),
            )));
        }
        if claims.topics.is_empty() {
            return Err(PublishError::new(Kind::Mint(
                "the token would grant no topic",
            )));
        }
        if claims.ttl < Duration::from_secs(2) {
            return Err(PublishError::new(Kind::Config(
                "the token lifetime must be at least 2 s".to_owned(),
            )));
        }
        Ok(Credentials::Key(Box::new(Signer {
            key: ring::hmac::Key::new(algorithm.ring(), secret),
            algorithm,
            claims,
            cached: Mutex::new(None),
        })))
    }

    /// The bearer token for a publish made now, if any.
    pub(crate) fn bearer(&self) -> Option<String> {
        self.bearer_at(unix_now())
    }

    fn bearer_at(&self, now: u64) -> Option<String> {
        match self {
            Credentials::None => None,
            Credentials::Token(t) => Some(t.clone()),
            Credentials::Key(signer) => {
                let Signer {
                    key,
                    algorithm,
                    claims,
                    cached,
                } = &**signer;
                let mut cached = cached.lock().unwrap_or_else(PoisonError::into_inner);
                let half = claims.ttl.as_secs() / 2;
                match &*cached {
                    Some((token, exp)) if now.saturating_add(half) < *exp => Some(token.clone()),
                    _ => {
                        let (token, exp) = mint(key, *algorithm, claims, now);
                        *cached = Some((token.clone(), exp));
                        Some(token)
                    }
                }
            }
        }
    }
}

/// Signs a publisher token for `claims`, issued at `now` (Unix seconds);
/// returns it with its `exp`.
fn mint(
    key: &ring::hmac::Key,
    algorithm: HmacAlgorithm,
    claims: &Claims,
    now: u64,
) -> (String, u64) {
    let exp = now.saturating_add(claims.ttl.as_secs());
    let header = json!({"alg": algorithm.name(), "typ": "at+jwt"});
    let body = json!({
        "aud": claims.audience,
        "iat": now,
        "exp": exp,
        "authorization_details": [{
            "type": "https://mercure.rocks/authorization-detail",
            "actions": ["publish"],
            "topics": claims.topics.iter().map(|t| json!({"match": t})).collect::<Vec<_>>(),
        }],
    });
    let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(body.to_string()));
    let signature = ring::hmac::sign(key, token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
    (token, exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            audience: "https://hub.example/.well-known/mercure".into(),
            topics: vec!["*".into()],
            ttl: Duration::from_secs(300),
        }
    }

    fn decode(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn a_minted_token_has_the_claims_and_a_valid_signature() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let (token, exp) = mint(&key, HmacAlgorithm::HS256, &claims(), 1_700_000_000);
        assert_eq!(exp, 1_700_000_300);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(decode(parts[0]), json!({"alg": "HS256", "typ": "at+jwt"}));
        assert_eq!(
            decode(parts[1]),
            json!({
                "aud": "https://hub.example/.well-known/mercure",
                "iat": 1_700_000_000u64,
                "exp": 1_700_000_300u64,
                "authorization_details": [{
                    "type": "https://mercure.rocks/authorization-detail",
                    "actions": ["publish"],
                    "topics": [{"match": "*"}],
                }],
            })
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        let mac = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        ring::hmac::verify(&key, signed.as_bytes(), &mac).expect("signature checks");
        let (t512, _) = mint(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA512, secret),
            HmacAlgorithm::HS512,
            &claims(),
            0,
        );
        assert_eq!(decode(t512.split('.').next().unwrap())["alg"], "HS512");
    }

    #[test]
    fn a_token_is_reused_for_half_its_lifetime_then_minted_again() {
        let c = Credentials::key(b"k", HmacAlgorithm::HS256, claims()).unwrap();
        let first = c.bearer_at(1000).unwrap();
        assert_eq!(c.bearer_at(1149).unwrap(), first, "150 s of 300 remain");
        let second = c.bearer_at(1150).unwrap();
        assert_ne!(second, first);
        let exp = decode(second.split('.').nth(1).unwrap())["exp"].as_u64();
        assert_eq!(exp, Some(1450));
    }

    #[test]
    fn unusable_keys_are_refused() {
        let empty = Credentials::key(b"", HmacAlgorithm::HS256, claims()).unwrap_err();
        assert!(empty.is_config(), "{empty}");
        let nothing = Claims {
            topics: vec![],
            ..claims()
        };
        let e = Credentials::key(b"k", HmacAlgorithm::HS256, nothing).unwrap_err();
        assert!(e.is_mint(), "{e}");
        assert_eq!(Credentials::None.bearer(), None);
        assert_eq!(
            Credentials::Token("t".into()).bearer().as_deref(),
            Some("t")
        );
        let shown = format!("{:?}", Credentials::Token("secret-token".into()));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
