//! Authorization (MERCURE.md M23–M33, M44, L3–L4, L7): finding the token,
//! validating it, and deciding what it grants.
//!
//! The hub is an OAuth 2.0 protected resource. [`Authorizer`] holds the
//! keys and policy; it takes the raw header and query bytes of a request
//! ([`TokenSources`]) and gives [`Credentials`] or a [`Rejection`] carrying
//! the RFC 6750 status and `WWW-Authenticate` challenge. Time is passed in
//! (`now`, Unix seconds) so every rule is testable. Tokens are never logged
//! and never appear in a rejection.
//!
//! ```
//! use sse_hub::auth::{AuthConfig, Authorizer, JwtAlgorithm, TokenSources, VerificationKey};
//! use sse_hub::topic::HubUrl;
//!
//! let hub = HubUrl::parse("https://example.com/.well-known/mercure").unwrap();
//! let mut config = AuthConfig::new("https://example.com/.well-known/mercure");
//! config.publisher_keys = vec![VerificationKey::hmac(JwtAlgorithm::HS256, b"a publisher secret").unwrap()];
//! let auth = Authorizer::new(config, hub);
//!
//! // No token at all: 401 with a bare challenge (M25).
//! let topics = ["https://example.com/books/1".to_owned()];
//! let err = auth.authorize_publish(&TokenSources::default(), &topics, 1_700_000_000).unwrap_err();
//! assert_eq!(err.status(), 401);
//! assert!(err.www_authenticate().unwrap().starts_with("Bearer"));
//!
//! // A token that is not a JWT: 401 invalid_token.
//! let header: &[u8] = b"Bearer not-a-jwt";
//! let sources = TokenSources { authorization: &[header], ..TokenSources::default() };
//! let err = auth.authorize_publish(&sources, &topics, 1_700_000_000).unwrap_err();
//! assert_eq!(err.bearer_error(), Some("invalid_token"));
//! ```

mod grants;
mod jwks;
mod jwt;
mod mint;
mod token_cache;

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::rejection::BearerError;
use crate::Rejection;
pub use grants::GrantLimits;
use grants::{Action, Grants};
pub use jwks::{
    BoxError, FetchFuture, JwksError, JwksFile, JwksKeys, JwksRefresh, JwksSource, MAX_JWKS_KEYS,
    MAX_JWKS_LEN,
};
pub use jwt::{InvalidKey, JwtAlgorithm, VerificationKey};
pub use mint::{
    mint, mint_hs256, mint_legacy, mint_legacy_hs256, MintError, SigningKey, TokenSpec,
};
use token_cache::{TokenCache, Verdict};

use crate::topic::{form_pairs, HubUrl, Topic, TopicMatcher};
use crate::Update;

/// The H cookie name (M27).
pub const COOKIE_H: &str = "__Secure-mercure_access_token";
/// The S cookie name (M27).
pub const COOKIE_S: &str = "mercureAccessToken";
/// The legacy 0.x cookie name (L4).
pub const COOKIE_LEGACY: &str = "mercureAuthorization";

