//! Minting access tokens: the development token `sse serve` prints on a
//! first run, `sse publish --key` and `sse token` (HS256/384/512 with a
//! shared secret; RS, PS, ES and EdDSA with a PEM private key). Production deployments get tokens
//! from their authorization server; this is the convenience for everyone
//! else, and it writes exactly the claims the validator expects (H format).

use std::time::Duration;

use std::fmt;

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

use super::JwtAlgorithm;

/// What a minted token grants, to whom, and for how long.
///
/// ```
/// use sse_hub::auth::{mint_hs256, TokenSpec};
/// let token = mint_hs256(b"a secret of at least 32 bytes...", &TokenSpec::publisher("https://hub.example/.well-known/mercure", ["*"]), 1_700_000_000).unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenSpec {
    /// The `aud` claim: the hub's resource identifier.
    pub audience: String,
    /// Topic selectors granted `publish` (exact topics, or `*`).
    pub publish: Vec<String>,
    /// Topic selectors granted `subscribe`.
    pub subscribe: Vec<String>,
    /// Lifetime: `exp` = now + this.
    pub ttl: Duration,
    /// The `iss` claim, when the hub checks one.
    pub issuer: Option<String>,
    /// The `sub` claim.
    pub subject: Option<String>,
}

impl TokenSpec {
    /// A token that may publish to `topics`, valid for one hour.
    pub fn publisher<I, S>(audience: impl Into<String>, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TokenSpec {
            audience: audience.into(),
            publish: topics.into_iter().map(Into::into).collect(),
            subscribe: Vec::new(),
            ttl: Duration::from_secs(3600),
            issuer: None,
            subject: None,
        }
    }

    /// A token that may subscribe to (and read private updates of) `topics`,
    /// valid for one hour.
    pub fn subscriber<I, S>(audience: impl Into<String>, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TokenSpec {
            subscribe: topics.into_iter().map(Into::into).collect(),
            ..TokenSpec::publisher(audience, Vec::<String>::new())
        }
    }

    /// The same spec with another lifetime.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The same spec that may also subscribe to `topics` (a token for
    /// both roles).
    pub fn with_subscribe<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscribe.extend(topics.into_iter().map(Into::into));
        self
    }

    /// The same spec with an `iss` claim.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The same spec with a `sub` claim.
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

/// A token that could not be minted.
#[derive(Debug, thiserror::Error)]
#[error("cannot mint the token: {0}")]
pub struct MintError(String);

/// A key that signs tokens, bound to one algorithm: a shared secret for
/// HS256/384/512, a PEM private key for the others (the hub verifies with
/// the same secret, or with the matching public key).
#[derive(Clone)]
pub struct SigningKey {
    alg: JwtAlgorithm,
    key: EncodingKey,
}

impl fmt::Debug for SigningKey {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A shared secret for `alg`, one of HS256, HS384 or HS512.
    ///
    /// # Errors
    /// When `alg` is not an HMAC algorithm or the secret is empty.
    pub fn hmac(alg: JwtAlgorithm, secret: &[u8]) -> Result<Self, MintError> {
        if !alg.is_hmac() {
            return Err(MintError(format!(
                "{alg} signs with a PEM private key, not a shared secret"
            )));
        }
        if secret.is_empty() {
            return Err(MintError("the signing secret is empty".to_owned()));
        }
        Ok(SigningKey {
            alg,
            key: EncodingKey::from_secret(secret),
        })
    }

    /// A PEM private key for `alg`: RSA (PKCS#1 or PKCS#8) for RS*/PS*, an
    /// EC key in PKCS#8 for ES256/ES384, an Ed25519 key in PKCS#8 for
    /// EdDSA (what `openssl genpkey` writes).
    ///
    /// # Errors
    /// When `alg` is an HMAC algorithm or `pem` is not a private key of its
    /// kind.
    pub fn from_pem(alg: JwtAlgorithm, pem: &[u8]) -> Result<Self, MintError> {
        let (kind, key) = match alg {
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512 => {
                return Err(MintError(format!(
                    "{alg} signs with a shared secret, not a PEM key"
                )))
            }
            JwtAlgorithm::RS256
            | JwtAlgorithm::RS384
            | JwtAlgorithm::RS512
            | JwtAlgorithm::PS256
            | JwtAlgorithm::PS384
            | JwtAlgorithm::PS512 => ("RSA", EncodingKey::from_rsa_pem(pem)),
            JwtAlgorithm::ES256 | JwtAlgorithm::ES384 => ("EC", EncodingKey::from_ec_pem(pem)),
            JwtAlgorithm::EdDSA => ("Ed25519", EncodingKey::from_ed_pem(pem)),
        };
        let key =
            key.map_err(|e| MintError(format!("{alg} needs a PEM {kind} private key: {e}")))?;
        Ok(SigningKey { alg, key })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.alg
    }
}

