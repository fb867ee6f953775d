//! JWS verification keys and the compact-JWS checks (M24, L3).
//!
//! Why `jsonwebtoken` (with its pure-Rust `rust_crypto` backend) and only
//! for signatures: it is the most used JWT crate, supports HS/RS/PS/ES/EdDSA
//! and PEM keys, and needs no C toolchain. Its claim validation is not used:
//! the header and claims are parsed here, because the protocol needs things
//! it does not express (the `typ` rule, `crit`, `exp` required for one token
//! profile and optional for the other, a caller-supplied `now`), and keeping
//! them in one place makes the rules reviewable. Every key is bound to one
//! algorithm when it is configured, and a token is only ever checked with
//! keys bound to the algorithm its header names, so algorithm confusion (an
//! RSA public key used as an HMAC secret) and `none` cannot happen.

use std::fmt;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// A signature algorithm a key can be configured for. `none` does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 (shared secret).
    HS256,
    /// HMAC with SHA-384 (shared secret).
    HS384,
    /// HMAC with SHA-512 (shared secret).
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl JwtAlgorithm {
    const ALL: [JwtAlgorithm; 12] = [
        JwtAlgorithm::HS256,
        JwtAlgorithm::HS384,
        JwtAlgorithm::HS512,
        JwtAlgorithm::RS256,
        JwtAlgorithm::RS384,
        JwtAlgorithm::RS512,
        JwtAlgorithm::PS256,
        JwtAlgorithm::PS384,
        JwtAlgorithm::PS512,
        JwtAlgorithm::ES256,
        JwtAlgorithm::ES384,
        JwtAlgorithm::EdDSA,
    ];

    /// The JOSE name (`HS256`, `EdDSA`…).
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::HS384 => "HS384",
            JwtAlgorithm::HS512 => "HS512",
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::RS384 => "RS384",
            JwtAlgorithm::RS512 => "RS512",
            JwtAlgorithm::PS256 => "PS256",
            JwtAlgorithm::PS384 => "PS384",
            JwtAlgorithm::PS512 => "PS512",
            JwtAlgorithm::ES256 => "ES256",
            JwtAlgorithm::ES384 => "ES384",
            JwtAlgorithm::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE name, case-sensitively (as JOSE requires). `none` and
    /// unknown names give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub(crate) fn is_hmac(self) -> bool {
        matches!(
            self,
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512
        )
    }

    pub(crate) fn to_jsonwebtoken(self) -> Algorithm {
        match self {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::HS384 => Algorithm::HS384,
            JwtAlgorithm::HS512 => Algorithm::HS512,
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::RS384 => Algorithm::RS384,
            JwtAlgorithm::RS512 => Algorithm::RS512,
            JwtAlgorithm::PS256 => Algorithm::PS256,
            JwtAlgorithm::PS384 => Algorithm::PS384,
            JwtAlgorithm::PS512 => Algorithm::PS512,
            JwtAlgorithm::ES256 => Algorithm::ES256,
            JwtAlgorithm::ES384 => Algorithm::ES384,
            JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key that can verify token signatures, bound to one algorithm.
#[derive(Clone)]
pub struct VerificationKey {
    alg: JwtAlgorithm,
    key: DecodingKey,
    kid: Option<String>,
}

impl fmt::Debug for VerificationKey {
    // Never print key material (an HMAC secret is a credential).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A key that cannot be used as configured.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid {alg} key: {reason}")]
pub struct InvalidKey {
    alg: JwtAlgorithm,
    reason: &'static str,
}

impl VerificationKey {
    /// An HMAC secret for `HS256`, `HS384` or `HS512`.
    ///
    /// # Errors
    ///
    /// `alg` is not an HMAC algorithm, or the secret is empty.
    pub fn hmac(alg: JwtAlgorithm, secret: &[u8]) -> Result<Self, InvalidKey> {
        if !alg.is_hmac() {
            return Err(InvalidKey {
                alg,
                reason: "a shared secret can only be used with HS256, HS384 or HS512",
            });
        }
        if secret.is_empty() {
            return Err(InvalidKey {
                alg,
                reason: "the secret is empty",
            });
        }
        Ok(VerificationKey {
            alg,
            key: DecodingKey::from_secret(secret),
            kid: None,
        })
    }

    /// A PEM public key (`-----BEGIN PUBLIC KEY-----`, or an RSA
    /// `BEGIN RSA PUBLIC KEY`) for an RS*, PS*, ES* or EdDSA algorithm.
    ///
    /// # Errors
    ///
    /// `alg` is an HMAC algorithm, or the PEM does not hold a public key of
    /// the algorithm's family.
    pub fn public_pem(alg: JwtAlgorithm, pem: &[u8]) -> Result<Self, InvalidKey> {
        let invalid = |reason| InvalidKey { alg, reason };
        let key = match alg {
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512 => {
                return Err(invalid("an HMAC algorithm takes a secret, not a PEM key"))
            }
            JwtAlgorithm::RS256
            | JwtAlgorithm::RS384
            | JwtAlgorithm::RS512
            | JwtAlgorithm::PS256
            | JwtAlgorithm::PS384
            | JwtAlgorithm::PS512 => DecodingKey::from_rsa_pem(pem),
            JwtAlgorithm::ES256 | JwtAlgorithm::ES384 => DecodingKey::from_ec_pem(pem),
            JwtAlgorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        }
        .map_err(|_| invalid("not a PEM public key of this algorithm's type"))?;
        Self::checked(alg, key, None)
    }

    /// One public key in JWK form (RFC 7517), as an authorization server
    /// publishes it. The algorithm is the JWK's `alg` when present, otherwise
    /// inferred from the key (`EC` P-256 → ES256, P-384 → ES384, `OKP`
    /// Ed25519 → EdDSA, `RSA` → RS256). The `kid`, if any, is kept as a hint.
    ///
    /// # Errors
    ///
    /// Not a JWK; a symmetric (`oct`) key (shared secrets are configured with
    /// [`hmac`](Self::hmac), never fetched); an encryption key (`use: enc`);
    /// an algorithm this hub does not verify; a key that does not fit it.
    pub fn from_jwk(jwk: &str) -> Result<Self, InvalidKey> {
        let value: Value = serde_json::from_str(jwk).map_err(|_| InvalidKey {
            alg: JwtAlgorithm::RS256,
            reason: "not a JSON Web Key",
        })?;
        Self::from_jwk_value(&value)
    }

    /// Every usable signature key of a JWK Set document (`{"keys": [...]}`).
    /// Keys this hub cannot use (encryption keys, unknown types or
    /// algorithms) are skipped, as RFC 7517 §5 allows.
    ///
    /// # Errors
    ///
    /// The document is not a JWK Set.
    pub fn from_jwks(jwks: &str) -> Result<Vec<Self>, InvalidKey> {
        let not_a_set = InvalidKey {
            alg: JwtAlgorithm::RS256,
            reason: "not a JWK Set",
        };
        let value: Value = serde_json::from_str(jwks).map_err(|_| not_a_set.clone())?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(not_a_set)?;
        Ok(keys
            .iter()
            .filter_map(|k| Self::from_jwk_value(k).ok())
            .collect())
    }

    fn from_jwk_value(value: &Value) -> Result<Self, InvalidKey> {
        let fail = |alg, reason| InvalidKey { alg, reason };
        let default_alg = JwtAlgorithm::RS256;
        let obj = value
            .as_object()
            .ok_or(fail(default_alg, "not a JSON Web Key"))?;
        let kty = obj.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = obj.get("crv").and_then(Value::as_str).unwrap_or_default();
        if obj
            .get("use")
            .and_then(Value::as_str)
            .is_some_and(|u| u != "sig")
        {
            return Err(fail(default_alg, "the JWK is not a signature key"));
        }
        let alg = match obj.get("alg") {
            Some(Value::String(name)) => JwtAlgorithm::from_name(name)
                .ok_or(fail(default_alg, "the JWK's algorithm is not supported"))?,
            Some(_) => return Err(fail(default_alg, "the JWK's alg is not a string")),
            None => match (kty, crv) {
                ("EC", "P-256") => JwtAlgorithm::ES256,
                ("EC", "P-384") => JwtAlgorithm::ES384,
                ("OKP", "Ed25519") => JwtAlgorithm::EdDSA,
                ("RSA", _) => JwtAlgorithm::RS256,
                _ => return Err(fail(default_alg, "the JWK's key type is not supported")),
            },
        };
        if kty == "oct" || alg.is_hmac() {
            return Err(fail(
                alg,
                "symmetric keys are configured as secrets, not JWKs",
            ));
        }
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(value.clone())
            .map_err(|_| fail(alg, "not a valid JSON Web Key"))?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| fail(alg, "not a valid JSON Web Key"))?;
        let kid = obj.get("kid").and_then(Value::as_str).map(str::to_owned);
        Self::checked(alg, key, kid)
    }

    /// Checks that `key` really is usable for `alg` now, not at the first
    /// token: a P-384 key configured as ES256, or an RSA key given as EdDSA,
    /// must fail at startup.
    fn checked(
        alg: JwtAlgorithm,
        key: DecodingKey,
        kid: Option<String>,
    ) -> Result<Self, InvalidKey> {
        use jsonwebtoken::AlgorithmFamily as F;
        let family = match alg {
            JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512 => F::Hmac,
            JwtAlgorithm::ES256 | JwtAlgorithm::ES384 => F::Ec,
            JwtAlgorithm::EdDSA => F::Ed,
            _ => F::Rsa,
        };
        let probe = jsonwebtoken::crypto::verify("AA", b"probe", &key, alg.to_jsonwebtoken());
        if key.family() != family || probe.is_err() {
            return Err(InvalidKey {
                alg,
                reason: "the key does not fit this algorithm",
            });
        }
        Ok(VerificationKey { alg, key, kid })
    }

    /// Sets a key id: a token naming a `kid` is checked against keys with
    /// that id first (a hint only; the signature decides).
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.alg
    }
}

/// What a structurally valid, correctly signed token says. Claims are not
/// checked yet.
pub(crate) struct Verified {
    pub(crate) typ: Option<String>,
    pub(crate) claims: Map<String, Value>,
}

/// Why a token is refused. All causes become the same 401 `invalid_token`
/// (M25); the text is for the response body and logs, never the token.
pub(crate) type Fault = &'static str;

fn b64(part: &str) -> Result<Vec<u8>, Fault> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| "the token is not valid base64url")
}