/// Keys, audience and policy for token validation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Keys that may sign publishers' tokens. Each key's algorithm is part of
    /// the allowlist; with no key, every publisher token is invalid.
    pub publisher_keys: Vec<VerificationKey>,
    /// Keys that may sign subscribers' tokens (SHOULD differ from the
    /// publishers', M24).
    pub subscriber_keys: Vec<VerificationKey>,
    /// JWK Sets whose keys may also sign publishers' tokens (an identity
    /// provider's `jwks_uri`, a file), kept current by [`JwksKeys`].
    pub publisher_jwks: Vec<JwksKeys>,
    /// JWK Sets whose keys may also sign subscribers' tokens.
    pub subscriber_jwks: Vec<JwksKeys>,
    /// The resource identifier that `aud` must contain (M24), usually the hub
    /// URL. Advertised as `resource` in the metadata (M44).
    pub audience: String,
    /// When set, `iss` must be exactly this (both token generations). When
    /// unset and [`authorization_servers`](Self::authorization_servers) is
    /// not empty, `iss` must be one of those; otherwise it is not checked.
    pub issuer: Option<String>,
    /// Clock-skew allowance for `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// L3/L7 compatibility: accept tokens without `typ: at+jwt` whose rights
    /// are in a `mercure` claim; `exp` and `aud` are then optional. A token
    /// of another `typ` without that claim is still invalid. Off by default.
    pub legacy_tokens: bool,
    /// L4 compatibility: on legacy requests
    /// ([`TokenSources::legacy_request`]) only, accept a token in the
    /// `authorization` (L4) or `access_token` query parameter, between the
    /// header and the cookie. Current-generation requests never read the
    /// query (H: the parameter is ignored). Off by default (query strings
    /// end up in logs).
    pub query_token: bool,
    /// Cookie names to read a token from, in order of preference. Default:
    /// the H name, then the S name, then the legacy name.
    pub cookie_names: Vec<String>,
    /// The RFC 9728 metadata URL sent in challenges; derived from the hub URL
    /// when `None`.
    pub resource_metadata_url: Option<String>,
    /// Authorization servers advertised in the metadata (M44); also the
    /// accepted issuers when [`issuer`](Self::issuer) is unset (M24).
    pub authorization_servers: Vec<String>,
    /// A JWKS URL advertised in the metadata (M44).
    pub jwks_uri: Option<String>,
    /// Caps on `authorization_details` (M30).
    pub grant_limits: GrantLimits,
    /// Longest accepted token in bytes; longer is `invalid_token`.
    pub max_token_len: usize,
}

impl AuthConfig {
    /// A configuration for `audience` with no keys, H behaviour and default caps.
    pub fn new(audience: impl Into<String>) -> Self {
        AuthConfig {
            publisher_keys: Vec::new(),
            subscriber_keys: Vec::new(),
            publisher_jwks: Vec::new(),
            subscriber_jwks: Vec::new(),
            audience: audience.into(),
            issuer: None,
            leeway_secs: 0,
            legacy_tokens: false,
            query_token: false,
            cookie_names: vec![
                COOKIE_H.to_owned(),
                COOKIE_S.to_owned(),
                COOKIE_LEGACY.to_owned(),
            ],
            resource_metadata_url: None,
            authorization_servers: Vec::new(),
            jwks_uri: None,
            grant_limits: GrantLimits::default(),
            max_token_len: 16 * 1024,
        }
    }
}

/// Which key set validates a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// `POST` to the hub.
    Publisher,
    /// Subscriptions and the subscriptions API.
    Subscriber,
}

/// Where a token can come from, as raw request bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenSources<'a> {
    /// Every `Authorization` header value.
    pub authorization: &'a [&'a [u8]],
    /// Every `Cookie` header value.
    pub cookies: &'a [&'a [u8]],
    /// The raw query string (for the compatibility query parameters).
    pub query: &'a [u8],
    /// Whether the request is a 0.x one (L7: a subscription by `topic=`
    /// selectors and no `match*` parameter, or a legacy subscriptions-API
    /// path). Only such requests may carry a query token, and only with
    /// [`AuthConfig::query_token`].
    pub legacy_request: bool,
}

/// How the token travelled (M27, L4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenTransport {
    /// `Authorization: Bearer`.
    Header,
    /// A query parameter (compatibility only).
    Query,
    /// A cookie; publishing this way needs CSRF checks (M29).
    Cookie,
}

/// A validated token: who, until when, and what it grants.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Shared: a cached token's credentials are handed out without copying
    /// the grants.
    grants: Arc<Grants>,
    expires_at: Option<u64>,
    subject: Option<String>,
    issuer: Option<String>,
    legacy: bool,
    transport: TokenTransport,
    hub: HubUrl,
}