/// Signs an RFC 9068 access token (`typ: at+jwt`) with HS256, granting what
/// `spec` says through `authorization_details`, issued at `now` (Unix
/// seconds).
///
/// # Errors
/// When the secret is empty or the spec grants nothing.
pub fn mint_hs256(secret: &[u8], spec: &TokenSpec, now: u64) -> Result<String, MintError> {
    mint(&SigningKey::hmac(JwtAlgorithm::HS256, secret)?, spec, now)
}

/// [`mint_hs256`] with any key the hub can verify: an RFC 9068 access
/// token signed by `key` with its algorithm.
///
/// # Errors
/// When the spec grants nothing or the key cannot sign.
pub fn mint(key: &SigningKey, spec: &TokenSpec, now: u64) -> Result<String, MintError> {
    check(spec)?;
    let detail = |action: &str, topics: &[String]| {
        json!({
            "type": "https://mercure.rocks/authorization-detail",
            "actions": [action],
            "topics": topics.iter().map(|t| json!({"match": t})).collect::<Vec<_>>(),
        })
    };
    let mut details = Vec::new();
    if !spec.publish.is_empty() {
        details.push(detail("publish", &spec.publish));
    }
    if !spec.subscribe.is_empty() {
        details.push(detail("subscribe", &spec.subscribe));
    }
    let claims = json!({
        "authorization_details": details,
    });
    sign(key, spec, now, claims, "at+jwt")
}

/// Signs a token of the deployed 0.x generation with HS256: the grants in a
/// `mercure` claim (`{"publish": [...], "subscribe": [...]}`), `typ: JWT`,
/// with `aud` and `exp` as [`mint_hs256`] writes them. For publishers and
/// subscribers that still speak 0.x to a hub run with legacy tokens on
/// ([`AuthConfig::legacy_tokens`](crate::auth::AuthConfig::legacy_tokens)).
///
/// # Errors
/// When the secret is empty or the spec grants nothing.
pub fn mint_legacy_hs256(secret: &[u8], spec: &TokenSpec, now: u64) -> Result<String, MintError> {
    mint_legacy(&SigningKey::hmac(JwtAlgorithm::HS256, secret)?, spec, now)
}

/// [`mint_legacy_hs256`] with any key the hub can verify.
///
/// # Errors
/// When the spec grants nothing or the key cannot sign.
pub fn mint_legacy(key: &SigningKey, spec: &TokenSpec, now: u64) -> Result<String, MintError> {
    check(spec)?;
    let mut grants = serde_json::Map::new();
    if !spec.publish.is_empty() {
        grants.insert("publish".to_owned(), json!(spec.publish));
    }
    if !spec.subscribe.is_empty() {
        grants.insert("subscribe".to_owned(), json!(spec.subscribe));
    }
    sign(key, spec, now, json!({ "mercure": grants }), "JWT")
}

fn check(spec: &TokenSpec) -> Result<(), MintError> {
    if spec.publish.is_empty() && spec.subscribe.is_empty() {
        return Err(MintError("the token would grant nothing".to_owned()));
    }
    Ok(())
}