/// The fault for a token whose `kid` no key has (of any algorithm): with
/// keys from a JWK Set, a sign that the provider rotated its keys and the
/// set should be refreshed.
pub(crate) const UNKNOWN_KID: Fault = "no key has the token's kid";

/// Splits, decodes and verifies a compact JWS with the keys of `key_sets`
/// (configured keys and JWK Set snapshots, as one list).
pub(crate) fn verify(token: &str, key_sets: &[&[VerificationKey]]) -> Result<Verified, Fault> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not a compact JWS (three parts)");
    };
    let header: Map<String, Value> = serde_json::from_slice(&b64(header_b64)?)
        .map_err(|_| "the token header is not a JSON object")?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or("the token header has no alg")?;
    let alg = JwtAlgorithm::from_name(alg_name).ok_or("the token's algorithm is not allowed")?;
    // RFC 7515 §4.1.11: extensions we do not understand must be refused, and
    // we understand none (this also refuses unencoded payloads, `b64`).
    if header.contains_key("crit") {
        return Err("the token header has critical extensions");
    }
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => return Err("the token typ is not a string"),
    };
    let kid = header.get("kid").and_then(Value::as_str);
    let all_keys = || key_sets.iter().flat_map(|set| set.iter());
    let unknown_kid = kid.is_some_and(|kid| !all_keys().any(|k| k.kid.as_deref() == Some(kid)));

    // Only keys configured for exactly this algorithm (the allowlist), keys
    // with a matching kid first. `jku`, `jwk`, `x5u`, `x5c` are never used.
    let mut candidates: Vec<&VerificationKey> = all_keys().filter(|k| k.alg == alg).collect();
    if candidates.is_empty() {
        return Err(if unknown_kid {
            UNKNOWN_KID
        } else {
            "the token's algorithm is not allowed"
        });
    }
    if let Some(kid) = kid {
        candidates.sort_by_key(|k| k.kid.as_deref() != Some(kid));
    }
    // The signing input is the ASCII text `header.payload`.
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    let signing_input = token
        .get(..signing_input_len)
        .ok_or("the token is malformed")?;
    let valid = candidates.iter().any(|k| {
        jsonwebtoken::crypto::verify(
            signature_b64,
            signing_input.as_bytes(),
            &k.key,
            alg.to_jsonwebtoken(),
        )
        .unwrap_or(false)
    });
    if !valid {
        return Err(if unknown_kid {
            UNKNOWN_KID
        } else {
            "the token signature is invalid"
        });
    }
    let claims: Map<String, Value> = serde_json::from_slice(&b64(payload_b64)?)
        .map_err(|_| "the token claims are not a JSON object")?;
    Ok(Verified { typ, claims })
}