impl Credentials {
    /// `exp` in Unix seconds: the hub closes a subscriber's stream then (M32,
    /// L3). `None` only for legacy tokens without `exp`.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }

    /// The `sub` claim, if a string.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The `iss` claim, if a string (M40-H: part of any subscriber-id derivation).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Whether the token used the legacy `mercure` claim (L3).
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// How the token travelled.
    pub fn transport(&self) -> TokenTransport {
        self.transport
    }

    /// M23/L5: whether publishing to **all** `topics` is granted.
    pub fn can_publish(&self, topics: &[String]) -> bool {
        !topics.is_empty()
            && topics.iter().all(|t| {
                self.grants
                    .allows(Action::Publish, &Topic::new(t, &self.hub))
            })
    }

    /// Whether `subscribe` is granted on `topic` (M31; M42 authorizes the
    /// subscriptions API path this way).
    pub fn can_subscribe(&self, topic: &Topic<'_>) -> bool {
        self.grants.allows(Action::Subscribe, topic)
    }

    /// M11/M14-H/L5: whether a private update with these topics may be read:
    /// `subscribe` granted on **any** of them.
    pub fn can_read_private(&self, topics: &[Topic<'_>]) -> bool {
        topics.iter().any(|t| self.can_subscribe(t))
    }

    /// M33: the payload for a subscription: from the first `subscribe` grant
    /// whose matchers select the subscription's matcher string as a topic.
    pub fn payload_for(&self, subscription: &TopicMatcher) -> Option<&Value> {
        self.grants
            .payload_for(&Topic::new(subscription.pattern(), &self.hub))
    }
}

// Credentials travel with a subscriber's connection task; the authorizer is
// shared by every request handler.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Credentials>();
    assert_send_sync::<Authorizer>();
    assert_send_sync::<InvalidKey>();
};

/// M11: whether `update` may go to a subscriber with `credentials` (`None`
/// for anonymous). Routing (matchers) is a separate question. Also the
/// re-check for replayed events against the current token (M35).
///
/// Convenience form: fan-out should build the update's [`Topic`]s once and
/// call [`Credentials::can_read_private`] for each subscriber instead.
pub fn may_receive(credentials: Option<&Credentials>, update: &Update, hub: &HubUrl) -> bool {
    if !update.private {
        return true;
    }
    let Some(credentials) = credentials else {
        return false;
    };
    let topics: Vec<Topic<'_>> = update.topics.iter().map(|t| Topic::new(t, hub)).collect();
    credentials.can_read_private(&topics)
}

/// Validates tokens and decides grants for one hub.
///
/// Tokens that verified are remembered (keyed by the token's bytes and the
/// role; at most 1,024 tokens and 1 MiB of them, oldest dropped first), so
/// a client sending the same token with every request pays for the
/// signature and the claims once. A remembered token is checked again for
/// `exp` and `nbf` on every use, and forgotten when a JWK Set of its role is
/// refreshed; clones of an `Authorizer` share what it remembers.
#[derive(Clone, Debug)]
pub struct Authorizer {
    config: AuthConfig,
    hub: HubUrl,
    metadata_url: String,
    tokens: Arc<TokenCache>,
}

