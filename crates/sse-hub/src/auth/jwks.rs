//! [`JwksKeys`]: verification keys from a JWK Set document (an identity
//! provider's `jwks_uri`, or a file), kept current (M24: "keys from config
//! or the authorisation server's JWKS").
//!
//! Where the document comes from is a [`JwksSource`]: [`JwksFile`] here, an
//! HTTPS fetch in the `sse` binary (the library has no HTTP client). The
//! set is loaded once at start, refreshed every
//! [`interval`](JwksRefresh::interval) in the background, and refreshed
//! early when a token names a `kid` no key has (the provider rotated its
//! keys), at most once per [`min_interval`](JwksRefresh::min_interval) so
//! that tokens with made-up `kid`s cannot make the hub hammer the provider.
//! A refresh that fails, times out, or yields no usable key keeps the keys
//! the hub has: an unreachable provider must not lock every client out.
//!
//! Requests that meet an unknown `kid` wait for the one refresh in flight
//! (single flight, bounded by [`timeout`](JwksRefresh::timeout)) and are
//! then checked again, so a rotation costs no failed request.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::time::Instant;

use super::jwt::VerificationKey;

/// A boxed error from a [`JwksSource`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The future a [`JwksSource`] returns.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, BoxError>> + Send + 'a>>;

/// Longest JWK Set document accepted, in bytes (a provider's set is a few
/// kilobytes; this leaves room for dozens of RSA keys).
pub const MAX_JWKS_LEN: usize = 1024 * 1024;

/// Most usable keys kept from one document. A token whose `kid` matches no
/// key is checked against every key of its algorithm, so the count bounds
/// the work one forged token can cause.
pub const MAX_JWKS_KEYS: usize = 64;

/// Where a JWK Set document comes from.
pub trait JwksSource: Send + Sync + fmt::Debug + 'static {
    /// Fetches the current document (its bytes, JSON). The caller bounds
    /// the call with [`JwksRefresh::timeout`] and the result with
    /// [`MAX_JWKS_LEN`]. `Debug` names the source in logs (a URL, a path),
    /// so it must never print a credential.
    fn fetch(&self) -> FetchFuture<'_>;
}

/// A JWK Set in a local file, read again at every refresh (rotate keys by
/// replacing the file).
#[derive(Clone, Debug)]
pub struct JwksFile {
    path: PathBuf,
}

impl JwksFile {
    /// The set in the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JwksFile { path: path.into() }
    }
}

impl JwksSource for JwksFile {
    fn fetch(&self) -> FetchFuture<'_> {
        // A small local file read at start and on (rate-limited) refreshes:
        // reading it in place is cheaper than a blocking-pool hop.
        Box::pin(async move {
            std::fs::read(&self.path)
                .map_err(|e| BoxError::from(format!("cannot read {}: {e}", self.path.display())))
        })
    }
}

/// When a [`JwksKeys`] set is refreshed.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct JwksRefresh {
    /// Background refresh period: keys the provider removed stop being
    /// accepted within this. Default 10 minutes.
    pub interval: Duration,
    /// Least time between two refreshes caused by an unknown `kid`.
    /// Default 60 s.
    pub min_interval: Duration,
    /// Longest one fetch may take. Default 10 s.
    pub timeout: Duration,
}

impl Default for JwksRefresh {
    fn default() -> Self {
        JwksRefresh {
            interval: Duration::from_secs(600),
            min_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A key set that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("JWK Set from {source_name}: {kind}")]
pub struct JwksError {
    source_name: String,
    kind: JwksErrorKind,
}

#[derive(Debug, thiserror::Error)]
enum JwksErrorKind {
    #[error("{0}")]
    Fetch(BoxError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the document is larger than {MAX_JWKS_LEN} bytes")]
    TooLarge,
    #[error("not a JWK Set (a JSON object with a \"keys\" array)")]
    NotASet,
    #[error("the set has no signature key this hub can use (RS*, PS*, ES256, ES384, EdDSA)")]
    NoUsableKey,
}

impl JwksError {
    /// The source could not be read (network, HTTP status, file).
    pub fn is_fetch(&self) -> bool {
        matches!(self.kind, JwksErrorKind::Fetch(_))
    }

    /// The fetch took longer than [`JwksRefresh::timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, JwksErrorKind::Timeout(_))
    }

    /// The document is not a JWK Set, is too large, or has no usable key.
    pub fn is_invalid(&self) -> bool {
        matches!(
            self.kind,
            JwksErrorKind::TooLarge | JwksErrorKind::NotASet | JwksErrorKind::NoUsableKey
        )
    }
}

/// Verification keys from a [`JwksSource`], refreshed in the background and
/// on unknown `kid`s. Cloning gives another handle to the same set; the
/// background refresh stops when the last handle is dropped.
#[derive(Clone)]
pub struct JwksKeys {
    inner: Arc<Inner>,
}

struct Inner {
    source: Box<dyn JwksSource>,
    refresh: JwksRefresh,
    /// The current keys. A std lock: readers copy the `Arc` out and never
    /// hold it across an await.
    keys: RwLock<Arc<[VerificationKey]>>,
    /// Bumped by every successful refresh.
    generation: AtomicU64,
    /// When the last refresh caused by an unknown `kid` started.
    last_kid_refresh: Mutex<Option<Instant>>,
    /// One refresh at a time; requests that need one wait for it.
    flight: tokio::sync::Mutex<()>,
}

impl fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksKeys")
            .field("source", &self.inner.source)
            .field("keys", &self.keys().len())
            .field("refresh", &self.inner.refresh)
            .finish()
    }
}

