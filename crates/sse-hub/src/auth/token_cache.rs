//! Tokens already verified, so that a publisher sending the same token
//! with every request pays for its signature check and claim parsing once.
//!
//! A hit must give exactly what verifying again would, so an entry is used
//! only while all of this still holds, and is dropped otherwise:
//! - `exp` and `nbf` are checked again against the request's `now` (with the
//!   leeway), so an expired token is refused as before;
//! - every JWK Set of the role is at the generation it had when the token
//!   was verified: a refresh (a key rotated out, say) drops what was
//!   verified before it. The configured keys cannot change under an
//!   [`Authorizer`](super::Authorizer): a new configuration is a new one,
//!   with an empty cache.
//!
//! Only tokens that verified are kept (a refused token costs a full check
//! each time, as before, and cannot fill the cache). Tokens are compared in
//! constant time: a lookup must not tell a caller how much of a token it
//! guessed.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;

use super::{Credentials, Role};

/// At most this many tokens are kept.
pub(crate) const MAX_ENTRIES: usize = 1024;
/// At most this many bytes of tokens are kept (the tokens themselves; each
/// entry adds about 200 bytes of bookkeeping and its shared credentials).
pub(crate) const MAX_TOKEN_BYTES: usize = 1 << 20;

/// The cache. A std mutex: nothing awaits while holding it, and a lookup is
/// one hash, one constant-time comparison and a reference-count bump.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    hasher: RandomState,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Keyed by a keyed hash of (role, token); a collision simply replaces.
    entries: HashMap<u64, Entry>,
    /// Insertion order, for eviction: (hash, serial). A pair whose serial no
    /// longer matches its entry's is stale and skipped. Never longer than
    /// `MAX_ENTRIES`, so neither is `entries`.
    order: VecDeque<(u64, u64)>,
    /// Sum of the tokens' lengths in `entries`.
    bytes: usize,
    next_serial: u64,
}

#[derive(Debug)]
struct Entry {
    role: Role,
    token: Box<[u8]>,
    serial: u64,
    credentials: Credentials,
    /// `exp` and `nbf` as the token gave them (seconds).
    exp: Option<f64>,
    nbf: Option<f64>,
    /// The generation of each of the role's JWK Sets when verified.
    generations: Vec<u64>,
}

/// What a verification established about a token, for [`TokenCache::insert`].
pub(crate) struct Verdict<'a> {
    pub(crate) credentials: &'a Credentials,
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) generations: Vec<u64>,
}