impl Authorizer {
    /// Builds an authorizer. Topic matchers in tokens resolve against `hub`.
    pub fn new(config: AuthConfig, hub: HubUrl) -> Self {
        let metadata_url = config
            .resource_metadata_url
            .clone()
            .unwrap_or_else(|| resource_metadata_url(&hub));
        Authorizer {
            config,
            hub,
            metadata_url,
            tokens: Arc::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// The URL of the RFC 9728 metadata document, as advertised in challenges.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The 401 for a request without a token where one is required: a
    /// challenge without `error` (M25, M26).
    pub fn token_required(&self) -> Rejection {
        Rejection::bearer(
            BearerError::None,
            "an access token is required",
            Some(&self.metadata_url),
        )
    }

    /// M25: one answer for every invalid-token cause (a client learns
    /// nothing about the hub's keys, clock or rules from it); the cause goes
    /// to the debug log only.
    fn invalid_token(&self, fault: &'static str) -> Rejection {
        tracing::debug!(cause = fault, "access token refused");
        Rejection::bearer(
            BearerError::InvalidToken,
            INVALID_TOKEN,
            Some(&self.metadata_url),
        )
    }

    /// The refusal of `token` for `fault`: [`invalid_token`](Self::invalid_token),
    /// with a body that names the compatibility switch when the token looks
    /// like a 0.x one and legacy tokens are off, and marked for a key
    /// refresh when its `kid` is unknown and the role has JWK Sets.
    fn refuse_token(&self, role: Role, token: &str, fault: &'static str) -> Rejection {
        let mut rejection = self.invalid_token(fault);
        if !self.config.legacy_tokens && jwt::looks_legacy(token) {
            rejection = rejection.with_message(LEGACY_TOKEN_HINT);
        }
        if fault == jwt::UNKNOWN_KID && !self.jwks(role).is_empty() {
            rejection = rejection.for_unknown_kid(role);
        }
        rejection
    }

    fn jwks(&self, role: Role) -> &[JwksKeys] {
        match role {
            Role::Publisher => &self.config.publisher_jwks,
            Role::Subscriber => &self.config.subscriber_jwks,
        }
    }

    /// After `rejection`: when it was caused by a token `kid` that no key
    /// has and the role has JWK Sets, refreshes them (rate-limited, see
    /// [`JwksKeys::refresh_for_unknown_kid`]) and tells whether checking
    /// the token again may now succeed.
    pub async fn refresh_for(&self, rejection: &Rejection) -> bool {
        let Some(role) = rejection.unknown_kid() else {
            return false;
        };
        let mut changed = false;
        for set in self.jwks(role) {
            changed |= set.refresh_for_unknown_kid().await;
        }
        changed
    }

    /// Runs `check` (an `authorize_*` call) and, when it fails on a `kid`
    /// unknown to the role's JWK Sets, refreshes them once and runs it again:
    /// a provider's key rotation costs no refused request.
    ///
    /// # Errors
    ///
    /// Those of `check`.
    pub async fn with_key_refresh<T>(
        &self,
        check: impl Fn(&Self) -> Result<T, Rejection>,
    ) -> Result<T, Rejection> {
        match check(self) {
            Err(r) if self.refresh_for(&r).await => check(self),
            other => other,
        }
    }

    fn invalid_request(&self, description: &'static str) -> Rejection {
        Rejection::bearer(
            BearerError::InvalidRequest,
            description,
            Some(&self.metadata_url),
        )
    }

    /// Finds the one token a request presents, by precedence: the
    /// `Authorization: Bearer` header, then (legacy requests with
    /// [`AuthConfig::query_token`] only, L4) the `authorization`/`access_token`
    /// query parameter, then the first configured cookie name present (M27).
    /// Elsewhere the query parameters are ignored (M27-H). `Ok(None)`: no
    /// token.
    ///
    /// # Errors
    ///
    /// 400 `invalid_request` for several `Authorization: Bearer` headers;
    /// 401 `invalid_token` for a token that is not well-formed.
    pub fn extract_token<'a>(
        &self,
        sources: &TokenSources<'a>,
    ) -> Result<Option<(String, TokenTransport)>, Rejection> {
        let mut bearer: Option<&'a [u8]> = None;
        for value in sources.authorization {
            let value = trim_ows(value);
            // Scheme names are case-insensitive (RFC 9110 §11.1). Other
            // schemes (a proxy's Basic auth) are not ours to judge.
            let Some(scheme) = value.get(..6) else {
                continue;
            };
            if !scheme.eq_ignore_ascii_case(b"Bearer") {
                continue;
            }
            let rest = value.get(6..).unwrap_or_default();
            if !rest.is_empty() && rest[0] != b' ' {
                continue; // e.g. "BearerX": another scheme
            }
            if bearer.is_some() {
                return Err(
                    self.invalid_request("more than one bearer token in Authorization headers")
                );
            }
            bearer = Some(trim_ows(rest));
        }
        if let Some(token) = bearer {
            return self.checked_token(token, TokenTransport::Header).map(Some);
        }

        if self.config.query_token && sources.legacy_request {
            if let Some(token) = query_token(sources.query) {
                return self.checked_token(&token, TokenTransport::Query).map(Some);
            }
        }

        for name in &self.config.cookie_names {
            if let Some(value) = find_cookie(sources.cookies, name.as_bytes()) {
                // A cookie that does not hold a token is an invalid token,
                // never a downgrade to anonymous (M26).
                return self.checked_token(value, TokenTransport::Cookie).map(Some);
            }
        }
        Ok(None)
    }

    /// b64token syntax (RFC 6750 §2.1) and the length cap.
    fn checked_token(
        &self,
        token: &[u8],
        transport: TokenTransport,
    ) -> Result<(String, TokenTransport), Rejection> {
        if token.is_empty() {
            return Err(self.invalid_token("the token is empty"));
        }
        if token.len() > self.config.max_token_len {
            return Err(self.invalid_token("the token is too long"));
        }
        let body_len = token.iter().rposition(|&b| b != b'=').map_or(0, |i| i + 1);
        let valid = token[..body_len].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        });
        if !valid || body_len == 0 {
            return Err(self.invalid_token("the token is malformed"));
        }
        // Only ASCII passed the check above.
        let token = String::from_utf8(token.to_vec())
            .map_err(|_| self.invalid_token("the token is malformed"))?;
        Ok((token, transport))
    }

    /// Validates `token` for `role` at time `now` (Unix seconds): signature
    /// with the role's keys, `typ`, `exp`, `nbf`, `aud`, `iss`, then the
    /// grants (M24, M30, L3).
    ///
    /// # Errors
    ///
    /// 401 `invalid_token` for every fault, whatever the cause (M25).
    pub fn verify(&self, role: Role, token: &str, now: u64) -> Result<Credentials, Rejection> {
        self.verify_inner(role, token, now, TokenTransport::Header)
    }

    fn verify_inner(
        &self,
        role: Role,
        token: &str,
        now: u64,
        transport: TokenTransport,
    ) -> Result<Credentials, Rejection> {
        let keys = match role {
            Role::Publisher => &self.config.publisher_keys,
            Role::Subscriber => &self.config.subscriber_keys,
        };
        if token.len() > self.config.max_token_len {
            return Err(self.invalid_token("the token is too long"));
        }
        // Read before verifying: a refresh that lands meanwhile makes the
        // entry stale rather than wrongly fresh.
        let generations: Vec<u64> = self.jwks(role).iter().map(JwksKeys::generation).collect();
        let leeway = self.config.leeway_secs;
        if let Some(mut credentials) =
            self.tokens
                .get(role, token.as_bytes(), now, leeway, &generations)
        {
            credentials.transport = transport;
            return Ok(credentials);
        }
        let (credentials, exp, nbf) = self
            .check(role, keys, token, now, transport)
            .map_err(|fault| self.refuse_token(role, token, fault))?;
        self.tokens.insert(
            role,
            token.as_bytes(),
            Verdict {
                credentials: &credentials,
                exp,
                nbf,
                generations,
            },
        );
        Ok(credentials)
    }

    /// Every M24/M30/L3 check of `token`; the fault says which failed.
    /// With the credentials come `exp` and `nbf`, which a cached token is
    /// checked against again.
    fn check(
        &self,
        role: Role,
        keys: &[VerificationKey],
        token: &str,
        now: u64,
        transport: TokenTransport,
    ) -> Result<(Credentials, Option<f64>, Option<f64>), &'static str> {
        // The configured keys, then a snapshot of each JWK Set (a refresh
        // that lands meanwhile is seen by the next request).
        let snapshots: Vec<std::sync::Arc<[VerificationKey]>> =
            self.jwks(role).iter().map(JwksKeys::keys).collect();
        let mut key_sets: Vec<&[VerificationKey]> = Vec::with_capacity(1 + snapshots.len());
        key_sets.push(keys);
        key_sets.extend(snapshots.iter().map(|s| &**s));
        let verified = jwt::verify(token, &key_sets)?;
        let claims = &verified.claims;
        // RFC 9068 §2.1: `at+jwt`, and its media-type form (any case, H).
        let access_token_typ = verified.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
        });
        let legacy = !access_token_typ;
        // L7: another `typ` is a 0.x token only with the 0.x claim, and
        // only behind the switch; anything else is a current-generation
        // token of the wrong type (H: 401, never a token without rights).
        if legacy && !(self.config.legacy_tokens && jwt::has_legacy_claim(claims)) {
            return Err("the token typ must be at+jwt");
        }

        let now_f = now as f64;
        let leeway = self.config.leeway_secs as f64;
        let exp = jwt::numeric_date(claims, "exp")?;
        match exp {
            None if !legacy => return Err("the token has no exp"),
            Some(exp) if now_f >= exp + leeway => return Err("the token has expired"),
            _ => {}
        }
        let nbf = jwt::numeric_date(claims, "nbf")?;
        if let Some(nbf) = nbf {
            if now_f + leeway < nbf {
                return Err("the token is not valid yet");
            }
        }
        // Legacy tokens may omit `aud`, but one meant for another resource is
        // still refused.
        if (!legacy || claims.contains_key("aud"))
            && !jwt::audience_contains(claims, &self.config.audience)?
        {
            return Err("the token audience does not include this hub");
        }
        // M24: `iss` is exact when configured; otherwise, when the metadata
        // lists authorization servers, it must be one of them.
        let issuer = string_claim(claims, "iss");
        let issuer_ok = match (&self.config.issuer, issuer.as_deref()) {
            (Some(expected), got) => got == Some(expected.as_str()),
            (None, got) if !self.config.authorization_servers.is_empty() => {
                got.is_some_and(|g| self.config.authorization_servers.iter().any(|a| a == g))
            }
            (None, _) => true,
        };
        if !issuer_ok {
            return Err("the token issuer is not accepted");
        }
        let limits = &self.config.grant_limits;
        let grants = if legacy {
            grants::from_legacy_claim(claims, &self.hub, limits)
        } else {
            grants::from_authorization_details(claims, &self.hub, limits)
        }?;
        let credentials = Credentials {
            grants: Arc::new(grants),
            // `as` saturates; a past `exp` was refused above.
            expires_at: exp.map(|e| e.max(0.0) as u64),
            subject: string_claim(claims, "sub"),
            issuer,
            legacy,
            transport,
            hub: self.hub.clone(),
        };
        Ok((credentials, exp, nbf))
    }

    /// Finds and validates the request's token for `role`; `Ok(None)` when
    /// the request has none.
    ///
    /// # Errors
    ///
    /// As [`extract_token`](Self::extract_token) and [`verify`](Self::verify).
    pub fn authenticate(
        &self,
        role: Role,
        sources: &TokenSources<'_>,
        now: u64,
    ) -> Result<Option<Credentials>, Rejection> {
        match self.extract_token(sources)? {
            None => Ok(None),
            Some((token, transport)) => self.verify_inner(role, &token, now, transport).map(Some),
        }
    }

    /// The publish check (M23, L5): a valid publisher token granting
    /// `publish` on every topic.
    ///
    /// # Errors
    ///
    /// 401 without `error` when there is no token; 401 `invalid_token`;
    /// 403 `insufficient_scope` when a topic is not granted (also for legacy
    /// tokens: where 0.x answered 401, S's 403 wins, L7).
    pub fn authorize_publish(
        &self,
        sources: &TokenSources<'_>,
        topics: &[String],
        now: u64,
    ) -> Result<Credentials, Rejection> {
        let Some(credentials) = self.authenticate(Role::Publisher, sources, now)? else {
            return Err(self.token_required());
        };
        if !credentials.can_publish(topics) {
            return Err(Rejection::bearer(
                BearerError::InsufficientScope,
                "the token does not grant publish on every topic of this update",
                Some(&self.metadata_url),
            ));
        }
        Ok(credentials)
    }

    /// The subscribe check (M26): `Ok(None)` is an anonymous subscriber
    /// (public updates only), allowed when `allow_anonymous`.
    ///
    /// # Errors
    ///
    /// 401 without `error` when anonymous subscribers are refused and there
    /// is no token; 401 `invalid_token` for a bad token, even when anonymous
    /// subscribers are allowed (never a downgrade).
    pub fn authorize_subscribe(
        &self,
        sources: &TokenSources<'_>,
        allow_anonymous: bool,
        now: u64,
    ) -> Result<Option<Credentials>, Rejection> {
        match self.authenticate(Role::Subscriber, sources, now)? {
            // A 0.x client's token in the query, on a hub that does not read
            // it: refused with the reason rather than served anonymously
            // without its private updates.
            None if sources.legacy_request
                && !self.config.query_token
                && query_token(sources.query).is_some() =>
            {
                Err(self.token_required().with_message(LEGACY_QUERY_HINT))
            }
            None if !allow_anonymous => Err(self.token_required()),
            other => Ok(other),
        }
    }

    /// The 403 for a subscriptions-API request whose path is not granted (M42).
    pub fn insufficient_scope(&self) -> Rejection {
        Rejection::bearer(
            BearerError::InsufficientScope,
            "the token does not grant subscribe on this resource",
            Some(&self.metadata_url),
        )
    }

    /// The RFC 9728 protected-resource metadata document (M44, H names):
    /// `resource`, `authorization_servers`/`jwks_uri` when configured,
    /// `bearer_methods_supported`, `mercure_cookie` (the preferred cookie
    /// name), `authorization_details_types_supported` (both spellings we
    /// accept) and `mercure_subscriptions`.
    pub fn resource_metadata(&self, subscriptions_api: bool) -> Value {
        let mut doc = Map::new();
        doc.insert("resource".into(), json!(self.config.audience));
        if !self.config.authorization_servers.is_empty() {
            doc.insert(
                "authorization_servers".into(),
                json!(self.config.authorization_servers),
            );
        }
        if let Some(jwks) = &self.config.jwks_uri {
            doc.insert("jwks_uri".into(), json!(jwks));
        }
        // Query tokens exist only for 0.x requests, which read no metadata:
        // the document describes the current generation, whatever the
        // compatibility switches.
        doc.insert("bearer_methods_supported".into(), json!(["header"]));
        if let Some(cookie) = self.config.cookie_names.first() {
            doc.insert("mercure_cookie".into(), json!(cookie));
        }
        doc.insert(
            "authorization_details_types_supported".into(),
            json!(["https://mercure.rocks/authorization-detail", "mercure"]),
        );
        doc.insert("mercure_subscriptions".into(), json!(subscriptions_api));
        Value::Object(doc)
    }
}