/// Adds the claims every generation shares (`aud`, `iat`, `exp`, and `iss`
/// / `sub` when set) to `claims` and signs.
fn sign(
    key: &SigningKey,
    spec: &TokenSpec,
    now: u64,
    mut claims: Value,
    typ: &str,
) -> Result<String, MintError> {
    if let Value::Object(map) = &mut claims {
        map.insert("aud".to_owned(), json!(spec.audience));
        map.insert("iat".to_owned(), json!(now));
        map.insert(
            "exp".to_owned(),
            json!(now.saturating_add(spec.ttl.as_secs())),
        );
        if let Some(iss) = &spec.issuer {
            map.insert("iss".to_owned(), json!(iss));
        }
        if let Some(sub) = &spec.subject {
            map.insert("sub".to_owned(), json!(sub));
        }
    }
    let mut header = Header::new(key.alg.to_jsonwebtoken());
    header.typ = Some(typ.to_owned());
    jsonwebtoken::encode(&header, &claims, &key.key).map_err(|e| MintError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthConfig, Authorizer, JwtAlgorithm, Role, VerificationKey};
    use crate::topic::{HubUrl, Topic};

    const HUB: &str = "https://hub.example/.well-known/mercure";
    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn authorizer() -> Authorizer {
        let mut c = AuthConfig::new(HUB);
        c.publisher_keys = vec![VerificationKey::hmac(JwtAlgorithm::HS256, SECRET).unwrap()];
        c.subscriber_keys = c.publisher_keys.clone();
        Authorizer::new(c, HubUrl::parse(HUB).unwrap())
    }

    #[test]
    fn minted_publisher_token_passes_the_validator_with_its_grants() {
        let now = 1_700_000_000;
        let spec = TokenSpec::publisher(HUB, ["https://example.com/a"]);
        let token = mint_hs256(SECRET, &spec, now).unwrap();
        let creds = authorizer()
            .verify(Role::Publisher, &token, now + 1)
            .unwrap();
        assert!(creds.can_publish(&["https://example.com/a".to_owned()]));
        assert!(!creds.can_publish(&["https://example.com/b".to_owned()]));
        assert_eq!(creds.expires_at(), Some(now + 3600));
    }

    #[test]
    fn minted_star_grants_everything_and_expires() {
        let now = 1_700_000_000;
        let spec = TokenSpec::subscriber(HUB, ["*"]).with_ttl(Duration::from_secs(60));
        let token = mint_hs256(SECRET, &spec, now).unwrap();
        let hub = HubUrl::parse(HUB).unwrap();
        let creds = authorizer().verify(Role::Subscriber, &token, now).unwrap();
        let topic = Topic::new("https://example.com/anything", &hub);
        assert!(creds.can_read_private(std::slice::from_ref(&topic)));
        assert!(creds.can_subscribe(&topic));
        assert!(authorizer()
            .verify(Role::Subscriber, &token, now + 61)
            .is_err());
    }

    #[test]
    fn minted_legacy_token_passes_a_legacy_validator_only() {
        let now = 1_700_000_000;
        let spec = TokenSpec::publisher(HUB, ["https://example.com/a"])
            .with_subscribe(["https://example.com/b"])
            .with_subject("backend");
        let token = mint_legacy_hs256(SECRET, &spec, now).unwrap();
        assert!(
            authorizer().verify(Role::Publisher, &token, now).is_err(),
            "0.x refused unless legacy"
        );
        let mut c = AuthConfig::new(HUB);
        c.publisher_keys = vec![VerificationKey::hmac(JwtAlgorithm::HS256, SECRET).unwrap()];
        c.subscriber_keys = c.publisher_keys.clone();
        c.legacy_tokens = true;
        let legacy = Authorizer::new(c, HubUrl::parse(HUB).unwrap());
        let creds = legacy.verify(Role::Publisher, &token, now + 1).unwrap();
        assert!(creds.is_legacy());
        assert!(creds.can_publish(&["https://example.com/a".to_owned()]));
        assert!(!creds.can_publish(&["https://example.com/b".to_owned()]));
        let hub = HubUrl::parse(HUB).unwrap();
        let creds = legacy.verify(Role::Subscriber, &token, now + 1).unwrap();
        assert!(creds.can_subscribe(&Topic::new("https://example.com/b", &hub)));
        assert!(
            legacy.verify(Role::Subscriber, &token, now + 3601).is_err(),
            "exp is written"
        );
    }

    #[test]
    fn minting_refuses_empty_secret_and_empty_grants() {
        let spec = TokenSpec::publisher(HUB, ["*"]);
        assert!(mint_hs256(b"", &spec, 0).is_err());
        let nothing = TokenSpec::publisher(HUB, Vec::<String>::new());
        assert!(mint_hs256(SECRET, &nothing, 0)
            .unwrap_err()
            .to_string()
            .contains("grant nothing"));
    }
}