impl TokenCache {
    fn key(&self, role: Role, token: &[u8]) -> u64 {
        self.hasher.hash_one((role as u8, token))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves at worst a stale entry
        // count; every entry is still checked on use.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The credentials of `token` for `role`, when it verified before and
    /// nothing that decided it has changed: not expired at `now` (seconds,
    /// with `leeway`), and every JWK Set still at `generations`.
    pub(crate) fn get(
        &self,
        role: Role,
        token: &[u8],
        now: u64,
        leeway: u64,
        generations: &[u64],
    ) -> Option<Credentials> {
        let key = self.key(role, token);
        let mut state = self.lock();
        let entry = state.entries.get(&key)?;
        if entry.role != role || !constant_time_eq(&entry.token, token) {
            return None;
        }
        let (now, leeway) = (now as f64, leeway as f64);
        let fresh = entry.exp.is_none_or(|exp| now < exp + leeway)
            && entry.nbf.is_none_or(|nbf| now + leeway >= nbf)
            && entry.generations == generations;
        if fresh {
            return Some(entry.credentials.clone());
        }
        // Expired or verified with keys since replaced: never again.
        if let Some(old) = state.entries.remove(&key) {
            state.bytes -= old.token.len();
        }
        None
    }

    /// Remembers a token that verified. Tokens longer than a sixteenth of
    /// the byte bound are not kept (they would crowd out the others).
    pub(crate) fn insert(&self, role: Role, token: &[u8], verdict: Verdict<'_>) {
        if token.len() > MAX_TOKEN_BYTES / 16 {
            return;
        }
        let key = self.key(role, token);
        let mut state = self.lock();
        let state = &mut *state;
        let serial = state.next_serial;
        state.next_serial += 1;
        let entry = Entry {
            role,
            token: token.into(),
            serial,
            credentials: verdict.credentials.clone(),
            exp: verdict.exp,
            nbf: verdict.nbf,
            generations: verdict.generations,
        };
        state.bytes += token.len();
        if let Some(old) = state.entries.insert(key, entry) {
            state.bytes -= old.token.len();
        }
        state.order.push_back((key, serial));
        while state.order.len() > MAX_ENTRIES || state.bytes > MAX_TOKEN_BYTES {
            let Some((k, s)) = state.order.pop_front() else {
                break;
            };
            if state.entries.get(&k).is_some_and(|e| e.serial == s) {
                if let Some(old) = state.entries.remove(&k) {
                    state.bytes -= old.token.len();
                }
            }
        }
    }

    /// How many tokens are kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

/// Equal bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::{constant_time_eq, MAX_ENTRIES};
    use crate::auth::{mint_hs256, AuthConfig, Authorizer, JwtAlgorithm, Role, TokenSpec};
    use crate::auth::{TokenSources, VerificationKey};
    use crate::topic::HubUrl;

    const HUB: &str = "https://hub.example/.well-known/mercure";
    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_700_000_000;

    fn authorizer(secret: &[u8]) -> Authorizer {
        let mut c = AuthConfig::new(HUB);
        c.publisher_keys = vec![VerificationKey::hmac(JwtAlgorithm::HS256, secret).unwrap()];
        Authorizer::new(c, HubUrl::parse(HUB).unwrap())
    }

    fn token(subject: &str) -> String {
        let mut spec = TokenSpec::publisher(HUB, ["https://example.com/a"]);
        spec.subject = Some(subject.to_owned());
        mint_hs256(SECRET, &spec, NOW).unwrap()
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn a_cached_token_is_refused_once_expired() {
        let auth = authorizer(SECRET);
        let t = token("a");
        let exp = NOW + 3600;
        assert!(auth.verify(Role::Publisher, &t, NOW).is_ok());
        assert_eq!(auth.tokens.len(), 1, "verified, so remembered");
        // Served from the cache, with the same answer.
        let c = auth.verify(Role::Publisher, &t, exp - 1).unwrap();
        assert_eq!((c.expires_at(), c.subject()), (Some(exp), Some("a")));
        let err = auth.verify(Role::Publisher, &t, exp).unwrap_err();
        assert_eq!(err.bearer_error(), Some("invalid_token"));
        assert_eq!(auth.tokens.len(), 0, "an expired entry is dropped");
    }

    #[test]
    fn only_the_exact_token_and_role_hit() {
        let auth = authorizer(SECRET);
        let t = token("a");
        assert!(auth.verify(Role::Publisher, &t, NOW).is_ok());
        // One signature character changed: not the cached token.
        let mut forged = t.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(auth.verify(Role::Publisher, &forged, NOW).is_err());
        // Subscribers have no keys here: the publisher's entry is not theirs.
        assert!(auth.verify(Role::Subscriber, &t, NOW).is_err());
        // The transport is the request's, not the cached one's.
        let header = format!("Bearer {t}");
        let cookie = format!("mercureAccessToken={t}");
        let topics = ["https://example.com/a".to_owned()];
        let by_header = TokenSources {
            authorization: &[header.as_bytes()],
            ..TokenSources::default()
        };
        let by_cookie = TokenSources {
            cookies: &[cookie.as_bytes()],
            ..TokenSources::default()
        };
        let h = auth.authorize_publish(&by_header, &topics, NOW).unwrap();
        let c = auth.authorize_publish(&by_cookie, &topics, NOW).unwrap();
        assert_ne!(h.transport(), c.transport());
    }

    #[test]
    fn another_key_is_another_authorizer_and_cache() {
        let auth = authorizer(SECRET);
        let t = token("a");
        assert!(auth.verify(Role::Publisher, &t, NOW).is_ok());
        // A hub restarted (or reconfigured) with the key rotated starts
        // from an empty cache: the old token is refused.
        let rotated = authorizer(b"another secret, 32 bytes long...");
        assert!(rotated.verify(Role::Publisher, &t, NOW).is_err());
        // Clones share the cache (the hub clones its authorizer per task).
        let clone = auth.clone();
        assert!(clone.verify(Role::Publisher, &t, NOW).is_ok());
        assert_eq!(clone.tokens.len(), 1);
    }

    #[test]
    fn the_cache_keeps_at_most_max_entries_tokens() {
        let auth = authorizer(SECRET);
        let first = token("u0");
        for i in 0..MAX_ENTRIES + 50 {
            assert!(auth
                .verify(Role::Publisher, &token(&format!("u{i}")), NOW)
                .is_ok());
            assert!(auth.tokens.len() <= MAX_ENTRIES);
        }
        assert_eq!(auth.tokens.len(), MAX_ENTRIES);
        // The oldest went first; verifying it again still works.
        assert!(auth.verify(Role::Publisher, &first, NOW).is_ok());
    }
}