/// M29: the CSRF check for a publish authenticated by cookie
/// ([`TokenTransport::Cookie`]). The request's `Origin`, or without it the
/// origin of its `Referer`, must be one of `allowed_origins` (serialized
/// origins such as `https://app.example`; compared after URL parsing, so
/// case and default ports do not matter). A request with neither header, or
/// with `Origin: null`, is refused.
///
/// # Errors
///
/// 403 when the origin is missing or not allowed.
pub fn check_cookie_publish_origin(
    origin: Option<&[u8]>,
    referer: Option<&[u8]>,
    allowed_origins: &[String],
) -> Result<(), Rejection> {
    let source = match (origin, referer) {
        (Some(o), _) => o,
        (None, Some(r)) => r,
        (None, None) => {
            return Err(Rejection::forbidden(
                "cookie-authenticated publishing requires an Origin or Referer header",
            ))
        }
    };
    let request_origin = std::str::from_utf8(source)
        .ok()
        .and_then(|s| url::Url::parse(s.trim()).ok())
        .map(|u| u.origin())
        .filter(url::Origin::is_tuple);
    let allowed = request_origin.is_some_and(|o| {
        allowed_origins
            .iter()
            .filter_map(|a| url::Url::parse(a).ok())
            .any(|a| a.origin() == o)
    });
    if allowed {
        Ok(())
    } else {
        Err(Rejection::forbidden(
            "the request's origin may not publish with a cookie",
        ))
    }
}