impl JwksKeys {
    /// Fetches the set once and starts its background refresh on the
    /// current tokio runtime.
    ///
    /// # Errors
    ///
    /// The first fetch failed or timed out, or the document has no usable
    /// key: a hub should not start with keys it cannot check tokens with.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn load(
        source: impl JwksSource,
        refresh: JwksRefresh,
    ) -> Result<JwksKeys, JwksError> {
        let inner = Arc::new(Inner {
            source: Box::new(source),
            refresh,
            keys: RwLock::new(Arc::from(Vec::new())),
            generation: AtomicU64::new(0),
            last_kid_refresh: Mutex::new(None),
            flight: tokio::sync::Mutex::new(()),
        });
        let set = JwksKeys { inner };
        set.refresh().await?;
        let weak = Arc::downgrade(&set.inner);
        let period = refresh.interval.max(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let set = JwksKeys { inner };
                if let Err(e) = set.refresh().await {
                    tracing::warn!(error = %e, "JWK Set refresh failed: keeping the current keys");
                }
            }
        });
        Ok(set)
    }

    /// The current keys.
    pub fn keys(&self) -> Arc<[VerificationKey]> {
        match self.inner.keys.read() {
            Ok(k) => Arc::clone(&k),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// How many refreshes have replaced the keys: a token verified at one
    /// generation is verified again at the next (the verified-token cache).
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Fetches the set now (waiting for a refresh already in flight first)
    /// and returns the number of usable keys.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load); the current keys are kept.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let _flight = self.inner.flight.lock().await;
        self.fetch_and_swap().await
    }

    /// For a token whose `kid` no key has: refreshes the set unless a
    /// refresh for that reason happened less than
    /// [`min_interval`](JwksRefresh::min_interval) ago. Waits for a refresh
    /// already in flight. `true` when the keys changed since the call
    /// began, so checking the token again may succeed.
    pub async fn refresh_for_unknown_kid(&self) -> bool {
        let before = self.inner.generation.load(Ordering::Acquire);
        let _flight = self.inner.flight.lock().await;
        if self.inner.generation.load(Ordering::Acquire) != before {
            return true; // another request's refresh finished meanwhile
        }
        let now = Instant::now();
        {
            let mut last = match self.inner.last_kid_refresh.lock() {
                Ok(l) => l,
                Err(poisoned) => poisoned.into_inner(),
            };
            if last.is_some_and(|t| now.duration_since(t) < self.inner.refresh.min_interval) {
                return false;
            }
            *last = Some(now);
        }
        match self.fetch_and_swap().await {
            Ok(n) => {
                tracing::info!(source = ?self.inner.source, keys = n, "JWK Set refreshed for an unknown kid");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWK Set refresh for an unknown kid failed: keeping the current keys");
                false
            }
        }
    }

    /// One fetch, under the flight lock.
    async fn fetch_and_swap(&self) -> Result<usize, JwksError> {
        let inner = &self.inner;
        let fail = |kind| JwksError {
            source_name: format!("{:?}", inner.source),
            kind,
        };
        let document = match tokio::time::timeout(inner.refresh.timeout, inner.source.fetch()).await
        {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => return Err(fail(JwksErrorKind::Fetch(e))),
            Err(_) => return Err(fail(JwksErrorKind::Timeout(inner.refresh.timeout))),
        };
        if document.len() > MAX_JWKS_LEN {
            return Err(fail(JwksErrorKind::TooLarge));
        }
        let text = std::str::from_utf8(&document).map_err(|_| fail(JwksErrorKind::NotASet))?;
        let mut keys =
            VerificationKey::from_jwks(text).map_err(|_| fail(JwksErrorKind::NotASet))?;
        if keys.is_empty() {
            return Err(fail(JwksErrorKind::NoUsableKey));
        }
        if keys.len() > MAX_JWKS_KEYS {
            tracing::warn!(source = ?inner.source, kept = MAX_JWKS_KEYS, found = keys.len(), "JWK Set has too many keys: the first ones are kept");
            keys.truncate(MAX_JWKS_KEYS);
        }
        let count = keys.len();
        let keys: Arc<[VerificationKey]> = Arc::from(keys);
        match inner.keys.write() {
            Ok(mut k) => *k = keys,
            Err(poisoned) => *poisoned.into_inner() = keys,
        }
        inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(count)
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JwksKeys>();
    assert_send_sync::<JwksError>();
};