/// Whether `token` looks like a Mercure 0.x token (L3): its header has no
/// `typ` or `typ: JWT`, and its claims (read without checking the
/// signature) hold a `mercure` claim. Only used to explain a refusal: the
/// answer depends on nothing but the token's own text.
pub(crate) fn looks_legacy(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64)) = (parts.next(), parts.next()) else {
        return false;
    };
    let decode = |part: &str| -> Option<Map<String, Value>> {
        serde_json::from_slice(&b64(part).ok()?).ok()
    };
    let (Some(header), Some(claims)) = (decode(header_b64), decode(payload_b64)) else {
        return false;
    };
    let legacy_typ = match header.get("typ") {
        None => true,
        Some(Value::String(t)) => t.eq_ignore_ascii_case("JWT"),
        Some(_) => false,
    };
    legacy_typ && has_legacy_claim(&claims)
}

/// Whether the claims hold the 0.x `mercure` claim (or its URL spelling).
pub(crate) fn has_legacy_claim(claims: &Map<String, Value>) -> bool {
    ["mercure", "https://mercure.rocks/"]
        .iter()
        .any(|name| claims.get(*name).is_some_and(|c| !c.is_null()))
}

/// A NumericDate claim (RFC 7519 §2): a JSON number of seconds, possibly
/// fractional; `None` when absent, an error when present but not a number.
pub(crate) fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Fault> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or("a time claim is not a number"),
        Some(_) => Err("a time claim is not a number"),
    }
}

/// `aud`: a string or an array of strings that must contain `audience`.
pub(crate) fn audience_contains(
    claims: &Map<String, Value>,
    audience: &str,
) -> Result<bool, Fault> {
    match claims.get("aud") {
        None => Ok(false),
        Some(Value::String(a)) => Ok(a == audience),
        Some(Value::Array(items)) => {
            let mut found = false;
            for item in items {
                match item {
                    Value::String(a) => found |= a == audience,
                    _ => return Err("the aud claim is malformed"),
                }
            }
            Ok(found)
        }
        Some(_) => Err("the aud claim is malformed"),
    }
}