/// The RFC 9728 §3.1 metadata URL for a hub: the well-known prefix inserted
/// between the origin and the hub path, e.g.
/// `https://example.com/.well-known/oauth-protected-resource/.well-known/mercure`.
pub fn resource_metadata_url(hub: &HubUrl) -> String {
    let url = hub.url();
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    format!("{origin}/.well-known/oauth-protected-resource{path}")
}

/// The body of every invalid-token answer (M25).
const INVALID_TOKEN: &str = "the access token is invalid";

/// The body of the invalid-token answer for a token that looks like 0.x.
const LEGACY_TOKEN_HINT: &str = "the access token is invalid: it looks like a Mercure 0.x token \
(a `mercure` claim, no `typ: at+jwt`), which this hub accepts only in compatibility mode \
(`sse serve --legacy`, SSE_LEGACY=1)";

/// The body of the 401 for a 0.x request whose token is in the query string.
const LEGACY_QUERY_HINT: &str = "an access token is required: this 0.x request carries one in \
the query string, which this hub reads only in compatibility mode (`sse serve --legacy`, \
SSE_LEGACY=1); otherwise send it in the Authorization header or a cookie";

/// The first `authorization` (L4) or `access_token` (S) query parameter.
fn query_token(query: &[u8]) -> Option<Vec<u8>> {
    form_pairs(query)
        .find(|(name, _)| name == b"authorization" || name == b"access_token")
        .map(|(_, value)| value)
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    value.get(start..end).unwrap_or_default()
}

/// The first non-empty cookie called `name` in the `Cookie` headers
/// (RFC 6265 §5.4: `name=value` pairs separated by `;`). Quotes around the
/// value are removed.
fn find_cookie<'a>(headers: &[&'a [u8]], name: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .flat_map(|h| h.split(|&b| b == b';'))
        .filter_map(|pair| {
            let pair = trim_ows(pair);
            let eq = pair.iter().position(|&b| b == b'=')?;
            let (n, v) = (trim_ows(&pair[..eq]), trim_ows(&pair[eq + 1..]));
            (n == name).then_some(v)
        })
        .map(|v| match v {
            [b'"', inner @ .., b'"'] => inner,
            v => v,
        })
        .find(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies() {
        let h: &[&[u8]] = &[b"a=1; mercureAuthorization=\"x.y.z\"", b"b=2;c"];
        assert_eq!(find_cookie(h, b"mercureAuthorization"), Some(&b"x.y.z"[..]));
        assert_eq!(find_cookie(h, b"b"), Some(&b"2"[..]));
        assert_eq!(find_cookie(h, b"c"), None);
        assert_eq!(find_cookie(&[b"a="], b"a"), None);
    }

    #[test]
    fn metadata_url() {
        let hub = HubUrl::parse("https://example.com:8443/.well-known/mercure").unwrap();
        assert_eq!(
            resource_metadata_url(&hub),
            "https://example.com:8443/.well-known/oauth-protected-resource/.well-known/mercure"
        );
    }
}
